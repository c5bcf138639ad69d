"""Issue 18: every live fault kind predicted from a calibration of a *different* run.

The calibration (scenarios/calibration/kinds-a.calibration.yaml) was made by `hivesim calibrate`
on the committed kinds-a run; the predicted runs are a kinds-b run (3 cells, cross-cell-heavy,
other seed, targets, order and times) and a live-chaos-kinds run, all three real `hivesim live`
runs recorded one after another on this shared 2-core machine (load averages 2.7-10, see
docs/calibration.md). The replays are seeded: the predictions are deterministic.

Rules (the issue's): failed requests per model class within +-25 %, or within +-5 requests
where fewer than 20 failed; recovery within +-25 % or 2 s. Misses are strict xfails with their
numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sim.calibration.document import load_calibration
from sim.calibration.effects import fault_effect
from sim.calibration.predict import predict_run
from sim.results.reader import load_live_run

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "results" / "baselines"
CAL = ROOT / "scenarios" / "calibration" / "kinds-a.calibration.yaml"
RUN_A = "kinds-a-20261203T043918Z-1325"
RUN_B = "kinds-b-20261203T044600Z-c38f"
RUN_C = "live-chaos-kinds-20261203T045229Z-e4ea"

KNOWN_MISSES = {
    (RUN_C, "crash@etcd-quorum"):
        "0 measured, 10.2 predicted (p05-p95 2-16); recovery 0 s measured, 3.5 s predicted: the model holds "
        "every cell for the 10 s quorum loss minus the fitted 0.64 s (kinds-a: 8 s loss, 7.68 s stall), so "
        "some requests pass the 10 s gateway deadline; live stalled only 7.85 s (kinds-b: 6 s loss, 3.44 s "
        "stall): the stall is not the hold minus a constant",
}


@pytest.fixture(scope="module")
def predictions():
    cal = load_calibration(CAL)
    out = {}
    for name in (RUN_B, RUN_C):
        run = load_live_run(BASE / name)
        assert cal["source"]["run_id"] != run.summary["run"]["run_id"]  # not circular
        out[name] = predict_run(run, cal, 0.25)
    return out


def _classes(run_name):
    run = load_live_run(BASE / run_name)
    return sorted({fault_effect(run, f).cls for f in run.faults})


def _cases():
    out = []
    for run_name in (RUN_B, RUN_C):
        for cls in _classes(run_name):
            reason = KNOWN_MISSES.get((run_name, cls))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            out.append(pytest.param(run_name, cls, marks=marks, id=f"{run_name.split('-2026')[0]}-{cls}"))
    return out


@pytest.mark.parametrize("run_name,cls", _cases())
def test_failed_requests_and_recovery_per_fault_class(predictions, run_name, cls):
    k = predictions[run_name]["kinds"][cls]
    m, p = k["measured_failed_requests"], k["predicted_failed_requests"]
    assert (m < 20 and abs(p - m) <= 5) or (m > 0 and abs(p - m) <= 0.25 * m), k
    r = k["recovery_seconds"]
    assert abs(r["predicted"] - r["measured"]) <= max(0.25 * r["measured"], 2.0), k
    assert k["within_tolerance"] and k["recovery_within_tolerance"]


def test_the_counted_faults_are_within_25_percent(predictions):
    """The classes that failed >= 20 requests are held to +-25 % (no absolute slack): the
    gateway crash, the bad change, the long pause, the host crash and the IDC's loss."""
    seen = set()
    for name, pred in predictions.items():
        for cls, k in pred["kinds"].items():
            if k["measured_failed_requests"] >= 20:
                seen.add(cls)
                assert abs(k["relative_error"]) <= 0.25, (name, cls, k)
    assert {"crash@gns", "bad-change@app", "pause", "crash", "down@idc"} <= seen


def test_each_fault_entry_names_its_kind_and_target_as_written(predictions):
    for name, pred in predictions.items():
        run = load_live_run(BASE / name)
        written = [(str(c.fault), str(c.target)) for c in run.scenario.chaos]
        assert [(f["kind"], f["target"]) for f in pred["faults"]] == written
        for f in pred["faults"]:
            lo, hi = f["predicted"]["failed_requests_p05_p95"]
            assert lo <= f["predicted"]["failed_requests"] <= hi
            assert f["predicted"]["outage_seconds_p05_p95"][0] <= f["predicted"]["outage_seconds"] + 1e-9
            if f["class"].endswith("@bus"):  # credits delayed, not lost: the delay is the figure
                assert f["predicted"]["credit_delay_seconds"] > 0 and f["predicted"]["failed_requests"] == 0


def test_a_short_pause_is_ridden_out_and_a_long_one_fails_over(predictions):
    """kinds-b pauses cell[0]'s primary for 8 s (below the ttl: stalls, nothing fails) and later
    for 25 s (beyond it: failover, ~40 failures); the model tells them apart."""
    faults = [f for f in predictions[RUN_B]["faults"] if f["kind"] == "pause" and f["target"].startswith("cell[")]
    short, long_ = sorted(faults, key=lambda f: f["start"])
    assert short["class"] == "pause-short" and long_["class"] == "pause"
    assert short["measured"]["failed_requests"] == 0 and short["predicted"]["failed_requests"] < 1
    assert short["predicted"]["stall_seconds"] > 5  # requests queue behind the frozen primary
    assert long_["measured"]["failed_requests"] >= 20 and long_["predicted"]["failed_requests"] >= 20


def test_prediction_json_written(tmp_path, cli):
    r = cli("predict", BASE / RUN_C, "--calibration", CAL, "--out", tmp_path / "p", "--replications", "4")
    assert r.returncode in (0, 1), r.stderr
    pred = json.loads((tmp_path / "p" / "prediction.json").read_text())
    assert {"kind", "target", "class", "effect", "measured", "predicted"} <= set(pred["faults"][0])
    assert (tmp_path / "p" / "report.html").exists()


@pytest.mark.slow
def test_calibration_reproduces_the_committed_file():
    """`hivesim calibrate` of the committed kinds-a run gives the committed file (fixed seeds)."""
    from sim.calibration.fit import calibrate
    cal = calibrate(BASE / RUN_A)
    committed = load_calibration(CAL)
    for key in ("outage_seconds", "outage_extra_seconds", "service_ms"):
        assert cal[key] == committed[key], key
