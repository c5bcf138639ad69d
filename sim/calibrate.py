"""Calibrate the simulator on a recorded live run: ``calibrate(run) -> dict``, ``write_calibration``.

What is derived, and from which file of the run directory (only its files are read):

* **service time per transaction type** (``service_ms``): lognormal, from the steady seconds
  (no fault active, none in the previous ``settle`` seconds) of timeseries.csv. Its mean is
  users / throughput (Little's law on Locust's closed loop, when the users wait rather than
  pace; else the median per-second p50 is the median), its sigma the median of
  ln(p99/p50)/2.326; each type's median is scaled by its share of summary.json
  ``latency_ms.by_kind.p50``.
* **capacity and service demand** (``throughput``): steady ok requests/s; when the users could
  offer more (``live.load.rate``) than was served, the bank was saturated and that throughput
  is its capacity, and the demand of type k is ``(p50_k / sum_j mix_j p50_j) / capacity``
  (utilisation law). Runs that sampled the bank's CPU (timeseries.csv ``bank_cpu_s``) also give
  ``throughput.cpu``: CPU seconds per answered request (utilisation law), split per type by the
  latency medians, and the throughput at which the bank alone would fill the machine's cores.
* **outage time per fault kind** (``outage_seconds``): the time a fault leaves its cell without a
  usable primary. The gateway hides part of it (retries inside its deadline) and Locust's closed
  loop changes the offered load during it, so it is not read off one figure: it is *fitted*, the
  value at which the closed-loop replay (``sim.predict``) reproduces the measured failed requests
  of the kind's fault windows as summary.json counts them (their total, replays averaged over
  fixed seeds, bisection to 0.05 s). A kind seen several times gets one value fitted on all of
  them, and (``outage_samples``) each of its faults' own fitted value:
  failovers of one kind vary (a postmaster kill: 2-6 s on this machine), and ``predict`` draws
  from these.
* **the gateway** (``gateway``): its deadline (the scenario's ``live.gateway_deadline``, checked
  against the longest failed-request latency in the run when one failed) and its retry backoff
  (0.02 s doubling to 0.2 s: loadtests/bank/gateway.py; not visible in the files).

The YAML also sets the fluid engine's ``failover`` (detection = crash outage - postmaster-kill
outage, election + promotion = postmaster-kill outage) so the calibrated file can be extended by
a scenario (docs/calibration.md).
"""

from __future__ import annotations

import math
import os
import tempfile

import numpy as np
import yaml

from sim.errors import HivesimError, ResultsError
from sim.predict import USER_KINDS, LiveRun, ReplayModel, fault_figures, outages_of, read_live_run, replay

__all__ = ["calibrate", "service_profile", "fit_outages", "fit_outage_samples", "write_calibration", "calibration_document",
           "load_calibration"]

Z99 = 2.3263478740408408
SETTLE = 35.0   # seconds after a fault (its start, or its lifting if held) that are not "steady"


def _steady_mask(run: LiveRun, settle: float = SETTLE) -> np.ndarray:
    n = len(run.series)
    t = np.array([r["t_start_s"] for r in run.series])
    m = np.ones(n, dtype=bool)
    for f in run.faults:
        # a crashed member stays down until the run ends ("end" is when it was lifted), but its
        # effect on traffic ends with the failover: only held faults (pause, latency,
        # partition) last until they are lifted
        held = f["kind"] in ("pause", "latency", "partition")
        end = (max(float(f["end"]), float(f["start"])) if held else float(f["start"])) + settle
        m &= ~((t + 1 > float(f["start"]) - 1) & (t < end))
    m[:2] = False  # Locust's users start together: the first seconds are a burst
    return m


