"""From replications to the summary's figures: availability blocks, worst windows, downtime, causes, the relay's credit delay.

``aggregate(results)`` turns the engine's ``ReplicationResult`` records (sorted by replication
index, so the figures do not depend on the order workers finished in) into the summary.json
figures, without the run/scenario metadata (``sim.results.schema`` builds that). Every
availability block is ``sim.metrics.blocks.block_from_replications`` (the few-event interval of
``sim.metrics.intervals.loss_interval``), fed the bank's outage episodes per replication; a cell's
block counts the replications where that cell lost requests (its own episodes are not recorded,
and counting fewer only widens the bound). The downtime's interval is the request block's, in
minutes per year, so the two always agree. A relay/bus chaos entry adds ``chaos`` (``credit_delays``):
the predicted delay of cross-cell credits, read from its ``credit-delay`` events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.metrics.blocks import MINUTES_PER_YEAR, block_from_replications
from sim.scenario.chaos_effects import CREDIT_DELAY
from sim.units import YEAR

if TYPE_CHECKING:  # the engine's record type; the engine itself never imports metrics
    from sim.engine import ReplicationResult

__all__ = ["aggregate", "worst_window", "credit_delays"]


def worst_window(r: "ReplicationResult", days: int) -> float:
    """Lowest request availability of replication ``r`` over any ``days`` consecutive calendar days."""
    off = np.asarray(r.day_offered)
    fail = np.asarray(r.day_failed)
    if off.size == 0:
        return 1.0
    k = min(days, off.size)
    if k == 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.where(off > 0, 1.0 - fail / off, 1.0)
        return float(a.min())
    co = np.concatenate([[0.0], np.cumsum(off)])
    cf = np.concatenate([[0.0], np.cumsum(fail)])
    wo = co[k:] - co[:-k]
    wf = cf[k:] - cf[:-k]
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(wo > 0, 1.0 - wf / wo, 1.0)
    return float(a.min())


def _by_cause(results, total_off: float, total_failed: float) -> dict:
    causes: dict[str, dict] = {}
    for r in results:
        for c, v in r.cause_failed.items():
            causes.setdefault(c, {"count": 0, "failed": 0.0})["failed"] += v
        for c, n in r.cause_episodes.items():
            causes.setdefault(c, {"count": 0, "failed": 0.0})["count"] += n
    by_cause = {}
    for c in sorted(causes, key=lambda k: -causes[k]["failed"]):
        v = causes[c]
        by_cause[c] = {"count": v["count"],
                       "downtime_minutes_per_year": v["failed"] / total_off * MINUTES_PER_YEAR if total_off else 0.0,
                       "share": v["failed"] / total_failed if total_failed > 0 else 0.0}
    return by_cause


def credit_delays(results: list["ReplicationResult"]) -> dict:
    """summary.json ``chaos``: the delay of cross-cell credits each relay/bus chaos entry causes
    (its ``credit-delay`` events), ``{}`` without one. A chaos entry's delay is the same in every
    replication (its hold + the relay's poll interval), so the first replication that recorded
    the rows gives them (request mode records them for its first lanes only); ``max`` and
    ``total`` are over those faults."""
    for r in results:
        rows = sorted((e for e in r.events if e[6] == CREDIT_DELAY), key=lambda e: (e[1], e[4]))
        if rows:
            faults = [{"target": e[4], "cause": e[5], "start_s": float(e[1]), "seconds": float(e[3])} for e in rows]
            secs = [f["seconds"] for f in faults]
            return {"credit_delay_seconds": {"max": max(secs), "total": float(sum(secs))}, "credit_delays": faults}
    return {}


def aggregate(results: list["ReplicationResult"]) -> dict:
    """Summary figures (without run/scenario metadata) from replications sorted by index."""
    results = sorted(results, key=lambda r: r.index)
    a_req = [r.availability_request for r in results]
    a_time = [r.availability_time for r in results]
    episodes = [r.outages for r in results]
    req = block_from_replications(a_req, episodes)
    for name, days in (("worst_day", 1), ("worst_30d", 30)):
        w = [worst_window(r, days) for r in results]
        req[name] = {"mean": float(np.mean(w)), "min": float(np.min(w))}
    dm = float(np.mean([(1.0 - a) * MINUTES_PER_YEAR for a in a_req]))
    dci = None if req["ci95"] is None else [(1.0 - req["ci95"][1]) * MINUTES_PER_YEAR,
                                            (1.0 - req["ci95"][0]) * MINUTES_PER_YEAR]
    years = sum(r.span for r in results) / YEAR
    total_off = sum(r.offered for r in results)
    total_failed = sum(r.failed_req for r in results)
    cells = []
    for ci in range(len(results[0].cell_failed)):
        blk = block_from_replications([1.0 - r.cell_failed[ci] / r.offered for r in results])
        cells.append({"cell": ci, "availability": blk["mean"], "ci95": blk["ci95"], "nines": blk["nines"],
                      "episodes": blk["episodes"], "reliability": blk["reliability"]})
    outages = sum(r.outages for r in results)
    chaos = credit_delays(results)
    return {
        "availability": {"request": req, "time": block_from_replications(a_time, episodes)},
        "downtime_minutes_per_year": {"mean": dm, "ci95": dci},
        "outages": {"count": outages, "per_year": outages / years if years else 0.0,
                    "by_cause": _by_cause(results, total_off, total_failed)},
        "cells": cells,
        "rpo": {"async_exposure_seconds_per_year": sum(r.rpo_exposure for r in results) / years if years else 0.0},
        "engine": {"sim_events_per_replication": float(np.mean([r.sim_events for r in results])),
                   "simulated_years": years},
        **({"chaos": chaos} if chaos else {}),  # only with a relay/bus chaos entry
    }
