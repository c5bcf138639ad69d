"""Capacity of the services inside cells: each path's, and the mix's, all up and with an IDC lost.

A service of ``n`` nodes serves ``n x c`` calls/s, with ``c`` its ``capacity_tps`` or, from
its CPU ``demand`` per call, ``cores / demand`` (``capacity.app_node.cores``; 16 without a
``capacity:`` section). A type calling service s ``calls_s`` times per transaction can run at
most ``cap_s / calls_s`` tx/s through it, so a path's capacity is the tightest service::

    path capacity (tx/s per cell) = min over s on the path of cap_s / calls_s

and the cell's capacity under the mix is the tightest service for the mix's fan-out::

    mix capacity (tx/s per cell) = min over s of cap_s / sum_t share_t calls_t,s

A service with neither ``capacity_tps`` nor ``demand`` never binds. With an IDC lost, a service
keeps its nodes outside that IDC (a service then below ``needs`` serves nothing). The bank's
figures add the cells'. Reported as ``throughput.services`` in summary.json, and folded into the
headline ``throughput.capacity_tps`` (``sim.capacity.throughput``): a cell serves the smaller of
its front tier/db capacity and its services' mix capacity (``cell_mix_capacity``). The engine's
capacity overlay (``sim.capacity.model``) still sheds on the cell's front tier and db only.
"""

from __future__ import annotations

import math

from sim.model import BankPlan
from sim.scenario.services import transaction_types

__all__ = ["service_capacity", "path_capacity", "cell_mix_capacity", "services_summary"]


def _per_node(spec, cores: int) -> float:
    if spec.capacity_tps is not None:
        return spec.capacity_tps
    if spec.demand:
        return cores / spec.demand
    return math.inf


def service_capacity(plan: BankPlan, cell: int, cores: int, lost_idc: int | None = None) -> dict[str, float]:
    """Calls/s each service of one cell serves (all up, or without the nodes of ``lost_idc``)."""
    out = {}
    for sp in plan.cells[cell].services:
        up = sum(1 for s in sp.nodes if plan.servers[s].idc != lost_idc)
        out[sp.name] = up * _per_node(sp.spec, cores) if up >= sp.spec.needs else 0.0
    return out


def path_capacity(caps: dict[str, float], path) -> tuple[float, str | None]:
    """(tx/s, bottleneck service) of one path given each service's calls/s."""
    best, which = math.inf, None
    for name, calls in path:
        v = caps[name] / calls
        if v < best:
            best, which = v, name
    return best, which


def _mix(caps: dict[str, float], types) -> tuple[float, str | None]:
    load: dict[str, float] = {}
    for t in types:
        for name, calls in t.path:
            load[name] = load.get(name, 0.0) + t.share * calls
    return path_capacity(caps, [(n, v) for n, v in load.items() if v > 0])


def cell_mix_capacity(sc, plan: BankPlan, lost_idc: int | None = None) -> list[tuple[float, str | None]]:
    """Per cell, (tx/s, bottleneck service) of its services under the mix; (inf, None) for a
    cell without services (it is bound by its front tier and db only)."""
    cores = sc.capacity.app_node.cores if sc.capacity is not None else 16
    out = []
    for c in plan.cells:
        if not c.services:
            out.append((math.inf, None))
            continue
        types = transaction_types(sc.workload, c.spec.services)
        out.append(_mix(service_capacity(plan, c.index, cores, lost_idc), types))
    return out


def _finite(v: float):
    return v if math.isfinite(v) else None   # JSON has no infinity: null = never binds


def services_summary(sc, plan: BankPlan) -> dict:
    """summary.json ``throughput.services``: per type and for the mix, all up and N-1 IDC."""
    cores = sc.capacity.app_node.cores if sc.capacity is not None else 16
    cells = [c.index for c in plan.cells if c.services]
    types = {c: transaction_types(sc.workload, plan.cells[c].spec.services) for c in cells}
    names = [t.name for t in types[cells[0]]]

    def bank(lost):
        per_type = {n: [0.0, set()] for n in names}
        mix = [0.0, set()]
        for c in cells:
            caps = service_capacity(plan, c, cores, lost)
            for t in types[c]:
                v, b = path_capacity(caps, t.path)
                per_type[t.name][0] += v
                per_type[t.name][1].add(b)
            v, b = _mix(caps, types[c])
            mix[0] += v
            mix[1].add(b)
        return per_type, mix

    up_t, up_mix = bank(None)
    worst = None
    for i, idc in enumerate(plan.idcs):
        t_i, mix_i = bank(i)
        if worst is None or mix_i[0] < worst[2][0]:
            worst = (idc, t_i, mix_i)
    out = {"cells_with_services": len(cells),
           "capacity_tps": _finite(up_mix[0]),
           "bottleneck": sorted(b for b in up_mix[1] if b),
           "capacity_tps_n_minus_1_idc": _finite(worst[2][0]),
           "worst_idc": worst[0],
           "paths": {}}
    for n in names:
        out["paths"][n] = {"capacity_tps": _finite(up_t[n][0]),
                           "bottleneck": sorted(b for b in up_t[n][1] if b),
                           "capacity_tps_n_minus_1_idc": _finite(worst[1][n][0])}
    return out
