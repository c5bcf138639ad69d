"""Latency histograms on fixed bins, and one cell's traffic effect over an interval.

Every served request lands in a bin of ``LATENCY_BINS_MS``; percentiles are read back
log-linearly inside a bin. ``IntervalEffect`` is what ``CapacityModel.interval_effect`` returns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["LATENCY_BINS_MS", "NBINS", "EDGES_S", "IntervalEffect", "percentiles_from_hist",
           "latency_summary"]

#: Latency histogram bin edges in ms: 0, then 10 log-spaced bins per decade from 0.1 ms to
#: 100 s, then one open bin to infinity. ``hist[i]`` counts requests in [edge[i], edge[i+1]).
LATENCY_BINS_MS = np.concatenate([[0.0], np.logspace(-1, 5, 61), [np.inf]])
EDGES_S = LATENCY_BINS_MS[1:-1] / 1000.0
NBINS = len(LATENCY_BINS_MS) - 1


@dataclass
class IntervalEffect:
    """Expected traffic figures of one cell over an interval (requests, not rates).

    ``offered`` = requests sent to the cell; ``shed`` = refused because the cell was over
    capacity; ``slow`` = served but slower than ``slo.latency``; ``latency_hist`` = served
    requests per bin of ``LATENCY_BINS_MS`` (sums to ``offered - shed``).
    """

    offered: float
    shed: float
    slow: float
    latency_hist: np.ndarray

    def __add__(self, other: "IntervalEffect") -> "IntervalEffect":
        return IntervalEffect(self.offered + other.offered, self.shed + other.shed,
                              self.slow + other.slow, self.latency_hist + other.latency_hist)

    def __sub__(self, other: "IntervalEffect") -> "IntervalEffect":
        return IntervalEffect(self.offered - other.offered, self.shed - other.shed,
                              self.slow - other.slow, self.latency_hist - other.latency_hist)


def percentiles_from_hist(hist, qs) -> list[float]:
    """Percentiles (ms) of a histogram on ``LATENCY_BINS_MS``; log-linear inside a bin.

    An empty histogram gives NaN; a percentile in the open last bin gives its lower edge
    (100 s): it is at least that.
    """
    h = np.asarray(hist, dtype=float)
    if h.shape != (NBINS,):
        raise ValueError(f"expected a histogram of {NBINS} bins, got shape {h.shape}")
    total = h.sum()
    out = []
    if total <= 0:
        return [math.nan for _ in qs]
    cum = np.cumsum(h)
    for q in qs:
        target = float(q) / 100.0 * total
        i = int(np.searchsorted(cum, target, side="left"))
        i = min(i, NBINS - 1)
        while h[i] <= 0 and i < NBINS - 1:  # q = 0 or a boundary: the next occupied bin
            i += 1
        lo, hi = LATENCY_BINS_MS[i], LATENCY_BINS_MS[i + 1]
        before = cum[i - 1] if i > 0 else 0.0
        frac = (target - before) / h[i] if h[i] > 0 else 0.0
        frac = min(max(frac, 0.0), 1.0)
        if not math.isfinite(hi):
            out.append(float(lo))
        elif lo <= 0:
            out.append(float(hi * frac))
        else:
            out.append(float(lo * (hi / lo) ** frac))
    return out


def latency_summary(hist) -> dict:
    """summary.json ``latency_ms``: p50 and p99 of a request-weighted histogram."""
    p50, p99 = percentiles_from_hist(hist, [50, 99])
    return {"p50": p50, "p99": p99}
