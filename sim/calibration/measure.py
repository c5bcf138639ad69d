"""A recorded ``hivesim live`` run, read from its files only, and the figures calibration takes from it.

* the run itself is read by the one run reader, ``sim.results.reader.load_live_run`` (a
  ``Run``); the live bank's retry settings are its scenario's ``live.retry`` /
  ``live.gateway_deadline`` (``Run.retry``, ``Run.deadline``, ``Run.client_deadline``), never
  retyped here;
* ``per_second`` / ``fault_figures``: per-request rows (a replay's) counted as the live
  benchmark counts its own (timeseries.csv; summary.json ``faults``, by sim.calibration.windows);
* ``service_profile``, ``throughput_profile``, ``cpu_demand``: the steady seconds' service
  times, capacity and CPU demand (utilisation law, Little's law on Locust's closed loop).
"""

from __future__ import annotations

import math
import os

import numpy as np

from sim.calibration.windows import completed_in, fault_cell, longest_stall, recovery_in_window, window_end
from sim.errors import HivesimError
from sim.results.reader import Run
from sim.scenario.chaos import parse_target
from sim.scenario.mix import RECORD_KIND, USER_KINDS

__all__ = ["Z99", "SETTLE", "mix_weights", "db_fault_cell",
           "per_second", "fault_figures", "peak_p99", "steady_mask", "service_profile", "throughput_profile",
           "cpu_demand"]

Z99 = 2.3263478740408408  # standard normal 99th percentile: ln(p99/p50) = Z99 x sigma of a lognormal
SETTLE = 35.0   # seconds after a fault (its start, or its lifting if held) that are not "steady"


def mix_weights(mix) -> dict[str, float]:
    """The scenario's workload mix keyed as the live records spell the kinds (``USER_KINDS``)."""
    return {RECORD_KIND[k]: v for k, v in mix.shares().items()}


def db_fault_cell(target: str) -> int | None:
    """The cell of a fault on one cell's database (``cell[1].db.primary`` -> 1), else None:
    the replay models only database faults of a single cell."""
    try:
        t = parse_target(target)
    except ValueError:
        return None
    if t.part != "cell" or t.tier != "db" or t.cells is None or len(t.cells) != 1:
        return None
    return t.cells[0]


# --------------------------------------------------------------------------- rows counted as the live benchmark counts
def per_second(rows, duration: float) -> dict:
    """Per-second (by request start) offered, ok, failed and p50/p99 latency (ms), as timeseries.csv."""
    n = max(1, int(math.ceil(duration)))
    t = np.array([r[0] for r in rows], dtype=float)
    lat = np.array([r[1] for r in rows], dtype=float) * 1000
    ok = np.array([r[3] for r in rows], dtype=bool)
    sec = np.floor(t).astype(int)
    keep = (sec >= 0) & (sec < n)
    sec, lat, ok = sec[keep], lat[keep], ok[keep]
    out = {"offered": np.bincount(sec, minlength=n).astype(float),
           "ok": np.bincount(sec[ok], minlength=n).astype(float)}
    out["failed"] = out["offered"] - out["ok"]
    p50, p99 = np.full(n, np.nan), np.full(n, np.nan)
    order = np.lexsort((lat, sec))
    s_sorted, l_sorted = sec[order], lat[order]
    bounds = np.searchsorted(s_sorted, np.arange(n + 1))
    for i in range(n):
        a, b = bounds[i], bounds[i + 1]
        if b > a:
            p50[i], p99[i] = np.percentile(l_sorted[a:b], [50, 99])
    out["p50"], out["p99"] = p50, p99
    return out


