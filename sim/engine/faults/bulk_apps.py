"""App nodes drawn in bulk: the run sees only their tier's flips; capacity catches up lazily.

A cell's app node changes its cell's traffic only when its tier's nodes up cross ``app.min_nodes``
(``ReplicaSets.update`` reads them only so); otherwise it changes the cell's capacity alone
(``CapacityOverlay``), which depends on the nodes up and on the cell's state at its last event
(failing or not, its primary), nothing else. When every app node of a cell fails and is repaired
independently (exponential laws, no crews, no gray failures), their whole timelines are drawn
before the run (``sim.engine.timelines``, keyed like the components' streams) and merged per
node (down while any of its components is) and per cell.

Only two kinds of instant come to SimPy's queue: a node step that could flip the tier (as in
``bulk_nodes``: with ``P`` nodes held by correlated groups or chaos, the tier is down when
``m = nodes - min_nodes + 1 - P`` of the others are down by their own failures, so only a step
of the whole cell's count at a level >= ``m`` can flip it), and the holders' own events. Every
other step is replayed when the cell next has an event (``replay_before``, which the capacity overlay
calls first at each refresh) or at the horizon: the capacity overlay accounts it at its own
instant, in the state the cell had since its last event (``CapacityOverlay.replay``).
"""

from __future__ import annotations

import bisect
from functools import partial
from heapq import heappush

import numpy as np
from simpy.events import NORMAL, Event

from sim.engine.plan_cache import PlanCache
from sim.engine.timelines import alternating, group_steps, key_ids

__all__ = ["eligible", "BulkApps"]


def eligible(sc) -> bool:
    """Whether a scenario's app nodes may be drawn in bulk: gray nodes (which change capacity
    with a node's state at each instant) run only with a capacity model."""
    return sc.failures.gray is None or sc.capacity is None


class _Prep:
    """The bulk app nodes of a scenario: constant across its replications (no randomness)."""

    def __init__(self, plan, entries):
        cells = sorted({srv.cell for srv, *_ in entries})
        self.cells = [(ci, list(plan.cells[ci].app)) for ci in cells]
        self.nodes = [s for _, app in self.cells for s in app]   # global node number -> server
        node_of = {s: i for i, s in enumerate(self.nodes)}
        self.node_cell = np.array([k for k, (_, app) in enumerate(self.cells) for _ in app], dtype=np.int64)
        self.server_of = np.array(self.nodes, dtype=np.int64)
        self.position = np.array([j for _, app in self.cells for j in range(len(app))], dtype=np.int64)
        self.causes = sorted({name for _, _, name, _, _ in entries})
        code = {c: i for i, c in enumerate(self.causes)}
        self.ids = key_ids([f"{srv.scope}/{name}" for srv, _, name, _, _ in entries])
        self.mttf = np.array([f.mean for *_, f, _ in entries])
        self.mttr = np.array([r.mean for *_, r in entries])
        self.scope_of = np.array([srv.scope for srv, *_ in entries], dtype=object)
        self.cause_of = np.array([name for _, _, name, _, _ in entries], dtype=object)
        self.cnode = np.array([node_of[srv.index] for srv, *_ in entries], dtype=np.int64)
        self.ccause = np.array([code[name] for _, _, name, _, _ in entries], dtype=np.int64)


_PREP = PlanCache()


class _Tier:
    """One cell's app tier: its node steps in time order, the replay's cursor and state."""

    __slots__ = ("cell", "nodes", "own", "up", "held", "crit", "T", "S", "J", "D", "K", "k", "n",
                 "hi", "hi_t", "token")

    def __init__(self, cell, nodes):
        self.cell = cell
        self.nodes = nodes   # server index -> position in the tier
        self.own = [False] * len(nodes)   # down by its own failures (as of the cursor)
        self.up = len(nodes)
        self.held = 0        # nodes held by another holder (correlated groups, chaos)
        self.crit = len(nodes) - cell.app_min + 1
        self.token = 0


