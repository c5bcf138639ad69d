"""What the prediction model still gets wrong: the known reason per model class, and the standing simplifications.

``REASONS`` is the one registry of known misses, keyed by model class
(``sim.calibration.effects``): each entry is a sentence saying what the model leaves out, taken
from what the recorded runs show (docs/calibration.md, "The misses"); where the cause is not
established, the sentence says so. ``SIMPLIFICATIONS`` are the model's simplifications that hold
for every prediction (docs/calibration.md, "What the model still gets wrong"), shown once.

``misses(kinds, calibration, effects)`` lists the model classes of a prediction that are not within
tolerance, with their figures and their reason (``NOT_EXPLAINED`` for a class without an
entry); ``simplifications(kinds, calibration, deadline)`` the standing ones, with the classes of
this prediction each one touches. ``predict_run`` writes both into prediction.json (``misses``,
``simplifications``); the report (``sim.report.prediction``) and the CLI (``miss_lines``) read them
from there.
"""

from __future__ import annotations

__all__ = ["REASONS", "NOT_EXPLAINED", "SIMPLIFICATIONS", "calibration_faults", "misses", "simplifications",
           "miss_lines"]

NOT_EXPLAINED = "not explained yet"

# model class -> what the model leaves out (evidence: the committed runs in results/baselines/)
REASONS: dict[str, str] = {
    "kill-patroni": (
        "The write stall after the leader key expires is the new leader's wait for a synchronous standby "
        "(strict synchronous mode blocks commits until Patroni names one, a whole HA loop after the standby "
        "streams; with slots the standby streams only after the leader made its slot in a later loop), and "
        "longer when the old primary, still running without its Patroni, streamed WAL to the other standby "
        "that the new leader never had: that standby needs pg_rewind first (probes 20261203T141044Z and "
        "141944Z: promotion to synchronous standby 2.9-3.0 s with slots, 2.1 s without, 7 s after a rewind). "
        "Eleven kills at a 1 s deadline with slots (kinds runs and probes) stalled writes 1.8-1.9 s seven times "
        "(21-36 failed) and 2.4-4.0 s four times (37-59 failed); one kill's figure cannot hold that spread. "
        "With a fencing watchdog (live.patroni.watchdog, emulated since 20261203T18) the old primary is reset "
        "2 s before the key expires, so no zombie streams WAL: writes stop at the reset and come back after "
        "the promotion on the standby's next loop (U(0, loop_wait)) and the synchronous-standby chain; four "
        "fenced kills failed 69, 51, 60, 57 (write stall 4.9, 2.7, 3.1, 5.0 s)."),
    "crash@etcd-quorum": (
        "With Patroni's failsafe mode (the live bank's default since 20261203T07) a quorum loss failed "
        "nothing in every recorded run; without it, the stall of every cell was not the hold plus a constant "
        "(6 s loss 3.44 s, 8 s loss 7.68 s, 10 s loss 7.85 s) and what set it was not established."),
    "down@idc": (
        "An IDC loss stops the cells whose leader or app server died there (the injector records each "
        "member's role since 20261203T11); what died comes back when the IDC does, so the outage is the hold "
        "plus one extra fitted on kinds-a, whose IDC held both cells' leaders and app servers. A cell that lost "
        "only standbys is class down@idc-standby. Records without roles count every named cell as stopped "
        "(kinds-b 20261203T074534Z: 133 measured, ~208 predicted with the whole-length model of that time)."),
    "down@idc-standby": (
        "Only standbys (and the IDC's etcd member, a follower) died in the IDC: the primary serves on, but "
        "with synchronous_node_count 2 its commits wait until Patroni drops the dead standby from the "
        "synchronous set. kinds-a 20261203T233041Z (2 cells, the IDC lost before any other fault): 0.19 s, 0 "
        "failed, the calibration's one sample; kinds-b 20261203T184417Z (3 cells, etcd0 crashed and back 7 s "
        "before): 0.8 s stall, 3.3 s recovery, 40 failed, which the model does not explain (not established: "
        "etcd0's recent restart is the difference we can see). An IDC lost with a leader in one cell and "
        "standbys in others is down@idc: the others' stall is not modelled per cell."),
    "down@idc-standby+etcd-leader": (
        "Only standbys died in the IDC, and etcd's leader with them: the primary's Patroni cannot write the "
        "new synchronous set until etcd has elected a leader and its client found it, so commits wait "
        "seconds, not tenths (kinds-a 20261203T233943Z: 4.6 s, 73 failed); fitted whole on that one loss. "
        "The same loss failed 79, 62, 87 and 122 in four kinds-b runs (recovery 5.9, 4.4, 6.3 and 10.2 s); "
        "what made the last one's 10.2 s is not established (its cluster logs were not kept). Which etcd "
        "member leads is etcd's own election: a design cannot choose it, so a calibration has this class "
        "only when its run drew it."),
    "standby-loss": (
        "A synchronous standby crashed: commits wait until Patroni drops it from the synchronous set "
        "(kinds-a 20261203T190204Z, every cell's: 0.17 s, 0 failed); fitted whole on that."),
    "crash@app": (
        "Whether a killed app server fails requests depends on its restart (live.restart_delay plus Python's "
        "start-up) against the gateway's 1 s deadline. At restart_delay 0.5 s the same crash failed 19 and 0 "
        "in two kinds-a runs and 30, 3, 2, 0 in four kinds-b runs; at 0.1 s (the default since 20261203T13) "
        "0 in kinds-a (back after 0.63 s) and 8 and 0 in two kinds-b runs (0.97 s and 0.83 s: kinds-b's 3 "
        "cells keep the 2 cores busier; 2.0 s, 40 failed, on a machine 94 % busy). Since 20261203T18 the "
        "supervisor restarts into a warm spare (imports done, waiting): back after ~0.15-0.4 s, 0 failed in "
        "kinds-a and kinds-b."),
    "pause@bus": (
        "A relay frozen inside its credit transaction holds the destination rows it locked until "
        "live.relay_idle_in_transaction_timeout (0.5 s) ends its session; runs recorded before that setting "
        "held them the whole pause (kinds-b 20261203T051640Z: 43 failed in 10 s). The model lets nothing fail."),
    "pause@gns": (
        "Requests in flight when the gateway froze fail when it thaws (their deadline ran out meanwhile); "
        "how many follows the run's latency, which the model takes from the calibration run: the same 3 s "
        "pause failed 11, 2, 14, 7, 11 and 8 requests in six kinds-b runs whose p50 ran 16-72 ms from run to "
        "run on the shared 2 cores; 1-2 in kinds-a (p50 ~8 ms); the model predicts 2-3."),
    "latency": (
        "The model adds the fault's latency times one fitted round-trip factor to each request on the "
        "slowed cell, leaves the injected jitter out, and queues the slowed requests for the cell's "
        "database pool (live.pool_size per app server; since 20261204): a slowed transaction holds its "
        "connection for every round trip, so the pool, not the database, decides who waits, and a write "
        "still waiting at the gateway's deadline is cut before its COMMIT and answered 503 (live kinds-b "
        "20261204T103346Z: 76 of 80). Before that the model failed such writes as unknown outcomes, each "
        "followed by a status lookup on the slowed cell, and its factor sat at the fit's bound (64) with "
        "counts 18-27 % low on kinds-b (63-66 predicted, 81-88 measured)."),
    "crash@gns": (
        "A crashed gateway fails the requests in flight through it and refuses connections until its warm "
        "spare serves; the model fails both, the refused window fitted on kinds-a (19, 14 and 15 failed, "
        "recovery 0.12-0.18 s). With the same 20 users kinds-b's crash failed 20, 17, 17, 19, 22, 21, 16, "
        "10, 27 and 20 in ten runs (recovery 0.13-0.23 s) and live-chaos-kinds' 24, 14, 11, 14, 20, 20: how "
        "soon the spare serves on the busy cores, and how many users are in flight, vary from run to run "
        "more than the rule's band (+-25 %, or 5 requests below 20) around any one figure."),
    "crash@gns+held-port": (
        "A crashed gateway whose supervisor holds its port fails only the requests in flight through it; "
        "connections made until its warm spare serves wait in the backlog (live: stalls of 0.15-0.21 s). "
        "The model fails every request in flight at the crash, so its count follows how many users are "
        "in flight at that instant: Locust's users start together and pace at 0.2 s, so a crash on a "
        "whole second can meet an idle moment (0 failed in most runs) or a burst."),
    "bad-change@app": (
        "A bad change answers 500 at once for its hold; the model fails each attempt in its window and fits "
        "the extra beyond the hold on kinds-a. The same 6 s change failed 151, 140, 148, 140, 143, 120, 149, "
        "151, 164 and 145 in ten kinds-b runs (predicted 143-151 since 20261204T11): the low run (120, "
        "20261204T001518Z) is what misses; why it failed fewer is not established."),
}

