"""The fault episodes a replication records (events.csv rows), clipped to the accounted span."""

from __future__ import annotations

from itertools import repeat
from operator import itemgetter

import numpy as np

__all__ = ["EpisodeLog", "DETAIL_REPLICATIONS"]

_ORDER = itemgetter(1, 4)  # by start, then target (itemgetter: the same tuples, no Python call)

DETAIL_REPLICATIONS = 10  # raw fault episodes (also those without effect) kept for these


class EpisodeLog:
    """Episodes with an effect on traffic always; raw faults too for the first replications."""

    def __init__(self, index: int, warmup: float, detail: bool):
        self.index = index
        self.warmup = warmup
        self.detail = detail
        self.events: list[tuple] = []

    def record(self, start, end, target, cause, effect, fraction, impact):
        if end <= self.warmup:
            return
        if impact or self.detail:
            s = max(start, self.warmup) - self.warmup
            e = end - self.warmup
            self.events.append((self.index, s, e, e - s, target, cause, effect, fraction))

    def record_many(self, starts, ends, targets, causes):
        """Raw episodes without effect (detail replications only), from arrays of spans.

        ``targets`` and ``causes``: numpy object arrays, one entry per span.
        """
        w = self.warmup
        idx = np.flatnonzero(ends > w)
        idx = idx[np.argsort(starts[idx], kind="stable")]  # one sorted run: ``sorted`` merges it fast
        s = np.maximum(starts[idx], w) - w
        e = ends[idx] - w
        n = len(idx)
        self.events.extend(zip(repeat(self.index, n), s.tolist(), e.tolist(), (e - s).tolist(),
                               targets[idx].tolist(), causes[idx].tolist(), repeat("none", n),
                               repeat(0.0, n)))

    def sorted(self) -> list[tuple]:
        self.events.sort(key=_ORDER)
        return self.events
