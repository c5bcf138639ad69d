"""Corpus: bad input is refused before any work, by the real CLI (issue 15, item 2).

Each case is a scenario (or a ``--set``, or an output path) that used to run and fail late
(exit 3), run and leave a results directory behind, or be silently accepted. Every case must
now give exit 2, exactly one line on stderr naming the file (and line and field path when there
is a file), no traceback, nothing written, within ``TIME_BOUND`` seconds (the checks come before
any simulation); and ``hivesim validate`` must say exactly what ``hivesim run`` says.
"""

from __future__ import annotations

import copy
import re
import time

import pytest
import yaml

TIME_BOUND = 20.0  # s per command: far below any of these simulations, above a loaded CI machine's start-up

BASE = {
    "name": "tiny",
    "simulation": {"horizon": "30d", "replications": 2, "workers": 1},
    "topology": {"regions": [{"name": "r1", "idcs": ["a", "b", "c"]}], "cells": {"count": 2}},
    "failures": {"components": {"server": {"rate": "2/yr", "mttr": "1h"}}},
}


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


_REQ = {"simulation": {"mode": "request", "horizon": "1h", "replications": 2}}
# name -> (overrides of BASE, field path the one-line error must name)
SCENARIOS = {
    "horizon-overflows": ({"simulation": {"horizon": "1e302y"}}, "simulation.horizon"),
    "failure-rate-overflows": ({"failures": {"components": {"server": {"rate": "1e308/ms"}}}},
                               "failures.components.server.rate"),
    "load-overflows": ({"workload": {"transactions_per_day": "1e308/ms"}}, "workload.transactions_per_day"),
    "load-beyond-exact-counts": ({"workload": {"transactions_per_day": "1e300/s"}},
                                 "workload.transactions_per_day"),
    "timeseries-buckets": ({"simulation": {"horizon": "100y", "timeseries_step": "1s"}},
                           "simulation.timeseries_step"),
    "fault-events": ({"simulation": {"horizon": "1e7y", "timeseries_step": "1e6y"}}, "simulation.horizon"),
    "events-csv-rows": ({"simulation": {"horizon": "1e6y", "timeseries_step": "1e5y"}}, "simulation.horizon"),
    "request-mode-requests": (_merge(_REQ, {"simulation": {"replications": 1000},
                                            "workload": {"transactions_per_day": "1e12/day"}}),
                              "simulation.replications"),
    "request-mode-long-horizon": ({"simulation": {"mode": "request", "horizon": "30d"}}, "simulation.mode"),
    "request-mode-chaos-after-horizon": (_merge(_REQ, {"chaos": [{"at": "2h", "target": "cell[0].db",
                                                                  "fault": "crash", "duration": "1m"}]}),
                                         "chaos[0].at"),
    "chaos-on-missing-replica": ({"chaos": [{"at": "1h", "target": "cell[0].db.replica[99]", "fault": "crash"}]},
                                 "chaos[0].target"),
    "chaos-on-missing-app-node": ({"chaos": [{"at": "1h", "target": "cell[1].app.node[99]", "fault": "crash"}]},
                                  "chaos[0].target"),
    "chaos-on-missing-etcd-member": ({"chaos": [{"at": "1h", "target": "etcd[99]", "fault": "crash"}]},
                                     "chaos[0].target"),
    "override-unknown-idc": ({"topology": {"cells": {"overrides": [{"cells": [0], "set": {
        "db": {"placement": ["zz"]}}}]}}}, "topology.cells.overrides[0].set.db.placement"),
    "override-impossible-quorum": ({"topology": {"cells": {"overrides": [{"cells": [1], "set": {
        "db": {"write_quorum": 9}}}]}}}, "topology.cells.overrides[0].set"),
    "override-unknown-key": ({"topology": {"cells": {"overrides": [{"cells": [0], "set": {
        "db": {"replicaz": 3}}}]}}}, "topology.cells.overrides[0].set.db.replicaz"),
    "gate-unknown-key": ({"gates": ["availability.requets.nines>=5"]}, "gates[0].metric"),
    "peak-factor-unreachable": ({"workload": {"profile": {"peak_factor": 100}}}, "workload.profile.peak_factor"),
    "profile-no-traffic": (_merge(_REQ, {"workload": {"profile": {"hourly": [0] * 12 + [1] + [0] * 11}}}),
                           "workload.profile.hourly"),
    "min-nodes-above-nodes": ({"topology": {"cells": {"template": {"app": {"nodes": 2, "min_nodes": 3}}}}},
                              "topology.cells.template.app.min_nodes"),
    "canary-beyond-bank": ({"failures": {"changes": {"canary_cells": 5}}}, "failures.changes.canary_cells"),
    "maintenance-longer-than-period": ({"failures": {"maintenance": {"every": "1h", "duration": "2h"}}},
                                       "failures.maintenance.duration"),
    "importance-without-server-failures": ({"simulation": {"estimator": "importance"},
                                            "failures": {"components": {"server": None,
                                                                        "disk": {"rate": "1/yr"}}}},
                                           "failures.components.server"),
}