def service_profile(run: LiveRun) -> dict:
    """Lognormal service time of an answered request, per transaction type (milliseconds)."""
    m = _steady_mask(run)
    p50 = np.array([r["latency_p50_ms"] for r in run.series])
    p99 = np.array([r["latency_p99_ms"] for r in run.series])
    n = np.array([r["offered_requests"] for r in run.series])
    fail = np.array([r["failed_requests"] for r in run.series])
    use = m & np.isfinite(p50) & np.isfinite(p99) & (n >= 5) & (fail == 0) & (p50 > 0)
    if use.sum() < 5:
        raise HivesimError(f"{run.path}: fewer than 5 steady seconds with traffic; cannot calibrate service times")
    sigma = float(np.median(np.log(p99[use] / p50[use]))) / Z99
    # Little's law on the closed loop: U users, each either waiting for an answer or pacing, so
    # with latency above the pacing interval the mean latency is U / throughput. Per-second p50s
    # of a few requests are a biased, noisy estimate; the throughput is not.
    users = int(run.scenario.live.load.users)
    pace = users / float(run.scenario.live.load.rate)
    x = float(np.mean(n[m & (n > 0)])) if (m & (n > 0)).any() else 0.0
    mean_r = users / x if x > 0 else math.inf
    if mean_r > 1.2 * pace:
        median = 1000.0 * mean_r / math.exp(sigma * sigma / 2)
    else:  # the users were pacing, not waiting: the latency percentiles are all there is
        median = float(np.median(p50[use]))
    by_kind = run.summary.get("latency_ms", {}).get("by_kind", {})
    overall = run.summary.get("latency_ms", {}).get("p50")
    sigma = max(sigma, 0.05)
    scale = {}
    for k in USER_KINDS:
        kp = (by_kind.get(k) or {}).get("p50")
        scale[k] = kp / overall if kp and overall else 1.0
    if mean_r > 1.2 * pace:  # keep the mix's mean latency at U / X (the per-type split is from the p50s)
        mix = run.scenario.workload.mix
        w = {"read": mix.reads, "intra": mix.intra_cell, "cross": mix.cross_cell}
        mean_scale = sum(w[k] * scale[k] for k in USER_KINDS) / max(sum(w.values()), 1e-9)
        scale = {k: v / mean_scale for k, v in scale.items()}
    return {k: {"median_ms": round(median * scale[k], 3), "sigma": round(sigma, 4)} for k in USER_KINDS}


def _throughput(run: LiveRun, service: dict) -> dict:
    m = _steady_mask(run)
    ok = np.array([r["ok_requests"] for r in run.series])
    steady_ok = float(np.mean(ok[m])) if m.any() else float("nan")
    offered = float(run.scenario.live.load.rate)
    mix = run.scenario.workload.mix
    w = {"read": mix.reads, "intra": mix.intra_cell, "cross": mix.cross_cell}
    saturated = steady_ok < 0.9 * offered
    out = {"steady_ok_rps": round(steady_ok, 3), "target_rps": offered, "saturated": saturated}
    if saturated:
        mean_p50 = sum(w[k] * service[k]["median_ms"] for k in USER_KINDS)
        out["capacity_tps"] = round(steady_ok, 3)
        out["demand_ms"] = {k: round(1000.0 * service[k]["median_ms"] / mean_p50 / steady_ok, 3) for k in USER_KINDS}
        out["note"] = ("the users offered more than was served: the steady throughput is the bank's capacity on "
                       "this machine and the demands follow from the utilisation law")
    else:
        out["capacity_tps_at_least"] = round(steady_ok, 3)
        out["note"] = "not saturated: the throughput is a lower bound of the capacity"
    cpu = _cpu_demand(run, m, service)
    if cpu:
        out["cpu"] = cpu
    return out


