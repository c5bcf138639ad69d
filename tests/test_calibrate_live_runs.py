"""``hivesim calibrate`` on recorded live runs (results/baselines/live-*: real `hivesim live` runs).

The calibration is deterministic (fixed replay seeds), so calibrating the committed run again
must give the committed calibration file; the fitted figures must also make physical sense for
the bank that was measured (Patroni ttl 20 s; gateway deadline 4 s in run A, 1 s in run E).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sim.calibration.document import calibration_document, load_calibration, write_calibration
from sim.calibration.fit import calibrate, predicted_failed
from sim.results.reader import load_live_run
from sim.calibration.replay import ReplayModel
from sim.errors import HivesimError, ResultsError
from sim.request.faults import fault_windows
from sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "results" / "baselines"
RUN_A = BASE / "live-calib-a-20261128T124845Z-745b"
CAL_A = ROOT / "scenarios" / "calibration" / "live-calib-a.calibration.yaml"
RUN_E = BASE / "live-calib-e-20261128T152926Z-54e8"
CAL_E = ROOT / "scenarios" / "calibration" / "live-calib-e.calibration.yaml"


@pytest.fixture(scope="module")
def cal_a():
    return calibrate(RUN_A)


@pytest.fixture(scope="module")
def cal_e():
    return calibrate(RUN_E)


def test_calibration_e_reproduces_the_committed_file(cal_e):
    committed = load_calibration(CAL_E)
    for key in ("outage_seconds", "outage_samples", "service_ms"):
        assert cal_e[key] == committed[key], key


def test_calibration_e_is_physical(cal_e):
    """Run E: three postmaster kills, a 25 s pause, a host crash; Patroni ttl 20 s."""
    out, each = cal_e["outage_seconds"], cal_e["outage_samples"]
    sc = load_live_run(RUN_E).scenario
    ttl = sc.live.patroni.ttl
    pause = next(c for c in sc.chaos if c.fault == "pause")
    assert ttl <= out["crash"] <= ttl + 15  # the leader key expires, then a standby is promoted
    assert ttl <= out["pause"] <= pause.duration + 10  # frozen: the same expiry (a thaw ends it anyway)
    assert out["kill-postmaster"] < out["crash"] / 2  # its own Patroni notices at once
    assert set(each) == {"kill-postmaster"}  # the only kind seen more than once
    assert len(each["kill-postmaster"]) == 3
    assert min(each["kill-postmaster"]) <= out["kill-postmaster"] <= max(each["kill-postmaster"])


def test_each_fault_s_own_outage_reproduces_its_count(cal_e):
    """fit_outage_samples: replaying with a kill's own fitted outage gives back that kill's
    measured failed requests. Tolerance: 2 requests + 10 % (the bisection stops within 0.05 s,
    and a step of the replay's count can be a few requests)."""
    run = load_live_run(RUN_E)
    model = ReplayModel.for_run(run, cal_e)
    kills = [i for i, f in enumerate(run.faults) if f["kind"] == "kill-postmaster"]
    for i, g in zip(kills, cal_e["outage_samples"]["kill-postmaster"]):
        pred = predicted_failed(run, model, cal_e["outage_seconds"], [i], range(6), {i: g})
        meas = run.faults[i]["failed_requests"]
        assert abs(pred - meas) <= 2 + 0.1 * meas, (i, g, pred, meas)


def test_calibration_reproduces_the_committed_file(cal_a):
    committed = load_calibration(CAL_A)
    assert cal_a["outage_seconds"] == committed["outage_seconds"]
    assert cal_a["service_ms"] == committed["service_ms"]
    assert cal_a["source"]["run_id"] == "20261128T124845Z-745b"


def test_fitted_outages_are_physical(cal_a):
    out = cal_a["outage_seconds"]
    assert set(out) == {"crash", "kill-postmaster"}
    sc = load_live_run(RUN_A).scenario
    ttl, deadline = sc.live.patroni.ttl, sc.live.gateway_deadline
    # a host crash waits for the leader key to expire (ttl) before Patroni promotes a standby
    assert ttl <= out["crash"] <= ttl + 15
    # a killed postmaster is noticed by its own Patroni at once: far shorter, and it did fail
    # requests (15 measured), so it outlasted the gateway's deadline
    assert deadline <= out["kill-postmaster"] <= out["crash"] / 2
    assert cal_a["gateway"]["deadline"] == deadline


def test_service_times_and_capacity(cal_a):
    s = cal_a["service_ms"]
    assert all(s[k]["median_ms"] > 0 and 0 < s[k]["sigma"] < 3 for k in ("read", "intra", "cross"))
    assert s["cross"]["median_ms"] > s["read"]["median_ms"]  # the gateway checks the destination first
    t = cal_a["throughput"]
    run = load_live_run(RUN_A)
    assert t["saturated"]  # 150 req/s offered, ~24/s served on this shared machine
    assert 0.5 * run.summary["throughput"]["requests_per_second"] < t["capacity_tps"] < 150


def test_a_scenario_extends_the_calibration(tmp_path, cal_a):
    """The documented way to use it: scenario -> calibration file -> base scenario (extends chain)."""
    tree = tmp_path / "scenarios"
    (tree / "calibration").mkdir(parents=True)
    shutil.copy(ROOT / "scenarios" / "live-smoke.yaml", tree / "live-smoke.yaml")
    cal_file = tree / "calibration" / "cal.yaml"
    write_calibration(cal_file, calibration_document(cal_a, extends="../live-smoke.yaml"))
    with pytest.raises(ResultsError):
        write_calibration(cal_file, calibration_document(cal_a))  # never overwritten
    mine = tree / "calibration" / "mine.yaml"
    mine.write_text("extends: cal.yaml\nname: mine\nsimulation: {horizon: 120s, replications: 2}\n"
                    "chaos:\n  - {at: 10s, target: 'cell[0].db.primary', fault: kill-postmaster}\n"
                    "  - {at: 60s, target: 'cell[1].db.primary', fault: crash}\n")
    sc = load_scenario(mine)
    fo = sc.topology.cells.template.db.failover
    out = cal_a["outage_seconds"]
    assert fo.total == pytest.approx(out["crash"], abs=0.02)
    assert fo.election + fo.promotion == pytest.approx(out["kill-postmaster"], abs=0.02)
    assert sc.calibration["outage_seconds"] == out
    # request mode uses the calibrated outage of each fault kind
    assert [(w.start, w.end) for w in fault_windows(sc, 0, 0, 120, sc.calibration)] == \
        [(10.0, 10.0 + out["kill-postmaster"])]
    assert [(w.start, w.end) for w in fault_windows(sc, 1, 0, 120, sc.calibration)] == \
        [(60.0, 60.0 + out["crash"])]


def test_bad_inputs_are_one_line_errors(tmp_path, cli):
    r = cli("calibrate", tmp_path)
    assert r.returncode == 2 and "not a run directory" in r.stderr and "Traceback" not in r.stderr
    sim_run = tmp_path / "sim"
    sim_run.mkdir()
    (sim_run / "summary.json").write_text(json.dumps({"kind": "simulation"}))
    r = cli("calibrate", sim_run)
    assert r.returncode == 2 and "kind: expected 'live'" in r.stderr
    existing = tmp_path / "cal.yaml"
    existing.write_text("x: 1\n")
    r = cli("calibrate", RUN_A, "--out", existing)
    assert r.returncode == 2 and "already exists" in r.stderr and existing.read_text() == "x: 1\n"
    r = cli("calibrate", RUN_A, "--out", tmp_path / "c2.yaml", "--extends", "/etc/passwd")
    assert r.returncode == 2 and "relative path" in r.stderr
    with pytest.raises(HivesimError, match="calibration.outage_seconds"):
        bad = tmp_path / "bad.yaml"
        bad.write_text("calibration:\n  outage_seconds: [1]\n  service_ms: {}\n")
        load_calibration(bad)
    # a file from before down@idc was the hold plus an extra: refused, not misread as an extra
    stale = tmp_path / "stale.yaml"
    text = (ROOT / "scenarios" / "calibration" / "kinds-a-restart-0.5s.calibration.yaml").read_text()
    assert "    down@idc: 0.81\n" in text
    stale.write_text(text.replace("    down@idc: 0.81\n", "").replace("  outage_seconds:\n", "  outage_seconds:\n    down@idc: 15.86\n"))
    with pytest.raises(HivesimError, match=r"outage_seconds.down@idc: expected under outage_extra_seconds"):
        load_calibration(stale)


def test_cpu_demand_from_a_run_that_sampled_it(cal_e):
    """Runs since the CPU sampler (loadtests/analysis/cpu.py) give the bank's CPU demand. Two
    independent readings must agree: the bank's processes (/proc/PID/stat) are part of the
    machine (/proc/stat), so the bank's utilisation cannot exceed the machine's busy fraction;
    and the utilisation law ties demand, throughput and utilisation together."""
    run = load_live_run(RUN_E)  # sampled the bank's CPU (timeseries.csv bank_cpu_s)
    t = cal_e["throughput"]
    c = t["cpu"]
    assert c["cores"] == run.summary["run"]["cpu_cores"] >= 1
    assert 0 < c["bank_utilisation"] <= c["machine_busy"] <= 1.0
    assert c["demand_ms"] > 0
    # U = X * D: the steady throughput times the demand is the bank's share of the cores (the
    # steady seconds' mean ok rate is the X of both; rounding of the stored figures only)
    assert t["steady_ok_rps"] * c["demand_ms"] / 1000 / c["cores"] == pytest.approx(c["bank_utilisation"], rel=0.02)
    assert c["cpu_bound_capacity_rps"] > t["steady_ok_rps"]
    mix = run.scenario.workload.mix
    by = c["demand_ms_by_kind"]
    mean = (mix.reads * by["read"] + mix.intra_cell * by["intra"] + mix.cross_cell * by["cross"]) / \
        (mix.reads + mix.intra_cell + mix.cross_cell)
    assert mean == pytest.approx(c["demand_ms"], rel=0.01)


def test_older_runs_without_cpu_still_calibrate(cal_a):
    assert "cpu" not in cal_a["throughput"]
