"""Corpus of hostile input files (issue 15): every class, through every real command that reads it.

Each case builds its files in its own directory (FIFOs with ``os.mkfifo``, ``/dev/zero``,
non-UTF-8 bytes, nesting thousands deep, integers beyond Python's 4,300-digit limit, NaN, wrong
JSON shapes, YAML aliases), runs the real ``hivesim`` command as a subprocess with a time bound,
and asserts what the README promises: exit code 2, exactly one line on stderr naming the file
(or the ``--set`` key), no traceback, and nothing written in the case's directory.

The commands start a fresh interpreter each (about 1 s), so the cases run a few at a time in
threads; each test then checks the outcome of one case.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.fixtures_runs import make_run

ROOT = Path(__file__).resolve().parents[1]
LIVE_RUN = ROOT / "results" / "baselines" / "live-calib-a-20261128T124845Z-745b"
CALIBRATION = ROOT / "scenarios" / "calibration" / "live-calib-e.calibration.yaml"
TIMEOUT = 20.0          # seconds per command: a hang fails the case, it never blocks the suite
BIG = "9" * 5000        # beyond Python's 4,300-digit int conversion limit
DEEP = 5000             # nesting levels: far beyond the recursion limit

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")


# ----------------------------------------------------------------------------- file builders
def scenario(d: Path, text: str = "name: corpus\n", name: str = "s.yaml") -> Path:
    (d / name).write_text(text, encoding="utf-8")
    return d / name


def fifo(d: Path, name: str) -> Path:
    os.mkfifo(d / name)
    return d / name


def sim_run(d: Path) -> Path:
    """A valid simulated run directory (synthetic, tests/fixtures_runs.py)."""
    return make_run(d / "runs", name="good", replications=3, cells=2, horizon_days=30.0)


def live_run(d: Path) -> Path:
    """A copy of a recorded live run (calibrate and predict read it)."""
    return Path(shutil.copytree(LIVE_RUN, d / "live"))


def edit_summary(run: Path, change) -> Path:
    sp = run / "summary.json"
    s = json.loads(sp.read_text())
    change(s)
    sp.write_text(json.dumps(s))
    return sp


def replace_file(path: Path, content: bytes | None) -> Path:
    """``path`` rewritten with ``content`` (bytes), or replaced by a FIFO when ``content`` is None."""
    path.unlink()
    if content is None:
        os.mkfifo(path)
    else:
        path.write_bytes(content)
    return path


def deep_json() -> bytes:
    return ('{"kind": "simulation", "x": ' + "[" * DEEP + "]" * DEEP + "}").encode()


# ----------------------------------------------------------------------------- commands per file kind
def scenario_cmds(d: Path, path: Path, which=("run", "validate", "sweep")) -> list[list]:
    """The commands that read a scenario file, each with an output path inside ``d``."""
    cmds = {"run": ["run", path, "--out", d / "out", "-q"], "validate": ["validate", path],
            "sweep": ["sweep", path, "--set", "simulation.replications=2,3", "--out", d / "out", "-q"]}
    return [cmds[w] for w in which]


def summary_cmds(d: Path, run: Path, which=("report", "gate", "compare")) -> list[list]:
    other = make_run(d / "other", name="other")
    cmds = {"report": ["report", run], "gate": ["gate", run, "--junit", d / "gate.xml", "--markdown", d / "gate.md"],
            "compare": ["compare", other, run, "--out", d / "out"]}
    return [cmds[w] for w in which]


def live_cmds(d: Path, run: Path, which=("calibrate", "predict")) -> list[list]:
    cal = Path(shutil.copy(CALIBRATION, d / "cal.yaml"))
    cmds = {"calibrate": ["calibrate", run, "--out", d / "out.yaml"],
            "predict": ["predict", run, "--calibration", cal, "--out", d / "out", "--replications", "1"]}
    return [cmds[w] for w in which]


# ----------------------------------------------------------------------------- the corpus
# each builder: case directory -> (commands, text the one error line must contain)
def fifo_scenario(d):
    p = fifo(d, "s.yaml")
    return scenario_cmds(d, p), str(p)


def fifo_extends(d):
    p = fifo(d, "base.yaml")
    return scenario_cmds(d, scenario(d, "name: corpus\nextends: base.yaml\n", "child.yaml"), ("run", "validate")), str(p)


def devzero_scenario(d):
    return scenario_cmds(d, Path("/dev/zero"), ("run", "validate")), "/dev/zero"


def non_utf8_scenario(d):
    p = d / "s.yaml"
    p.write_bytes(b"name: corpus\ndescription: caf\xe9\n")
    return scenario_cmds(d, p, ("validate", "run")), f"{p}:2"


def deep_yaml_scenario(d):
    p = scenario(d, "name: corpus\ndescription: " + "[" * DEEP + "]" * DEEP + "\n")
    return scenario_cmds(d, p, ("validate", "sweep")), f"{p}:2"


def bigint_scenario(d):
    p = scenario(d, f"name: corpus\nsimulation:\n  seed: {BIG}\n")
    return scenario_cmds(d, p, ("run", "validate")), f"{p}:3: simulation.seed"


def bigint_set(d):
    p = scenario(d)
    cmds = [["run", p, "--set", f"simulation.seed={BIG}", "--out", d / "out", "-q"],
            ["validate", p, "--set", f"simulation.seed={BIG}"],
            ["sweep", p, "--set", f"simulation.seed=1,{BIG}", "--out", d / "out", "-q"]]
    return cmds, "--set simulation.seed"


def deep_set(d):
    deep = "[" * DEEP + "]" * DEEP
    return [["validate", scenario(d), "--set", f"description={deep}"],
            ["run", scenario(d), "--set", f"description={deep}", "--out", d / "out", "-q"]], "--set description"


def _variants(d, content: bytes | None):
    p = d / "variants.yaml"
    if content is None:
        os.mkfifo(p)
    else:
        p.write_bytes(content)
    return [["sweep", scenario(d), "--variants", p, "--out", d / "out", "-q"]], str(p)


def fifo_variants(d):
    return _variants(d, None)


def devzero_variants(d):
    return [["sweep", scenario(d), "--variants", "/dev/zero", "--out", d / "out", "-q"]], "/dev/zero"


def non_utf8_variants(d):
    return _variants(d, b"- name: a\n  set: {simulation.seed: 1}\n- name: \xff\xfe\n")


def deep_variants(d):
    return _variants(d, ("- name: a\n  set: {description: " + "[" * DEEP + "]" * DEEP + "}\n").encode())


def alias_variants(d):
    bomb = "- name: a\n  set: &a {simulation.seed: 1}\n- name: b\n  set: *a\n"
    return _variants(d, bomb.encode())


def fifo_summary(d):
    run = sim_run(d)
    p = replace_file(run / "summary.json", None)
    return summary_cmds(d, run), str(p)


def fifo_summary_live(d):
    run = live_run(d)
    p = replace_file(run / "summary.json", None)
    return live_cmds(d, run), str(p)


def fifo_baseline(d):
    run, base = sim_run(d), fifo(d, "baseline.json")
    return [["gate", run, "--baseline", base, "--max-regression", "availability.request.mean=0.1"]], str(base)


def fifo_calibration(d):
    run, cal = live_run(d), fifo(d, "fifo-cal.yaml")
    return [["predict", run, "--calibration", cal, "--out", d / "out"]], str(cal)


def fifo_cluster_state(d):
    """``hivesim check --cluster-dir`` reads the live cluster's state file first."""
    (d / "cluster").mkdir()
    p = fifo(d / "cluster", "cluster.json")
    return [["check", ROOT / "scenarios" / "live-smoke.yaml", "--cluster-dir", d / "cluster"]], str(p)


