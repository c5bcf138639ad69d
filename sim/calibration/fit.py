"""``calibrate(run) -> dict``: the ``calibration`` section fitted on one recorded live run.

What is derived, and from which file of the run directory (only its files are read):

* **service time per transaction type** (``service_ms``), **capacity and service demand**
  (``throughput``, ``throughput.cpu``): ``sim.calibration.measure`` (steady seconds).
* **outage time per fault kind** (``outage_seconds``): the time a fault leaves its cell without a
  usable primary. The gateway hides part of it (retries inside its deadline) and Locust's closed
  loop changes the offered load during it, so it is not read off one figure: it is *fitted*, the
  value at which the closed-loop replay (``sim.calibration.replay``) reproduces the measured
  failed requests of the kind's fault windows as summary.json counts them (their total, replays
  averaged over the fixed seeds 0..n-1, bisection to 0.05 s). A kind seen several times gets one
  value fitted on all of them, and (``outage_samples``) each of its faults' own fitted value:
  failovers of one kind vary (a postmaster kill: 2-6 s on this machine), and ``predict`` draws
  from these.
* **the gateway and the client** (``gateway``, ``client``): as read from the run's scenario
  (``live.gateway_deadline``, ``live.retry``); the deadline is checked against the longest
  failed-request latency in the run when one failed.

``sim.calibration.document`` turns the result into the YAML (with the fluid engine's failover).
"""

from __future__ import annotations

import os

from sim.calibration.measure import (db_fault_cell, fault_figures, service_profile,
                                     throughput_profile)
from sim.calibration.replay import ReplayModel, outages_of, replay
from sim.errors import HivesimError
from sim.results.reader import Run, load_live_run

__all__ = ["FIT_SEEDS", "MAX_OUTAGE", "BISECT_TOLERANCE", "calibrate", "fit_outages", "fit_outage_samples",
           "predicted_failed", "bisect_outage"]

FIT_SEEDS = range(6)     # replays averaged per candidate outage (fixed: the count is then monotone in it)
MAX_OUTAGE = 64.0        # s: the longest outage the bisection considers
BISECT_TOLERANCE = 0.05  # s: the bisection stops when the outage is known this closely


def predicted_failed(run: Run, model: ReplayModel, outage: dict, idx: list[int], seeds,
                      override: dict[int, float] | None = None) -> float:
    """Failed requests the replay predicts (mean over ``seeds``) in the windows of faults ``idx``,
    counted as the live benchmark counts them (``sim.calibration.measure.fault_figures``).

    Only window totals are fitted, not per-second counts: the ok counts follow the machine's load
    (it drifts within a run on a shared machine), and measured failures come in bursts (blocked
    users time out together every deadline) that a mean over replays cannot match second by second."""
    outs = outages_of(run, outage, override=override)
    total = 0.0
    for s in seeds:
        figs = fault_figures(replay(model, outs, s), run.faults, run.duration)
        total += sum(figs[i]["failed_requests"] for i in idx)
    return total / len(seeds)


def bisect_outage(pred, target: float, hi: float, tol: float = BISECT_TOLERANCE) -> float:
    """The outage g in [0, hi] at which ``pred(g)`` (failed requests, non-decreasing in g up to
    the replay's noise, which the fixed seeds make the same for every g) reaches ``target``."""
    lo = 0.0
    if pred(hi) < target:
        return hi
    while hi - lo > tol:
        mid = (lo + hi) / 2
        if pred(mid) < target:
            lo = mid
        else:
            hi = mid
    return round((lo + hi) / 2, 2)


def fit_outages(run: Run, model: ReplayModel, seeds=FIT_SEEDS, max_outage: float = MAX_OUTAGE,
                rounds: int = 2) -> dict:
    """Outage seconds per fault kind at which the replay reproduces the kind's measured failed
    requests (summed over its faults); coordinate descent over the kinds, since a kind's outage
    changes the load the others' windows see."""
    kinds = sorted({f["kind"] for f in run.faults if _is_db_fault(f)})
    est = {k: run.deadline for k in kinds}
    seeds = list(seeds)
    for _ in range(rounds if len(kinds) > 1 else 1):
        for k in kinds:
            idx = [i for i, f in enumerate(run.faults) if f["kind"] == k]
            meas = sum(float(run.faults[i].get("failed_requests") or 0) for i in idx)
            est[k] = bisect_outage(lambda g: predicted_failed(run, model, {**est, k: g}, idx, seeds), meas, max_outage)
    return est


def fit_outage_samples(run: Run, model: ReplayModel, est: dict, seeds=FIT_SEEDS,
                       max_outage: float = MAX_OUTAGE) -> dict:
    """Per fault kind seen more than once: each fault's own outage (its window fitted alone, the
    others at ``est``), in the order of the run. ``predict`` draws a kind's outage from these,
    so its spread (and the interval it reports) follows the failovers actually seen."""
    seeds = list(seeds)
    out: dict[str, list[float]] = {}
    for k in sorted(est):
        idx = [i for i, f in enumerate(run.faults) if f["kind"] == k]
        if len(idx) < 2:
            continue
        out[k] = [bisect_outage(lambda g, i=i: predicted_failed(run, model, est, [i], seeds, {i: g}),
                          float(run.faults[i].get("failed_requests") or 0), max_outage) for i in idx]
    return out


def _is_db_fault(f: dict) -> bool:
    return db_fault_cell(f["target"]) is not None


def calibrate(run: Run | str, seeds=FIT_SEEDS) -> dict:
    """The ``calibration`` section derived from one live run (see the module docstring)."""
    if not isinstance(run, Run):
        run = load_live_run(run)
    if not any(_is_db_fault(f) for f in run.faults):
        raise HivesimError(f"{run.path}: no database fault recorded (summary.json faults); "
                           "a calibration run needs at least one (e.g. kill-postmaster of a cell primary)")
    seeds = list(seeds)
    service = service_profile(run)
    retry = run.retry
    cal = {"service_ms": service,
           "gateway": {"deadline": run.deadline, "backoff": retry.gateway_backoff, "max_backoff": retry.gateway_max_backoff,
                       "basis": "as the run's scenario set them (live.gateway_deadline, live.retry)"},
           "client": {"backoff": retry.client_backoff, "max_backoff": retry.client_max_backoff,
                      "deadline": run.client_deadline, "users": run.users,
                      "rate_per_user": float(run.scenario.live.load.rate) / run.users},
           "fit": {"replay_seeds": seeds, "bisection_tolerance_seconds": BISECT_TOLERANCE,
                   "max_outage_seconds": MAX_OUTAGE}}
    model = ReplayModel.for_run(run, cal)
    cal["outage_seconds"] = fit_outages(run, model, seeds)
    samples = fit_outage_samples(run, model, cal["outage_seconds"], seeds)
    if samples:
        cal["outage_samples"] = samples
    cal["throughput"] = throughput_profile(run, service)
    failed_lat = [f.get("max_latency_ms") for f in run.faults if f.get("failed_requests")]
    if failed_lat:
        cal["gateway"]["longest_failed_ms"] = max(failed_lat)
    s = run.summary
    cal["source"] = {"run_dir": os.path.basename(os.path.abspath(run.path)), "run_id": s["run"].get("run_id"),
                     "scenario": run.scenario.name, "scenario_sha256": s["run"].get("scenario_sha256"),
                     "started_utc": s["run"].get("started_utc"),
                     "faults": [{"kind": f["kind"], "target": f["target"], "start": f["start"],
                                 "failed_requests": f.get("failed_requests"),
                                 "recovery_seconds": f.get("recovery_seconds")} for f in run.faults]}
    return cal
