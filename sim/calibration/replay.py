"""The closed-loop replay of a live run's Locust users against a model gateway and bank.

Locust's users are a *closed* loop: each of ``live.load.users`` users paces at ``rate / users``
and waits for its answer, so during an outage the offered load collapses (every user ends up
blocked on the broken cell); an open-loop model over-predicts failures there. ``_ClosedLoop``
runs the users explicitly: reads, same-cell and cross-cell transfers in the scenario's mix, with
the client's retry / status-lookup rules (loadtests/load/locustfile.py), and the gateway answers each
attempt from the cell's state (details in the class's docstring and docs/calibration.md).

Load and retry settings come from the replayed run's own scenario (``live.load``,
``live.gateway_deadline``, ``live.retry``: what that run's bank and clients did); service times
and outages from a calibration. Seeds: ``replay_seed`` (prediction) and ``outage_rng``.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass, field

import numpy as np

from sim.calibration.effects import fault_effect, run_constants
from sim.results.reader import Run
from sim.errors import HivesimError
from sim.scenario.chaos_effects import ROUND_TRIPS

__all__ = ["MIN_SERVICE", "IN_DB_SECONDS", "ERROR_SECONDS", "ReplayFaults", "REPLAY_SEED_STRIDE", "OUTAGE_STREAM", "replay_seed", "outage_rng",
           "ReplayModel", "outages_of", "replay"]

MIN_SERVICE = 0.005   # s: the bank's latency with nothing else to do (floor of the processor-sharing scaling)
IN_DB_SECONDS = 0.05  # s: a write this close after the outage began was inside its commit (unknown: 504)
ERROR_SECONDS = 0.002  # s: the latency of a refused connection or an injected error answer

# Seeds. ``predict_run``'s i-th replay of a run with scenario seed s uses
# ``replay_seed(s, i) = REPLAY_SEED_STRIDE * (i + 1) + s`` (kept as it was when the committed
# predictions of docs/calibration.md were made: another derivation would move them), and draws
# its faults' outages from a second stream, ``outage_rng(seed)`` (so the replay's own stream is
# the same with and without outage samples). The fit (``sim.calibration.fit``) replays with the
# fixed seeds 0..n-1; each replay turns its seed into a ``random.Random`` via a SeedSequence.
REPLAY_SEED_STRIDE = 1_000_003  # a prime larger than any scenario seed in use: replays of nearby seeds do not overlap
OUTAGE_STREAM = 7               # the outage draws' stream: numpy.random.default_rng([seed, OUTAGE_STREAM])


def replay_seed(run_seed: int, i: int) -> int:
    """Seed of the i-th replay (from 0) of a run whose scenario seed is ``run_seed``."""
    return REPLAY_SEED_STRIDE * (i + 1) + int(run_seed)


def outage_rng(seed: int) -> np.random.Generator:
    """The stream a replay with ``seed`` draws its faults' outages from (``outages_of(samples=)``)."""
    return np.random.default_rng([seed, OUTAGE_STREAM])


@dataclass
class ReplayModel:
    """Parameters of the replay: load and retry settings (from the replayed run's scenario) and
    service times (from a calibration, made on another run or, ``--service run``, on this one)."""

    users: int
    rate_per_user: float
    mix: tuple[float, float, float]     # reads, intra-cell, cross-cell
    cells: int
    accounts: int
    duration: float
    deadline: float                     # the gateway's retry deadline (s): live.gateway_deadline
    op_deadline: float                  # the client's deadline for one transfer (s): live.retry.client_deadline
    service: dict                       # kind -> (median s, lognormal sigma) of an answered request
    gateway_poll: float                 # the gateway's longest backoff between retries (s): live.retry.gateway_max_backoff
    client_backoff: float               # the client's first backoff after a 503 (s), doubling ...: live.retry.client_backoff
    client_max_backoff: float           # ... up to this (s): live.retry.client_max_backoff
    processor_sharing: bool = True      # latency scales with the users being served (saturated bank)
    outage_jitter: float = 0.0          # each outage lasts its kind's time + U(0, this) s (Patroni's loop_wait)

    @classmethod
    def for_run(cls, run: Run, calibration: dict) -> "ReplayModel":
        sc = run.scenario
        live = sc.live
        mix = sc.workload.mix
        svc = {k: (float(v["median_ms"]) / 1000.0, float(v["sigma"]))
               for k, v in calibration["service_ms"].items()}
        retry = run.retry
        return cls(users=int(live.load.users), rate_per_user=float(live.load.rate) / int(live.load.users),
                   mix=(mix.reads, mix.intra_cell, mix.cross_cell), cells=sc.topology.cells.count,
                   accounts=int(live.accounts), duration=run.duration,
                   deadline=run.deadline, op_deadline=run.client_deadline,
                   service=svc, gateway_poll=float(retry.gateway_max_backoff),
                   client_backoff=float(retry.client_backoff),
                   client_max_backoff=float(retry.client_max_backoff),
                   outage_jitter=float(live.patroni.loop_wait))

    def settings(self) -> dict:
        """The replay's settings other than service times (echoed in prediction.json ``model.replay``)."""
        return {"users": self.users, "rate_per_user": self.rate_per_user, "gateway_deadline": self.deadline,
                "client_deadline": self.op_deadline, "gateway_max_backoff": self.gateway_poll,
                "client_backoff": self.client_backoff, "client_max_backoff": self.client_max_backoff,
                "outage_jitter": self.outage_jitter, "processor_sharing": self.processor_sharing,
                "min_service_seconds": MIN_SERVICE, "in_db_seconds": IN_DB_SECONDS}


