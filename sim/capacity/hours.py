"""Hour-of-day exposures of intervals, and the excess effect of a degraded cell over them.

The capacity model's tables are per hour of day (``sim.capacity.model``), so what a cell does to
the traffic of an interval follows from the seconds the interval spends in each hour of the
day; a degraded period's excess over the all-up accounting is linear in them, so many periods
at one capacity are summed first and their tables applied once (``excess_many``).
"""

from __future__ import annotations

import weakref

import numpy as np

from sim.capacity.latency import IntervalEffect
from sim.profile import DAY, HOUR

__all__ = ["hour_exposure", "excess", "excess_many", "add_reduce"]

_HOUR_STARTS = np.arange(24) * HOUR
add_reduce = _add = np.add.reduce  # what ndarray.sum calls, without its Python wrapper

# capacity model -> {cell: requests offered per second of each hour of the day}: the same for
# every replication (a model's figures never change), asked by ``excess_many`` for every cell
_PER_DAY: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def hour_exposure(t: float) -> np.ndarray:
    """Seconds spent in each hour-of-day (0-23) during [0, t)."""
    days, rem = divmod(max(t, 0.0), DAY)
    # np.clip's values, without its dispatch (called at every capacity change of a replication)
    x = rem - _HOUR_STARTS
    np.maximum(x, 0.0, out=x)
    np.minimum(x, HOUR, out=x)
    return days * HOUR + x


def excess(w: np.ndarray, a: tuple, b: tuple) -> IntervalEffect:
    """``CapacityModel._effect`` with table ``a`` minus with table ``b`` for the requests ``w``,
    field by field (the same operations in the same order, without the two IntervalEffects)."""
    served_a = w * (1.0 - a[0])
    served_b = w * (1.0 - b[0])
    return IntervalEffect(0.0, float(_add(w * a[0])) - float(_add(w * b[0])),
                          float(_add(served_a * a[1])) - float(_add(served_b * b[1])),
                          served_a @ a[2] - served_b @ b[2])


def excess_many(cm, batches) -> list[IntervalEffect]:
    """``cm.excess_effect`` summed over each batch's intervals, one effect per batch.

    ``batches``: ``(cell, table, nominal table, t0s, t1s)``. The effect is linear in the requests
    offered per hour, so a batch's hour exposures are summed first and its tables applied once;
    the exposures of every batch's intervals are computed in one pass (numpy calls per batch,
    not per interval: a replication closes ~130 batches of ~20 intervals).
    """
    def exposure(t):
        days, rem = np.divmod(np.maximum(np.asarray(t, dtype=float), 0.0), DAY)
        x = rem[:, None] - _HOUR_STARTS
        np.maximum(x, 0.0, out=x)  # np.clip(x, 0.0, HOUR)'s values, without its dispatch
        np.minimum(x, HOUR, out=x)
        return days[:, None] * HOUR + x
    if not batches:
        return []
    secs = exposure([t for b in batches for t in b[4]]) - exposure([t for b in batches for t in b[3]])
    per_day = _PER_DAY.setdefault(cm, {})
    out, a = [], 0
    for cell, table, nominal_table, t0s, _ in batches:
        b = a + len(t0s)
        if cell not in per_day:
            per_day[cell] = cm.offered_by_hour(cell, 0.0, DAY) / HOUR
        out.append(excess(per_day[cell] * _add(secs[a:b], axis=0), table, nominal_table))
        a = b
    return out
