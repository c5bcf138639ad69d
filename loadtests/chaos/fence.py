"""An emulated fencing watchdog: what Patroni's /dev/watchdog does to a primary whose Patroni died.

Patroni arms a watchdog while it holds the leader key and pings it every HA loop, with a timeout
``safety_margin`` s shorter than the key's lifetime: if Patroni dies, the host is reset before the
key expires and a standby promotes, so no PostgreSQL serves on without its Patroni. This VM has no
watchdog device (and resetting it would end the run), so with ``live.patroni.watchdog: emulated``
the injector does it for a kill-patroni of a leader: it reads the leader key's expiry from etcd and
SIGKILLs that member's PostgreSQL (the postmaster and every process it forked) ``safety_margin`` s
before it. Lifting the fault before then (Patroni restarted, the watchdog pinged again) cancels it.

Without it, measured: the "zombie" primary streamed WAL that the promoted standby never got, the
other standby needed pg_rewind, and the write stall took 1.8-1.9 s or 2.4-4.0 s by luck
(docs/calibration.md). The simulator reads the same setting (``sim.scenario.chaos_effects``).
"""

from __future__ import annotations

import threading
import time
from typing import Callable

__all__ = ["Fence"]


class Fence:
    """``reset()`` (the injector's SIGKILL of a member's PostgreSQL tree) at ``at`` (unix time),
    cancellable until it fires."""

    def __init__(self, at: float, reset: Callable[[], object]):
        self.at = at
        self._timer = threading.Timer(max(0.0, at - time.time()), reset)
        self._timer.daemon = True

    def start(self) -> "Fence":
        self._timer.start()
        return self

    def cancel(self) -> None:
        self._timer.cancel()
