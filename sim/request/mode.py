"""``simulation.mode: request``: a scenario's fault windows simulated request by request.

Each cell's bounded window(s) around the ``chaos:`` faults (the whole horizon when it is short)
run through the vectorised request engine (``sim.request.engine``) with open Poisson arrivals
from the day profile, or, with ``workload.arrivals: closed``, through the closed loop of
``workload.users`` users over all cells (``sim.request.closed``, mapped by
``sim.request.scenario.closed_spec``); faults become fault windows by the one rule of
``sim.request.faults``. The fluid engine must agree with this mode when retries are off
(tests/test_request_vs_fluid_agreement.py).

The runner (``sim.runner.simulate_full``) calls ``simulate_request_mode``; its results are
``sim.engine.ReplicationResult``s (one per lane) so the runner writes the same files as for the
fluid engine. Every number this mode assumes is echoed in summary.json ``request_mode.settings``.
"""

from __future__ import annotations

import math
import time

import numpy as np

from sim.engine import ReplicationResult
from sim.errors import HivesimError
from sim.metrics import aggregate
from sim.request.closed import ClosedLoopSpec, closed_results
from sim.request.engine import simulate_window
from sim.request.faults import credit_delay_events, unmodelled_chaos
from sim.request.scenario import REQUEST_DEFAULTS, closed_spec, from_scenario
from sim.request.spec import OK, RetryPolicy
from sim.results.schema import run_block, summary_header

__all__ = ["MAX_REQUESTS", "WINDOW_MARGIN", "MAX_WHOLE_HORIZON", "EVENT_LANES", "window_specs", "window_requests",
           "request_windows", "settings", "closed_settings", "simulate_request_mode"]

MAX_REQUESTS = 20_000_000   # a window larger than this (over all lanes) is refused: ~60 B of memory per request
WINDOW_MARGIN = 60.0        # s simulated before each fault and after its failover
MAX_WHOLE_HORIZON = 3600.0  # s: a horizon up to this long is simulated whole, a longer one around its faults
EVENT_LANES = 10            # events.csv holds the fault windows of the first lanes only (they repeat per lane)


