"""SimPy's ``Environment.run(until=...)``, its ``step`` inlined: the same events in the same order.

A replication steps ~10,000 events a year; ``Environment.run`` calls ``step()`` for each (a
method call, a ``try``, the queue looked up on the environment each time). This loop pops the
same heap the same way, runs each event's callbacks as ``step`` does and stops at the same
``until`` event (scheduled as ``run`` schedules it: ``URGENT`` at the horizon, taking its
event id), so every figure, ``sim_events`` included, is what ``env.run(until)`` gives.
"""

from __future__ import annotations

from heapq import heappop

from simpy.events import URGENT, Event

__all__ = ["run_until"]


def run_until(env, until: float) -> None:
    """``env.run(until=until)`` for a number ``until`` > ``env.now`` whose events never stop
    the simulation themselves (no ``StopSimulation`` raised by a callback)."""
    at = until if isinstance(until, int) else float(until)
    if at <= env.now:
        raise ValueError(f"until ({at}) must be greater than the current simulation time")
    stop = Event(env)
    stop._ok = True
    stop._value = None
    env.schedule(stop, URGENT, at - env.now)
    queue = env._queue
    while True:
        env._now, _, _, event = heappop(queue)  # never empty: ``stop`` is in it
        if event is stop:
            # run() stops by a StopSimulation raised from the stop event's callback, and step()
            # then schedules that event again (for a later run), taking one more event id
            stop.callbacks = []
            env.schedule(stop, -1)
            return
        callbacks, event.callbacks = event.callbacks, None
        for callback in callbacks:
            callback(event)
        if not event._ok and not hasattr(event, "_defused"):
            # a failed event nobody defused crashes the run, as in Environment.step
            exc = type(event._value)(*event._value.args)
            exc.__cause__ = event._value
            raise exc
