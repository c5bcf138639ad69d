"""Services inside the cells during a replication: which are up, and what share of each kind fails.

Each cell with services keeps, per service, its nodes up and (``database: own``) its own replica
set, run by the same failover machine as a cell's set (``sim.engine.replica_set``, on a small
stand-in for a cell). A service serves reads when ``needs`` of its nodes are up and its own set
serves reads, transfers when its own set takes writes (no own set: nodes only); a down service
with a fallback that serves counts as serving. A type fails in a cell when any service on its
path does not serve it; ``effective`` turns that into the four fractions of
``sim.engine.service_ledger`` (its docstring has the formulas). Work per event: the cell's
types x path length, a constant of the scenario, and only when a service's state changes.
"""

from __future__ import annotations

from types import SimpleNamespace

from sim.engine.plan_cache import PlanCache
from sim.engine.replica_set import ReplicaSets
from sim.scenario.services import transaction_types

__all__ = ["ServiceStates", "kind_shares", "service_kinds", "TIER"]

# the tier whose failure models a service's servers follow (failures.components)
TIER = {"svc": "app", "svcdb": "db"}

_WRITES = {"reads": False, "intra_cell": True, "cross_cell": True}


def kind_shares(types) -> SimpleNamespace:
    """Bank-wide share of each built-in kind, user types added to the kind they are like."""
    out = {"reads": 0.0, "intra_cell": 0.0, "cross_cell": 0.0}
    for t in types:
        out[t.like] += t.share
    return SimpleNamespace(**out)


def service_kinds(sc) -> SimpleNamespace:
    """The ledger's kind shares for a scenario with services (user types included)."""
    return kind_shares(transaction_types(sc.workload, []))


class _OwnDb:
    """A service's own replica set, shaped like ``CellState`` for ``ReplicaSets``."""

    def __init__(self, cell: int, slot: int, sp):
        self.index = cell
        self.slot = slot   # the service's position in its cell
        self.key = f"cell[{cell}].svc[{sp.name}].db.failover"
        self.spec = SimpleNamespace(db=sp.db_spec, app=SimpleNamespace(min_nodes=0))
        self.db = sp.db
        self.quorum = sp.db_spec.quorum
        self.primary = sp.db[0]
        self.failing_over = self.detected = False
        self.n_up = len(sp.db)
        self.app_up = 0
        self.async_since = None
        self.stall = self.maint = self.maint_all = self.bad = 0
        self.bad_impacts: list[float] = []
        self.w = self.r = 0.0
        # the rules ReplicaSets.update reads from a CellState, looked up once
        self.app_min = 0
        self.degrade_async = sp.db_spec.on_quorum_loss == "degrade-async"
        self.reads_in_failover = bool(sp.db_spec.reads_during_failover)
        self.writes_failed = self.reads_failed = 0.0


class _OwnDbSets(ReplicaSets):
    """The failover machine on services' own sets: each draws from its own stream."""

    always_set = True  # ServiceStates.set_cell keeps each own set's fractions (own.w, own.r)

    def _cell_rng(self, c):
        rng = self._cell_streams.get(c.key)
        if rng is None:
            rng = self._cell_streams[c.key] = self.streams.stream(c.key)
        return rng


def _shape(cp, types) -> tuple:
    """A cell's services as the scenario fixes them: ``(names, needs, nodes, fallbacks, kinds,
    positions with an own set)`` (read-only: ``_Cell``s of every replication share them)."""
    names = [sp.name for sp in cp.services]
    pos = {n: k for k, n in enumerate(names)}
    needs = [sp.spec.needs for sp in cp.services]
    nodes = [list(sp.nodes) for sp in cp.services]   # server indices of each service's nodes
    fallback = [pos.get(sp.spec.fallback) for sp in cp.services]
    # per kind: [(q_t, service positions on t's path)] with q_t the share within the kind
    kinds: dict[str, list[tuple[float, tuple[int, ...]]]] = {}
    total = kind_shares(types)
    for t in types:
        q = t.share / getattr(total, t.like) if getattr(total, t.like) > 0 else 0.0
        kinds.setdefault(t.like, []).append((q, tuple(pos[n] for n, _ in t.path)))
    owned = tuple(k for k, sp in enumerate(cp.services) if sp.db)
    return names, needs, nodes, fallback, kinds, owned


