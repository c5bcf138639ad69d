"""The command line as scripts and CI use it: ``run --quiet`` prints the run directory, ``--json``
on every command with a result, shell completion, gates echoed as written, an 80-column sweep."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.fixtures_runs import make_run

BASE = ROOT / "results" / "baselines"
ONE_CELL = "scenarios/examples/one-cell.yaml"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    a = make_run(root, run_id="a", seed=3, replications=8, gates=["availability.request.mean>=99.99%"])
    b = make_run(root, run_id="b", seed=4, replications=8)
    return a, b


def _cli_at(columns: int, *args):
    """``hivesim ARGS`` with a terminal ``columns`` wide (rich honours COLUMNS)."""
    return subprocess.run([sys.executable, "-m", "sim", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "COLUMNS": str(columns)})


def _json(r) -> dict:
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)


def test_run_quiet_prints_the_run_directory_only(tmp_path, cli):
    r = cli("run", ONE_CELL, "--replications", "2", "--out", tmp_path / "r", "--no-report", "--quiet")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 1 and Path(lines[0]).is_dir() and (Path(lines[0]) / "summary.json").is_file()


def test_run_json_is_the_whole_summary(tmp_path, cli):
    out = tmp_path / "r"
    doc = _json(cli("run", ONE_CELL, "--replications", "2", "--out", out, "--no-report", "--json"))
    assert doc == json.loads((out / "summary.json").read_text())


def test_json_on_gate_compare_report_validate(runs, tmp_path, cli):
    a, b = runs
    g = _json(cli("gate", a, "--require", "outages.count>=0", "--json"))
    assert isinstance(g["passed"], bool) and g["gates"] and {"name", "key", "value", "passed"} <= set(g["gates"][0])
    c = _json(cli("compare", a, b, "--json"))
    assert len(c["runs"]) == 2 and c["rows"][0]["key"] == "availability.request.mean"
    v = _json(cli("validate", ONE_CELL, "--json"))
    assert v["valid"] is True and v["files"][0]["name"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nnonsense: 1\n")
    r = cli("validate", bad, "--json")
    assert r.returncode == 2 and json.loads(r.stdout)["files"][0]["valid"] is False


def test_json_on_report(runs, cli):
    rep = _json(cli("report", runs[1], "--json"))
    assert Path(rep["reports"][0]["report"]).is_file()


def test_json_on_sweep_and_its_table_fits_80_columns(tmp_path, cli):
    sets = ["--set", "topology.cells.template.db.replicas=3,5",
            "--set", "topology.cells.template.db.failover.detection=10s,30s"]
    doc = _json(cli("sweep", ONE_CELL, "--replications", "2", "--workers", "1", "--out", tmp_path / "s1",
                    "--json", *sets))
    assert doc["variants"] == 4 and len(doc["rows"]) == 4 and Path(doc["out"]).is_dir()
    r = _cli_at(80, "sweep", ONE_CELL, "--replications", "2", "--workers", "1", "--out", tmp_path / "s2", *sets)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in r.stdout and "..." not in r.stdout  # no figure cut short
    assert "%" in r.stdout and "0.9999" not in r.stdout  # availabilities as percentages, not fractions
    assert lines[-1] == str(tmp_path / "s2")  # the sweep directory last, alone


def test_json_on_calibrate_and_predict(tmp_path, cli):
    cal = _json(cli("calibrate", BASE / "live-calib-a-20261128T124845Z-745b", "--out", tmp_path / "c.yaml",
                    "--seeds", "1", "--json"))
    assert cal["calibration_file"] == str(tmp_path / "c.yaml") and cal["outage_seconds"]
    pred = _json(cli("predict", BASE / "live-calib-f-20261128T153315Z-0074", "--calibration",
                     ROOT / "scenarios" / "calibration" / "live-calib-e.calibration.yaml",
                     "--out", tmp_path / "p", "--replications", "1", "--json"))
    assert pred["out"] == str(tmp_path / "p") and "within_tolerance" in pred


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_script(shell, cli):
    r = cli("completion", shell)
    assert r.returncode == 0, r.stderr
    assert "hivesim" in r.stdout and "sweep" in r.stdout and "--max-regression" in r.stdout


def test_a_percent_gate_is_echoed_as_written(runs, tmp_path):
    a, _ = runs
    md = tmp_path / "g.md"
    r = _cli_at(160, "gate", a, "--require", "worst_day:availability.request.mean>=99.9%", "--markdown", md)
    assert r.returncode in (0, 1), r.stderr
    for text in (r.stdout, md.read_text()):
        # the scenario's gate and the --require gate, both as their authors wrote them
        assert "availability.request.mean>=99.99%" in text and ">=99.9%" in text
        assert ">= 99.99%" in text and "0.9999" not in text and "0.999 " not in text


def test_max_regression_accepts_the_keys_require_accepts(runs, cli):
    a, b = runs
    s = json.loads((a / "summary.json").read_text())
    cause = next(c for c in s["outages"]["by_cause"] if "-" in c)
    r = cli("gate", a, "--no-scenario-gates", "--baseline", b, "--json",
            "--max-regression", f"outages.by_cause.{cause}.count=1000",
            "--max-regression", "availability.request.mean=0.001%")
    doc = _json(r)
    assert doc["gates"][0]["key"] == f"outages.by_cause.{cause}.count"
    assert " pp" in doc["gates"][1]["name"] and doc["gates"][1]["threshold_text"] == "<= 0.001 pp" and "e-0" not in json.dumps([g["detail"] for g in doc["gates"]])


def test_help_texts_are_plain(cli):
    from sim.cli import COMMANDS
    for name in [""] + COMMANDS:
        r = cli(*([name] if name else []), "--help")
        assert r.returncode == 0, (name, r.stderr)
        assert "``" not in r.stdout and "%%" not in r.stdout, name


def test_live_result_lines_quiet_and_json(capsys):
    # the live run's stdout, from a recorded live run's summary (no cluster needed)
    from types import SimpleNamespace

    from sim.cli.live import _print_result
    run_dir = BASE / "live-calib-a-20261128T124845Z-745b"
    s = json.loads((run_dir / "summary.json").read_text())
    out = SimpleNamespace(run_dir=run_dir)
    _print_result(out, s, SimpleNamespace(json=False, quiet=True))
    assert capsys.readouterr().out == f"{run_dir}\n"
    _print_result(out, s, SimpleNamespace(json=True, quiet=False))
    assert json.loads(capsys.readouterr().out)["run"] == s["run"]
    _print_result(out, s, SimpleNamespace(json=False, quiet=False))
    text = capsys.readouterr().out
    assert "%" in text and "availability 0." not in text
