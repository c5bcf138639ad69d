"""Issue 18: every live fault kind predicted from a calibration of a *different* run.

The calibration (scenarios/calibration/kinds-a.calibration.yaml) was made by `hivesim calibrate`
on three committed kinds-a runs, pooled (earlier ones, of the bank as it ran then, are kept beside it,
each predicting runs of its time); the predicted runs are a kinds-b run (3 cells, cross-cell-heavy,
other seed, targets, order and times) and a live-chaos-kinds run, all real `hivesim live` runs
recorded one after another on this shared 2-core machine (load averages 2.7-10, see
docs/calibration.md), twice: at live-smoke's 10 s gateway deadline and at 1 s (kinds-a.yaml and
kinds-b.yaml now). The replays are seeded: the predictions are deterministic.

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
CALS = ROOT / "scenarios" / "calibration"
# kinds-a/kinds-b as first recorded: live-smoke's 10 s gateway deadline (most faults shorter than
# it fail nothing, so most classes are "0 measured, 0 predicted")
CAL10, RUN_A10 = "kinds-a-deadline-10s.calibration.yaml", "kinds-a-20261203T043918Z-1325"
RUN_B10 = "kinds-b-20261203T044600Z-c38f"
RUN_C1 = "live-chaos-kinds-20261203T045229Z-e4ea"
# kinds-a/kinds-b as they are now: a 1 s gateway deadline, so every stall is counted, and the live
# bank with Patroni's failsafe mode (its default since these runs; the earlier 1 s runs without it
# were dropped: their etcd quorum loss meant something else)
CAL1, RUN_A1 = "kinds-a-restart-0.5s.calibration.yaml", "kinds-a-20261203T073916Z-7d7b"
RUN_B1 = "kinds-b-20261203T074534Z-3e31"
RUN_C2 = "live-chaos-kinds-20261203T075332Z-7f3e"  # a fresh live-chaos-kinds run (10 s deadline, as written)
# two kinds-a runs pooled (`hivesim calibrate RUN_A1 RUN_A2`): each class's figure is what both showed
CALP, RUN_A2 = "kinds-a-pooled.calibration.yaml", "kinds-a-20261203T083651Z-70d2"
POOLED = {CALP: (RUN_A1, RUN_A2)}
# fresh runs whose fault records name each member's role (the IDC loss is modelled by it), recorded
# one after the other on a quieter machine (load average 3-5, one helper at nice 19)
RUN_B2 = "kinds-b-20261203T111140Z-d9a5"
RUN_C3 = "live-chaos-kinds-20261203T111737Z-7ee0"
# the live bank as it runs now: its supervisor restarts a killed app server, gateway or relay after
# 0.1 s (live.restart_delay; 0.5 s before, which put an app server's restart on the 1 s deadline).
# kinds-a, kinds-b and live-chaos-kinds recorded back to back (load average 1-8: kinds-b's 3 cells
# load the 2 cores themselves), then kinds-b once more
CAL2, RUN_A3 = "kinds-a-nofence.calibration.yaml", "kinds-a-20261203T134443Z-b09d"
RUN_B3, RUN_C4 = "kinds-b-20261203T135041Z-f3f0", "live-chaos-kinds-20261203T135637Z-c7dc"
RUN_B4 = "kinds-b-20261203T140326Z-48c2"
# a live-chaos-kinds run whose fault records carry what was hit as data (``hit``)
RUN_C5 = "live-chaos-kinds-20261203T144015Z-297a"
RUN_B5 = "kinds-b-20261203T144415Z-803d"  # kinds-b with hit records: idc-c held only standbys and etcd's leader
# the emulated fencing watchdog (live.patroni.watchdog, safety_margin 2 s): kinds-a then kinds-b,
# the machine ~86-94 % busy (20 users at up to 300 req/s saturate the bank; helpers at nice 19)
CAL3, RUN_A4 = "kinds-a-fence.calibration.yaml", "kinds-a-20261203T180437Z-62ce"
RUN_B6 = "kinds-b-20261203T181309Z-884d"
# the live bank as it runs now: the fence as above, app servers, gateway and relay restarted into a
# warm spare (~0.15 s instead of a ~1 s cold start), and the kinds designs at 100 req/s (the machine
# ~40 % busy instead of 86-94 %); kinds-a, kinds-b, live-chaos-kinds recorded back to back
CAL4, RUN_A5 = "kinds-a-before-standby-loss.calibration.yaml", "kinds-a-20261203T182610Z-7a73"
RUN_B7, RUN_C6 = "kinds-b-20261203T183315Z-7d58", "live-chaos-kinds-20261203T184021Z-d3d7"
RUN_B8 = "kinds-b-20261203T184417Z-1d0a"  # kinds-b once more: its IDC loss took only synchronous standbys
# kinds-a with every cell's synchronous standby crashed (standby-loss), the same bank
CAL5, RUN_A6 = "kinds-a-before-idc-standby.calibration.yaml", "kinds-a-20261203T190204Z-ba06"
RUN_B9 = "kinds-b-20261203T190950Z-6328"  # a fresh kinds-b run after it
RUN_C7 = "live-chaos-kinds-20261203T191624Z-4264"  # and a fresh live-chaos-kinds run
# kinds-a as it is now: idc-c lost first, before any failover, when it holds only standbys and etcd2
# (etcd's leader in A8: class down@idc-standby+etcd-leader; a follower in A7: down@idc-standby);
# the calibration pools A8, A7 and A6 (each class's figure and samples from all three); then fresh
# kinds-b and live-chaos-kinds runs, all recorded back to back (one helper at nice 19)
CAL6, RUN_A7 = "kinds-a-before-held-ports.calibration.yaml", "kinds-a-20261203T233041Z-ab6a"
RUN_A8 = "kinds-a-20261203T233943Z-afd3"
POOLED[CAL6] = (RUN_A8, RUN_A7, RUN_A6)
RUN_B11, RUN_C8 = "kinds-b-20261203T234742Z-b3eb", "live-chaos-kinds-20261203T235353Z-990d"
RUN_B12, RUN_C9 = "kinds-b-20261204T000109Z-133f", "live-chaos-kinds-20261204T000833Z-2692"  # and again
RUN_B13 = "kinds-b-20261204T001518Z-af65"  # and kinds-b a third time
RUN_B14 = "kinds-b-20261204T010944Z-01e8"  # and a fourth: idc-c held only standbys and etcd's leader
# fresh runs after the replay's re-fit (20261204T11: the live count, the gateway's account cache, the
# latency fault's pool): kinds-b three times, live-chaos-kinds twice, one helper's tests at nice 19
RUN_B15, RUN_B16 = "kinds-b-20261204T103346Z-8064", "kinds-b-20261204T105946Z-a350"
RUN_B17 = "kinds-b-20261204T111709Z-a2e9"
RUN_C10, RUN_C11 = "live-chaos-kinds-20261204T110651Z-0a09", "live-chaos-kinds-20261204T112545Z-fdf6"
# the bank as it runs now: its supervisor holds every service's port, so a crashed gateway refuses
# no connection (class crash@gns+held-port). Three kinds-a runs pooled (a60e lost idc-c with etcd's
# leader there), then kinds-b and live-chaos-kinds, twice, all recorded back to back 20261204T16
CAL7, RUN_A11 = "kinds-a.calibration.yaml", "kinds-a-20261204T162412Z-a60e"
RUN_A12, RUN_A13 = "kinds-a-20261204T161728Z-4688", "kinds-a-20261204T163056Z-d3e4"
POOLED[CAL7] = (RUN_A11, RUN_A12, RUN_A13)
RUN_B18, RUN_C12 = "kinds-b-20261204T160820Z-f667", "live-chaos-kinds-20261204T161416Z-993e"
RUN_B19, RUN_C13 = "kinds-b-20261204T163731Z-4e1d", "live-chaos-kinds-20261204T164331Z-4492"
RUN_B20, RUN_C14 = "kinds-b-20261204T173130Z-886f", "live-chaos-kinds-20261204T173719Z-78c5"  # a third time, an hour later
# a fourth time, 20261204T19, after the bank's role got client_connection_check_interval
RUN_B21, RUN_C15 = "kinds-b-20261204T190349Z-0b58", "live-chaos-kinds-20261204T191038Z-bb21"
RUN_B22 = "kinds-b-20261204T204411Z-e567"  # and kinds-b a fifth time, after the engine merges (20261204T20:44)
RUN_B23 = "kinds-b-20261204T222130Z-cb53"  # a sixth, after the gateway's own HTTP client (20261204T22:21)
RUN_B24 = "kinds-b-20261205T012154Z-8905"  # a seventh, after the service tier's third pass (20261205T01:21)
# (calibration, the run it was made on, a different run predicted from it)
PAIRS10 = [(CAL10, RUN_A10, RUN_B10), (CAL10, RUN_A10, RUN_C1)]
# Each calibration predicts one kinds-b and one live-chaos-kinds run recorded after it (the runs
# of its time), the current two calibrations every fresh run of theirs. (Until 20261204T16 every
# calibration also predicted every later run: 43 pairs, ~4 of CI's minutes; the dropped pairs are
# in docs/calibration.md's tables and `hivesim predict` re-makes any of them.)
PAIRS = PAIRS10 + [(CAL1, RUN_A1, RUN_B1), (CAL1, RUN_A1, RUN_C2), (CALP, RUN_A1, RUN_B1),
                   (CAL2, RUN_A3, RUN_B5), (CAL2, RUN_A3, RUN_C4), (CAL3, RUN_A4, RUN_B6),
                   (CAL4, RUN_A5, RUN_B7), (CAL4, RUN_A5, RUN_C6), (CAL5, RUN_A6, RUN_B9), (CAL5, RUN_A6, RUN_C7),
                   (CAL6, RUN_A8, RUN_B15), (CAL6, RUN_A8, RUN_B16),
                   (CAL6, RUN_A8, RUN_B17), (CAL6, RUN_A8, RUN_C10), (CAL6, RUN_A8, RUN_C11),
                   (CAL7, RUN_A11, RUN_B18), (CAL7, RUN_A11, RUN_C12), (CAL7, RUN_A11, RUN_B19),
                   (CAL7, RUN_A11, RUN_C13), (CAL7, RUN_A11, RUN_B20),
                   (CAL7, RUN_A11, RUN_C14), (CAL7, RUN_A11, RUN_B21), (CAL7, RUN_A11, RUN_C15),
                   (CAL7, RUN_A11, RUN_B22), (CAL7, RUN_A11, RUN_B23), (CAL7, RUN_A11, RUN_B24)]

# Each miss with its numbers as they are now. Re-measured 20261204T11 after every calibration was
# re-fitted by the replay as it is now (the live count of a fault's requests, the gateway's account
# cache, the latency fault's pool and 503); the explanations' figures about the calibration runs'
# own fits are as of when the miss was first found.
KNOWN_MISSES = {
    (CAL7, RUN_B19, 'kill-postmaster'):
        "36 measured, 54.9 predicted (+52 %; p05-p95 36-63); recovery 2.8 s vs 3.7 s: this failover took 2.8 s "
        "(stall 2.4 s); the three kinds-a kills it is fitted on came to 4.45, 4.42 and 3.02 s. Live spread, not "
        "bias: 19 kinds-b runs failed 36-78 in this kill (mean 56.8, SD 10.4; 4 outside +-25 % of 55), its write "
        "outage 3.90-5.31 s in 9 probed kills (benchmarks/probe_failover.py; docs/calibration.md)",
    (CAL7, RUN_B20, 'kill-postmaster'):
        "39 measured, 55.0 predicted (+41 %; p05-p95 36-64); recovery 3.5 s vs 3.7 s: the low tail of the same "
        "spread (19 kinds-b runs: 36-78, mean 56.8, SD 10.4)",
    (CAL10, RUN_B10, 'down@idc'):
        "20 measured, 0.0 predicted (-100 %; p05-p95 0-0); recovery 10.1 s vs 0.0 s: at the 10 s deadline every "
        "IDC loss of the three 10 s runs failed exactly 20 requests (each of the 20 users waits past the deadline"
        " once), a staircase the fit of kinds-a's 15 s loss met at an extra of -5.04 s (a 10.0 s outage); "
        "kinds-b's 12 s loss then gives 7.0 s, below the deadline. Those records predate roles: kinds-a's idc-a "
        "held one leader, the other cell's m0 was a standby (7 processes), and the model stopped both",
    (CAL10, RUN_B10, 'crash'):
        "40 measured, 36.1 predicted (-10 %; p05-p95 34-38); recovery 20.3 s vs 29.5 s: at the 10 s deadline the "
        "failed count is a staircase in the outage (each of the 20 users fails once per 10 s it waits), so "
        "kinds-a's 40 failed are met by outages from ~20 s to ~30 s alike and the fit took 29.9 s; counted on the"
        " cell's own requests (as live, since 20261204T11) the predicted recovery follows that outage, where live"
        " recovered after 20.3 s",
    (CAL10, RUN_C1, 'crash@etcd-quorum'):
        "0 measured, 10.2 predicted (p05-p95 3-15; 10.2 off); recovery 0.0 s vs 3.4 s: the model holds every cell"
        " for the 10 s quorum loss minus the fitted 0.64 s (kinds-a: 8 s loss, 7.68 s stall), so some requests "
        "pass the 10 s gateway deadline; live stalled only 7.85 s (kinds-b: 6 s loss, 3.44 s stall): the stall is"
        " not the hold minus a constant (runs without Patroni's failsafe mode)",
    (CAL3, RUN_B6, 'kill-postmaster'):
        "78 measured, 57.8 predicted (-26 %; p05-p95 54-64); recovery 5.2 s vs 3.7 s: this kill's failover took "
        "5.2 s (kinds-a's 3.85 s, 50 failed; earlier kinds-b kills 56-77 failed) on a machine 94 % busy",
    (CAL3, RUN_B6, 'crash@gns'):
        "65 measured, 84.7 predicted (+30 %; p05-p95 81-90); recovery 1.2 s vs 1.8 s: at 300 req/s with cold "
        "restarts (kinds-a 62ce: 91 failed, recovery 1.73 s) the gateway came back after 1.2 s here; the refused "
        "window fitted on kinds-a is longer than this run's",
    (CAL3, RUN_B6, 'kill-patroni'):
        "51 measured, 64.1 predicted (+26 %; p05-p95 58-71); recovery 3.4 s vs 4.2 s: with the fence both kills "
        "stop writes 2 s before the key expires (one mode now: write stall 4.9 s in kinds-a, 69 failed; 2.7 s "
        "stall here); what is left is the promotion on the standby's next HA loop, U(0, 1 s), and the sync chain",
    (CAL3, RUN_B6, 'crash@etcd-quorum'):
        "30 measured, 0.0 predicted (-100 %; p05-p95 0-0); recovery 1.9 s vs 0.0 s: the 6 s quorum loss stalled "
        "writes 0.9 s in this run (0 failed in the five kinds-b runs before it and in kinds-a)",
    (CAL3, RUN_B6, 'pause@gns'):
        "9 measured, 16.1 predicted (p05-p95 14-18; 7.1 off); recovery 0.0 s vs 0.0 s: kinds-a's paused gateway "
        "(4 s) failed 10 and the model keeps its in-flight count; kinds-b's p50 latency ran 100 ms (kinds-a 63 "
        "ms)",
    (CAL3, RUN_B6, 'crash@app'):
        "40 measured, 5.3 predicted (-87 %; p05-p95 3-8); recovery 2.0 s vs 0.1 s: the app server's cold restart "
        "took 2.0 s on a machine 94 % busy (kinds-a: 0.95 s, 8 failed)",
    (CAL3, RUN_B6, 'down@idc'):
        "101 measured, 144.1 predicted (+43 %; p05-p95 137-151); recovery 8.2 s vs 10.9 s: both IDC losses took "
        "one cell's leader and the other cells' synchronous standbys; the model stops the leader's cell for the "
        "hold plus an extra fitted on kinds-a's loss, where the standby stall of the other cell (not modelled per"
        " cell) was counted into it",
    (CAL2, RUN_B5, 'kill-patroni'):
        "22 measured, 56.6 predicted (+158 %; p05-p95 51-61); recovery 2.2 s vs 3.5 s: the third kinds-b kill in "
        "a row with a 1.8-1.9 s stall (23, 21, 22 failed), as all three kills of probe-kill-patroni; kinds-a's "
        "one kill (3.75 s) was of the slower kind (2.4-4.0 s in 4 of the 11 kills at a 1 s deadline with slots)",
    (CAL2, RUN_B5, 'down@idc-standby+etcd-leader'):
        "79 measured, 0.0 predicted (-100 %; p05-p95 0-0); recovery 5.9 s vs 0.0 s: idc-c held only synchronous "
        "standbys (one per cell) and etcd's leader; every cell's commits waited until Patroni dropped its dead "
        "standby, after etcd's election (stall 4.9 s). Not modelled: no kinds-a run has a standby-only IDC loss "
        "to fit it on",
    (CALP, RUN_B1, 'pause@gns'):
        "11 measured, 3.0 predicted (p05-p95 1-6; 8.0 off); recovery 0.0 s vs 0.0 s: the in-flight count follows "
        "the latency, and both kinds-a runs ran faster than this one (1 and 2 failed there)",
    (CALP, RUN_B1, 'crash@app'):
        "30 measured, 15.2 predicted (-49 %; p05-p95 6-19); recovery 1.9 s vs 0.4 s: the two kinds-a restarts "
        "(fitted 1.17 s and 0.95 s) were faster than this run's 1.91 s at load ~10",
    (CALP, RUN_B1, 'down@idc'):
        "133 measured, 169.8 predicted (+28 %; p05-p95 166-175); recovery 10.8 s vs 12.6 s: the record predates "
        "roles (as from the one-run calibration)",
    (CAL1, RUN_B1, 'kill-patroni'):
        "36 measured, 48.2 predicted (+34 %; p05-p95 41-58); recovery 2.7 s vs 2.9 s: fitted on kinds-a's one "
        "kill (50 failed, 3.25 s recovery); kills vary run to run (50, 37 in kinds-a; 36, 37, 60, 59 in kinds-b)",
    (CAL1, RUN_B1, 'pause@gns'):
        "11 measured, 2.6 predicted (p05-p95 1-5; 8.3 off); recovery 0.0 s vs 0.0 s: requests in flight when the "
        "gateway froze fail when it thaws; the model has fewer in flight: its latency is kinds-a's (p50 ~15 ms, 2"
        " failed there), this run's was longer (recorded at load ~10)",
    (CAL1, RUN_B1, 'crash@app'):
        "30 measured, 17.1 predicted (-43 %; p05-p95 15-18); recovery 1.9 s vs 0.4 s: the app server's restart "
        "(restart_delay 0.5 s + Python start-up) was fitted at 1.17 s on kinds-a (19 failed) and took 1.91 s in "
        "this run recorded at load ~10",
    (CAL1, RUN_B1, 'down@idc'):
        "133 measured, 171.9 predicted (+29 %; p05-p95 167-177); recovery 10.8 s vs 12.6 s: the record predates "
        "roles, so all three cells count as stopped; by its process counts (7, 21, 20) c0-m2 was a standby",
    (CAL6, RUN_B15, 'crash@gns'):
        "10 measured, 16.3 predicted (p05-p95 13-21; 6.3 off); recovery 0.1 s vs 0.1 s: the low end of kinds-b's "
        "spread (20, 17, 17, 19, 22, 21, 16, 10, 27, 20 failed in ten runs with the warm spare): recovery 0.13 s",
    (CAL6, RUN_B16, 'crash@gns'):
        "27 measured, 16.2 predicted (-40 %; p05-p95 13-20); recovery 0.2 s vs 0.1 s: the high end of kinds-b's "
        "spread (20, 17, 17, 19, 22, 21, 16, 10, 27, 20): connections were refused from 60.01 s to 60.23 s, and "
        "27 user requests and 22 status lookups failed",
    (CAL6, RUN_B17, 'down@idc-standby+etcd-leader'):
        "122 measured, 69.2 predicted (-43 %; p05-p95 65-72); recovery 10.2 s vs 4.6 s: the same loss (idc-c with"
        " every cell's m2, a synchronous standby, and etcd's leader) failed 73 in kinds-a and 79, 62, 87 and 122 "
        "in four kinds-b runs (recovery 5.8, 5.9, 4.4, 6.3 and 10.2 s): the class is fitted whole on kinds-a's "
        "one loss; what made this one's recovery 10.2 s is not established (its cluster logs were not kept)",
}


@pytest.fixture(scope="module")
def predictions():
    return {}


def _predict(predictions, cal_name, run_name):
    if (cal_name, run_name) not in predictions:
        cal = load_calibration(CALS / cal_name)
        run = load_live_run(BASE / run_name)
        for src in cal.get("sources") or [cal["source"]]:  # not circular
            assert src["run_id"] != run.summary["run"]["run_id"]
        predictions[(cal_name, run_name)] = predict_run(run, cal, 0.25)
    return predictions[(cal_name, run_name)]


def _classes(run_name):
    run = load_live_run(BASE / run_name)
    return sorted({fault_effect(run, f).cls for f in run.faults})


def _cases():
    out = []
    for cal_name, _, run_name in PAIRS:
        for cls in _classes(run_name):
            reason = KNOWN_MISSES.get((cal_name, run_name, cls))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            out.append(pytest.param(cal_name, run_name, cls, marks=marks,
                                    id=f"{cal_name.split('.')[0]}->{run_name}-{cls}"))
    return out


@pytest.mark.parametrize("cal_name,run_name,cls", _cases())
def test_failed_requests_and_recovery_per_fault_class(predictions, cal_name, run_name, cls):
    k = _predict(predictions, cal_name, run_name)["kinds"][cls]
    m, p = k["measured_failed_requests"], k["predicted_failed_requests"]
    assert (m < 20 and abs(p - m) <= 5) or (m > 0 and abs(p - m) <= 0.25 * m), k
    r = k["recovery_seconds"]
    assert abs(r["predicted"] - r["measured"]) <= max(0.25 * r["measured"], 2.0), k
    assert k["within_tolerance"] and k["recovery_within_tolerance"]


def test_the_counted_faults_are_within_25_percent(predictions):
    """At the 10 s deadline, the classes that failed >= 20 requests are held to +-25 % (no
    absolute slack): the gateway crash, the bad change, the long pause, the host crash and the
    IDC's loss (kinds-b's IDC loss misses since the IDC model is the hold plus an extra, and the
    host crash's recovery since the re-fit of 20261204T11: strict xfails of the per-class test,
    KNOWN_MISSES). (At 1 s, see the per-class test.)"""
    seen = set()
    for cal_name, _, run_name in PAIRS10:
        name, pred = run_name, _predict(predictions, cal_name, run_name)
        for cls, k in pred["kinds"].items():
            if k["measured_failed_requests"] >= 20:
                seen.add(cls)
                if (cal_name, run_name, cls) in KNOWN_MISSES:  # a strict xfail of the per-class test:
                    # off on its count, or (the host crash since the re-fit) on its recovery only
                    assert abs(k["relative_error"]) > 0.25 or not k["recovery_within_tolerance"], (cls, k)
                    continue
                assert abs(k["relative_error"]) <= 0.25, (cal_name, name, cls, k)
    assert {"crash@gns", "bad-change@app", "pause", "crash", "down@idc"} <= seen


def test_each_fault_entry_names_its_kind_and_target_as_written(predictions):
    for cal_name, _, name in PAIRS:
        pred = _predict(predictions, cal_name, name)
        run = load_live_run(BASE / name)
        written = [(str(c.fault), str(c.target)) for c in run.scenario.chaos]
        assert [(f["kind"], f["target"]) for f in pred["faults"]] == written
        for f in pred["faults"]:
            lo, hi = f["predicted"]["failed_requests_p05_p95"]
            assert lo <= f["predicted"]["failed_requests"] <= hi
            assert f["predicted"]["outage_seconds_p05_p95"][0] <= f["predicted"]["outage_seconds"] + 1e-9
            if f["class"].endswith("@bus"):  # credits delayed, not lost: the delay is the figure
                assert f["predicted"]["credit_delay_seconds"] > 0 and f["predicted"]["failed_requests"] == 0


def test_at_a_1s_deadline_the_stalls_are_counted(predictions):
    """With a 1 s deadline the short pause, partition, postmaster kill and latency fail requests
    (at 10 s they fail none) and the model predicts them within 25 %."""
    k = _predict(predictions, CAL1, RUN_B1)["kinds"]
    for cls in ("pause-short", "partition", "kill-postmaster", "latency", "bad-change@app", "crash@gns", "pause",
                "crash"):
        assert k[cls]["measured_failed_requests"] >= 20, cls
        assert abs(k[cls]["relative_error"]) <= 0.25, (cls, k[cls])


def test_a_short_pause_is_ridden_out_and_a_long_one_fails_over(predictions):
    """kinds-b pauses cell[0]'s primary for 8 s (below the ttl: stalls, nothing fails) and later
    for 25 s (beyond it: failover, ~40 failures); the model tells them apart."""
    faults = [f for f in _predict(predictions, CAL10, RUN_B10)["faults"] if f["kind"] == "pause" and f["target"].startswith("cell[")]
    short, long_ = sorted(faults, key=lambda f: f["start"])
    assert short["class"] == "pause-short" and long_["class"] == "pause"
    assert short["measured"]["failed_requests"] == 0 and short["predicted"]["failed_requests"] < 1
    assert short["predicted"]["stall_seconds"] > 5  # requests queue behind the frozen primary
    assert long_["measured"]["failed_requests"] >= 20 and long_["predicted"]["failed_requests"] >= 20


def test_prediction_json_written(tmp_path, cli):
    r = cli("predict", BASE / RUN_C1, "--calibration", CALS / CAL10, "--out", tmp_path / "p", "--replications", "4")
    assert r.returncode in (0, 1), r.stderr
    pred = json.loads((tmp_path / "p" / "prediction.json").read_text())
    assert {"kind", "target", "class", "effect", "measured", "predicted"} <= set(pred["faults"][0])
    assert (tmp_path / "p" / "report.html").exists()


# the calibration re-made in every test run: the current one's first run (older files record the
# bank as it ran then; re-making all fourteen took ~6.5 of CI's minutes, 20261203, and re-making
# all three pooled runs of the current one ~2.3)
REPRODUCED = [(CAL7, RUN_A11)]


@pytest.mark.slow
@pytest.mark.parametrize("cal_name,run_name", REPRODUCED)
def test_calibration_reproduces_the_committed_file(cal_name, run_name):
    """`hivesim calibrate` of the committed kinds-a run gives the committed file (fixed seeds). For
    a pooled file, its first run's calibration gives the file's service times and the first of
    each class's samples (``sim.calibration.pool``: samples in the runs' order), and a class only
    that run showed keeps its figure; the other runs' shares are the same code on other records."""
    from sim.calibration.pool import FIGURE_KEYS
    cal = _calibrated(run_name)
    committed = load_calibration(CALS / cal_name)
    runs = POOLED.get(cal_name, (run_name,))
    if len(runs) == 1:
        for key in (*FIGURE_KEYS, "outage_samples", "service_ms"):
            assert cal.get(key) == committed.get(key), key
        return
    assert runs[0] == run_name and committed["sources"][0]["run_id"] == cal["source"]["run_id"]
    assert cal["service_ms"] == committed["service_ms"]
    pooled = committed.get("outage_samples", {})
    checked = 0
    for key in ("outage_seconds", "outage_extra_seconds"):
        for k, v in cal.get(key, {}).items():
            own = cal.get("outage_samples", {}).get(k) or [v]
            if k in pooled:
                assert pooled[k][:len(own)] == own, k
            else:  # no other run showed it, or it had one figure in all: the pooled figure is this one
                assert committed[key][k] == round(v, 4), k
            checked += 1
    assert checked >= 10


