"""Each cell's replica set and app tier: which writes and reads fail, and the failover machine.

A cell's writes need its app tier (``app.min_nodes`` up), a primary not failing over, not
paused, not in a write-stopping maintenance window, and a write quorum of replicas (a sync set
with fewer than ``write_quorum`` up stops writes; with ``on_quorum_loss: degrade-async`` it goes
on and the seconds without a synchronous copy count as RPO exposure). Reads need the app tier
and one replica (or the primary, without ``reads_during_failover``). Bad changes fail their
impact's share of what is left, each change its own.

Failover: losing the primary starts detection + election + promotion (``failover.total``), or
``manual`` with probability 1 - ``coverage``; when the loss was already noticed (a replica came
back to a primary-less set, or a pause ran past detection) only election + promotion. Times
given as distributions are drawn per failover from the cell's failover stream. While etcd's
quorum is lost (``consensus_lost``, set by a chaos entry: ``sim.scenario.chaos_effects``) no
failover completes: a cell whose failover is due then waits for the quorum, then elects and
promotes.
"""

from __future__ import annotations

import random

from simpy.events import URGENT, Event

__all__ = ["ReplicaSets"]


class ReplicaSets:
    """The cells' replica-set state machines of one replication."""

    always_set = False  # True when the ledger's cell fractions are not these (services inside cells)

    def __init__(self, env, cells, ledger, streams, server_down, warmup: float):
        self.env = env
        self.cells = cells
        self.ledger = ledger
        self.streams = streams
        self.server_down = server_down
        self.warm = warmup
        self.capacity = None        # a CapacityOverlay, when the scenario models capacity
        self.rpo_exposure = 0.0     # seconds a cell accepted writes without a synchronous copy
        self._cell_streams: dict[int, random.Random] = {}
        self.consensus_lost = 0     # etcd quorum losses in force (chaos); > 0: no failover completes
        self._awaiting_quorum: list = []  # cells whose failover waits for etcd's quorum
        self._constants: dict[int, tuple] = {}  # see _fixed_times

    def update(self, c, cause: str):
        """Recompute the cell's failing fractions from its state and hand them to the ledger."""
        # called at nearly every event: the spec's rules are precomputed on the cell (CellState)
        app_ok = c.app_up >= c.app_min
        n_up = c.n_up
        quorum_ok = n_up >= c.quorum
        if not quorum_ok and c.degrade_async and n_up >= 1:
            quorum_ok = True
            if c.async_since is None:
                c.async_since = self.env.now
        elif c.async_since is not None and quorum_ok:
            self.rpo_exposure += self.env.now - max(c.async_since, self.warm)
            c.async_since = None
        primary_ok = c.primary is not None and not c.failing_over
        writes_ok = app_ok and primary_ok and quorum_ok and c.stall == 0 and c.maint == 0
        if c.reads_in_failover:
            reads_ok = app_ok and n_up >= 1 and c.maint_all == 0
        else:  # reads need the primary too
            reads_ok = app_ok and primary_ok and c.stall == 0 and c.maint_all == 0
        w = 0.0 if writes_ok else 1.0
        r = 0.0 if reads_ok else 1.0
        if c.bad:
            keep = 1.0  # overlapping bad changes each fail their own share of what is left
            for impact in c.bad_impacts:
                keep *= 1.0 - impact
            w = 1.0 - (1.0 - w) * keep
            r = 1.0 - (1.0 - r) * keep
        # most events change no fraction; with services the ledger holds the cell's fractions
        # combined with its services' (ServiceLedger), so it must see every base value
        # (``env._now``: what SimPy's ``now`` property returns, without the property's call)
        if self.always_set:
            self.ledger.update_cell(c, w, r, cause, self.env._now)
        elif w != c.writes_failed or r != c.reads_failed:
            self.ledger.set_cell(c, w, r, cause, self.env._now)
        if self.capacity is not None:
            self.capacity.refresh(c)

    def app_changed(self, c, tier_flipped: bool, cause: str):
        """An app node of the cell went down or came back (``tier_flipped``: the tier with it).

        Most app node events leave the tier up: then no fraction of the cell's traffic can
        change (``update`` reads app nodes only through ``app_min``), only its capacity.
        """
        if tier_flipped:
            self.update(c, cause)
        elif self.capacity is not None:
            self.capacity.refresh(c)

    def replica_changed(self, c, delta: int, cause: str):
        """A DB replica of the cell went down (``delta`` -1) or came back (+1).

        A standby's change while the primary serves, the replicas up staying on the same side
        of the quorum and of 1, changes nothing ``update`` computes (and the capacity overlay
        reads only the primary): most replica events (~2/3), skipped.
        """
        was = c.n_up
        c.n_up = n = was + delta
        p = c.primary
        if (p is not None and self.server_down[p] == 0 and (was >= c.quorum) == (n >= c.quorum)
                and (was >= 1) == (n >= 1)):
            return
        self.reconcile(c, cause)

    def reconcile(self, c, cause: str):
        """After a change in the cell: start a failover if the primary is gone, update state."""
        if c.primary is not None and self.server_down[c.primary] > 0:
            c.primary = None
            if not c.failing_over:
                self._start_failover(c, True, cause)
        elif c.primary is None and not c.failing_over and c.n_up > 0:
            self._start_failover(c, False, cause)
        self.update(c, cause)

    def _start_failover(self, c, full: bool, cause: str):
        fo = c.spec.db.failover
        _, fixed, total, _ = self._fixed_times(fo)
        if fo.coverage < 1.0 and self._cell_rng(c).random() >= fo.coverage:
            d = fo.manual if fixed else fo.draw(self._cell_rng(c), "manual")
        elif full and not c.detected:
            d = total if fixed else fo.draw(self._cell_rng(c), "detection", "election", "promotion")
        else:  # the loss was already noticed (a replica came back, or a stall ran out)
            d = self._election_promotion(c)
        c.detected = False
        if self.consensus_lost:  # no leader election without etcd: wait for its quorum
            c.failing_over = True
            self._awaiting_quorum.append(c)
            return
        if d <= 0.0:
            self._promote(c)
            return
        c.failing_over = True
        self._failover(c, d, cause)

    def _fixed_times(self, fo) -> tuple:
        """``(fo, its times all fixed, detection + election + promotion, election + promotion)``
        of a ``Failover`` spec, the sums None unless fixed: ~2 us of pydantic properties at each
        failover (~500 a webank year), computed once per spec and replication instead (a test
        may edit a spec between replications, so not kept longer; the spec is kept: its id
        stays its own)."""
        k = self._constants.get(id(fo))
        if k is None:
            fixed = fo.fixed
            k = self._constants[id(fo)] = (fo, fixed, fo.total if fixed else None,
                                           fo.election + fo.promotion if fixed else None)
        return k

    def _cell_rng(self, c) -> random.Random:
        rng = self._cell_streams.get(c.index)
        if rng is None:
            rng = self._cell_streams[c.index] = self.streams.stream(f"cell[{c.index}].failover")
        return rng

    def _promote(self, c):
        for s in c.db:
            if self.server_down[s] == 0:
                c.primary = s
                return
        c.primary = None

    def _failover(self, c, d: float, cause: str):
        """Cell ``c``'s failover ends after ``d`` seconds, as a SimPy process of one timeout.

        Written as callbacks (no generator to resume) that schedule what the process would:
        its start event (``URGENT``, now), then the timeout when that runs, then, after the
        end's work, the process's own end event, which nothing waits for: only its event id is
        taken. The same events at the same instants in the same order, ``sim_events`` the same.
        """
        start = Event(self.env)
        start._ok, start._value = True, None
        start.callbacks = [lambda _e: self._failover_wait(c, d, cause)]
        self.env.schedule(start, URGENT)

    def _failover_wait(self, c, d: float, cause: str):
        self.env.timeout(d).callbacks.append(lambda _e: self._failover_end(c, cause))

    def _failover_end(self, c, cause: str):
        self._failover_done(c, cause)
        next(self.env._eid)  # the process's end event

    def _failover_done(self, c, cause: str):
        if self.consensus_lost:  # due while etcd has no quorum: the election waits for it
            self._awaiting_quorum.append(c)
            return
        c.failing_over = False
        self._promote(c)
        if c.primary is None:
            self.update(c, cause)
        else:
            self.reconcile(c, cause)

    def quorum_restored(self, cause: str):
        """etcd has its quorum back: each waiting cell elects and promotes now."""
        waiting, self._awaiting_quorum = self._awaiting_quorum, []
        for c in waiting:
            self._failover(c, self._election_promotion(c), cause)

    def _election_promotion(self, c) -> float:
        """Election + promotion of cell ``c``'s failover (drawn from its stream when distributed)."""
        fo = c.spec.db.failover
        _, fixed, _, election_promotion = self._fixed_times(fo)
        return election_promotion if fixed else fo.draw(self._cell_rng(c), "election", "promotion")

    def close(self, horizon: float):
        """At the horizon: RPO exposure still open."""
        for c in self.cells:
            if c.async_since is not None:
                self.rpo_exposure += horizon - max(c.async_since, self.warm)
