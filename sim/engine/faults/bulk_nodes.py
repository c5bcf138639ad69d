"""Service nodes whose failures are drawn in bulk: the engine sees only the instants that matter.

A service's node (role ``svc``) changes a figure only when its service's nodes up cross
``needs`` (``sim.engine.services``: capacity and failover never read them). When all of a
service's nodes fail and are repaired independently (exponential laws, no repair crews), their
whole timelines are drawn before the run (``sim.engine.timelines``) and merged into the count of
the service's nodes down by their own failures, a step function. Correlated parents, chaos and
any other holder still come as events (``Replication.server_fail``): ``P`` nodes held by them,
the service serves while the nodes down by their own failures among the others stay below
``m = nodes - needs + 1 - P``. That count can reach ``m`` only at a step of the whole
service's count with a level >= ``m`` (the others' count is never above it), so only those
steps become SimPy events, where the exact count is taken; with ``needs`` = 1 of 6 nodes that
is almost never. Each component's own episodes (detail replications) are recorded in bulk.
"""

from __future__ import annotations

import bisect
import math

import numpy as np

from sim.engine.timelines import alternating, group_steps, key_ids

__all__ = ["prepare", "BulkNodes", "exponential"]


def exponential(sampler) -> bool:
    """Drawn by ``sim.engine.timelines`` (an exponential law of positive mean)."""
    return sampler.kind == "exponential" and sampler.mean > 0


class _Prep:
    """What a scenario's bulk nodes are, constant across its replications (no randomness)."""

    def __init__(self, sc, plan, entries):
        crews = sc.failures.crews  # a service node's only possible crews are its tier's (app)
        crew_free = crews is None or getattr(crews, "app", "unlimited") == "unlimited"
        of: dict[int, list] = {}
        for srv, _, name, ttf, ttr in entries:
            if srv.role == "svc":
                of.setdefault(srv.index, []).append((name, ttf, ttr))
        # a service is drawn in bulk when every one of its nodes is, or not at all
        self.groups: list[tuple] = []   # (cell, service position, nodes, needs)
        for cp in plan.cells:
            for k, sp in enumerate(cp.services):
                if sp.nodes and crew_free and all(
                        s in of and all(exponential(f) and exponential(r) for _, f, r in of[s])
                        for s in sp.nodes):
                    self.groups.append((cp.index, k, list(sp.nodes), sp.spec.needs))
        self.servers = sorted(s for g in self.groups for s in g[2])
        self.bulk = frozenset(self.servers)
        node_of = {s: i for i, s in enumerate(self.servers)}
        self.node_group = np.zeros(len(self.servers), dtype=np.int64)
        for gi, g in enumerate(self.groups):
            for s in g[2]:
                self.node_group[node_of[s]] = gi
        comps = [(s, name, f, r) for s in self.servers for name, f, r in of[s]]
        self.causes = sorted({c for _, c, *_ in comps})
        code = {c: i for i, c in enumerate(self.causes)}
        scopes = [plan.servers[s].scope for s, *_ in comps]
        self.ids = key_ids([f"{sc_}/{c}" for sc_, (_, c, *_) in zip(scopes, comps)])
        # each component's scope and cause, as object arrays (its raw episodes' columns)
        self.scope_of = np.array(scopes, dtype=object)
        self.cause_of = np.array([c for _, c, *_ in comps], dtype=object)
        self.cnode = np.array([node_of[s] for s, *_ in comps], dtype=np.int64)
        self.ccause = np.array([code[c] for _, c, *_ in comps], dtype=np.int64)
        self.mttf = np.array([f.mean for _, _, f, _ in comps])
        self.mttr = np.array([r.mean for *_, r in comps])


# id(entries) -> (entries, failures, prep): ``components._entries`` caches a list per plan
_PREP: dict[int, tuple] = {}


def prepare(sc, plan, entries) -> _Prep:
    """The bulk nodes of ``entries`` (``components._entries``), built once per scenario."""
    cached = _PREP.get(id(entries))
    if cached is not None and cached[0] is entries and cached[1] is sc.failures:
        return cached[2]
    if len(_PREP) >= 16:
        _PREP.clear()
    prep = _Prep(sc, plan, entries)
    _PREP[id(entries)] = (entries, sc.failures, prep)
    return prep


class _Group:
    """One service of one cell: its nodes, how many parents hold, and its steps of level >= 2."""

    __slots__ = ("ci", "k", "nodes", "needs", "crit", "held", "serving", "token", "lo", "hi",
                 "hi_t")

    def __init__(self, ci, k, nodes, needs):
        self.ci, self.k, self.nodes, self.needs = ci, k, nodes, needs
        self.crit = len(nodes) - needs + 1   # own failures that stop it with no node held
        self.held = 0
        self.serving = self.crit >= 1
        self.token = 0
        self.lo = (0, 0)     # its slice of the replication's step arrays
        self.hi: list[tuple] = []   # (time, level, count after, next step's time, cause)
        self.hi_t: list[float] = []