def non_utf8_summary(d):
    run = sim_run(d)
    p = run / "summary.json"
    p.write_bytes(p.read_bytes().replace(b'"kind"', b'"k\xffind"', 1))
    return summary_cmds(d, run), f"{p}:"


def non_utf8_summary_live(d):
    run = live_run(d)
    p = run / "summary.json"
    p.write_bytes(b'{"kind": "live", "note": "\xc3\x28"}')
    return live_cmds(d, run), str(p)


def non_utf8_timeseries(d):
    run = sim_run(d)
    p = run / "timeseries.csv"
    p.write_bytes(p.read_bytes() + b"0,1,2,\xff\n")
    return summary_cmds(d, run, ("report",)), str(p)


def non_utf8_timeseries_live(d):
    run = live_run(d)
    p = run / "timeseries.csv"
    p.write_bytes(p.read_bytes().replace(b"0,1,2,", b"0,\xfe,2,", 1))
    return live_cmds(d, run), str(p)


def deep_summary(d):
    run = sim_run(d)
    p = replace_file(run / "summary.json", deep_json())
    return summary_cmds(d, run, ("report", "compare")), f"{p}:1"


def deep_summary_live(d):
    run = live_run(d)
    p = replace_file(run / "summary.json", deep_json())
    return live_cmds(d, run), str(p)


def bigint_summary(d):
    run = sim_run(d)
    p = run / "summary.json"
    p.write_text(p.read_text().replace('"run": {', f'"run": {{"cpu_cores": {BIG}, ', 1))
    return summary_cmds(d, run, ("report", "gate")), f"{p}: run.cpu_cores"


def huge_int_summary(d):
    """Within the digit limit but beyond float range: the readers' arithmetic would overflow."""
    huge = "1" + "0" * 400
    run, live = sim_run(d), live_run(d)
    for p, key in ((run / "summary.json", "horizon_days"), (live / "summary.json", "duration_seconds")):
        p.write_text(re.sub(f'"{key}": [-0-9.e+]+', f'"{key}": {huge}', p.read_text(), count=1))
    return summary_cmds(d, run, ("report",)) + live_cmds(d, live, ("calibrate",)), "summary.json: run."


def nan_summary(d):
    run = sim_run(d)
    p = edit_summary(run, lambda s: s["availability"]["request"].update(mean=math.nan))
    return summary_cmds(d, run), f"{p}: availability.request.mean"


def _live_shape(d, change, needle, which=("calibrate", "predict")):
    run = live_run(d)
    p = edit_summary(run, change)
    return live_cmds(d, run, which), f"{p}: {needle}"


