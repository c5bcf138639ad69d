"""Request-level predictions: ``simulation.mode: request`` and the replay of a live run.

Two users of the request-level engine (``sim.request``, the vectorised tiers + retry loop):

1. **Request mode of a scenario** (``simulate_request_mode``): each cell's bounded window(s)
   around the ``chaos:`` faults is simulated request by request with open (Poisson) arrivals
   from the day profile; faults become the engine's fault windows (``fault_windows``). This is
   the mode the fluid engine must agree with when retries are off
   (tests/test_request_vs_fluid_agreement.py).

2. **Prediction of a live run** (``predict_run``): the same scenario, fault schedule (the times
   the injector actually recorded) and load shape as a recorded ``hivesim live`` run. Locust's
   users are a *closed* loop: each of ``live.load.users`` users paces at ``rate / users`` and
   waits for its answer, so during an outage the offered load collapses (every user ends up
   blocked on the broken cell). An open-loop model over-predicts failures by an order of
   magnitude there (the prediction reports that figure too, as ``open_loop``), so the replay
   runs the users explicitly: ``_ClosedLoop`` issues each user's operations (reads, same-cell and
   cross-cell transfers, with the client's retry / status-lookup rules of loadtests/locustfile.py)
   and the gateway answers each attempt from the cell's state: within the gateway's retry
   deadline after the cell is usable again (then latency = the wait + a service time drawn from
   the calibrated distribution), else a 503/504 at the deadline.

The failover time per fault kind, the service-time distribution per transaction type and the
gateway's deadline come from a calibration (``sim.calibrate``), made on a *different* live run.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from dataclasses import dataclass

import numpy as np

from sim.errors import HivesimError
from sim.request import FaultWindow, RetryPolicy, simulate_window
from sim.request.result import t_interval
from sim.request.scenario import from_scenario
from sim.request.spec import OK
from sim.scenario.model import CHAOS_TARGET_RE

__all__ = ["fault_windows", "window_specs", "request_windows", "simulate_request_mode",
           "outage_for", "LiveRun", "read_live_run", "predict_run", "USER_KINDS"]

USER_KINDS = ("read", "intra", "cross")
_REJECT_FAULTS = ("crash", "kill-postmaster", "kill-patroni", "down")
MAX_REQUESTS = 20_000_000  # request mode refuses windows larger than this (memory: ~60 B/request)


# --------------------------------------------------------------------------- faults -> windows
def outage_for(kind: str, duration: float, failover, calibration: dict | None = None) -> list[tuple[float, float, str]]:
    """Fault windows (start offset, end offset, 'reject'|'stall') of one chaos entry on a primary.

    Without a calibration: a crash / kill / down refuses writes for ``failover.total``; a pause
    stalls them for the pause, and if it outlasts ``failover.detection`` the stall ends at the
    detection and writes are refused until the failover completes (``failover.total`` after the
    pause began: detection already elapsed while paused). A calibration's
    ``outage_seconds[kind]`` (measured on a live run) replaces ``failover.total`` for that kind.
    """
    cal = (calibration or {}).get("outage_seconds", {})
    total = float(cal.get(kind, failover.total))
    if kind == "pause":
        held = duration if duration > 0 else math.inf
        det = float((calibration or {}).get("pause_detection_seconds", failover.detection))
        if held <= det:
            return [(0.0, held, "stall")]
        total = max(total, det)
        out = [(0.0, det, "stall")]
        if total > det:
            out.append((det, total, "reject"))
        return out
    if kind in _REJECT_FAULTS:
        return [(0.0, total, "reject")] if total > 0 else []
    return []


def fault_windows(sc, cell: int, t0: float, t1: float, calibration: dict | None = None) -> list[FaultWindow]:
    """The request engine's fault windows for ``cell`` in the window [t0, t1) of scenario ``sc``.

    Entries that hit the cell's database primary (or the whole database, or the IDC that holds
    the primary: down/partition) count; app, gateway, etcd and latency faults are not modelled
    at request level yet (``unmodelled_chaos`` lists them).
    """
    db = sc.topology.cells.template.db
    primary_idc = (db.placement or sc.topology.idc_names)[0]
    spans: list[tuple[float, float, str]] = []
    for c in sc.chaos:
        m = CHAOS_TARGET_RE.match(c.target)
        hits_cell = (m.group("cell") in ("*", str(cell)) and m.group("tier") == "db"
                     and m.group("member") in (None, "primary"))
        hits_idc = m.group("idc") == primary_idc and c.fault in ("down", "partition")
        if not (hits_cell or hits_idc):
            continue
        kind = "down" if hits_idc else c.fault
        for a, b, what in outage_for(kind, c.duration, db.failover, calibration):
            a, b = max(c.at + a, t0), min(c.at + b, t1)
            if b > a:
                spans.append((a - t0, b - t0, what))
    spans.sort()
    merged: list[list] = []
    for a, b, what in spans:  # overlapping faults: a reject wins over a stall
        if merged and a < merged[-1][1]:
            last = merged[-1]
            if what == last[2]:
                last[1] = max(last[1], b)
                continue
            if what == "reject":
                last[1] = a
                if last[1] <= last[0]:
                    merged.pop()
            else:
                a = last[1]
                if b <= a:
                    continue
        merged.append([a, b, what])
    return [FaultWindow(a, b, w) for a, b, w in merged if b > a]


def unmodelled_chaos(sc) -> list[str]:
    """Chaos entries the request level does not turn into fault windows (reported, not hidden)."""
    out = []
    for c in sc.chaos:
        m = CHAOS_TARGET_RE.match(c.target)
        db_hit = m.group("tier") == "db" and m.group("member") in (None, "primary") and \
            (c.fault in _REJECT_FAULTS or c.fault == "pause")
        idc_hit = m.group("idc") is not None and c.fault in ("down", "partition")
        if not (db_hit or idc_hit):
            out.append(f"{c.fault} {c.target} at {c.at:g}s")
    return out


def window_specs(sc, window: tuple[float, float], cells=None, *, retries: bool = True,
                 calibration: dict | None = None, timeout: float | None = None,
                 retry: RetryPolicy | None = None):
    """One ``RequestSpec`` per cell for [t0, t1): perf's scenario mapping with our fault windows.

    ``retries=False`` gives every request exactly one attempt (the fluid engine's view).
    """
    n = sc.topology.cells.count
    idx = list(range(n)) if cells is None else ([cells] if isinstance(cells, int) else list(cells))
    kw = {}
    if timeout is not None:
        kw["timeout"] = timeout
    if retry is not None:
        kw["retry"] = retry
    if not retries:
        kw["retry"] = RetryPolicy()
    specs = from_scenario(sc, window, idx, **kw)
    return [dataclasses.replace(s, faults=tuple(fault_windows(sc, c, window[0], window[1], calibration)))
            for s, c in zip(specs, idx)]


# --------------------------------------------------------------------------- request mode
def request_windows(sc, margin: float = 60.0, max_whole: float = 3600.0) -> list[tuple[float, float]]:
    """The windows request mode simulates: the whole horizon if short, else around each fault."""
    H = sc.simulation.horizon
    if H <= max_whole:
        return [(sc.simulation.warmup, H)]
    if not sc.chaos:
        raise HivesimError(f"simulation.mode: request simulates short windows: give chaos: entries or a "
                           f"horizon <= {max_whole:g}s (got {H:g}s and no chaos)")
    fo = sc.topology.cells.template.db.failover
    spans = sorted((max(0.0, c.at - margin), min(H, c.at + max(c.duration, fo.total) + fo.total + margin))
                   for c in sc.chaos)
    out: list[list[float]] = []
    for a, b in spans:
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def simulate_request_mode(sc, replications: int | None = None) -> dict:
    """``simulation.mode: request``: simulate every cell's windows request by request.

    Returns ``{"summary": ..., "timeseries": rows, "events": rows}`` in the results contract
    (availability over the *simulated windows*, not a year; latency of answered requests).
    The lead's runner calls this when ``sc.simulation.mode == "request"``.
    """
    R = replications or sc.simulation.replications
    windows = request_windows(sc)
    ss = np.random.SeedSequence(sc.simulation.seed)
    ok = np.zeros(R)
    total = np.zeros(R)
    outcome_counts = {"ok": 0, "failed": 0, "timeout": 0, "unknown": 0, "requests": 0, "attempts": 0}
    lat_ok = []
    ts_rows, events = [], []
    n_cells = sc.topology.cells.count
    for wi, (t0, t1) in enumerate(windows):
        specs = window_specs(sc, (t0, t1))
        expected = sum(float(np.sum(s.rate)) for s in specs) * R
        if expected > MAX_REQUESTS:
            raise HivesimError(f"request mode: window {t0:g}-{t1:g}s holds ~{expected:.3g} requests over "
                               f"{R} replications (limit {MAX_REQUESTS:.0e}); lower simulation.replications "
                               f"or the horizon")
        per_s = None
        for ci, spec in enumerate(specs):
            rng = np.random.Generator(np.random.PCG64(ss.spawn(1)[0]))
            res = simulate_window(spec, rng, R)
            m = res.measured
            ok += np.bincount(res.lane[m & (res.outcome == OK)], minlength=R)
            total += np.bincount(res.lane[m], minlength=R)
            for k, v in res.counts().items():
                outcome_counts[k] += v
            lat_ok.append(res.latency[m & (res.outcome == OK)])
            ps = res.per_second(0)
            fails = ps["offered"] - ps["ok"]
            per_s = (ps["offered"], fails) if per_s is None else (per_s[0] + ps["offered"], per_s[1] + fails)
            for f in spec.faults:
                events.append((0, t0 + f.start, t0 + f.end, f.end - f.start, f"cell[{ci}]",
                               f"chaos:{f.kind}", "writes-down" if f.kind == "reject" else "slow",
                               spec.write_fraction / n_cells))
        for s, (off, fl) in enumerate(zip(*per_s)):
            ts_rows.append((0, t0 + s, min(t0 + s + 1, t1), int(off), int(fl), 0,
                            fl / off if off else 0.0, 0))
    avail = np.where(total > 0, ok / np.maximum(total, 1), 1.0)
    from sim.metrics import availability_block
    lat = np.concatenate(lat_ok) * 1000 if lat_ok else np.array([])
    summary = {
        "schema_version": 1, "kind": "simulation",
        "availability": {"request": availability_block(list(avail))},
        "latency_ms": {"p50": float(np.percentile(lat, 50)) if lat.size else None,
                       "p99": float(np.percentile(lat, 99)) if lat.size else None},
        "request_mode": {"windows": [list(w) for w in windows], "outcomes": outcome_counts,
                         "retry_amplification": outcome_counts["attempts"] / max(outcome_counts["requests"], 1),
                         "unmodelled_chaos": unmodelled_chaos(sc),
                         "note": "availability over the simulated windows (around the faults), not a year"},
        "estimator": {"method": "naive", "replications": R},
    }
    return {"summary": summary, "timeseries": ts_rows, "events": events}