def _cpu_demand(run: LiveRun, steady: np.ndarray, service: dict) -> dict | None:
    """Service demand from CPU (live runs that sampled it: timeseries.csv ``bank_cpu_s``).

    Utilisation law over the steady seconds: the bank's CPU seconds / its answered requests is
    the mean CPU demand of a request; split per type in proportion to the types' latency
    medians (the per-second mix barely moves, so a regression per type would be ill-posed).
    ``cores / demand`` is the throughput at which the bank alone would fill the machine."""
    if not run.series or "bank_cpu_s" not in run.series[0]:
        return None
    cpu = np.array([r.get("bank_cpu_s", math.nan) for r in run.series], dtype=float)
    ok = np.array([r["ok_requests"] for r in run.series], dtype=float)
    busy = np.array([r.get("machine_busy", math.nan) for r in run.series], dtype=float)
    use = steady & np.isfinite(cpu) & (ok > 0)
    if use.sum() < 5:
        return None
    demand = float(cpu[use].sum() / ok[use].sum())  # CPU s per answered request
    cores = int(run.summary.get("run", {}).get("cpu_cores") or os.cpu_count() or 1)
    mix = run.scenario.workload.mix
    w = {"read": mix.reads, "intra": mix.intra_cell, "cross": mix.cross_cell}
    mean_med = sum(w[k] * service[k]["median_ms"] for k in USER_KINDS) / max(sum(w.values()), 1e-9)
    return {"demand_ms": round(1000 * demand, 3),
            "demand_ms_by_kind": {k: round(1000 * demand * service[k]["median_ms"] / mean_med, 3) for k in USER_KINDS},
            "bank_utilisation": round(float(cpu[use].sum() / use.sum()) / cores, 3),
            "machine_busy": round(float(np.nanmean(busy[use])), 3) if np.isfinite(busy[use]).any() else None,
            "cores": cores, "cpu_bound_capacity_rps": round(cores / demand, 1) if demand > 0 else None,
            "note": "from the bank's CPU seconds per answered request in the steady seconds (utilisation law); "
                    "machine_busy includes the load generator"}


def _predicted_failed(run: LiveRun, model: ReplayModel, outage: dict, idx: list[int], seeds,
                      override: dict[int, float] | None = None) -> float:
    """Failed requests the replay predicts (mean over ``seeds``) in the windows of faults ``idx``,
    counted as the live benchmark counts them (``sim.predict.fault_figures``).

    Only window totals are fitted, not per-second counts: the ok counts follow the machine's load
    (it drifts within a run on a shared machine), and measured failures come in bursts (blocked
    users time out together every deadline) that a mean over replays cannot match second by second."""
    outs = outages_of(run, outage, override=override)
    total = 0.0
    for s in seeds:
        figs = fault_figures(replay(model, outs, s), run.faults, run.duration)
        total += sum(figs[i]["failed_requests"] for i in idx)
    return total / len(seeds)


def _bisect(pred, target: float, hi: float, tol: float = 0.05) -> float:
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


