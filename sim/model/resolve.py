"""Resolve a typed chaos target (``sim.scenario.chaos.ChaosTarget``) to servers of a ``BankPlan``.

The plan names every server by scope (``cell[3].db.replica[1]``, ``gns.replica[0]``); a target
names a scope or a group of them. Roles that change during a run (which member is the primary)
are not in the plan: the caller passes ``primary_of(cell)``, read at the moment the fault starts,
as the live injector reads Patroni's roles at that moment.

| target                   | servers                                                         |
|--------------------------|-----------------------------------------------------------------|
| cell[i] / cell[*]        | every DB replica and app node of the cell(s)                    |
| cell[i].db               | every DB replica of the cell                                    |
| cell[i].db.primary       | the current primary (none while the cell fails over)            |
| cell[i].db.sync_standby  | the first replica that is not the current primary               |
| cell[i].db.replica[k]    | replica k                                                       |
| cell[i].app[.node[k]]    | every app node | app node k                                     |
| idc[name]                | every server placed in that IDC (DB, app, GNS, bus)             |
| gns, bus                 | every GNS replica, every bus node                               |
| etcd...                  | none: the consensus store is not a server of the model          |
"""

from __future__ import annotations

from typing import Callable

from sim.model.plan import BankPlan
from sim.scenario.chaos import ChaosTarget

__all__ = ["resolve_servers"]


def _initial_primary(plan: BankPlan) -> Callable[[int], int | None]:
    return lambda ci: plan.cells[ci].db[0] if plan.cells[ci].db else None


def resolve_servers(target: ChaosTarget, plan: BankPlan,
                    primary_of: Callable[[int], int | None] | None = None) -> list[int]:
    """Server indices (``plan.servers``) that ``target`` names now, in plan order per cell.

    ``primary_of(cell)``: the cell's current primary server index, or None while it has none;
    default: the plan's first replica (the primary at the start of a run). Validation guarantees
    that indices exist; an index beyond a cell is still skipped, never an IndexError.
    """
    primary_of = primary_of or _initial_primary(plan)
    if target.part == "cell":
        out: list[int] = []
        for ci in target.cell_indices(len(plan.cells)):
            if not 0 <= ci < len(plan.cells):
                continue
            c = plan.cells[ci]
            if target.tier is None:
                out += c.db + c.app
            elif target.tier == "app":
                out += c.app if target.member is None else c.app[target.index:target.index + 1]
            elif target.member is None:
                out += c.db
            elif target.member == "replica":
                out += c.db[target.index:target.index + 1]
            else:
                p = primary_of(ci)
                if target.member == "primary":
                    out += [] if p is None else [p]
                else:  # sync_standby
                    out += [s for s in c.db if s != p][:1]
        return out
    if target.part == "idc":
        ii = plan.idc_index(target.idc)
        return [s.index for s in plan.servers if s.idc == ii]
    if target.part == "gns":
        return list(plan.gns)
    if target.part == "bus":
        return list(plan.bus)
    return []  # etcd
