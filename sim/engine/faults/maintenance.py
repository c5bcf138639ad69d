"""Planned maintenance: each cell gets one window per period, staggered over the period's days.

Cell i's first window opens on day (i mod period-in-days) at ``at_hour``; a window stops writes
(``impact: writes``, e.g. a planned switchover) or everything (``impact: all``).
"""

from __future__ import annotations

from sim.profile import DAY

__all__ = ["start"]


def start(bank) -> None:
    m = bank.sc.failures.maintenance
    if m:
        for c in bank.cells:
            bank.env.process(_windows(bank, c, m))


def _windows(bank, c, m):
    env = bank.env
    period_days = max(1, int(m.every // DAY))
    first = (c.index % period_days) * DAY + m.at_hour * 3600.0
    yield env.timeout(first)
    while True:
        c.maint += 1
        if m.impact == "all":
            c.maint_all += 1
        bank.replica_sets.update(c, "maintenance")
        yield env.timeout(m.duration)
        c.maint -= 1
        if m.impact == "all":
            c.maint_all -= 1
        bank.replica_sets.update(c, "maintenance")
        yield env.timeout(max(m.every - m.duration, 0.0))
