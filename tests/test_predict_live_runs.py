"""``hivesim predict``: a live run predicted from a calibration made on *another* run.

Both runs are real `hivesim live` runs committed under results/baselines/ (4 files each). The
calibration run and the predicted run differ in seed, fault order, cells and times, so the check
is not circular. Tolerance: +-25 % on failed requests per fault kind (the issue's), summed over
the faults of that kind in the run; the replay averages 20 seeded replays (deterministic).

Designs (docs/calibration.md):
* runs E -> F (gateway deadline 1 s; three postmaster kills, a pause beyond the ttl and a host
  crash each), on the bank as it is now: every kind must be within tolerance, and every
  measured total inside the replays' 5-95 % band;
* the first E/F runs, deadline 2.5 s, recorded before two fixes of the bank (PostgreSQL's 5 s
  WAL retry; Patroni 3.0.2's etcd3 leader-key overwrite, docs/live-cluster.md): a kill failed
  ~11 or ~30-41 requests at random (the count's second step), so two of four predictions miss
  on the kill: strict xfails with their numbers;
* runs A-D (deadline 4 s, which the kill's outage straddles): the crash must be within
  tolerance; the kill misses on some runs (strict xfails with their numbers).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from sim.calibration.document import load_calibration
from sim.results.reader import Run, load_live_run
from sim.calibration.predict import predict_run
from sim.calibration.replay import ReplayModel, replay_seed

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "results" / "baselines"
CALS = ROOT / "scenarios" / "calibration"

# (calibration file, the run it was made on, a different run predicted from it)
E_CAL, E_RUN = "live-calib-e.calibration.yaml", "live-calib-e-20261128T152926Z-54e8"
F_RUNS = ("live-calib-f-20261128T153315Z-0074", "live-calib-f-20261128T153754Z-a98d",
          "live-calib-f-20261128T154139Z-16e2")
# deadline 2.5 s, before the fixes of the bank (loadtests/cluster/patroni.py)
E0_CAL, E0_RUN = "live-calib-e-2.5s-before-fixes.calibration.yaml", "live-calib-e-20261128T144645Z-c444"
F0_RUNS = ("live-calib-f-20261128T145003Z-57d7", "live-calib-f-20261128T150030Z-65d2",
           "live-calib-f-20261128T150810Z-9e49",
           "live-calib-e-20261128T150444Z-056c")  # (this one recorded while a calibration fit ran alongside)
A_CAL, A_RUN = "live-calib-a.calibration.yaml", "live-calib-a-20261128T124845Z-745b"
C_CAL, C_RUN = "live-calib-c.calibration.yaml", "live-calib-c-20261128T131610Z-fc52"
B1, B2, D, D2 = ("live-calib-b-20261128T125503Z-4ad0", "live-calib-b-20261128T130705Z-4b46",
                 "live-calib-d-20261128T131938Z-c7a4", "live-calib-d-20261128T134850Z-d010")
PAIRS = [(E_CAL, E_RUN, f) for f in F_RUNS] + [(E0_CAL, E0_RUN, f) for f in F0_RUNS] + [
    (A_CAL, A_RUN, D), (A_CAL, A_RUN, C_RUN), (A_CAL, A_RUN, B1), (A_CAL, A_RUN, B2), (A_CAL, A_RUN, D2),
    (C_CAL, C_RUN, D)]

# Known misses (docs/calibration.md): with deadlines of 4 s and 2.5 s a postmaster kill's outage
# straddles a step of the failed count (one more failure per blocked user), so a kill fails
# ~11 or ~30-40 requests (2.5 s) or 5-19 (4 s) at random, and a run of three kills lands far from
# the mean. (The E -> F runs at 1 s have no known miss.) Numbers as re-measured 20261204T11, after
# the calibrations were re-fitted by the replay as it is now (docs/calibration.md).
KNOWN_MISSES = {
    (E0_CAL, F0_RUNS[2], "kill-postmaster"): "35 measured, 59.9 predicted (+71 %): 12, 11, 12 per kill here",
    (E0_CAL, F0_RUNS[3], "kill-postmaster"): "106 measured, 62.0 predicted (-42 %): 38, 28, 40 per kill, "
                                             "recorded while a calibration fit ran on the other core",
    (A_CAL, D, "kill-postmaster"): "36 measured, 47.7 predicted (+32 %): 14, 17, 5 per kill",
    (A_CAL, D2, "kill-postmaster"): "30 measured, 47.7 predicted (+59 %): 10, 11, 9 per kill",
    (C_CAL, D, "kill-postmaster"): "36 measured, 46.3 predicted (+29 %): 14, 17, 5 per kill",
}


def _kinds(run_name: str) -> list[str]:
    return sorted({f["kind"] for f in json.loads((BASE / run_name / "summary.json").read_text())["faults"]})


def _cases():
    out = []
    for cal_name, cal_run, run_name in PAIRS:
        for kind in _kinds(run_name):
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
        assert cal["source"]["run_id"] != load_live_run(BASE / run_name).summary["run"]["run_id"]  # not circular
        predictions[(cal_name, run_name)] = predict_run(BASE / run_name, cal, 0.25)
    return predictions[(cal_name, run_name)]


@pytest.mark.parametrize("cal_name,run_name,kind", _cases())
def test_prediction_within_25_percent_per_fault_kind(predictions, cal_name, run_name, kind):
    k = _predict(predictions, cal_name, run_name)["kinds"][kind]
    assert k["measured_failed_requests"] > 0, kind  # the check has something to check
    assert abs(k["relative_error"]) <= 0.25, k
    assert k["within_tolerance"]


def test_outage_samples_widen_the_band(predictions):
    """Drawing each kill's outage from the calibration run's kills (outage_samples) puts the
    failover's spread into the replays' 5-95 % band; without them only the replay's own noise
    (and Patroni's loop jitter) is left. Shown on the 2.5 s calibration, whose kills were 2.05,
    2.2 and 6.98 s; the 1 s calibration's kills (3.58-3.92 s) vary less than the loop jitter.
    The band is reported, not asserted to hold the measurement: three calibration kills are a
    small sample (the fresh run 20261128T154139Z fell below its kill band, 158 vs 164-187,
    though within 11 % of the mean)."""
    cal = load_calibration(CALS / E0_CAL)
    assert max(cal["outage_samples"]["kill-postmaster"]) > 2 * min(cal["outage_samples"]["kill-postmaster"])
    with_samples = _predict(predictions, E0_CAL, F0_RUNS[0])["kinds"]["kill-postmaster"]["predicted_p05_p95"]
    one = copy.deepcopy(cal)
    del one["outage_samples"]
    without = predict_run(BASE / F0_RUNS[0], one, 0.25)["kinds"]["kill-postmaster"]["predicted_p05_p95"]
    assert with_samples[1] - with_samples[0] > 2 * (without[1] - without[0])


def test_prediction_json_and_plots(tmp_path, cli):
    cal_name, _, run_name = PAIRS[0]
    out = tmp_path / "pred"
    r = cli("predict", BASE / run_name, "--calibration", CALS / cal_name, "--out", out, "--replications", "8")
    assert r.returncode in (0, 1), r.stderr
    pred = json.loads((out / "prediction.json").read_text())
    assert (r.returncode == 0) == pred["within_tolerance"]
    run = load_live_run(BASE / run_name)
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
    seed = run.scenario.simulation.seed  # the replays' seeds and settings are echoed
    assert pred["model"]["seeds"]["replay_seeds"] == [replay_seed(seed, i) for i in range(8)]
    assert pred["model"]["replay"]["client_deadline"] == run.retry.client_deadline_for(run.deadline)
    page = (out / "report.html").read_text()  # the table in a report, plots embedded
    assert page.count("data:image/png;base64,") == len(pred["faults"])
    assert all(f["target"] in page for f in pred["faults"]) and "per kind" in page
    assert ("NOT within tolerance" in page) != pred["within_tolerance"]
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


def test_a_fault_class_the_calibration_lacks_is_flagged_not_guessed(tmp_path, cli):
    """A calibration without a figure for a class of the predicted run (here: only kill-postmaster
    kept, the run also crashes a host) predicts the rest; the class is left out of the replay,
    flagged ``calibrated: false`` in prediction.json and named on the command line (it was a
    clear error before a standby-only IDC loss made such classes a normal case)."""
    import yaml
    cal = load_calibration(CALS / A_CAL)
    cal["outage_seconds"] = {"kill-postmaster": cal["outage_seconds"]["kill-postmaster"]}
    f = tmp_path / "cal.yaml"
    f.write_text(yaml.safe_dump({"calibration": cal}))
    r = cli("predict", BASE / D, "--calibration", f, "--out", tmp_path / "p", "--replications", "4")
    assert r.returncode in (0, 1), r.stderr
    assert "not calibrated (" in r.stdout and "crash" in r.stdout.split("not calibrated (", 1)[1].splitlines()[0]
    pred = json.loads((tmp_path / "p" / "prediction.json").read_text())
    assert pred["kinds"]["crash"]["calibrated"] is False and pred["kinds"]["crash"]["predicted_failed_requests"] == 0
    assert pred["kinds"]["kill-postmaster"]["calibrated"] is True


def test_replay_settings_come_from_the_run_s_scenario():
    """The gateway's and the client's retry settings are the replayed run's ``live.retry`` (echoed
    in its scenario), not retyped constants; a run recorded before they were settings gets the
    defaults, which its bank used (gateway up to 0.2 s, client 0.2-1 s, deadline max(2 d, 10 s))."""
    run = load_live_run(BASE / F_RUNS[0])
    cal = load_calibration(CALS / E_CAL)
    m = ReplayModel.for_run(run, cal)
    assert (m.gateway_poll, m.client_backoff, m.client_max_backoff) == (0.2, 0.2, 1.0)
    assert m.op_deadline == max(2 * run.deadline, 10.0) and m.deadline == run.deadline
    doc = run.scenario.model_dump(mode="json")
    doc["live"]["retry"] = {"gateway_max_backoff": 0.5, "client_backoff": 0.3, "client_max_backoff": 2.0,
                            "client_deadline": 7.0}
    other = Run(run.path, {**run.summary, "scenario": doc})  # as if it had echoed other settings
    m = ReplayModel.for_run(other, cal)
    assert (m.gateway_poll, m.client_backoff, m.client_max_backoff, m.op_deadline) == (0.5, 0.3, 2.0, 7.0)
