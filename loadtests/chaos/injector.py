"""Play a scenario's ``chaos:`` schedule against a running cluster, on the run's clock.

Each entry is applied at ``at`` seconds after :meth:`Injector.start`, held for ``duration``
seconds (0 = until the run ends, i.e. the load stops; an instantaneous kind such as
kill-postmaster is not held: ``sim.scenario.chaos.FAULT_KINDS``) and then lifted; every entry becomes one
:class:`FaultEpisode` with its start and end (seconds from the start of the run, wall clock, the
same clock as Locust's request records), what was actually hit, and an error if it could not be
applied. Targets are resolved when the fault starts, so ``cell[0].db.primary`` is whoever leads
the cell at that moment.

The schedule runs in one background thread; :meth:`finish` lifts whatever is still held and
returns the episodes. Only PIDs the cluster manager started are ever signalled.
"""

from __future__ import annotations

import heapq
import threading
import time
from typing import Callable

from loadtests.analysis.recovery import FaultEpisode
from loadtests.chaos.faults import FaultError, Held, apply_fault
from loadtests.chaos.targets import ClusterView, TargetError, resolve

__all__ = ["Injector"]


class Injector:
    def __init__(self, cluster: ClusterView, entries: list, log: Callable[[str], None] = print):
        self.cluster, self.entries, self.log = cluster, list(entries), log
        self.episodes: list[FaultEpisode] = [
            FaultEpisode(kind=e.fault, target=e.target, start=float(e.at), end=float(e.at)) for e in self.entries]
        self._held: dict[int, Held] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.t0_wall = self.t0_mono = 0.0

    # the run's clock: seconds since start(), wall-clock based like the request records
    def now(self) -> float:
        return time.time() - self.t0_wall

    def start(self, t0_wall: float | None = None) -> None:
        self.t0_wall = t0_wall if t0_wall is not None else time.time()
        self.t0_mono = time.monotonic() - (time.time() - self.t0_wall)
        self._thread = threading.Thread(target=self._run, name="chaos-injector", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        queue = [(float(e.at), 0, i) for i, e in enumerate(self.entries)]  # (time, 0=apply/1=lift, i)
        heapq.heapify(queue)
        while queue and not self._stop.is_set():
            at, action, i = queue[0]
            wait = self.t0_mono + at - time.monotonic()
            if wait > 0:
                self._stop.wait(min(wait, 0.5))
                continue
            heapq.heappop(queue)
            if action == 0:
                e = self.entries[i]
                if self._apply(i) and e.kind.held and e.duration > 0:
                    heapq.heappush(queue, (at + float(e.duration), 1, i))
            else:
                self._lift(i)

    def _apply(self, i: int) -> bool:
        e, ep = self.entries[i], self.episodes[i]
        ep.start = ep.end = self.now()
        try:
            res = resolve(e.scope, self.cluster)
            held = apply_fault(e.fault, res, self.cluster, latency=float(e.latency), jitter=float(e.jitter))
        except (TargetError, FaultError, OSError) as exc:
            ep.error = f"{type(exc).__name__}: {exc}"
            self.log(f"chaos: t={ep.start:6.1f}s {e.fault} {e.target}: NOT applied: {exc}")
            return False
        ep.detail, ep.hit = held.detail, held.hit
        with self._lock:
            self._held[i] = held
        self.log(f"chaos: t={ep.start:6.1f}s {e.fault} {e.target}: {held.detail}")
        return True

    def _lift(self, i: int) -> None:
        with self._lock:
            held = self._held.pop(i, None)
        if held is None:
            return
        errors = held.lift()
        ep = self.episodes[i]
        if not held.lifters:
            return  # an instantaneous kill: it ended when it happened
        ep.end = self.now()
        if errors:
            ep.error = "; ".join(errors)
        self.log(f"chaos: t={ep.end:6.1f}s lifted {ep.kind} {ep.target}" + (f" ({ep.error})" if errors else ""))

    def finish(self) -> list[FaultEpisode]:
        """Stop the schedule, lift every fault still held, return all episodes."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        for i in sorted(self._held):
            self._lift(i)
        for i, e in enumerate(self.entries):  # entries whose time never came
            ep = self.episodes[i]
            if ep.start == float(e.at) and ep.detail == "" and ep.error is None and self.now() < e.at:
                ep.error = "not reached: the run ended first"
        return self.episodes
