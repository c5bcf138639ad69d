"""The fault episodes a replication records (events.csv rows), clipped to the accounted span."""

from __future__ import annotations

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
        """Raw episodes without effect (detail replications only), from arrays of spans."""
        w = self.warmup
        keep = ends > w
        s = np.maximum(starts[keep], w) - w
        e = ends[keep] - w
        idx = np.flatnonzero(keep).tolist()
        self.events.extend((self.index, a, b, b - a, targets[i], causes[i], "none", 0.0)
                           for a, b, i in zip(s.tolist(), e.tolist(), idx))

    def sorted(self) -> list[tuple]:
        self.events.sort(key=_ORDER)
        return self.events