# (name, sentence): simplifications of the model that hold for every prediction
SIMPLIFICATIONS: tuple[tuple[str, str], ...] = (
    ("calibration-samples",
     "Each class's figure comes from the calibration run's faults of that class; a class seen once there has "
     "one figure and no failover spread, so its p05-p95 band is only the replays' own noise, not the spread "
     "of live runs."),
    ("one-outage",
     "One outage per fault for reads and writes: live, reads come back ~2 s before writes after a failover; "
     "the fitted outage is a blend that holds for the calibration run's mix."),
    ("jitter",
     "Latency jitter is not modelled: a latency fault adds its latency as a constant, without the injected "
     "jitter, and steady service times are one lognormal per request type."),
    ("machine-load",
     "Service and failover times are the calibration run's, measured under that run's machine load "
     "(timeseries.csv machine_busy); a run recorded under another load differs by that much."),
    ("ramp",
     "Recovery is a step in the model and a ramp live (users reach a dead cell one by one); per-second "
     "shapes are plotted, not fitted."),
    ("deadline",
     "A stall shorter than the gateway's deadline fails nothing: a class whose faults failed nothing is "
     "fitted on its longest stall, and 0 measured, 0 predicted is a weak check."),
)


def calibration_faults(calibration: dict, cls: str) -> int:
    """How many of the calibration run's faults a class's figure rests on (0: none, the class
    was not in the calibration run)."""
    samples = (calibration.get("outage_samples") or {}).get(cls)
    if samples:
        return len(samples)
    fitted = [calibration.get(k) or {} for k in ("outage_seconds", "outage_extra_seconds", "latency_factor")]
    return 1 if any(cls in f for f in fitted) else 0


