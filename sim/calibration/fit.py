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
* **every live fault kind** (issue 18): the figure is per model class (``sim.calibration.effects``:
  the kind, ``KIND@FORM`` off a cell's database, ``pause-short`` below the ttl), an outage
  (``outage_seconds``), a length beyond the hold (``outage_extra_seconds``) or a latency factor
  (``latency_factor``); a class whose faults failed nothing is fitted on their longest stall.
* **the gateway and the client** (``gateway``, ``client``): as read from the run's scenario
  (``live.gateway_deadline``, ``live.retry``); the deadline is checked against the longest
  failed-request latency in the run when one failed.

``sim.calibration.document`` turns the result into the YAML (with the fluid engine's failover).
"""

from __future__ import annotations

import os

from sim.calibration.effects import HELD_BASE, fault_effect
from sim.calibration.measure import fault_figures, service_profile, throughput_profile
from sim.calibration.replay import ReplayModel, outages_of, replay
from sim.errors import HivesimError
from sim.results.reader import Run, load_live_run
from sim.scenario.chaos_effects import ROUND_TRIPS

__all__ = ["FIT_SEEDS", "MAX_OUTAGE", "BISECT_TOLERANCE", "calibrate", "fit_outages", "fit_outage_samples",
           "predicted_failed", "predicted_stall", "bisect_outage", "fitted_classes", "params_of"]

FIT_SEEDS = range(6)     # replays averaged per candidate outage (fixed: the count is then monotone in it)
MAX_OUTAGE = 64.0        # s: the longest outage the bisection considers
BISECT_TOLERANCE = 0.05  # s: the bisection stops when the outage is known this closely
# A run with more faults than this (the kinds designs: 16) is fitted window by window: each
# candidate replays only its class's windows with FIT_LEAD s before them, ~20x less than the
# whole run (a whole-run fit of kinds-a took > 11 min on this shared machine). The users then
# start together FIT_LEAD s before the fault, as Locust's start the run: settled by the fault.
# (The calibration runs A-F, <= 5 faults, are fitted whole, as their committed files were.)
WINDOWED_FIT_FAULTS = 8
FIT_LEAD = 10.0          # s


def params_of(cal: dict) -> dict:
    """Model class -> its fitted figure: ``outage_seconds``, ``outage_extra_seconds`` and
    ``latency_factor`` (round trips per request paying a latency fault's latency) together."""
    return {**cal["outage_seconds"], **(cal.get("outage_extra_seconds") or {}), **(cal.get("latency_factor") or {})}


def predicted_failed(run: Run, model: ReplayModel, outage: dict, idx: list[int], seeds,
                      override: dict[int, float] | None = None) -> float:
    """Failed requests the replay predicts (mean over ``seeds``) in the windows of faults ``idx``,
    counted as the live benchmark counts them (``sim.calibration.measure.fault_figures``).

    Only window totals are fitted, not per-second counts: the ok counts follow the machine's load
    (it drifts within a run on a shared machine), and measured failures come in bursts (blocked
    users time out together every deadline) that a mean over replays cannot match second by second."""
    return _predicted(run, model, outage, idx, seeds, override, "failed_requests")


def predicted_stall(run: Run, model: ReplayModel, outage: dict, idx: list[int], seeds,
                    override: dict[int, float] | None = None) -> float:
    """The longest stall (s) the replay predicts, averaged over ``seeds`` and the faults ``idx``."""
    return _predicted(run, model, outage, idx, seeds, override, "stall_seconds") / max(len(idx), 1)


def _span(run: Run, idx: list[int]) -> tuple[float, float] | None:
    """The stretch of a run with many faults that a fit of faults ``idx`` replays: from
    ``FIT_LEAD`` s before the first one to the end of the last one's window (None: the whole run)."""
    if len(run.faults) <= WINDOWED_FIT_FAULTS:
        return None
    starts = [float(f["start"]) for f in run.faults]
    last = max(idx)
    end = starts[last + 1] if last + 1 < len(starts) else run.duration
    return max(0.0, min(starts[i] for i in idx) - FIT_LEAD), end


def _predicted(run, model, outage, idx, seeds, override, key) -> float:
    outs = outages_of(run, outage, override=override)
    span = _span(run, idx)
    total = 0.0
    for s in seeds:
        figs = fault_figures(replay(model, outs, s, span), run.faults, run.duration)
        total += sum(figs[i][key] for i in idx)
    return total / len(seeds)


def _target(run: Run, model: ReplayModel, idx: list[int]):
    """What a class is fitted to: its faults' measured failed requests (summed); where none
    failed (the gateway's deadline hid the outage), their mean longest stall, which a failed
    count of 0 cannot tell apart from no effect at all. -> (measured figure, predictor(params, override))"""
    meas = sum(float(run.faults[i].get("failed_requests") or 0) for i in idx)
    stalls = [run.faults[i].get("stall_seconds") for i in idx]
    if meas > 0 or any(x is None for x in stalls):
        return meas, predicted_failed
    return sum(float(x) for x in stalls) / len(stalls), predicted_stall


def bisect_outage(pred, target: float, hi: float, tol: float = BISECT_TOLERANCE, lo: float = 0.0) -> float:
    """The outage g in [lo, hi] at which ``pred(g)`` (failed requests, non-decreasing in g up to
    the replay's noise, which the fixed seeds make the same for every g) reaches ``target``."""
    if pred(hi) < target:
        if lo == 0.0:
            return hi  # (a count rising with the outage: the longest is the closest)
        # a held class whose count need not rise with its figure (a held gateway moves requests
        # out of its window): the grid point closest to the target, the smallest change first
        grid = sorted({g for g in (lo, 0.0, 1.0, 2.0, 4.0, 8.0, 16.0, hi) if lo <= g <= hi}, key=abs)
        return min(grid, key=lambda g: abs(pred(g) - target))
    while hi - lo > tol:
        mid = (lo + hi) / 2
        if pred(mid) < target:
            lo = mid
        else:
            hi = mid
    return round((lo + hi) / 2, 2)


def _lowest(run: Run, idx: list[int]) -> float:
    """The lowest figure a class may take: 0, or minus its shortest hold for a class whose
    effect is its hold plus a fitted extra (the effect may end before the fault is lifted)."""
    effects = [fault_effect(run, run.faults[i]) for i in idx]
    return -min(e.hold for e in effects) if effects and effects[0].held_base else 0.0


def fitted_classes(run: Run) -> dict[str, list[int]]:
    """Model class -> indices of its faults, for the classes the calibration fits
    (``sim.calibration.effects``: outage, error, hold effects)."""
    out: dict[str, list[int]] = {}
    for i, f in enumerate(run.faults):
        e = fault_effect(run, f)
        if e.fitted:
            out.setdefault(e.cls, []).append(i)
    return dict(sorted(out.items()))


def fit_outages(run: Run, model: ReplayModel, seeds=FIT_SEEDS, max_outage: float = MAX_OUTAGE,
                rounds: int = 2) -> dict:
    """The figure per model class (seconds: the outage, or for a held class the extra beyond its
    hold) at which the replay reproduces the class's measured failed requests (summed over its
    faults); coordinate descent over the classes, since one's outage changes the load the
    others' windows see."""
    classes = fitted_classes(run)
    held = {k for k, idx in classes.items() if fault_effect(run, run.faults[idx[0]]).held_base}
    slow = {k for k, idx in classes.items() if fault_effect(run, run.faults[idx[0]]).effect == "slow"}
    est = {k: (0.0 if k in held else ROUND_TRIPS if k in slow else run.deadline) for k in classes}
    seeds = list(seeds)
    for _ in range(rounds if len(classes) > 1 else 1):
        for k, idx in classes.items():
            meas, pred = _target(run, model, idx)
            est[k] = bisect_outage(lambda g: pred(run, model, {**est, k: g}, idx, seeds), meas,
                                   max_outage, lo=_lowest(run, idx))
    return est


def fit_outage_samples(run: Run, model: ReplayModel, est: dict, seeds=FIT_SEEDS,
                       max_outage: float = MAX_OUTAGE) -> dict:
    """Per model class seen more than once: each fault's own figure (its window fitted alone, the
    others at ``est``), in the order of the run. ``predict`` draws a class's figure from these,
    so its spread (and the interval it reports) follows the failovers actually seen."""
    seeds = list(seeds)
    out: dict[str, list[float]] = {}
    for k, idx in fitted_classes(run).items():
        if len(idx) < 2 or k not in est:
            continue
        out[k] = [bisect_outage(lambda g, i=i, p=_target(run, model, [i])[1]: p(run, model, est, [i], seeds, {i: g}),
                                _target(run, model, [i])[0], max_outage, lo=_lowest(run, [i])) for i in idx]
    return out


def calibrate(run: Run | str, seeds=FIT_SEEDS) -> dict:
    """The ``calibration`` section derived from one live run (see the module docstring)."""
    if not isinstance(run, Run):
        run = load_live_run(run)
    if not fitted_classes(run):
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
    est = fit_outages(run, model, seeds)
    slow = {k for k, idx in fitted_classes(run).items() if fault_effect(run, run.faults[idx[0]]).effect == "slow"}
    cal["outage_seconds"] = {k: v for k, v in est.items() if k not in HELD_BASE and k not in slow}
    if slow:
        cal["latency_factor"] = {k: est[k] for k in sorted(slow)}
    if any(k in HELD_BASE for k in est):
        cal["outage_extra_seconds"] = {k: v for k, v in est.items() if k in HELD_BASE}
    samples = fit_outage_samples(run, model, est, seeds)
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
