"""The one confidence interval of hivesim: a Student-t interval over independent values.

Used for replications (the fluid engine), lanes or batch means (request mode) and anything else
whose values are independent and identically distributed (``availability-math.md`` §6).

Behaviour at the edges, decided once here so every figure agrees:

* **fewer than 2 values**: no interval can be computed; ``lo`` and ``hi`` are ``None`` (JSON
  ``null``), never NaN (NaN does not survive JSON and compares false with everything). The mean
  of one value is that value; the mean of no values is NaN.
* **zero variance** (all values equal): the interval has zero width, ``lo == hi == mean``. The
  data show no spread, so the t-interval claims none; whether nines may be claimed from such a
  run is the availability block's rule (``sim.metrics.blocks``), not the interval's.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy import stats

__all__ = ["Interval", "t_interval"]


class Interval(NamedTuple):
    """A mean and its confidence interval (unpacks as ``mean, lo, hi``)."""

    mean: float         # arithmetic mean of the values (NaN when there are none)
    lo: float | None    # lower end of the interval; None with fewer than 2 values
    hi: float | None    # upper end of the interval; None with fewer than 2 values


def t_interval(values, level: float = 0.95) -> Interval:
    """Mean and two-sided Student-t interval at ``level`` of independent values (see module docstring)."""
    x = np.asarray(values, dtype=float)
    m = float(x.mean()) if x.size else float("nan")
    if x.size < 2:
        return Interval(m, None, None)
    s = float(x.std(ddof=1))
    h = float(stats.t.ppf(0.5 + level / 2, x.size - 1)) * s / math.sqrt(x.size)
    return Interval(m, m - h, m + h)
