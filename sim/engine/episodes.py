"""The fault episodes a replication records (events.csv rows), clipped to the accounted span."""

from __future__ import annotations

__all__ = ["EpisodeLog", "DETAIL_REPLICATIONS"]

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

    def sorted(self) -> list[tuple]:
        self.events.sort(key=lambda e: (e[1], e[4]))
        return self.events
