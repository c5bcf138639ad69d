"""Crew-free exponential components on pre-drawn timelines: one walker event for all of them.

A component with exponential times to failure and to repair and no crew to wait for fails and
comes back whatever else happens in the bank, so its whole timeline is drawn before the run
(``sim.engine.timelines``: counter-based draws keyed like the streams, ``scope/cause``), for all
such components at once, in numpy. No ``random.Random`` stream is seeded for them (~4 us each,
~1,700 of them in a webank year) and nothing is drawn during the run.

Their failures and repairs still change the bank (a DB replica's loss starts a failover, an app
node's changes its cell's capacity), so each is still an instant of the run: all of them merged
in time order and walked by one event, rescheduled at the next instant (SimPy's queue holds one
entry for them all instead of one per component). Raw episodes of detail replications are
recorded in bulk at the start, as ``bulk_nodes`` records its nodes'.
"""

from __future__ import annotations

from heapq import heappush

import numpy as np
from simpy.events import NORMAL, Event

from sim.engine.plan_cache import PlanCache
from sim.engine.timelines import alternating, key_ids

__all__ = ["start"]

# per chosen entry list: the components' key hashes, laws and episode columns (no randomness)
_PREP = PlanCache()


def _prepare(plan, chosen: list[tuple]):
    def build():
        keys = [f"{srv.scope}/{name}" for srv, _, name, _, _ in chosen]
        return (key_ids(keys),
                np.array([f.mean for *_, f, _ in chosen]), np.array([r.mean for *_, r in chosen]),
                np.array([srv.scope for srv, *_ in chosen], dtype=object),
                np.array([name for _, _, name, _, _ in chosen], dtype=object),
                [srv.index for srv, *_ in chosen], [name for _, _, name, _, _ in chosen])
    return _PREP.get(plan, (chosen,), build)


def start(bank, chosen: list[tuple]) -> None:
    """Draw the timelines of ``chosen`` (``components._entries`` rows) and start their walker."""
    if not chosen:
        return
    ids, mttf, mttr, scope_of, cause_of, servers, causes = _prepare(bank.plan, chosen)
    horizon = bank.horizon
    comp, fail, rep = alternating(bank.streams.root, ids, mttf, mttr, horizon)
    done = rep < horizon  # a repair at or after the horizon never happens in the run
    if bank.episodes.detail:  # as the events would record them: at the repair
        c = comp[done]
        bank.episodes.record_many(fail[done], rep[done], scope_of[c], cause_of[c])
    # steps: a failure as the component's number, a repair as its complement (negative)
    times = np.concatenate([fail, rep[done]])
    steps = np.concatenate([comp, ~comp[done]])
    order = np.argsort(times, kind="stable")
    if len(order):
        _Walker(bank, times[order].tolist(), steps[order].tolist(), servers, causes)


class _Walker(Event):
    """Every pre-drawn step, in time order, as one event rescheduled on SimPy's queue.

    Each step runs the server's handler (``Replication.handlers``: the app node's or the
    general one) and pushes the walker back at the next step's instant, as ``env.schedule``
    would push a timeout.
    """

    def __init__(self, bank, times: list[float], steps: list[int], servers: list[int], causes: list[str]):
        # Event.__init__ is not called: this event is never triggered, only scheduled
        self.env = env = bank.env
        self.queue, self.eid = env._queue, env._eid
        self._ok, self._value = True, None
        self.times, self.steps, self.k, self.n = times, steps, 0, len(times)
        self.servers, self.causes = servers, causes
        handlers = [bank.handlers(s) for s in servers]
        self.fail = [h[0] for h in handlers]
        self.repair = [h[1] for h in handlers]
        self.callbacks = self._on_step
        heappush(self.queue, (times[0], NORMAL, next(self.eid), self))

    def _step(self):
        k = self.k
        c = self.steps[k]
        if c >= 0:
            self.fail[c](self.servers[c], self.causes[c])
        else:
            c = ~c
            self.repair[c](self.servers[c], self.causes[c])
        k += 1
        self.k = k
        if k < self.n:
            self.callbacks = self._on_step  # step() took the list; the next step fires it
            heappush(self.queue, (self.times[k], NORMAL, next(self.eid), self))

    # one callback list shared by every walker (step() calls ``callback(event)``, the event
    # being the walker): no bound method held by the walker, hence no reference cycle
    _on_step = [_step]
