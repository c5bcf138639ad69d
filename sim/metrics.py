"""From replications to figures: means, 95 % confidence intervals, nines, windows, causes.

Every interval is a Student-t interval over independent replications
(``availability-math.md`` §6). Nines are taken from the **pessimistic** end of the interval,
so hivesim never claims more nines than its own data support. When no replication saw any
failure, the interval cannot bound the unavailability: nines are reported as ``null`` with
a note, never as infinity.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from sim.engine import ReplicationResult
from sim.units import YEAR

__all__ = ["t_interval", "nines", "availability_block", "aggregate"]

MIN_PER_YEAR = YEAR / 60.0  # 525,600


def t_interval(values, level: float = 0.95) -> tuple[float, float | None, float | None]:
    """(mean, lo, hi) of a Student-t interval; lo/hi are None with fewer than 2 values."""
    x = np.asarray(values, dtype=float)
    m = float(x.mean()) if x.size else float("nan")
    if x.size < 2:
        return m, None, None
    s = float(x.std(ddof=1))
    h = float(stats.t.ppf(0.5 + level / 2, x.size - 1)) * s / math.sqrt(x.size)
    return m, m - h, m + h


def nines(availability: float | None) -> float | None:
    """-log10(1 - A); None when A is None or 1 (no failure seen: nothing can be claimed)."""
    if availability is None:
        return None
    u = 1.0 - availability
    if u <= 0.0:
        return None
    return -math.log10(u)


def availability_block(values) -> dict:
    """The summary.json block for one availability figure (mean, ci95, nines...)."""
    m, lo, hi = t_interval(values)
    out = {"mean": m, "ci95": None if lo is None else [max(lo, 0.0), min(hi, 1.0)],
           "half_width": None if lo is None else (hi - lo) / 2.0,
           "failed_per_million": (1.0 - m) * 1e6}
    if lo is None:
        out["nines"] = None
        out["nines_ci95"] = None
        out["note"] = "one replication: no confidence interval, so no nines are claimed"
        return out
    if max(values) >= 1.0 and min(values) >= 1.0:
        out["nines"] = None
        out["nines_ci95"] = None
        out["note"] = "no failure seen in any replication: the interval cannot bound unavailability"
        return out
    out["nines"] = nines(max(lo, 0.0))
    out["nines_ci95"] = [nines(max(lo, 0.0)), nines(min(hi, 1.0))]
    return out


def _worst_windows(r: ReplicationResult, days: int) -> float:
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


def aggregate(results: list[ReplicationResult]) -> dict:
    """Summary figures (without run/scenario metadata) from replications sorted by index."""
    results = sorted(results, key=lambda r: r.index)
    a_req = [r.availability_request for r in results]
    a_time = [r.availability_time for r in results]
    req = availability_block(a_req)
    for name, days in (("worst_day", 1), ("worst_30d", 30)):
        w = [_worst_windows(r, days) for r in results]
        req[name] = {"mean": float(np.mean(w)), "min": float(np.min(w))}
    down = [(1.0 - a) * MIN_PER_YEAR for a in a_req]
    dm, dlo, dhi = t_interval(down)
    years = sum(r.span for r in results) / YEAR
    total_off = sum(r.offered for r in results)
    total_failed = sum(r.failed_req for r in results)
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
                       "downtime_minutes_per_year": v["failed"] / total_off * MIN_PER_YEAR if total_off else 0.0,
                       "share": v["failed"] / total_failed if total_failed > 0 else 0.0}
    n_cells = len(results[0].cell_failed)
    cells = []
    for ci in range(n_cells):
        vals = [1.0 - r.cell_failed[ci] / r.offered for r in results]
        blk = availability_block(vals)
        cells.append({"cell": ci, "availability": blk["mean"], "ci95": blk["ci95"], "nines": blk["nines"]})
    outages = sum(r.outages for r in results)
    return {
        "availability": {"request": req, "time": availability_block(a_time)},
        "downtime_minutes_per_year": {"mean": dm, "ci95": None if dlo is None else [max(dlo, 0.0), dhi]},
        "outages": {"count": outages, "per_year": outages / years if years else 0.0,
                    "by_cause": by_cause},
        "cells": cells,
        "rpo": {"async_exposure_seconds_per_year": sum(r.rpo_exposure for r in results) / years if years else 0.0},
        "engine": {"sim_events_per_replication": float(np.mean([r.sim_events for r in results])),
                   "simulated_years": years},
    }