def misses(kinds: dict, calibration: dict, effects: dict | None = None) -> list[dict]:
    """The model classes of a prediction (``predict_run``'s ``kinds``) not within tolerance on
    failed requests or recovery: their figures, what is off, and the registry's reason.

    ``calibration_faults``: how many of the calibration run's faults the class's fitted figure
    rests on (0: the calibration run had none of this class); None where the model fits nothing
    for the class (``effects``: class -> ``FaultEffect.effect``, ``none``)."""
    out = []
    effects = effects or {}
    for cls, k in kinds.items():
        off = [what for what, ok in (("failed requests", k["within_tolerance"]),
                                     ("recovery", k["recovery_within_tolerance"])) if not ok]
        if not off:
            continue
        out.append({"class": cls, "fault_kinds": list(k["fault_kinds"]), "faults": k["faults"], "off": off,
                    "failed_requests": {"measured": k["measured_failed_requests"],
                                        "predicted": k["predicted_failed_requests"],
                                        "predicted_p05_p95": k["predicted_p05_p95"]},
                    "relative_error": k["relative_error"],
                    "recovery_seconds": dict(k["recovery_seconds"]),
                    "calibration_faults": (None if effects.get(cls) == "none"
                                           else calibration_faults(calibration, cls)),
                    "reason": REASONS.get(cls, NOT_EXPLAINED), "explained": cls in REASONS})
    return out


def simplifications(kinds: dict, calibration: dict, deadline: float) -> list[dict]:
    """``SIMPLIFICATIONS`` with, where one depends on the prediction, the classes it touches
    here (``classes``) and the figure it names."""
    out = []
    for name, text in SIMPLIFICATIONS:
        item = {"name": name, "text": text}
        if name == "calibration-samples":
            item["classes"] = sorted(c for c in kinds if calibration_faults(calibration, c) == 1)
        elif name == "deadline":
            item["gateway_deadline_seconds"] = deadline
            item["classes"] = sorted(c for c, k in kinds.items()
                                     if k["measured_failed_requests"] == 0 and round(k["predicted_failed_requests"]) == 0)
        out.append(item)
    return out


def miss_lines(pred: dict) -> list[str]:
    """The CLI's closing lines: each miss with its figures and reason, then the standing
    simplifications by name (their text is in prediction.json and report.html)."""
    ms = pred.get("misses")
    if ms is None:
        return []
    lines = ["what the model still gets wrong:" if ms else "what the model still gets wrong: no model class missed"]
    for m in ms:
        f, r = m["failed_requests"], m["recovery_seconds"]
        lo, hi = f["predicted_p05_p95"]
        rel = "" if m["relative_error"] is None else f", {m['relative_error']:+.0%}"
        lines.append(f"  {m['class']} ({' and '.join(m['off'])} off): failed {f['measured']} measured, "
                     f"{f['predicted']:.1f} predicted ({lo:.0f}-{hi:.0f}{rel}); recovery {r['measured']:.1f} s "
                     f"measured, {r['predicted']:.1f} s predicted: {m['reason']}")
    blind = sorted(c for c, k in (pred.get("kinds") or {}).items() if k.get("calibrated") is False)
    if blind:  # left out of the replay: 0 predicted is not a prediction
        lines.append(f"not calibrated (the calibration run had no fault of the class; nothing predicted for it): "
                     f"{', '.join(blind)}")
    names = ", ".join(s["name"] for s in pred.get("simplifications") or [])
    if names:
        lines.append(f"standing simplifications (every prediction; text in prediction.json, report.html): {names}")
    return lines
