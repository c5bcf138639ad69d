"""Per-plan caches of scenario constants a worker's replications would otherwise rebuild each time.

Several set-up steps of a replication depend only on the scenario (each server's failure families,
each cell's transaction types, the correlated groups and their members), so the replications of
one scenario in one worker build them once. A ``sim.model.BankPlan`` is unhashable and a freed
plan's ``id`` can be reused, so an entry keeps a weak reference to its plan and the scenario parts
it was built from, compared by identity; a cache holds at most ``LIMIT`` plans (a sweep's worker
sees a few scenarios at a time) and starts over when full.
"""

from __future__ import annotations

import weakref
from typing import Callable

__all__ = ["PlanCache", "LIMIT"]

LIMIT = 16


class PlanCache:
    """``get(plan, deps, build)``: the value built for ``plan`` from ``deps``, or ``build()`` now."""

    def __init__(self) -> None:
        self._store: dict[int, tuple] = {}

    def get(self, plan, deps: tuple, build: Callable[[], object]):
        hit = self._store.get(id(plan))
        if hit is not None and hit[0]() is plan and all(a is b for a, b in zip(hit[1], deps, strict=True)):
            return hit[2]
        value = build()
        if len(self._store) >= LIMIT:
            self._store.clear()
        self._store[id(plan)] = (weakref.ref(plan), deps, value)
        return value