def window_specs(sc, window: tuple[float, float], cells=None, *, retries: bool = True,
                 calibration: dict | None = None, timeout: float | None = None,
                 retry: RetryPolicy | None = None):
    """One ``RequestSpec`` per cell (all cells by default) for the window [t0, t1).

    ``retries=False`` gives every request exactly one attempt (the fluid engine's view). The
    outage per fault kind comes from ``calibration`` or else the scenario's own ``calibration:``.
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
    return from_scenario(sc, window, idx, calibration=calibration, **kw)


def request_windows(sc, margin: float = WINDOW_MARGIN, max_whole: float = MAX_WHOLE_HORIZON) -> list[tuple[float, float]]:
    """The windows request mode simulates: the whole horizon if short, else around each fault
    (``margin`` before it, its duration or failover + one more failover + ``margin`` after)."""
    H = sc.simulation.horizon
    if H <= max_whole:
        return [(sc.simulation.warmup, H)]
    if not sc.chaos:
        raise HivesimError(f"simulation.mode: request simulates short windows: give chaos: entries or a "
                           f"horizon <= {max_whole:g}s (got {H:g}s and no chaos)")
    # the slowest failover of any cell (overrides included) bounds how long a fault lasts
    fo_total = max(spec.db.failover.total for spec in {id(s): s for s in sc.topology.cells.specs()}.values())
    from sim.scenario.chaos_effects import merge_spans
    return merge_spans((max(0.0, c.at - margin), min(H, c.at + max(c.duration, fo_total) + fo_total + margin))
                       for c in sc.chaos)


def window_requests(specs, window: tuple[float, float]) -> float:
    """Expected requests of one lane in ``window`` (its cells' specs): what ``MAX_REQUESTS`` bounds."""
    t0, t1 = window
    return sum(float(np.sum(s.rate)) * (s.rate_step if isinstance(s.rate, tuple) else t1 - t0) for s in specs)


def settings() -> dict:
    """The numbers request mode assumes (echoed in summary.json ``request_mode.settings``)."""
    return {**REQUEST_DEFAULTS.as_dict(), "max_requests": MAX_REQUESTS, "window_margin_seconds": WINDOW_MARGIN,
            "max_whole_horizon_seconds": MAX_WHOLE_HORIZON, "event_lanes": EVENT_LANES}


def closed_settings(loop: ClosedLoopSpec) -> dict:
    """The closed loop's settings (``workload.arrivals: closed``) of the first window, echoed in
    summary.json ``request_mode.closed_loop`` (the rate per user is that window's)."""
    return {"users": loop.users, "rate_per_user": loop.rate_per_user, "service_median_seconds": loop.service["read"][0],
            "service_sigma": loop.service["read"][1], "gateway_deadline": loop.deadline,
            "client_deadline": loop.op_deadline, "gateway_max_backoff": loop.gateway_poll,
            "client_backoff": loop.client_backoff, "client_max_backoff": loop.client_max_backoff,
            "reads_in_outage": loop.reads_in_outage, "processor_sharing": loop.processor_sharing}


def simulate_request_mode(sc, workers: int | None = None, progress: bool = False,
                          replications: int | None = None):
    """``simulation.mode: request``: every cell's windows, request by request (open or closed arrivals).

    Returns ``(summary, results)`` like ``sim.runner.simulate_full``: one
    ``sim.engine.ReplicationResult`` per replication (lane), so the runner writes the same files
    (summary.json, events.csv, timeseries.csv in 1 s buckets, replications.csv). Availability is
    over the *simulated windows* (around the faults), not a year: ``request_mode.note`` says so.
    ``workers`` is accepted for the runner's signature; lanes are vectorised in one process.
    """
    t_wall = time.perf_counter()
    closed = sc.workload.arrivals == "closed"
    R = replications or sc.simulation.replications
    windows = request_windows(sc)
    ss = np.random.SeedSequence(sc.simulation.seed)  # one child per (window, cell), in order
    n_cells = sc.topology.cells.count
    rate = sc.workload.transactions_per_day  # the engine's unit: seconds at the mean rate
    span = sum(b - a for a, b in windows)
    nsec = int(sum(math.ceil(b - a) for a, b in windows))
    off_s = np.zeros((R, nsec))
    fail_s = np.zeros((R, nsec))
    cell_failed = np.zeros((R, n_cells))
    counts = {"ok": 0, "failed": 0, "timeout": 0, "unknown": 0, "requests": 0, "attempts": 0}
    lat_ok, events = [], []
    base = 0
    first_loop = None  # the first window's closed loop, echoed in the summary
    for t0, t1 in windows:
        specs = window_specs(sc, (t0, t1))
        expected = window_requests(specs, (t0, t1)) * R
        if expected > MAX_REQUESTS:
            raise HivesimError(f"request mode: window {t0:g}-{t1:g}s holds ~{expected:.3g} requests over "
                               f"{R} replications (limit {MAX_REQUESTS:.0e}); lower simulation.replications "
                               f"or the horizon")
        w = int(math.ceil(t1 - t0))
        if closed:  # one loop over all cells (its users pick a cell per operation), split per cell
            loop, faults = closed_spec(sc, specs)
            if first_loop is None:
                first_loop = loop
            per_cell = closed_results(loop, faults, ss.spawn(1)[0], R, specs)
        else:  # lazily: each cell's child seed is spawned in the order it always was
            per_cell = (simulate_window(spec, np.random.Generator(np.random.PCG64(ss.spawn(1)[0])), R) for spec in specs)
        for ci, (spec, res) in enumerate(zip(specs, per_cell)):
            m = res.measured
            bad = m & (res.outcome != OK)
            sec = np.clip(np.floor(res.arrival).astype(np.int64), 0, w - 1) + base
            np.add.at(off_s, (res.lane[m], sec[m]), 1.0)
            np.add.at(fail_s, (res.lane[bad], sec[bad]), 1.0)
            cell_failed[:, ci] += np.bincount(res.lane[bad], minlength=R)
            for k, v in res.counts().items():
                counts[k] += v
            lat_ok.append(res.latency[m & (res.outcome == OK)])
            for f in spec.faults:
                for lane in range(min(R, EVENT_LANES)):
                    events.append((lane, t0 + f.start, t0 + f.end, f.end - f.start, f"cell[{ci}]",
                                   f"chaos:{f.kind}", "writes-down" if f.kind == "reject" else "slow",
                                   spec.write_fraction / n_cells))
        base += w
    events += credit_delay_events(sc, min(R, EVENT_LANES))
    results = []
    for lane in range(R):
        offered, failed = off_s[lane].sum(), fail_s[lane].sum()
        frac = np.divide(fail_s[lane], off_s[lane], out=np.zeros(nsec), where=off_s[lane] > 0)
        ts = {"step": 1.0, "offered": list(off_s[lane] / rate), "failed": list(fail_s[lane] / rate),
              "cells_down": [0] * nsec}
        results.append(ReplicationResult(
            index=lane, span=span, offered=offered / rate, failed_req=failed / rate,
            failed_time=float(frac.sum()), cell_failed=list(cell_failed[lane] / rate),
            cause_failed={"chaos": failed / rate} if failed else {},
            cause_episodes={"chaos": int(sum(1 for e in events if e[0] == 0))} if failed else {},
            outages=int(np.count_nonzero(np.diff(np.concatenate([[0.0], (fail_s[lane] > 0).astype(float)])) > 0)),
            day_offered=[offered / rate], day_failed=[failed / rate], rpo_exposure=0.0,
            events=[e for e in events if e[0] == lane], timeseries=ts if lane == 0 else None))
    summary = summary_header("simulation")
    summary.update(aggregate(results))
    lat = np.concatenate(lat_ok) * 1000 if lat_ok else np.array([])
    summary["latency_ms"] = {"p50": float(np.percentile(lat, 50)) if lat.size else None,
                             "p99": float(np.percentile(lat, 99)) if lat.size else None}
    summary["request_mode"] = {
        "windows": [list(w) for w in windows], "outcomes": counts,
        "retry_amplification": counts["attempts"] / max(counts["requests"], 1),
        "unmodelled_chaos": unmodelled_chaos(sc),
        "settings": settings(), "arrivals": sc.workload.arrivals,
        "note": "availability over the simulated windows (around the faults), not a year; "
                "cross-cell transfers count against their source cell only"}
    if closed:
        summary["request_mode"]["closed_loop"] = closed_settings(first_loop)
    summary["estimator"] = {"method": "naive", "replications": R}
    summary["run"] = run_block(sc, replications=R, workers=1, wall_seconds=time.perf_counter() - t_wall)
    summary["scenario"] = sc.model_dump(mode="json")
    return summary, results