def fit_outages(run: LiveRun, model: ReplayModel, seeds=range(6), max_outage: float = 64.0,
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
            est[k] = _bisect(lambda g: _predicted_failed(run, model, {**est, k: g}, idx, seeds), meas, max_outage)
    return est


def fit_outage_samples(run: LiveRun, model: ReplayModel, est: dict, seeds=range(6),
                       max_outage: float = 64.0) -> dict:
    """Per fault kind seen more than once: each fault's own outage (its window fitted alone, the
    others at ``est``), in the order of the run. ``predict`` draws a kind's outage from these,
    so its spread (and the interval it reports) follows the failovers actually seen."""
    seeds = list(seeds)
    out: dict[str, list[float]] = {}
    for k in sorted(est):
        idx = [i for i, f in enumerate(run.faults) if f["kind"] == k]
        if len(idx) < 2:
            continue
        out[k] = [_bisect(lambda g, i=i: _predicted_failed(run, model, est, [i], seeds, {i: g}),
                          float(run.faults[i].get("failed_requests") or 0), max_outage) for i in idx]
    return out


def _is_db_fault(f: dict) -> bool:
    from sim.scenario.model import CHAOS_TARGET_RE
    m = CHAOS_TARGET_RE.match(f["target"])
    return m is not None and m.group("tier") == "db" and m.group("cell") not in (None, "*")


def calibrate(run: LiveRun | str, seeds=range(6)) -> dict:
    """The ``calibration`` section derived from one live run (see the module docstring)."""
    if not isinstance(run, LiveRun):
        run = read_live_run(run)
    if not any(_is_db_fault(f) for f in run.faults):
        raise HivesimError(f"{run.path}: no database fault recorded (summary.json faults); "
                           "a calibration run needs at least one (e.g. kill-postmaster of a cell primary)")
    service = service_profile(run)
    cal = {"service_ms": service,
           "gateway": {"deadline": run.deadline, "backoff": 0.02, "max_backoff": 0.2,
                       "basis": "deadline from the scenario (live.gateway_deadline); backoff from the gateway's code"},
           "client": {"backoff": 0.2, "max_backoff": 1.0, "users": run.users,
                      "rate_per_user": float(run.scenario.live.load.rate) / run.users}}
    model = ReplayModel.for_run(run, cal)
    cal["outage_seconds"] = fit_outages(run, model, seeds)
    samples = fit_outage_samples(run, model, cal["outage_seconds"], seeds)
    if samples:
        cal["outage_samples"] = samples
    cal["throughput"] = _throughput(run, service)
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


def calibration_document(cal: dict, extends: str | None = None) -> dict:
    """The YAML document: ``calibration:`` plus the fluid engine's failover figures."""
    doc: dict = {}
    if extends:
        doc["extends"] = extends
    out = cal["outage_seconds"]
    fast = out.get("kill-postmaster")
    slow = out.get("crash", out.get("kill-patroni"))
    if fast is not None or slow is not None:
        fast = fast if fast is not None else slow
        slow = slow if slow is not None else fast
        doc["topology"] = {"cells": {"template": {"db": {"failover": {
            "detection": round(max(slow - fast, 0.0), 2),
            "election": round(fast / 2, 2), "promotion": round(fast / 2, 2)}}}}}
    doc["calibration"] = cal
    return doc


def load_calibration(path) -> dict:
    """The ``calibration`` section of a calibration YAML (safe-loaded, checked)."""
    from sim.scenario.loader import load_yaml_file
    data, _ = load_yaml_file(path)
    cal = data.get("calibration")
    if not isinstance(cal, dict):
        raise HivesimError(f"{path}: calibration: missing (write one with `hivesim calibrate RUN_DIR`)")
    for key in ("outage_seconds", "service_ms"):
        if not isinstance(cal.get(key), dict):
            raise HivesimError(f"{path}: calibration.{key}: expected a mapping, got {type(cal.get(key)).__name__}")
    for k in USER_KINDS:
        v = cal["service_ms"].get(k)
        if not isinstance(v, dict) or not all(isinstance(v.get(x), (int, float)) and v.get(x) > 0
                                             for x in ("median_ms", "sigma")):
            raise HivesimError(f"{path}: calibration.service_ms.{k}: expected {{median_ms: >0, sigma: >0}}, got {v!r}")
    for k, v in cal["outage_seconds"].items():
        if not isinstance(v, (int, float)) or v < 0:
            raise HivesimError(f"{path}: calibration.outage_seconds.{k}: expected seconds >= 0, got {v!r}")
    samples = cal.get("outage_samples", {})
    if not isinstance(samples, dict):
        raise HivesimError(f"{path}: calibration.outage_samples: expected a mapping, got {type(samples).__name__}")
    for k, v in samples.items():
        if not (isinstance(v, list) and v and all(isinstance(x, (int, float)) and x >= 0 for x in v)):
            raise HivesimError(f"{path}: calibration.outage_samples.{k}: expected a list of seconds >= 0, got {v!r}")
    return cal


def write_calibration(path, doc: dict, header: str = "") -> str:
    """Write the YAML atomically (temp file + rename); never overwrite an existing file."""
    path = os.path.abspath(os.fspath(path))
    if os.path.exists(path):
        raise ResultsError(f"{path}: already exists; choose another --out or remove it")
    d = os.path.dirname(path)
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".calibration.", suffix=".tmp", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(header)
            yaml.safe_dump(_plain(doc), f, sort_keys=False)
        os.link(tmp, path)  # fails if someone created the file meanwhile: no silent overwrite
    finally:
        os.unlink(tmp)
    return path


def _plain(x):
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x