class BulkNodes:
    """The bulk-drawn service nodes of one replication, from the start to the horizon."""

    def __init__(self, bank, prep: _Prep):
        self.bank = bank
        self.env = bank.env
        self.horizon = bank.horizon
        self.servers = prep.servers
        self.causes = prep.causes
        self.groups = [_Group(*g) for g in prep.groups]
        self.group_of = {s: g for g in self.groups for s in g.nodes}
        comp, fail, rep = alternating(bank.streams.root, prep.ids, prep.mttf, prep.mttr, self.horizon)
        if bank.episodes.detail:
            done = rep < self.horizon  # as the events would: recorded at the repair
            c = comp[done]
            bank.episodes.record_many(fail[done], rep[done], prep.scope_of[c], prep.cause_of[c])
        self._steps(len(self.servers), prep.node_group, prep.cnode[comp], prep.ccause[comp], fail, rep)
        for g in self.groups:
            self._schedule(g, 0.0)

    # ------------------------------------------------------------------ the step functions
    def _steps(self, n_nodes, node_group, node, cause, fail, rep):
        st = group_steps(node, cause, fail, rep, node_group)
        self.n_start, self.n_end = st.span_start, st.span_end   # each node's down spans
        self.n_off = np.searchsorted(st.span_node, np.arange(n_nodes + 1))
        self.T, self.G, self.C, self.cause = st.T, st.G, st.C, st.cause
        level = st.level
        off = np.searchsorted(self.G, np.arange(len(self.groups) + 1))
        for gi, g in enumerate(self.groups):
            g.lo = (int(off[gi]), int(off[gi + 1]))
        last = len(self.T) - 1
        for i in np.flatnonzero(level >= 2).tolist():  # rare: two nodes of a service down at once
            g = self.groups[int(self.G[i])]
            nxt = float(self.T[i + 1]) if i < last and self.G[i + 1] == self.G[i] else math.inf
            g.hi.append((float(self.T[i]), int(level[i]), int(self.C[i]), nxt, int(self.cause[i])))
            g.hi_t.append(float(self.T[i]))

    def _own_down(self, s: int, t: float) -> bool:
        i = bisect.bisect_left(self.servers, s)
        a, b = int(self.n_off[i]), int(self.n_off[i + 1])
        j = a + int(np.searchsorted(self.n_start[a:b], t, side="right")) - 1
        return j >= a and self.n_end[j] > t

    def _serving(self, g: _Group, now: float) -> bool:
        m = g.crit - g.held
        if m <= 0:
            return False
        if m >= 2:  # fast: below level 2 the whole service has at most one node down
            j = bisect.bisect_right(g.hi_t, now) - 1
            if j < 0 or not (now < g.hi[j][3]) or g.hi[j][2] < m:
                return True
        down = self.bank.server_down
        return sum(1 for s in g.nodes if down[s] == 0 and self._own_down(s, now)) < m

    def _next(self, g: _Group, now: float):
        """The first step after ``now`` that could cross, as ``(time, cause code)``, or None."""
        m = g.crit - g.held
        if m <= 0:
            return None
        if m >= 2:
            for t, level, _, _, cause in g.hi[bisect.bisect_right(g.hi_t, now):]:
                if level >= m:
                    return t, cause
            return None
        a, b = g.lo
        i = a + int(np.searchsorted(self.T[a:b], now, side="right"))
        return (float(self.T[i]), int(self.cause[i])) if i < b else None

    def _schedule(self, g: _Group, now: float):
        g.token += 1
        nxt = self._next(g, now)
        if nxt is None or nxt[0] >= self.horizon:
            return
        ev = self.env.timeout(nxt[0] - now)
        token, cause = g.token, self.causes[nxt[1]]
        ev.callbacks.append(lambda _e: self._step(g, token, cause))

    def _step(self, g: _Group, token: int, cause: str):
        if token == g.token:  # not superseded by a holder's change since it was scheduled
            self._update(g, cause)

    def _update(self, g: _Group, cause: str):
        now = self.env.now
        serving = self._serving(g, now)
        if serving != g.serving:
            g.serving = serving
            services = self.bank.services
            # the service reads its nodes only through ``up >= needs``: keep that side of it
            services.cells[g.ci].up[g.k] = g.needs if serving else g.needs - 1
            services.changed(g.ci, cause)
        self._schedule(g, now)

    # ------------------------------------------------------------------ holders (events)
    def held(self, s: int, down: bool, cause: str):
        """Server ``s``'s first holder came (``down``) or its last one left."""
        g = self.group_of[s]
        g.held += 1 if down else -1
        if g.serving and not g.hi and g.crit - g.held >= 2:
            return  # never two of its nodes down at once by their own failures: still serving
        self._update(g, cause)

    def hold_many(self, servers: list[int], down: bool, cause: str):
        """One more holder of each of ``servers`` (``down``) or one fewer: a correlated group.

        ``Replication.server_fail`` / ``server_repair`` for each, in one loop, each service
        looked at once after all of them.
        """
        count, group_of = self.bank.server_down, self.group_of
        touched = {}  # the groups, in the order first touched (keyed by the group itself)
        step, edge = (1, 1) if down else (-1, 0)
        for s in servers:
            count[s] += step
            if count[s] == edge:
                g = group_of[s]
                g.held += step
                touched[g] = None
        for g in touched:
            if not (g.serving and not g.hi and g.crit - g.held >= 2):
                self._update(g, cause)
