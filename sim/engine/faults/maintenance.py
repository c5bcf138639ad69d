"""Planned maintenance: each cell gets one window per period, staggered over the period's days.

Cell i's first window opens on day (i mod period-in-days) at ``at_hour``; a window stops writes
(``impact: writes``, e.g. a planned switchover) or everything (``impact: all``).

The windows draw nothing: after a process's start, each edge is a timeout whose callback
applies the edge and schedules the next one. These are the events, times and order of
the one generator per cell this replaced (the same ``env.timeout`` calls at the same
instants); only the generator's resumption at each edge (~1,500 a year in webank-2023) is gone.
The timeout is one event per cell, scheduled again at each edge as ``env.timeout`` schedules a
new one (no ``Timeout`` built per edge).
"""

from __future__ import annotations

from heapq import heappush

from simpy.events import NORMAL, Event

from sim.profile import DAY

__all__ = ["start"]


def start(bank) -> None:
    m = bank.sc.failures.maintenance
    if m:
        for c in bank.cells:
            bank.env.process(_Windows(bank, c, m).start())


class _Windows:
    """One cell's maintenance windows, from the first to the horizon."""

    __slots__ = ("env", "queue", "eid", "cell", "update", "duration", "gap", "all", "first", "opened",
                 "closed", "edge")

    def __init__(self, bank, c, m):
        self.env = bank.env
        self.queue, self.eid = bank.env._queue, bank.env._eid
        self.cell = c
        self.update = bank.replica_sets.update
        self.duration = m.duration
        self.gap = max(m.every - m.duration, 0.0)
        self.all = m.impact == "all"
        self.opened, self.closed = [self._open], [self._close]  # built once, not at every edge
        self.edge = Event(self.env)  # the timeout of the next edge, rescheduled at each edge
        self.edge._ok, self.edge._value = True, None
        period_days = max(1, int(m.every // DAY))
        self.first = (c.index % period_days) * DAY + m.at_hour * 3600.0

    def start(self):
        # a process for the start only: its Initialize event keeps the first timeout's place
        # among the other families' at time 0 (ties at an instant run in scheduling order)
        self._at(self.first, self.opened)
        yield self.env.event()  # never triggered: the windows go on as callbacks

    def _open(self, _event):
        c = self.cell
        c.maint += 1
        if self.all:
            c.maint_all += 1
        self.update(c, "maintenance")
        self._at(self.duration, self.closed)

    def _close(self, _event):
        c = self.cell
        c.maint -= 1
        if self.all:
            c.maint_all -= 1
        self.update(c, "maintenance")
        self._at(self.gap, self.opened)

    def _at(self, delay: float, callbacks: list):
        """``env.timeout(delay).callbacks.append(...)``: the same push, on the cell's one event
        (SimPy took its last callback list before calling it; ``step`` only iterates them).
        The push ``env.schedule`` makes, written here: ~1,500 edges a webank year, a call fewer each."""
        edge = self.edge
        edge.callbacks = callbacks
        heappush(self.queue, (self.env._now + delay, NORMAL, next(self.eid), edge))
