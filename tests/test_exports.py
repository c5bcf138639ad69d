"""Tidy exports (issue 16, item 5): ISO 8601 start times, absolute scenario paths, the CSV
columns the results contract documents, and replications.csv agreeing with summary.json."""

from __future__ import annotations

import csv
import json
import math
import os
import re
from pathlib import Path

from sim.results.schema import EVENTS_COLUMNS, REPLICATIONS_COLUMNS, TIMESERIES_COLUMNS, run_block, utc_iso
from sim.runner import run_to_dir
from sim.scenario import load_scenario_text
from tests.test_sweep_grid import TINY  # the same tiny one-cell scenario

ROOT = Path(__file__).resolve().parents[1]
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def test_run_block_has_iso_start_and_absolute_scenario_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sc").mkdir()
    (tmp_path / "sc" / "tiny.yaml").write_text(TINY)
    sc = load_scenario_text(TINY, "tiny.yaml")
    out, summary = run_to_dir(sc, tmp_path / "run", workers=1, progress=False, scenario_file="sc/tiny.yaml")
    run = json.loads((out / "summary.json").read_text())["run"]
    assert ISO.match(run["started_utc"]), run["started_utc"]
    assert run["run_id"] == "run"  # --out names the directory; the id is unchanged otherwise
    assert run["scenario_file"] == str((tmp_path / "sc" / "tiny.yaml").resolve())
    assert os.path.isabs(run["scenario_file"])
    # the default directory name keeps the compact id, naming the same second as started_utc
    out2, s2 = run_to_dir(sc, None, workers=1, progress=False, scenario_file="sc/tiny.yaml",
                          results_root=tmp_path / "results")
    stamp = s2["run"]["run_id"].split("-")[0]
    assert re.match(r"^\d{8}T\d{6}Z$", stamp) and stamp == s2["run"]["started_utc"].replace("-", "").replace(":", "")


def test_every_run_block_resolves_scenario_file(tmp_path, monkeypatch):
    # the live benchmark's run block goes through run_block too (loadtests/run.py)
    monkeypatch.chdir(tmp_path)
    assert run_block(scenario_file="../x/./live.yaml")["scenario_file"] == str((tmp_path / "../x/live.yaml").resolve())


def test_placeholders_and_none_stay_as_they_are():
    assert run_block(scenario_file="<embedded webank-2023>")["scenario_file"] == "<embedded webank-2023>"
    assert run_block(scenario_file=None)["scenario_file"] is None
    assert "scenario_file" not in run_block()
    assert utc_iso(0) == "1970-01-01T00:00:00Z"


def test_replications_csv_downtime_is_per_year_like_the_summary(tmp_path):
    sc = load_scenario_text(TINY, "tiny.yaml")
    out, summary = run_to_dir(sc, tmp_path / "run", workers=1, progress=False)
    with open(out / "replications.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == REPLICATIONS_COLUMNS
        rows = list(reader)
    mean = sum(float(r["downtime_minutes"]) for r in rows) / len(rows)
    assert math.isclose(mean, summary["downtime_minutes_per_year"]["mean"], rel_tol=1e-9)  # CSV: 10 digits


def test_the_contract_documents_every_csv_column():
    for doc in ("docs/results-contract.md", "results/README.md"):
        text = (ROOT / doc).read_text()
        for name, cols in (("events.csv", EVENTS_COLUMNS), ("timeseries.csv", TIMESERIES_COLUMNS),
                           ("replications.csv", REPLICATIONS_COLUMNS)):
            assert name in text and ",".join(cols) in text, f"{doc}: {name} columns {cols}"


def test_sweep_table_csv_has_numeric_columns(tmp_path):
    from sim.cli import main
    sc = tmp_path / "tiny.yaml"
    sc.write_text(TINY)
    out = tmp_path / "sw"
    assert main(["sweep", str(sc), "--set", "simulation.horizon=10d,20d", "--out", str(out), "--workers", "1",
                 "-q"]) == 0
    with open(out / "table.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        cols, rows = reader.fieldnames, list(reader)
    for key in ("availability.request.ci95", "availability.request.nines_ci95", "downtime_minutes_per_year.ci95"):
        assert key not in cols and f"{key}_lo" in cols and f"{key}_hi" in cols
    for r in rows:
        lo, mean, hi = (float(r[k]) for k in ("availability.request.ci95_lo", "availability.request.mean",
                                             "availability.request.ci95_hi"))
        assert lo <= mean <= hi
        for k, v in r.items():  # every figure column parses as a number (no "[lo, hi]", no "10s")
            if k not in ("variant", "status", "error", "pareto", "cost.currency") and v != "":
                float(v)
    assert [float(r["scenario.simulation.horizon"]) for r in rows] == [10 * 86400.0, 20 * 86400.0]
    # table.json keeps the rows as built: intervals as [lo, hi], the swept values as written
    table = json.loads((out / "table.json").read_text())
    assert table["rows"][0]["scenario.simulation.horizon"] == "10d"
    assert len(table["rows"][0]["availability.request.ci95"]) == 2


def test_a_failed_variants_durations_are_still_seconds():
    from sim.readers.sweep import tidy_rows
    rows = [{"variant": "a", "scenario.simulation.horizon": "2h", "scenario.topology.cells.count": 3,
             "availability.request.ci95": None}]
    got = tidy_rows(rows, [RuntimeError("boom")])[0]
    assert got["scenario.simulation.horizon"] == 7200.0 and got["scenario.topology.cells.count"] == 3
    assert got["availability.request.ci95_lo"] is None and "availability.request.ci95" not in got