# a memo of ``_Cell.refresh``'s shares holds at most this many states (then it stops growing)
_MEMO_MAX = 4096


class _Cell:
    """One cell's services: nodes up, own sets, fallbacks and the paths of its types."""

    def __init__(self, shape: tuple, memo: dict | None = None):
        self.names, self.needs, self.nodes, self.fallback, self.kinds, self.owned = shape
        # shared by the cells of the same services (``_build_shapes``); its own one if not given
        self.memo = {} if memo is None else memo
        self.up = [len(n) for n in self.nodes]
        self.own: list[_OwnDb | None] = [None] * len(self.names)
        self.down = {"reads": 0.0, "intra_cell": 0.0, "cross_cell": 0.0}

    def serves(self, k: int, writes: bool) -> bool:
        while k is not None:
            own = self.own[k]
            if self.up[k] >= self.needs[k] and (own is None or (own.w if writes else own.r) == 0.0):
                return True
            k = self.fallback[k]
        return False

    def refresh(self) -> bool:
        """Recompute each kind's failed share; whether any changed (no copy to compare with)."""
        # the shares are a function of the nodes up and whether each own set serves writes and
        # reads (and of the services' needs, fallbacks and paths: the same for every cell the
        # memo is shared by), so they are memoised on those: the same floats, computed once a
        # scenario (a webank year refreshes ~500 times, over a few states)
        own = self.own
        owned = self.owned
        if owned:
            key = (tuple(self.up), tuple([own[k].w == 0.0 for k in owned]),
                   tuple([own[k].r == 0.0 for k in owned]))
        else:
            key = tuple(self.up)
        memo = self.memo
        shares = memo.get(key)
        if shares is None:
            shares = self._shares()
            if len(memo) < _MEMO_MAX:
                memo[key] = shares
        changed = False
        down = self.down
        for kind, share in zip(self.kinds, shares):
            if share != down[kind]:
                down[kind] = share
                changed = True
        return changed

    def _shares(self) -> tuple[float, ...]:
        """Each kind's failed share (in ``kinds`` order) as the services stand now."""
        # what each service serves depends only on reads or writes: computed once for each
        # (intra- and cross-cell transfers share it), a path checked by map (no generator frame)
        out = []
        by_writes: dict[bool, list[bool]] = {}
        for kind, types in self.kinds.items():
            writes = _WRITES[kind]
            ok = by_writes.get(writes)
            if ok is None:
                # ``serves`` with its first test inline (most services serve): the fallback
                # chain is walked only for one that does not
                ok = by_writes[writes] = [
                    (u >= n and (o is None or (o.w if writes else o.r) == 0.0)) or self.serves(k, writes)
                    for k, (u, n, o) in enumerate(zip(self.up, self.needs, self.own))]
            out.append(sum([q for q, path in types if not all(map(ok.__getitem__, path))]))
        return tuple(out)


# each cell's services (``_shape``, from its transaction types) and each service server's slot:
# scenario constants, built once per plan rather than once per replication (the types were ~half
# of a replication's set-up, the rest ~1 ms a webank year)
_SHAPES = PlanCache()


def _shapes(sc, plan) -> tuple[dict[int, tuple], dict[int, tuple[int, int, bool]]]:
    return _SHAPES.get(plan, (sc.workload,), lambda: _build_shapes(sc, plan))