class _ClosedLoop:
    """Locust's users against the gateway, one operation at a time per user (see module doc).

    The bank side has no queue here: at the live benchmark's load its latency is a service time
    drawn from the calibrated distribution (which already holds the queueing of the measured
    run), and a cell without a usable primary answers nothing until its outage ends. A request
    meets its database at a uniform moment m inside its latency (the rest is gateway and app
    queueing on either side); if m is in an outage [a, b), the gateway retries inside its
    deadline: the request is answered at b (+ the gateway's poll) + the rest of its latency if
    b - m <= deadline, else it fails at m + deadline + the rest of its latency (504 if a write
    was inside its commit when the primary died, 503 otherwise).
    """

    def __init__(self, m: ReplayModel, outages, rng: random.Random):
        faults = outages if isinstance(outages, ReplayFaults) else ReplayFaults(dict(outages))
        outages = faults.outages
        self.m, self.out, self.rng = m, outages, rng  # scalar draws: random.Random is ~10x numpy's
        self.errors, self.holds, self.slows = faults.errors, faults.holds, faults.slows
        self.known: set[int] = set()  # accounts the gateway has seen to exist (cross-cell check)
        self.rows: list[tuple] = []  # start, latency s, kind, ok, cells touched
        p = np.asarray(m.mix, dtype=float)
        self.p = p / p.sum()
        self.blocked: dict[int, float] = {}  # user -> waiting on a dead cell until then (only while > now)
        if m.outage_jitter > 0:  # Patroni notices a failure on its next loop: a random extra delay
            self.out = {c: [(a, b + rng.random() * m.outage_jitter) for a, b in w] for c, w in outages.items()}
        self.now, self.user = 0.0, None

    def _svc(self, kind: str) -> float:
        med, sig = self.m.service[kind]
        # the measured bank is saturated (its latency is mostly queueing for 2 shared cores), so
        # it is processor sharing: latency scales with the users actually being served. Users
        # waiting on a dead cell load nothing, and the healthy cell gets fast during an outage.
        busy = self.m.users
        if self.m.processor_sharing and self.blocked:
            self.blocked = {u: x for u, x in self.blocked.items() if x > self.now}
            busy -= len(self.blocked)
        return max(med * busy / self.m.users, MIN_SERVICE) * math.exp(sig * self.rng.gauss(0.0, 1.0))

    def _attempt(self, t: float, cell: int, svc: float, budget: float, write: bool):
        """-> (answer time, ok, status, budget left) of a request sent at t with ``budget`` seconds
        of the gateway's deadline left."""
        for a, b in self.holds:  # a paused gateway: the kernel queues the connection until it thaws
            if a <= t < b:
                t = b
        for cells, a, b in self.errors:  # refused or answered with an error at once: no gateway retry
            if a <= t < b and (cells is None or cell in cells):
                return t + ERROR_SECONDS, False, 504, 0.0
        slowed = False
        for cells, a, b, extra in self.slows:
            if a <= t < b and (cells is None or cell in cells):
                svc += extra
                slowed = True
        if slowed and svc > budget:  # the app stops at the gateway's deadline (x-hivesim-deadline)
            return t + budget, False, 504 if write else 503, 0.0
        for a, b in self.holds:  # in flight when the gateway froze: its deadline timer ran out
            if t < a < t + svc and b > t + budget:  # meanwhile, and fires first when it thaws
                return b, False, 504 if write else 503, 0.0
        pre = self.rng.random() * svc
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
                status = 504 if write and m - a < IN_DB_SECONDS else 503
                return m + budget + svc - pre, False, status, 0.0
        return t + svc, True, 200, budget

    def _block(self, until: float) -> None:
        if self.user is not None and until > self.blocked.get(self.user, 0.0):
            self.blocked[self.user] = until

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
            if cross and dst_acct not in self.known:  # the gateway checks the destination first
                # its time is inside the measured latency of a cross-cell transfer already: it only
                # matters when the destination cell is down
                at, ok, status, left = self._attempt(t, dst, 0.0, left, False)
                if ok:
                    self.known.add(dst_acct)
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
        while heap:
            t, u = heapq.heappop(heap)
            if t >= stop:
                continue
            self.now, self.user = t, u
            r = self.rng.random()
            if r < self.p[0]:
                cell = self._cell()
                end, ok, _, _ = self._attempt(t, cell, self._svc("read"), m.deadline, False)
                self.rows.append((t, end - t, "read", ok, (cell,)))
            else:
                end = self._transfer(t, r >= self.p[0] + self.p[1])
            heapq.heappush(heap, (max(t + pace, end), u))
        self.rows.sort()
        return self.rows