_CALIBRATED: dict = {}


def _calibrated(run_name):
    from sim.calibration.fit import calibrate
    if run_name not in _CALIBRATED:
        _CALIBRATED[run_name] = calibrate(BASE / run_name)
    return _CALIBRATED[run_name]


def test_every_known_miss_names_a_predicted_pair():
    predicted = {(c, r) for c, _, r in PAIRS}
    assert [k for k in KNOWN_MISSES if k[:2] not in predicted] == []


def test_a_class_the_calibration_never_showed_is_flagged_not_guessed(predictions):
    """kinds-b 803d lost an IDC holding only synchronous standbys and etcd's leader (79 failed); the
    calibration of that time (kinds-a-nofence) had no such loss to fit: the class is left out of the
    replay and flagged ``calibrated: false``, where a figure from elsewhere would be a guess. The
    calibration after it has one (kinds-a afd3: 73 failed) and predicts it. Likewise the calibration
    of now, made where the supervisor held the gateway's port, has no figure for a gateway whose
    port died with it (kinds-b a2e9, 20 failed): flagged, not given the held port's."""
    k = _predict(predictions, CAL2, RUN_B5)["kinds"]
    lost = k["down@idc-standby+etcd-leader"]
    assert lost["calibrated"] is False and lost["predicted_failed_requests"] == 0
    assert lost["measured_failed_requests"] == 79
    assert all(v["calibrated"] for c, v in k.items() if c != "down@idc-standby+etcd-leader")
    now = _predict(predictions, CAL6, RUN_B5)["kinds"]["down@idc-standby+etcd-leader"]
    assert now["calibrated"] and now["within_tolerance"], now
    refused = _predict(predictions, CAL7, RUN_B17)["kinds"]
    assert refused["crash@gns"]["calibrated"] is False and refused["crash@gns"]["predicted_failed_requests"] == 0
    assert "crash@gns+held-port" not in refused