def _build_shapes(sc, plan):
    shapes, slot = {}, {}
    memos: dict[tuple, dict] = {}  # what ``_Cell.refresh`` reads of a shape -> its memo
    for cp in plan.cells:
        if not cp.services:
            continue
        shape = _shape(cp, transaction_types(sc.workload, cp.spec.services))
        _, needs, _, fallback, kinds, owned = shape
        reads = (tuple(needs), tuple(fallback), owned,
                 tuple((kind, tuple(types)) for kind, types in kinds.items()))
        shapes[cp.index] = (shape, memos.setdefault(reads, {}))
        for k, sp in enumerate(cp.services):
            for s in sp.nodes + sp.db:
                slot[s] = (cp.index, k, plan.servers[s].role == "svc")
    return shapes, slot


class ServiceStates:
    """The services of every cell of one replication, and the ledger's per-path fractions."""

    def __init__(self, bank):
        """After ``bank.ledger`` (a ``ServiceLedger``) exists; hooks itself into it."""
        self.bank = bank
        bank.ledger.services = self
        plan = bank.plan
        self.cells: dict[int, _Cell] = {}
        # server -> (cell, service position, a node rather than a replica of its own set): shared
        shapes, self.slot = _shapes(bank.sc, plan)
        own = []
        for cp in plan.cells:
            if not cp.services:
                continue
            cell = self.cells[cp.index] = _Cell(*shapes[cp.index])
            for k, sp in enumerate(cp.services):
                if sp.db:
                    cell.own[k] = _OwnDb(cp.index, k, sp)
                    own.append(cell.own[k])
        self.db_sets = _OwnDbSets(bank.env, own, self, bank.streams, bank.server_down, bank.warm)

    def effective(self, i: int, w: float, r: float) -> tuple[float, float, float, float]:
        """(w_c, r_c, x_c, d_c) of cell i given its front tier and db fail w and r."""
        cell = self.cells.get(i)
        if cell is None:
            return w, r, w, w
        d = cell.down
        intra, reads, cross = d["intra_cell"], d["reads"], d["cross_cell"]
        if intra == 0.0 and reads == 0.0 and cross == 0.0:  # every path up (most of the time):
            return w, r, w, w                                  # _both(x, 0.0) is x
        return _both(w, intra), _both(r, reads), _both(w, cross), w

    def changed(self, ci: int, cause: str):
        """A service of cell ``ci`` may have changed what it serves: refresh its paths."""
        if self.cells[ci].refresh():
            led = self.bank.ledger
            led.set_cell(self.bank.cells[ci], led.base_w[ci], led.base_r[ci], cause, self.bank.env._now)

    def set_cell(self, own: _OwnDb, w: float, r: float, cause: str, now: float):
        """``ReplicaSets`` reports a service's own set: it fails w of writes, r of reads."""
        if (own.w, own.r) != (w, r):
            own.w, own.r = w, r
            self.changed(own.index, cause)

    update_cell = set_cell  # what ``ReplicaSets.update`` calls: this one compares already

    def server(self, s: int, delta: int, cause: str):
        """Server ``s`` (role svc or svcdb) went down (delta -1) or came back (+1)."""
        ci, k, node = self.slot[s]
        cell = self.cells[ci]
        if node:
            # a service's state reads its nodes only through ``up >= needs``: while that holds
            # (or fails) on both sides of the change, no path changes (most node failures)
            was = cell.up[k] >= cell.needs[k]
            cell.up[k] += delta
            if (cell.up[k] >= cell.needs[k]) != was:
                self.changed(ci, cause)
        else:
            self.db_sets.replica_changed(cell.own[k], delta, cause)

    def close(self, horizon: float):
        self.db_sets.close(horizon)
        self.bank.replica_sets.rpo_exposure += self.db_sets.rpo_exposure


def _both(base: float, path: float) -> float:
    """Failed share when the front tier/db fail ``base`` and the path ``path``, independently."""
    if path == 0.0:
        return base
    if base == 0.0:
        return path
    return 1.0 - (1.0 - base) * (1.0 - path)
