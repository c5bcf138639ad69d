"""The results package: key registry, run block, atomic writer and the one reader (live runs too)."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import pytest

from sim.errors import ResultsError
from sim.results.reader import load_live_run, load_run
from sim.results.formatting import format_value
from sim.results.schema import (KEYS, VIEWS, higher_is_better, keys_for, label_of, run_block, spec_of,
                                summary_header)
from sim.results.writer import StagedDir, atomic_dir, atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
LIVE_RUN = ROOT / "results" / "baselines" / "live-calib-a-20261128T124845Z-745b"

# keys the readers name in their own code (gate's docs and messages, sweep's frontier, the CLI table)
MENTIONED = ["availability.request.mean", "availability.request.nines", "availability.request.nines_ci95",
             "availability.request.worst_day.mean", "availability.request.worst_30d.min",
             "availability.quorum_loss.mean", "downtime_minutes_per_year.mean", "downtime_minutes_per_year.ci95",
             "cost.per_account_per_year", "cost.currency", "cells[3].nines", "cells[0].availability",
             "outages.by_cause.bad-change-escaped.count", "latency_ms.p999", "checker.lost",
             "faults[2].recovery_seconds", "run.wall_seconds", "throughput.headroom"]


def test_every_key_a_reader_lists_or_names_is_registered():
    for key in [k for view in VIEWS for k in keys_for(view)] + MENTIONED:
        assert spec_of(key) is not None, key
    # what the sources of gate, compare and sweep spell out literally must be registered too
    for name in ("gate.py", "compare.py", "sweep.py"):
        text = (ROOT / "sim" / "readers" / name).read_text()
        for key in re.findall(r'"((?:availability|downtime_minutes_per_year|cost|outages|throughput|latency_ms|'
                              r'run|checker|cells)\b[A-Za-z0-9_.\[\]-]*)"', text):
            if "." in key and not key.endswith("."):
                assert spec_of(key) is not None, f"{name}: {key}"


def test_registry_entries_are_complete():
    for s in KEYS:
        assert s.label and s.better in (None, "higher", "lower")
        assert s.format in ("pct", "nines", "number", "int", "duration", "text", "interval", "extra_nine")
    assert len({s.key for s in KEYS}) == len(KEYS)


def test_directions_labels_and_formats():
    assert higher_is_better("availability.request.nines") is True
    assert higher_is_better("availability.time.worst_day.min") is True
    assert higher_is_better("downtime_minutes_per_year.quorum_loss.mean") is False
    assert higher_is_better("cost.per_account_per_year") is False
    assert higher_is_better("availability.request.half_width") is False
    assert higher_is_better("run.seed") is None and higher_is_better("my.metric") is None
    assert label_of("availability.request.mean") == "availability, request-weighted"
    assert label_of("not.registered") == "not.registered"
    assert format_value("availability.request.mean", 0.9999751) == "99.997510%"
    assert format_value("availability.request.nines", 4.6049) == "4.60"
    assert format_value("availability.request.ci95", [0.99, 1.0]) == "[99.00%, 100.00%]"
    assert format_value("downtime_minutes_per_year.mean", 12.34567) == "12.35"
    assert format_value("cost.currency", "EUR") == "EUR" and format_value("x", None) == "-"


def test_summary_header_and_run_block():
    assert summary_header("live") == {"schema_version": 1, "kind": "live"}
    with pytest.raises(ValueError):
        summary_header("bogus")
    from sim.scenario import load_scenario
    sc = load_scenario(str(ROOT / "scenarios" / "examples" / "one-cell.yaml"))
    rb = run_block(sc, run_id="x", workers=2)
    assert rb["seed"] == sc.simulation.seed and rb["mode"] == "fluid" and rb["status"] == "ok"
    assert rb["horizon_days"] == sc.simulation.horizon / 86400 and len(rb["scenario_sha256"]) == 64
    assert "error" not in rb and rb["workers"] == 2 and rb["python"] and rb["hivesim_version"]
    failed = run_block(sc, status="failed", error="ValueError: boom", mode="live")
    assert failed["error"] == "ValueError: boom" and failed["mode"] == "live"


def test_atomic_dir_is_atomic_and_never_overwrites(tmp_path):
    target = tmp_path / "r" / "run1"
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as d:
            (d / "summary.json").write_text("{}")
            raise RuntimeError("half-way")
    assert not target.exists() and os.listdir(tmp_path / "r") == []
    with atomic_dir(target) as d:
        (d / "summary.json").write_text("{}")
    assert (target / "summary.json").exists() and oct(target.stat().st_mode)[-3:] == "755"
    with pytest.raises(ResultsError):
        with atomic_dir(target):
            pass


def test_staged_dir_keeps_a_run_that_lost_its_name(tmp_path):
    target = tmp_path / "run"
    stage = StagedDir(target)
    (stage.path / "records").mkdir()
    assert stage.path.name.startswith(".run.") and stage.path.parent == tmp_path
    target.mkdir()  # someone else took the name while the run was going on
    with pytest.raises(ResultsError, match="results left in"):
        stage.commit()
    assert (stage.path / "records").is_dir()


def test_one_reader_serves_a_live_run():
    run = load_live_run(LIVE_RUN)
    assert run.kind == "live" and run.path == LIVE_RUN
    assert run.scenario.live is not None and run.users == int(run.scenario.live.load.users)
    assert run.deadline == float(run.scenario.live.gateway_deadline)
    assert run.duration == float(run.summary["run"]["duration_seconds"])
    assert run.series and all(isinstance(v, float) for v in run.series[0].values())
    assert math.isnan(run.series[0]["replication"]) is False
    starts = [f["start"] for f in run.faults]
    assert starts == sorted(starts) and not any(f.get("error") for f in run.faults)
    assert load_run(LIVE_RUN).get("run.run_id") == run.get("run.run_id")


def test_live_reader_refuses_a_simulated_run(tmp_path):
    (tmp_path / "summary.json").write_text('{"schema_version": 1, "kind": "simulation"}')
    with pytest.raises(ResultsError, match="expected 'live'"):
        load_live_run(tmp_path)
    with pytest.raises(ResultsError, match="not a run directory"):
        load_live_run(tmp_path / "nowhere")


def test_atomic_write_text_replaces_or_refuses(tmp_path):
    f = tmp_path / "report.html"
    atomic_write_text(f, "a")
    atomic_write_text(f, "b")
    assert f.read_text() == "b" and oct(f.stat().st_mode)[-3:] == "644"
    with pytest.raises(ResultsError, match="already exists"):
        atomic_write_text(f, "c", overwrite=False)
    atomic_write_text(tmp_path / "cal.yaml", "x: 1\n", overwrite=False)
    assert (tmp_path / "cal.yaml").read_text() == "x: 1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cal.yaml", "report.html"]  # no temp files left


def test_run_block_reproduces_the_simulators_run_block():
    """The builder gives what sim.runner writes today (the lead switches the runner to it at merge)."""
    from sim.runner import simulate
    from sim.scenario import load_scenario
    sc = load_scenario(str(ROOT / "scenarios" / "examples" / "one-cell.yaml"), ["simulation.replications=2"])
    today = simulate(sc, workers=1)["run"]
    built = run_block(sc, workers=today["workers"], scheduler=today["scheduler"], wall_seconds=today["wall_seconds"])
    assert built == today


def test_cost_of_an_extra_nine_reads_as_a_figure_or_a_reason():
    """summary.json writes ``cost.per_extra_nine`` as an object; every reader shows a sentence."""
    from sim.results.formatting import format_value
    assert format_value("cost.per_extra_nine", {"per_year": -1.5e7, "significant": False}) == \
        "not significant (the designs' CIs overlap)"
    assert format_value("cost.per_extra_nine", {"per_year": 2.5e6, "significant": True}) == "2,500,000 per year"
    assert "{" not in format_value("cost.per_extra_nine", {"significant": True})