@dataclass
class ReplayFaults:
    """The replay's faults: per cell its outages (start, end); error windows (cells or None,
    start, end); gateway holds (start, end); slow windows (cells or None, start, end, added s)."""

    outages: dict[int, list[tuple[float, float]]]
    errors: list = field(default_factory=list)
    holds: list = field(default_factory=list)
    slows: list = field(default_factory=list)

    def __getitem__(self, cell):  # read like the per-cell outage mapping it extends
        return self.outages[cell]

    def get(self, cell, default=None):
        return self.outages.get(cell, default)


def outages_of(run: Run, outage_seconds: dict, default: float | None = None,
               samples: dict | None = None, rng: np.random.Generator | None = None,
               override: dict[int, float] | None = None) -> ReplayFaults:
    """The replay's faults from each recorded fault's effect (``sim.calibration.effects``) and
    its class's figure in ``outage_seconds`` (class -> seconds: the calibration's
    ``outage_seconds`` and ``outage_extra_seconds`` together). With ``samples`` (class -> figures
    seen, ``calibration.outage_samples``) and ``rng``, each fault of such a class draws its figure
    from them; ``override`` (fault index -> seconds) sets single faults' figures (calibration)."""
    out = ReplayFaults({})
    consts = run_constants(run)
    for i, f in enumerate(run.faults):
        e = fault_effect(run, f, consts)
        if e.effect == "slow":  # the figure: round trips per request that pay the added latency
            # no fitted factor for its class (a calibration made before latency faults were fitted):
            # the simulator engines' default round trips
            k = outage_seconds.get(e.cls, ROUND_TRIPS)
            if override and i in override:
                k = override[i]
            if e.latency > 0 and e.hold > 0 and k > 0:
                out.slows.append((e.cells, e.start, e.start + e.hold, e.latency * float(k)))
            continue
        if not e.fitted and not e.fixed:
            continue
        g = 0.0 if e.fixed else outage_seconds.get(e.cls, default)  # fixed: the hold itself
        if not e.fixed and override and i in override:
            g = override[i]
        elif not e.fixed and samples and rng is not None and samples.get(e.cls):
            g = samples[e.cls][int(rng.integers(len(samples[e.cls])))]
        if g is None:
            raise HivesimError(f"calibration: no outage time for fault kind {e.cls!r} "
                               f"(calibrated kinds: {', '.join(sorted(outage_seconds)) or 'none'})")
        w = e.window({e.cls: g})
        if w is None:
            continue
        if e.effect == "outage":
            for cell in (e.cells if e.cells is not None else range(consts["cells"])):
                out.outages.setdefault(cell, []).append((float(w[0]), float(w[1])))
        elif e.effect == "error":
            out.errors.append((e.cells, float(w[0]), float(w[1])))
        else:
            out.holds.append((float(w[0]), float(w[1])))
    return out


def replay(model: ReplayModel, outages, seed: int, span: tuple[float, float] | None = None) -> list[tuple]:
    """One closed-loop replay: the per-request rows (start s, latency s, kind, ok, cells touched).

    Its one stream: ``random.Random`` seeded from ``SeedSequence(seed)`` (scalar draws:
    ``random.Random`` is ~10x faster than numpy's per draw). ``span`` (start, end): replay only
    that stretch of the run, every user starting at its start (the fit of a run with many faults
    replays each class's windows alone, ``sim.calibration.fit``)."""
    ss = np.random.SeedSequence(seed)
    loop = _ClosedLoop(model, outages, random.Random(int(ss.generate_state(2, np.uint64)[0])))
    return loop.run() if span is None else loop.run(*span)