def fault_figures(rows, faults: list[dict], duration: float, steady: float = 3.0) -> list[dict]:
    """Per fault, with the live benchmark's definitions (sim.calibration.windows, as loadtests/analysis/recovery.py): the
    requests the fault's cell serves (their source cell) that complete in its window (start to the next fault);
    their failed count, recovery (outage) seconds, and the window's peak per-second p99."""
    t = np.array([r[0] for r in rows], dtype=float)
    lat = np.array([r[1] for r in rows], dtype=float)
    bad = ~np.array([r[3] for r in rows], dtype=bool)
    ps = per_second(rows, duration)
    starts = [float(f["start"]) for f in faults]
    # cell -> which rows that cell serves (one pass per cell, not per fault): a request is in a
    # cell's scope when the cell is its *source* (a read's account, a transfer's debit side), as
    # the live analysis reads it (loadtests.analysis.records.RequestRow.touches); a cross-cell
    # transfer *into* the cell is served by its source cell, even when it failed at the gateway's
    # check of the destination (a bad change there answers it 500)
    serves: dict[int, np.ndarray] = {}
    out = []
    for n, f in enumerate(faults):
        a = float(f["start"])
        w_end = window_end(starts, n, duration)
        sel = completed_in(t, lat, a, w_end)
        cell = fault_cell(f["target"])
        if cell is not None:
            if cell not in serves:
                serves[cell] = np.array([r[4][0] == cell for r in rows], dtype=bool)
            sel &= serves[cell]
        rec, _, _ = recovery_in_window(t[sel], bad[sel], a, w_end, steady)
        good = sel & ~bad
        done = np.sort(t[good] + lat[good])
        out.append({"failed_requests": int(bad[sel].sum()), "outage_seconds": round(float(rec or 0.0), 3),
                    "stall_seconds": round(longest_stall(done, a, w_end), 3),
                    "p99_ms": peak_p99(ps["p99"], a, w_end), "requests": int(sel.sum())})
    return out


def peak_p99(p99: np.ndarray, a: float, b: float) -> float | None:
    """The highest per-second p99 (ms) of the seconds [a, b) (NaN seconds skipped), or None."""
    seg = p99[int(a):max(int(math.ceil(b)), int(a) + 1)]
    seg = seg[np.isfinite(seg)]
    return round(float(seg.max()), 1) if seg.size else None



# --------------------------------------------------------------------------- steady seconds
def steady_mask(run: Run, settle: float = SETTLE) -> np.ndarray:
    """The steady seconds of timeseries.csv: no fault in force and none in the ``settle`` s before."""
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


def service_profile(run: Run) -> dict:
    """Lognormal service time of an answered request, per transaction type (milliseconds)."""
    m = steady_mask(run)
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
        w = mix_weights(run.scenario.workload.mix)
        mean_scale = sum(w[k] * scale[k] for k in USER_KINDS) / max(sum(w.values()), 1e-9)
        scale = {k: v / mean_scale for k, v in scale.items()}
    return {k: {"median_ms": round(median * scale[k], 3), "sigma": round(sigma, 4)} for k in USER_KINDS}


def throughput_profile(run: Run, service: dict) -> dict:
    """Steady ok requests/s; if the users offered more, the bank's capacity and demand per type."""
    m = steady_mask(run)
    ok = np.array([r["ok_requests"] for r in run.series])
    steady_ok = float(np.mean(ok[m])) if m.any() else float("nan")
    offered = float(run.scenario.live.load.rate)
    w = mix_weights(run.scenario.workload.mix)
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
    cpu = cpu_demand(run, m, service)
    if cpu:
        out["cpu"] = cpu
    return out


def cpu_demand(run: Run, steady: np.ndarray, service: dict) -> dict | None:
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
    w = mix_weights(run.scenario.workload.mix)
    mean_med = sum(w[k] * service[k]["median_ms"] for k in USER_KINDS) / max(sum(w.values()), 1e-9)
    return {"demand_ms": round(1000 * demand, 3),
            "demand_ms_by_kind": {k: round(1000 * demand * service[k]["median_ms"] / mean_med, 3) for k in USER_KINDS},
            "bank_utilisation": round(float(cpu[use].sum() / use.sum()) / cores, 3),
            "machine_busy": round(float(np.nanmean(busy[use])), 3) if np.isfinite(busy[use]).any() else None,
            "cores": cores, "cpu_bound_capacity_rps": round(cores / demand, 1) if demand > 0 else None,
            "note": "from the bank's CPU seconds per answered request in the steady seconds (utilisation law); "
                    "machine_busy includes the load generator"}