def shape_run_null(d):
    return _live_shape(d, lambda s: s.update(run=None), "run")


def shape_faults_string(d):
    return _live_shape(d, lambda s: s.update(faults="kill everything"), "faults")


def shape_fault_item(d):
    return _live_shape(d, lambda s: s["faults"].insert(0, [1, 2]), "faults[0]", ("calibrate",))


def shape_fault_start(d):
    return _live_shape(d, lambda s: s["faults"][0].update(start="soon"), "faults[0].start", ("predict",))


def shape_availability_list(d):
    return _live_shape(d, lambda s: s.update(availability=[0.99]), "availability", ("predict",))


def shape_top_list(d):
    run = live_run(d)
    p = replace_file(run / "summary.json", b'[{"kind": "live"}]')
    return live_cmds(d, run, ("calibrate",)) + summary_cmds(d, run, ("report",)), str(p)


def shape_sim_summary(d):
    run = sim_run(d)
    p = edit_summary(run, lambda s: s.update(run="yesterday"))
    return summary_cmds(d, run, ("gate", "compare")), f"{p}: run"


def alias_run_scenario(d):
    run = sim_run(d)
    edit_summary(run, lambda s: s.pop("scenario", None))
    p = run / "scenario.yaml"
    p.write_text("name: &n corpus\ndescription: *n\n")
    return summary_cmds(d, run, ("report", "gate")), str(p)


def alias_calibration(d):
    run, cal = live_run(d), d / "alias-cal.yaml"
    cal.write_text(CALIBRATION.read_text().replace("calibration:", "calibration: &c", 1) + "again: *c\n")
    return [["predict", run, "--calibration", cal, "--out", d / "out"]], str(cal)


CASES = [fifo_scenario, fifo_extends, devzero_scenario, non_utf8_scenario, deep_yaml_scenario, bigint_scenario,
         bigint_set, deep_set, fifo_variants, devzero_variants, non_utf8_variants, deep_variants, alias_variants,
         fifo_summary, fifo_summary_live, fifo_baseline, fifo_calibration, fifo_cluster_state, non_utf8_summary, non_utf8_summary_live,
         non_utf8_timeseries, non_utf8_timeseries_live, deep_summary, deep_summary_live, bigint_summary, huge_int_summary, nan_summary,
         shape_run_null, shape_faults_string, shape_fault_item, shape_fault_start, shape_availability_list,
         shape_top_list, shape_sim_summary, alias_run_scenario, alias_calibration]


# ----------------------------------------------------------------------------- running them
def _tree(d: Path) -> dict:
    """Every path under ``d`` with its size and mtime (FIFOs included, never opened)."""
    return {str(p.relative_to(d)): (p.lstat().st_size, p.lstat().st_mtime_ns) for p in d.rglob("*")}


def _run(args) -> dict:
    t = time.monotonic()
    try:
        r = subprocess.run([sys.executable, "-m", "sim", *map(str, args)], cwd=ROOT, capture_output=True,
                           text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        return {"rc": r.returncode, "err": r.stderr, "out": r.stdout, "s": time.monotonic() - t}
    except subprocess.TimeoutExpired:
        return {"rc": None, "err": f"timed out after {TIMEOUT} s", "out": "", "s": TIMEOUT}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """{(case, command index): (args, needle, result, files before, files after)} for the whole corpus."""
    jobs = []
    for build in CASES:
        d = tmp_path_factory.mktemp(build.__name__)
        cmds, needle = build(d)
        jobs.extend((build.__name__, i, d, args, needle) for i, args in enumerate(cmds))
    before = {(c, i): _tree(d) for c, i, d, _, _ in jobs}
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda j: _run(j[3]), jobs))
    return {(c, i): (args, needle, res, before[(c, i)], _tree(d))
            for (c, i, d, args, needle), res in zip(jobs, results)}


def test_corpus_size_and_time(outcomes):
    assert len(outcomes) >= 55, len(outcomes)  # 64 commands over 36 cases
    assert max(r["s"] for _, _, r, _, _ in outcomes.values()) < TIMEOUT


@pytest.mark.parametrize("case", [c.__name__ for c in CASES])
def test_bad_input_file(outcomes, case):
    mine = [v for (c, _), v in outcomes.items() if c == case]
    assert mine
    for args, needle, r, before, after in mine:
        cmd = " ".join(map(str, args))[:200]
        assert r["rc"] == 2, f"{cmd}: exit {r['rc']}, stderr: {r['err'][-800:]}"
        assert "Traceback" not in r["err"], f"{cmd}: {r['err'][-800:]}"
        lines = r["err"].strip().splitlines()
        assert len(lines) == 1, f"{cmd}: {len(lines)} lines on stderr: {r['err'][-800:]}"
        assert lines[0].startswith("hivesim: error: ") and needle in lines[0], f"{cmd}: {lines[0][:400]}"
        assert len(lines[0]) < 600, f"{cmd}: the error line is {len(lines[0])} characters"
        assert after == before, f"{cmd}: wrote {sorted(set(after) - set(before))} or changed files"
