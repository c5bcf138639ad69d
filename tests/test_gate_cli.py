"""Gates: exit codes 0/1/2, JUnit XML (one failure per breach), Markdown lists every gate, windows,
CI-aware regressions. Inputs are synthetic run directories from tests/fixtures_runs.py."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from tests.fixtures_runs import make_run
from sim.cli import main
from sim.readers.gate import check_run, gate_key, parse_regression


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("runs"), seed=3, gates=["availability.request.nines>=3"])


def _summary(run):
    return json.loads((run / "summary.json").read_text())


def test_pass_exit_0(run):
    s = _summary(run)
    nines = s["availability"]["request"]["nines"]
    assert main(["gate", str(run), "--require", f"availability.request.nines>={nines - 0.01}"]) == 0


def test_breach_exit_1_and_junit_markdown(run, tmp_path):
    s = _summary(run)
    mean = s["availability"]["request"]["mean"]
    junit, md = tmp_path / "g.xml", tmp_path / "g.md"
    reqs = [f"availability.request.mean>={mean + 1e-6}",      # breached
            "cost.per_account_per_year<=3",                   # passes (2.0)
            "outages.count<1",                                # breached
            "worst_day:availability.request.mean>=0.5"]       # passes
    argv = ["gate", str(run), "--junit", str(junit), "--markdown", str(md)]
    for r in reqs:
        argv += ["--require", r]
    assert main(argv) == 1
    root = ET.parse(junit).getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == 5  # 1 scenario gate + 4 --require
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert failed == [reqs[0], reqs[2]]
    assert root.find("testsuite").get("failures") == "2"
    text = md.read_text()
    for r in reqs + ["availability.request.nines>=3"]:
        assert f"`{r}`" in text
    assert text.count("**FAIL**") == 2 and "FAIL (2 of 5 breached)" in text


@pytest.mark.parametrize("argv, needle", [
    (["--require", "availability.request.nines>>5"], "expected"),
    (["--require", "availability.requst.nines>=5"], "did you mean 'availability.request.nines'"),
    (["--require", "scenario>=1"], "not a number"),
    (["--require", "worst_day:outages.count<=1"], "no windowed figure"),
    (["--max-regression", "availability.request.mean=0.1"], "needs --baseline"),
    (["--max-regression", "foo.bar=0.1", "--baseline", "SELF"], "higher or lower"),
])
def test_bad_input_exit_2_one_line(run, capsys, argv, needle, tmp_path):
    argv = [str(run) if a == "SELF" else a for a in argv]
    junit = tmp_path / "never.xml"
    assert main(["gate", str(run), "--junit", str(junit), *argv]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err
    assert not junit.exists()  # nothing half-written on bad input


def test_missing_dir_exit_2(tmp_path, capsys):
    assert main(["gate", str(tmp_path / "nope"), "--require", "a>=1"]) == 2
    assert "no such run directory" in capsys.readouterr().err


def test_percent_values_and_windows(run):
    s = _summary(run)
    wd = s["availability"]["request"]["worst_day"]["mean"]
    res = check_run(run, requires=[f"worst_day:availability.request.mean>={wd * 100 - 1e-6}%",
                                   "worst_30d:availability.request.min>=100%"], use_scenario=False)
    assert [r.key for r in res] == ["availability.request.worst_day.mean", "availability.request.worst_30d.min"]
    assert [r.passed for r in res] == [True, False]
    assert gate_key("availability.time.mean", "worst_30d") == "availability.time.worst_30d.mean"


def test_scenario_gate_windows_from_mapping(tmp_path):
    run = make_run(tmp_path, seed=5, gates=[{"metric": "availability.request.mean", "op": ">=",
                                             "value": 1.0, "window": "worst_day"}])
    from sim.readers.gate import apply_scenario_gates
    assert apply_scenario_gates(run) == 1
    assert check_run(run)[0].key == "availability.request.worst_day.mean"


def test_failed_run_is_a_breach(tmp_path):
    run = make_run(tmp_path, seed=6)
    s = _summary(run)
    s["run"]["status"], s["run"]["error"] = "failed", "worker died"
    (run / "summary.json").write_text(json.dumps(s))
    res = check_run(run, requires=["outages.count>=0"])
    assert [r.passed for r in res] == [False, True] and "worker died" in res[0].detail


def test_regression_ci_aware(tmp_path):
    base = make_run(tmp_path, name="base", seed=11, outages_per_year=4, replications=40)
    # many more outages: a real, significant regression
    worse = make_run(tmp_path, name="worse", seed=12, outages_per_year=40, replications=40)
    # same generator, different seed: differences are noise, CIs overlap
    noisy = make_run(tmp_path, name="noisy", seed=13, outages_per_year=4, replications=40)
    sb, sw, sn = (_summary(p) for p in (base, worse, noisy))
    drop = sb["availability"]["request"]["mean"] - sw["availability"]["request"]["mean"]
    assert drop > 0
    reg = [f"availability.request.mean={drop / 2}"]
    r = check_run(worse, regressions=reg, baseline=base, use_scenario=False)[0]
    assert not r.passed and "CIs disjoint" in r.detail
    # the same delta on the noisy run: passes either by delta or by overlapping CIs
    r = check_run(noisy, regressions=["availability.request.mean=0"], baseline=base, use_scenario=False)[0]
    cn, cb = sn["availability"]["request"]["ci95"], sb["availability"]["request"]["ci95"]
    overlap = cn[0] <= cb[1] and cb[0] <= cn[1]
    assert overlap  # seeds 11/13 with 40 replications: noise only (checked, fixed seeds)
    assert r.passed
    # a delta larger than the drop passes even when CIs are disjoint
    r = check_run(worse, regressions=[f"availability.request.mean={drop * 2}"], baseline=base, use_scenario=False)[0]
    assert r.passed
    # lower-is-better key inferred; summary.json path accepted as baseline
    r = check_run(worse, regressions=["downtime_minutes_per_year.mean=1"], baseline=base / "summary.json",
                  use_scenario=False)[0]
    assert not r.passed
    assert main(["gate", str(worse), "--baseline", str(base), "--max-regression", reg[0]]) == 1


def test_parse_regression_directions():
    assert parse_regression("availability.request.mean=0.0005%").delta == pytest.approx(5e-6)
    assert parse_regression("cost.per_account_per_year=0.1").higher_better is False
    assert parse_regression("my.metric:higher=2").higher_better is True


def test_null_figure_fails_with_the_writers_note(tmp_path):
    run = make_run(tmp_path, seed=7, outages_per_year=0.0)  # no failures: nines are null
    s = _summary(run)
    assert s["availability"]["request"]["nines"] is None
    s["availability"]["request"]["note"] = "no failure seen in any replication"
    (run / "summary.json").write_text(json.dumps(s))
    r = check_run(run, requires=["availability.request.nines>=5"], use_scenario=False)[0]
    assert not r.passed and "no failure seen" in r.detail


def test_table_shows_bracketed_text(run, capsys):
    # gate names and details contain brackets (cells[0], CIs); they must not vanish as rich markup
    assert main(["gate", str(run), "--no-scenario-gates", "--require", "cells[0].availability>=0"]) == 0
    out = capsys.readouterr().out
    assert "cells[0].availability>=0" in out


def test_keys_with_hyphens(run):
    # cause names in outages.by_cause contain hyphens (bad-change ...); the fixture's causes do too
    s = _summary(run)
    cause = next(c for c in s["outages"]["by_cause"] if "-" in c)
    n = s["outages"]["by_cause"][cause]["count"]
    res = check_run(run, requires=[f"outages.by_cause.{cause}.count<={n}", f"outages.by_cause.{cause}.count<{n}"],
                    use_scenario=False)
    assert [r.passed for r in res] == [True, False]
