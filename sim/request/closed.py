"""Closed-loop arrivals: users who pace, send one operation and wait for its answer.

Poisson (open) arrivals (``sim.request.engine``) keep offering load whatever the bank answers.
A closed loop does not: each of ``users`` users starts an operation every ``1 / rate_per_user``
seconds *or when its previous one is answered, whichever is later*, so during an outage the
offered load collapses (every user ends up blocked on the broken cell), and with no fault the
throughput is ``users / max(pace, latency)``. Locust's users against the live benchmark are such
a loop; ``sim.calibration`` replays live runs with it, and ``simulation.mode: request`` uses it
when a scenario asks for ``workload.arrivals: closed`` (``sim.request.scenario.closed_spec``).

Public API::

    rows = closed_rows(ClosedLoopSpec(...), ClosedFaults({0: [(5.0, 9.0)]}), loop_rng(seed))
    # rows: (start s, latency s, kind, ok, cells touched), sorted by start

The model (``_ClosedLoop``): reads, same-cell and cross-cell transfers in the spec's mix, each to
a uniformly drawn cell; the client's retry / status-lookup rules of the live benchmark's Locust
client (loadtests/load/locustfile.py: after a 503 or an unknown outcome it backs off, doubling
with jitter x0.5-1.5, until its deadline for the transfer; an unknown outcome first costs a
status lookup at the source cell). The gateway answers each attempt from the cell's state
(details in the class's docstring and docs/calibration.md). Faults (``ClosedFaults``): per cell
outages (no usable primary), error windows (refused at once), gateway holds (a paused gateway),
slow windows (latency added to each request).

Random numbers: one ``random.Random`` (scalar draws: ~10x faster than numpy's per draw), drawn
in the loop's order; ``loop_rng(seed)`` seeds it from ``SeedSequence(seed)``. The order is
pinned by tests/test_closed_loop.py: calibration and prediction figures depend on it.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from sim.request.result import RequestResult
from sim.request.spec import FAILED, OK

__all__ = ["ClosedLoopSpec", "ClosedFaults", "Slow", "closed_rows", "closed_results", "loop_rng", "IN_DB_SECONDS",
           "ERROR_SECONDS"]

# the live bank's figures, read by both users of the loop (request mode's defaults and the
# calibration's replay of a live run):
IN_DB_SECONDS = 0.05   # s: a write this close after an outage began was inside its commit (unknown: 504)
ERROR_SECONDS = 0.002  # s: the latency of a refused connection or an injected error answer


@dataclass
class ClosedLoopSpec:
    """The loop's settings: load, the mix, the bank's service times and the client and gateway rules.

    ``sim.calibration.replay.ReplayModel`` fills them from a live run and a calibration;
    ``sim.request.scenario.closed_spec`` from a request-mode scenario."""

    users: int
    rate_per_user: float
    mix: tuple[float, float, float]     # reads, intra-cell, cross-cell
    cells: int
    accounts: int
    duration: float
    deadline: float                     # the gateway's retry deadline (s)
    op_deadline: float                  # the client's deadline for one transfer (s)
    service: dict                       # kind -> (median s, lognormal sigma) of an answered request
    gateway_poll: float                 # the gateway's longest backoff between retries (s)
    client_backoff: float               # the client's first backoff after a 503 (s), doubling ...
    client_max_backoff: float           # ... up to this (s)
    min_service: float                  # s: the bank's latency with nothing else to do (floor of the processor-sharing scaling)
    in_db_seconds: float                # s: a write this close after the outage began was inside its commit (unknown: 504)
    error_seconds: float                # s: the latency of a refused connection or an injected error answer
    processor_sharing: bool = True      # latency scales with the users being served (saturated bank)
    outage_jitter: float = 0.0          # each outage lasts its time + U(0, this) s (Patroni's loop_wait)
    reads_in_outage: bool = True        # reads wait through an outage too (False: standbys serve them)
    # database connections per cell (the app servers' pools); 0: not modelled. Only requests in a
    # slow window (a latency fault) queue for them: a slowed request holds its connection many
    # times longer, and the pool, not the database, then decides who waits
    pool: int = 0


class Slow(NamedTuple):
    """A slow window: requests of ``cells`` (None: every cell) started in [start, end) take ``extra``
    s longer. ``pooled``: False when the latency is paid before a database connection is taken
    (an app server's own injected latency), so those requests do not queue for the pool."""

    cells: tuple | None
    start: float
    end: float
    extra: float
    pooled: bool = True


@dataclass
class ClosedFaults:
    """The loop's faults: per cell its outages (start, end); error windows (cells or None,
    start, end); gateway holds (start, end); slow windows (cells or None, start, end, added s);
    resets (cells or None, when): a process on the requests' path died then, and every request
    in flight through it failed with it."""

    outages: dict[int, list[tuple[float, float]]]
    errors: list = field(default_factory=list)
    holds: list = field(default_factory=list)
    slows: list = field(default_factory=list)  # ``Slow`` windows (plain 4-tuples are read as pooled ones)
    resets: list = field(default_factory=list)
    # (cell, start, end) of the outages whose end no Patroni loop decides (an app server the
    # supervisor restarts): ``outage_jitter`` is not added to them
    exact: set = field(default_factory=set)

    def __post_init__(self):
        self.slows = [Slow(*w) for w in self.slows]

    def __getitem__(self, cell):  # read like the per-cell outage mapping it extends
        return self.outages[cell]

    def get(self, cell, default=None):
        return self.outages.get(cell, default)


def loop_rng(seed) -> random.Random:
    """The loop's one stream for ``seed`` (an int or a ``SeedSequence``)."""
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return random.Random(int(ss.generate_state(2, np.uint64)[0]))


def closed_rows(spec: ClosedLoopSpec, faults, rng: random.Random,
                span: tuple[float, float] | None = None) -> list[tuple]:
    """One run of the loop: the per-request rows (start s, latency s, kind, ok, cells touched),
    sorted. ``faults``: a ``ClosedFaults`` or a per-cell outage mapping. ``span`` (start, end):
    only that stretch, every user starting at its start (Locust starts every user at once)."""
    loop = _ClosedLoop(spec, faults, rng)
    return loop.run() if span is None else loop.run(*span)


def closed_results(spec: ClosedLoopSpec, faults, seed: np.random.SeedSequence, lanes: int,
                   cell_specs) -> list:
    """``lanes`` independent runs of the loop (lane i's stream: ``loop_rng(seed.spawn(lanes)[i])``)
    as one ``RequestResult`` per cell (``cell_specs[c]``: the cell's open-loop spec, for its
    window and warm-up), so request mode reads them as it reads the open engine's.

    A request belongs to the cell it was sent to (a transfer to its source cell); each client
    attempt is a request (attempts 1), answered ``ok`` or ``failed``; ``committed`` marks the
    writes answered ok; ``service`` is nan (the loop draws latencies, not service times apart
    from waits)."""
    cols = [[] for _ in cell_specs]  # per cell: (lane, start, latency, write, ok)
    for lane, child in enumerate(seed.spawn(lanes)):
        for t, lat, kind, ok, cells in closed_rows(spec, faults, loop_rng(child)):
            cols[cells[0]].append((lane, t, lat, kind != "read", ok))
    out = []
    for cs, rows in zip(cell_specs, cols):
        lane, start, lat, write, ok = (np.array(x) for x in zip(*rows)) if rows else (np.array([]),) * 5
        lane = lane.astype(np.int32)
        ok, write = ok.astype(bool), write.astype(bool)
        start = start.astype(float)
        n = len(start)
        out.append(RequestResult(
            spec=cs, replications=lanes, method="closed", lane=lane, arrival=start,
            finish=start + lat.astype(float), outcome=np.where(ok, OK, FAILED).astype(np.int8),
            attempts=np.ones(n, np.int16), write=write, committed=write & ok, service=np.full(n, np.nan),
            attempt_lane=lane, attempt_time=start))
    return out


class _ClosedLoop:
    """The users against the gateway, one operation at a time per user (see module doc).

    The bank side has no queue here: its latency is a service time drawn from the spec's
    distribution (which, calibrated on a live run, already holds the measured run's queueing),
    and a cell without a usable primary answers nothing until its outage ends. A request
    meets its database at a uniform moment m inside its latency (the rest is gateway and app
    queueing on either side); if m is in an outage [a, b), the gateway retries inside its
    deadline: the request is answered at b (+ the gateway's poll) + the rest of its latency if
    b - m <= deadline, else it fails at m + deadline + the rest of its latency (504 if a write
    was inside its commit when the primary died, 503 otherwise).
    """

    def __init__(self, m: ClosedLoopSpec, outages, rng: random.Random):
        faults = outages if isinstance(outages, ClosedFaults) else ClosedFaults(dict(outages))
        outages = faults.outages
        self.m, self.out, self.rng = m, outages, rng
        self.errors, self.holds, self.slows = faults.errors, faults.holds, faults.slows
        self.resets = faults.resets
        # The gateway's cache of accounts seen to exist (its cross-cell destination check). The
        # live bank's accounts are created through the gateway at bring-up, so it knows every one
        # of them until the gateway process is restarted (a crash: its warm spare starts with an
        # empty cache, loadtests/bank/gateway.py ``Router.known``); after that it learns them one
        # check at a time. ``learned``: account -> when it was last learned; an account never
        # checked is known until the first restart.
        self.gateway_restarts = sorted(a for cells, a in faults.resets if cells is None)
        self.learned: dict[int, float] = {}
        self._busy: dict[int, list[tuple[float, float]]] = {}  # cell -> its pool's busy (start, end)
        self.rows: list[tuple] = []  # start, latency s, kind, ok, cells touched
        p = np.asarray(m.mix, dtype=float)
        self.p = p / p.sum()
        self.blocked = _Waits()  # users waiting on a dead cell, each until when
        if m.outage_jitter > 0:  # Patroni notices a failure on its next loop: a random extra delay
            self.out = {}
            for c, w in outages.items():
                self.out[c] = []
                for a, b in w:
                    j = rng.random() * m.outage_jitter  # drawn for an exact window too: the others keep theirs
                    self.out[c].append((a, b if (c, a, b) in faults.exact else b + j))
        self.now, self.user = 0.0, None
        self._quiet = _Quiet(self.out, self.holds, self.errors, self.slows, self.resets)
        # per kind: (median / users, sigma): the processor-sharing scale without a division per draw
        self._svc_of = {k: (med / m.users, sig) for k, (med, sig) in m.service.items()}

    def _svc(self, kind: str) -> float:
        med, sig = self.m.service[kind]
        # a saturated bank (the live one: its latency is mostly queueing for 2 shared cores) is
        # processor sharing: latency scales with the users actually being served. Users
        # waiting on a dead cell load nothing, and the healthy cell gets fast during an outage.
        busy = self.m.users
        if self.m.processor_sharing and self.blocked.until:
            busy -= self.blocked.count_at(self.now)
        return max(med * busy / self.m.users, self.m.min_service) * math.exp(sig * self.rng.gauss(0.0, 1.0))

    def _attempt(self, t: float, cell: int, svc: float, budget: float, write: bool):
        """-> (answer time, ok, status, budget left) of a request sent at t with ``budget`` seconds
        of the gateway's deadline left."""
        if self._quiet(t, t + svc):  # nowhere near a fault (most requests): what the loops below give
            self.rng.random()  # the draw of ``pre`` below, so the stream stays the same
            return t + svc, True, 200, budget
        for a, b in self.holds:  # a paused gateway: the kernel queues the connection until it thaws
            if a <= t < b:
                t = b
        for cells, a, b in self.errors:  # refused or answered with an error at once: no gateway retry
            if a <= t < b and (cells is None or cell in cells):
                return t + self.m.error_seconds, False, 504, 0.0
        slowed = pooled = False
        for cells, a, b, extra, in_pool in self.slows:
            if a <= t < b and (cells is None or cell in cells):
                pooled = pooled or in_pool
                if t + svc + extra > b:
                    # lifted while it runs: the round trips after b go at the normal pace (the
                    # fraction of its work done by b is the slowed time it had)
                    done = (b - t) / (svc + extra)
                    svc = (b - t) + (1.0 - done) * svc
                else:
                    svc += extra
                slowed = True
        if pooled and self.m.pool:  # queue for one of the cell's database connections
            wait = self._pool_wait(cell, t, budget)
            if wait < budget:  # it got one: held until done, or cut at the deadline
                self._busy.setdefault(cell, []).append((t + wait, t + min(wait + svc, budget)))
            svc += wait
        if slowed and svc > budget:
            # the app stops at the gateway's deadline (x-hivesim-deadline), cutting the transaction
            # before its COMMIT (the latency is paid on every round trip before it): nothing was
            # committed, 503, and the client retries without a status lookup (live kinds-b
            # 20261204T103346Z: 76 of the latency fault's 80 failed writes answered 503)
            return t + budget, False, 503, 0.0
        for cells, a in self.resets:  # in flight when the process died: its connection reset
            if t < a < t + svc and (cells is None or cell in cells):
                return a, False, 504 if write else 503, 0.0
        for a, b in self.holds:  # in flight when the gateway froze: its deadline timer ran out
            if t < a < t + svc and b > t + budget:  # meanwhile, and fires first when it thaws
                return b, False, 504 if write else 503, 0.0
        pre = self.rng.random() * svc
        if not (write or self.m.reads_in_outage):  # standbys answer reads through the outage
            return t + svc, True, 200, budget
        m = t + pre  # the moment it reaches the database: queues before and after it
        gp = self.m.gateway_poll
        for a, b in self.out.get(cell, ()):
            if a <= m < b:
                ready = b + (self.rng.random() * gp if b - m > gp else 0.0)
                if ready - m <= budget:
                    self._block(ready)
                    return ready + svc - pre, True, 200, budget - (ready - m)
                self._block(m + budget)
                # in the database when it died: the commit's fate is unknown (504), else 503.
                # (A frozen primary is the same: the app cuts a hung statement at the deadline,
                # and only a write already inside its COMMIT is unknown; live runs show few lookups.)
                status = 504 if write and m - a < self.m.in_db_seconds else 503
                return m + budget + svc - pre, False, status, 0.0
        return t + svc, True, 200, budget

    def _pool_wait(self, cell: int, t: float, budget: float) -> float:
        """Seconds a request arriving at ``t`` waits for a free connection of ``cell``'s pool
        (``budget`` if none frees within it). Written as a calendar of busy intervals, not a
        queue of events, because the loop does not visit requests in time order: a user's
        retries are played ahead of other users' requests (up to its operation deadline), so a
        request may arrive before one already placed. It starts at the first moment from ``t`` on
        when fewer than ``pool`` intervals cover it (later requests already placed keep theirs)."""
        busy = self._busy.get(cell)
        if not busy:
            return 0.0
        if len(busy) > 64:  # intervals long past cannot cover any request still to come
            busy[:] = [iv for iv in busy if iv[1] > t - 2.0 * self.m.op_deadline]
        for s in sorted({t, *(e for _, e in busy if t < e < t + budget)}):
            if sum(1 for a, e in busy if a <= s < e) < self.m.pool:
                return s - t
        return budget

    def _known(self, account: int, t: float) -> bool:
        """Whether the gateway serving at ``t`` knows ``account`` exists (no check needed)."""
        i = bisect.bisect_right(self.gateway_restarts, t)
        if i == 0:  # the gateway started at bring-up has not been restarted: it created every account
            return True
        return self.learned.get(account, -math.inf) >= self.gateway_restarts[i - 1]

    def _block(self, until: float) -> None:
        if self.user is not None:
            self.blocked.wait(self.user, until)

    def _cell(self) -> int:
        return int(self.rng.random() * self.m.cells)

    def _transfer(self, t: float, cross: bool) -> float:
        m = self.m
        kind = "cross" if cross else "intra"
        src = self._cell()
        dst = (src + 1 + int(self.rng.random() * (m.cells - 1))) % m.cells if cross and m.cells > 1 else src
        dst_acct = int(self.rng.random() * max(m.accounts, 1))
        stop = t + m.op_deadline
        backoff = m.client_backoff
        while True:
            at, ok, status, left = t, True, 200, m.deadline
            if cross and not self._known(dst_acct, t):  # the gateway checks the destination first
                # its time is inside the measured latency of a cross-cell transfer already: it only
                # matters when the destination cell is down
                at, ok, status, left = self._attempt(t, dst, 0.0, left, False)
                if ok:
                    self.learned[dst_acct] = at
                else:
                    status = 503
            if ok:
                at, ok, status, _ = self._attempt(at, src, self._svc(kind), left, True)
            self.rows.append((t, at - t, kind, ok, (src, dst)))
            t = at
            if ok:
                return t
            if status == 504:  # unknown: the client looks the key up at the source cell (not a row:
                # lookups are not user requests in the live figures); absent -> retry the same key
                t = self._attempt(t, src, self._svc("read"), m.deadline, False)[0]
            if t + backoff >= stop:
                return t
            t += backoff * (0.5 + self.rng.random())
            backoff = min(m.client_max_backoff, backoff * 2)

    def run(self, start: float = 0.0, end: float | None = None) -> list[tuple]:
        m = self.m
        stop = m.duration if end is None else min(end, m.duration)
        pace = 1.0 / m.rate_per_user
        heap = [(start, u) for u in range(m.users)]  # Locust starts every user at once (spawn rate 0)
        heapq.heapify(heap)
        p_read, p_intra = float(self.p[0]), float(self.p[0] + self.p[1])
        while heap:
            t, u = heapq.heappop(heap)
            if t >= stop:
                continue
            self.now, self.user = t, u
            r = self.rng.random()
            if r < p_read:
                cell = self._cell()
                end, ok, _, _ = self._attempt(t, cell, self._svc("read"), m.deadline, False)
                self.rows.append((t, end - t, "read", ok, (cell,)))
            else:
                end = self._transfer(t, r >= p_intra)
            heapq.heappush(heap, (max(t + pace, end), u))
        self.rows.sort()
        return self.rows


class _Waits:
    """Users waiting on a dead cell, each until an instant; ``count_at(now)`` forgets the waits
    that have ended, but only when one has (the earliest end is kept), not on every call."""

    def __init__(self):
        self.until: dict[int, float] = {}
        self._first_end = math.inf  # no wait ends before this

    def wait(self, user: int, until: float) -> None:
        if until > self.until.get(user, 0.0):
            self.until[user] = until
            self._first_end = min(self._first_end, until)

    def count_at(self, now: float) -> int:
        if self._first_end <= now:
            self.until = {u: x for u, x in self.until.items() if x > now}
            self._first_end = min(self.until.values(), default=math.inf)
        return len(self.until)


class _Quiet:
    """Whether a request's span [t, t + svc] meets no fault window at all (any cell): then every
    check of ``_ClosedLoop._attempt`` would pass it through, and it can skip them. The windows
    (outages with their jitter, holds, errors, slows; a reset as an instant) merged and sorted;
    the test is a bisection. Closed ends: a span that only touches a window takes the full
    checks, which decide exactly as before."""

    def __init__(self, outages: dict, holds, errors, slows, resets):
        spans = sorted([(a, b) for w in outages.values() for a, b in w] + [(a, b) for a, b in holds]
                       + [(a, b) for _, a, b in errors] + [(w.start, w.end) for w in slows]
                       + [(a, a) for _, a in resets])
        self.starts: list[float] = []
        self.ends: list[float] = []
        for a, b in spans:
            if self.ends and a <= self.ends[-1]:
                self.ends[-1] = max(self.ends[-1], b)
            else:
                self.starts.append(a)
                self.ends.append(b)

    def __call__(self, t: float, end: float) -> bool:
        i = bisect.bisect_right(self.starts, end) - 1
        return i < 0 or self.ends[i] < t