class BulkApps:
    """The bulk-drawn app nodes of one replication, from the start to the horizon."""

    def __init__(self, bank, entries: list[tuple]):
        prep = _PREP.get(bank.plan, (entries,), lambda: _Prep(bank.plan, entries))
        self.env = env = bank.env
        self.queue, self.eid = env._queue, env._eid
        self.bank = bank
        self.capacity = bank.capacity
        self.horizon = horizon = bank.horizon
        self.servers = prep.nodes
        self.causes = prep.causes
        self.tiers = [_Tier(bank.cells[ci], {s: j for j, s in enumerate(app)}) for ci, app in prep.cells]
        self.tier_of = {s: t for t in self.tiers for s in t.nodes}
        self.by_cell = [None] * len(bank.cells)
        for t in self.tiers:
            self.by_cell[t.cell.index] = t
        comp, fail, rep = alternating(bank.streams.root, prep.ids, prep.mttf, prep.mttr, horizon)
        done = rep < horizon
        if bank.episodes.detail:  # as the events would record them: at the repair
            c = comp[done]
            bank.episodes.record_many(fail[done], rep[done], prep.scope_of[c], prep.cause_of[c])
        self._steps(prep, prep.cnode[comp], prep.ccause[comp], fail, rep)
        for t in self.tiers:
            self._schedule(t, 0.0)

    def _steps(self, prep, node, cause, fail, rep):
        """Each node's down spans (the union of its components'), per tier in time order.

        Repairs after the horizon are steps too (the counts need every step's pair); the replay
        never reaches them."""
        st = group_steps(node, cause, fail, rep, prep.node_cell)
        T, G, level, node = st.T, st.G, st.level, st.node
        off = np.searchsorted(G, np.arange(len(self.tiers) + 1)).tolist()
        Tl, Sl, Jl = T.tolist(), prep.server_of[node].tolist(), prep.position[node].tolist()
        Dl, Kl = st.delta.tolist(), st.cause.tolist()
        for gi, t in enumerate(self.tiers):
            a, b = off[gi], off[gi + 1]
            t.T, t.S, t.J, t.D, t.K, t.k, t.n = Tl[a:b], Sl[a:b], Jl[a:b], Dl[a:b], Kl[a:b], 0, b - a
            t.hi, t.hi_t = [], []
        for i in np.flatnonzero(level >= 2).tolist():  # rare: two nodes of a tier down at once
            t = self.tiers[int(G[i])]
            t.hi.append((Tl[i], int(level[i])))
            t.hi_t.append(Tl[i])

    # ------------------------------------------------------------------ replay
    def replay_before(self, t: _Tier, now: float):
        """Replay tier ``t``'s node steps before ``now`` (its cell's state changes at ``now``).
        ``CapacityOverlay.refresh`` calls it when ``by_cell`` shows one is due (its own test, inline)."""
        self._replay(t, now, False)

    def _replay(self, t: _Tier, now: float, inclusive: bool):
        c, down = t.cell, self.bank.server_down
        T, S, J, D, own, app_min = t.T, t.S, t.J, t.D, t.own, c.app_min
        # the overlay's replay, None while the cell fails (it accounts nothing then: a cell's
        # failing state changes only in ``refresh``, i.e. after ``app_changed`` below)
        replay = self.capacity.replay if self.capacity is not None and not c.cap_failing else None
        k, n = t.k, t.n
        while k < n:
            at = T[k]
            if not (at < now or (inclusive and at == now)):
                break
            k += 1
            t.k = k   # first: what the step calls may replay this cell again
            s = S[k - 1]
            own[J[k - 1]] = up_step = D[k - 1] > 0
            if down[s] > 0:
                continue   # held by another holder: already counted down
            was = t.up
            t.up = up = was - 1 if up_step else was + 1
            c.app_up = up
            flipped = (was >= app_min) != (up >= app_min)
            if flipped or at == now:   # at its own instant: as the event would
                self.bank.replica_sets.app_changed(c, flipped, self.causes[t.K[k - 1]])
                k = t.k
                replay = self.capacity.replay if self.capacity is not None and not c.cap_failing else None
            elif replay is not None:
                replay(c, at)

    def finish(self, horizon: float):
        """At the horizon: every step not yet replayed (the capacity overlay closes after)."""
        for t in self.tiers:
            if t.k < t.n:
                self._replay(t, horizon, False)

    # ------------------------------------------------------------------ flips (events)
    def _next(self, t: _Tier, now: float):
        m = t.crit - t.held
        if m <= 0:
            return None   # down by holders alone: no own step brings it back
        if m >= 2:
            for time, level in t.hi[bisect.bisect_right(t.hi_t, now):]:
                if level >= m:
                    return time
            return None
        i = bisect.bisect_right(t.T, now)
        return t.T[i] if i < t.n else None

    def _schedule(self, t: _Tier, now: float):
        t.token += 1
        at = self._next(t, now)
        if at is None or at >= self.horizon:
            return
        # an event at the step's own instant (pushed as ``env.schedule`` would, at the absolute
        # time: the replay compares instants exactly); rare, so one small event each
        ev = Event(self.env)
        ev._ok, ev._value = True, None
        ev.callbacks = [partial(self._flip, t, t.token)]
        heappush(self.queue, (at, NORMAL, next(self.eid), ev))

    def _flip(self, t: _Tier, token: int, _event):
        if token == t.token:  # not superseded by a holder's change since it was scheduled
            now = self.env._now
            self._replay(t, now, True)
            self._schedule(t, now)

    # ------------------------------------------------------------------ holders (events)
    def held(self, s: int, down: bool, cause: str):
        """Server ``s``'s first holder came (``down``) or its last one left."""
        t = self.tier_of[s]
        c = t.cell
        now = self.env._now
        if t.k < t.n and t.T[t.k] < now:
            # the steps before now, as they were: with ``s``'s holders before this change
            # (``Replication.server_fail`` counted it already)
            count = self.bank.server_down
            step = 1 if down else -1
            count[s] -= step
            self._replay(t, now, False)
            count[s] += step
        t.held += 1 if down else -1
        if not t.own[t.nodes[s]]:
            was = t.up
            t.up = up = was - (1 if down else -1)
            c.app_up = up
            app_min = c.app_min
            self.bank.replica_sets.app_changed(c, (was >= app_min) != (up >= app_min), cause)
        self._schedule(t, now)
