"""The documented Python API (docs/python-api.md): ``import sim`` -> load_scenario, simulate,
Run.open(dir).to_pandas(); and the example script in docs/examples, executed as a user runs it."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import sim
from sim.errors import HivesimError, ResultsError, ScenarioError
from tests.fixtures_runs import make_run

ROOT = Path(__file__).resolve().parents[1]
ONE_CELL = ROOT / "scenarios" / "examples" / "one-cell.yaml"
SETS = ["simulation.replications=4", "simulation.horizon=60d"]


def test_import_sim_is_light_and_exposes_the_api():
    code = ("import sys, sim; assert sorted(sim.__all__) == ['Run', '__version__', 'load_scenario', 'simulate']; "
            "heavy = [m for m in ('simpy', 'numpy', 'pydantic', 'pandas', 'sim.runner') if m in sys.modules]; "
            "assert not heavy, heavy; sim.Run; assert 'pandas' not in sys.modules; print('ok')")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
    with pytest.raises(AttributeError):
        sim.no_such_name  # noqa: B018


def test_simulate_returns_the_summary_and_writes_the_run_dir(tmp_path):
    sc = sim.load_scenario(ONE_CELL, SETS)
    summary = sim.simulate(sc)
    assert summary["kind"] == "simulation" and summary["run"]["replications"] == 4
    again, reps = sim.simulate(ONE_CELL, tmp_path / "run", sets=SETS, results=True)
    assert again["availability"] == summary["availability"] and len(reps) == 4
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["availability"] == summary["availability"]
    assert again["run"]["scenario_file"] == str(ONE_CELL)
    with pytest.raises(HivesimError, match="already exists"):
        sim.simulate(sc, tmp_path / "run")
    with pytest.raises(TypeError):
        sim.simulate(sc, sets=["simulation.seed=2"])
    with pytest.raises(ScenarioError, match="replications"):
        sim.load_scenario(ONE_CELL, ["simulation.replications=0"])


def test_to_pandas_gives_the_four_frames(tmp_path):
    summary = sim.simulate(ONE_CELL, tmp_path / "run", sets=SETS)
    run = sim.Run.open(tmp_path / "run")
    frames = run.to_pandas()
    s = frames.summary
    assert isinstance(s, pd.DataFrame) and len(s) == 1 and s.index.name == "run_id"
    req = summary["availability"]["request"]
    assert s["availability.request.mean"].iloc[0] == req["mean"]
    assert (s["availability.request.ci95_lo"].iloc[0], s["availability.request.ci95_hi"].iloc[0]) == tuple(req["ci95"])
    assert "availability.request.ci95" not in s and not any(c.startswith("scenario.") for c in s)
    assert s["run.started_utc"].iloc[0] == summary["run"]["started_utc"]
    reps = frames["replications"]
    assert list(reps["replication"]) == [0, 1, 2, 3] and reps["replication"].dtype.kind == "i"
    assert math.isclose(reps["downtime_minutes"].mean(), summary["downtime_minutes_per_year"]["mean"], rel_tol=1e-9)
    assert {"cause", "effect", "duration_s"} <= set(frames.events.columns)
    assert len(frames.timeseries) == 60 * 24 and frames.timeseries["failed_fraction"].dtype.kind == "f"
    assert run.to_pandas("events").equals(frames.events)
    with pytest.raises(KeyError):
        frames["nope"]


def test_a_missing_csv_and_a_bare_summary_get_empty_frames_with_the_contract_columns(tmp_path):
    from sim.results.schema import REPLICATIONS_COLUMNS
    d = make_run(tmp_path)
    (d / "replications.csv").unlink(missing_ok=True)
    frames = sim.Run.open(d).to_pandas()
    assert list(frames.replications.columns) == REPLICATIONS_COLUMNS and frames.replications.empty
    (tmp_path / "alone.json").write_text((d / "summary.json").read_text())  # no run directory around it
    bare = sim.Run.open(tmp_path / "alone.json")
    assert bare.to_pandas("events").empty and len(bare.to_pandas("summary")) == 1


def test_a_broken_csv_is_one_results_error(tmp_path):
    d = make_run(tmp_path)
    (d / "events.csv").write_text("replication,start_s\n0,1\n")
    with pytest.raises(ResultsError, match="events.csv.*missing column"):
        sim.Run.open(d).to_pandas()
    (d / "events.csv").write_text("")
    with pytest.raises(ResultsError, match="events.csv.*not a valid CSV"):
        sim.Run.open(d).to_pandas()


def test_without_pandas_to_pandas_says_what_to_install(tmp_path, monkeypatch):
    d = make_run(tmp_path)
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas -> ModuleNotFoundError
    with pytest.raises(HivesimError, match=r"hivesim\[api\]"):
        sim.Run.open(d).to_pandas()


def test_the_example_script_runs(tmp_path):
    r = subprocess.run([sys.executable, "docs/examples/read_a_run.py", str(tmp_path / "run")], cwd=ROOT,
                       capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    assert "availability.request.ci95_lo" in r.stdout and "downtime by cause" in r.stdout
    assert (tmp_path / "run" / "summary.json").exists()