# the cost estimate's refusals say the figure and the limit
FIGURES = {
    "load-beyond-exact-counts": ("requests per replication", "limit 9.01e+15"),
    "timeseries-buckets": ("3.15e+09 timeseries buckets", "limit 1,000,000"),
    "fault-events": ("1.6e+09 fault events", "limit 2e+08"),
    "events-csv-rows": ("rows of events.csv", "limit 5,000,000"),
    "request-mode-requests": ("requests over 1000 replications", "limit 2e+07"),
}

# name -> --set expression given to a valid scenario (no file to name: the message names the --set)
SETS = {
    "set-nested-1500-deep": "description=" + "[" * 1500 + "]" * 1500,
    "set-key-1500-deep": "a." * 1500 + "b=1",
    "set-with-newline": "simulation.replications=3\nsimulation.seed=5",
}


def _assert_refused(proc, seconds: float, *names: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-500:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for name in names:
        assert name in lines[0], (name, lines[0])
    assert seconds < TIME_BOUND, f"took {seconds:.1f}s: the check did not come before the work"
    return lines[0]


def _timed(cli, *args, cwd=None):
    t = time.perf_counter()
    proc = cli(*args, cwd=cwd, timeout=120)
    return proc, time.perf_counter() - t


def _nothing_written(root) -> None:
    left = [p for p in root.rglob("*")] if root.exists() else []
    assert not left, f"written although refused: {left}"


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    out = {}
    for name, (over, path) in SCENARIOS.items():
        f = d / f"{name}.yaml"
        f.write_text(yaml.safe_dump(_merge(BASE, over), sort_keys=False), encoding="utf-8")
        out[name] = (f, path)
    return out


@pytest.fixture(scope="module")
def validate_lines(bad_files):
    """One ``hivesim validate`` over the whole corpus: file -> its one error line."""
    from tests.conftest import run_cli
    t = time.perf_counter()
    proc = run_cli("validate", *[str(f) for f, _ in bad_files.values()], timeout=300)
    assert time.perf_counter() - t < TIME_BOUND * 2
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == len(bad_files), proc.stderr
    by_file = {}
    for f, _ in bad_files.values():
        mine = [ln for ln in lines if ln.startswith(f"hivesim: error: {f}:")]
        assert len(mine) == 1, (f, lines)
        by_file[f] = mine[0]
    return by_file


@pytest.fixture(scope="module")
def run_outcomes(bad_files, tmp_path_factory):
    """``hivesim run`` on every bad file, four at a time (each one's own results root)."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.conftest import run_cli
    root = tmp_path_factory.mktemp("results")

    def one(name):
        results = root / name
        t = time.perf_counter()
        proc = run_cli("run", bad_files[name][0], "--results", results, "--quiet", "--no-report", timeout=120)
        return name, (proc, time.perf_counter() - t, results)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(one, SCENARIOS))


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_run_refuses_before_writing_and_validate_agrees(bad_files, validate_lines, run_outcomes, name):
    f, path = bad_files[name]
    proc, secs, results = run_outcomes[name]
    line = _assert_refused(proc, secs, str(f), path)
    assert re.search(rf"{re.escape(str(f))}:\d+: ", line), f"no line number: {line}"
    assert "null" not in line and "inf" not in line.split(": ", 3)[-1].replace("infinit", ""), line
    for figure in FIGURES.get(name, ()):
        assert figure in line, (figure, line)
    _nothing_written(results)
    assert validate_lines[f] == line, "validate and run disagree"


@pytest.mark.parametrize("name", list(SETS))
def test_bad_set_refused(cli, tmp_path, name):
    results = tmp_path / "results"
    proc, secs = _timed(cli, "run", "scenarios/examples/one-cell.yaml", "--set", SETS[name],
                        "--results", results, "--quiet")
    line = _assert_refused(proc, secs, "--set")
    _nothing_written(results)
    proc, secs = _timed(cli, "validate", "scenarios/examples/one-cell.yaml", "--set", SETS[name])
    assert _assert_refused(proc, secs, "--set") == line


def test_sweep_grid_size_is_a_product_not_an_enumeration(cli, tmp_path):
    """Five axes of 30 values: 24,300,000 variants, refused at once with the figure and the limit."""
    axes = ["simulation.seed", "simulation.replications", "topology.cells.count",
            "topology.servers_per_rack", "topology.racks_per_power_domain"]
    sets = [a for k in axes for a in ("--set", f"{k}=" + ",".join(str(i) for i in range(1, 31)))]
    out = tmp_path / "sweep"
    proc, secs = _timed(cli, "sweep", "scenarios/examples/one-cell.yaml", *sets, "--out", out, "--quiet")
    line = _assert_refused(proc, secs, "24,300,000", "10,000")
    assert "30 x 30 x 30 x 30 x 30" in line
    assert not out.exists()


def test_sweep_variant_failing_preflight_is_refused(cli, tmp_path):
    out = tmp_path / "sweep"
    proc, secs = _timed(cli, "sweep", "scenarios/examples/one-cell.yaml", "--set",
                        "failures.changes.canary_cells=1,500", "--out", out, "--quiet")
    _assert_refused(proc, secs, "canary_cells")
    assert not out.exists()


def _planted(tmp_path):
    """A plain file, a directory, and nothing else."""
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    (tmp_path / "adir").mkdir()
    (tmp_path / "adir" / "plots").write_text("not a directory", encoding="utf-8")
    return {p.relative_to(tmp_path) for p in tmp_path.rglob("*")}


# command line (with {t} for the temporary directory) -> text the one line must contain
OUTPUTS = {
    "run-out-is-a-file": (["run", "scenarios/examples/one-cell.yaml", "--out", "{t}/afile", "-q"], "is a file"),
    "run-out-under-a-file": (["run", "scenarios/examples/one-cell.yaml", "--out", "{t}/afile/run", "-q"],
                             "is a file, not a directory"),
    "run-results-root-is-a-file": (["run", "scenarios/examples/one-cell.yaml", "--results", "{t}/afile", "-q"],
                                   "is a file"),
    "sweep-out-under-a-file": (["sweep", "scenarios/examples/one-cell.yaml", "--out", "{t}/afile/s", "-q"],
                               "is a file, not a directory"),
    "compare-out-is-a-file": (["compare", "{t}/adir", "{t}/adir", "--out", "{t}/afile"], "is a file"),
    "report-plots-is-a-file": (["report", "{t}/adir"], "is a file"),
    "calibrate-out-under-a-file": (["calibrate", "{t}/adir", "--out", "{t}/afile/cal.yaml"],
                                   "is a file, not a directory"),
    "predict-out-is-a-file": (["predict", "{t}/adir", "--out", "{t}/afile"], "is a file"),
    "live-out-under-a-file": (["live", "scenarios/live-smoke.yaml", "--out", "{t}/afile/live"],
                              "is a file, not a directory"),
    "schema-out-is-a-directory": (["schema", "--out", "{t}/adir"], "is a directory"),
    "gate-junit-under-a-file": (["gate", "{t}/adir", "--require", "availability.request.nines>=1",
                                 "--junit", "{t}/afile/j.xml"], "is a file, not a directory"),
    "gate-markdown-is-a-directory": (["gate", "{t}/adir", "--require", "availability.request.nines>=1",
                                      "--markdown", "{t}/adir"], "is a directory"),
}


@pytest.mark.parametrize("name", list(OUTPUTS))
def test_output_path_checked_before_work(cli, tmp_path, name):
    before = _planted(tmp_path)
    args, expect = OUTPUTS[name]
    proc, secs = _timed(cli, *[a.replace("{t}", str(tmp_path)) for a in args])
    _assert_refused(proc, secs, expect)
    assert {p.relative_to(tmp_path) for p in tmp_path.rglob("*")} == before, "something was written"
    assert (tmp_path / "afile").read_text(encoding="utf-8") == "x"
