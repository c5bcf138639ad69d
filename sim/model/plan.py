"""The bank as a tree of named components, built from a validated Scenario.

``build_bank(scenario)`` resolves cell templates and per-cell overrides, places every DB
replica, app node, GNS replica and bus node in an IDC, groups servers into racks and power
domains, and gives each component its scope name (``cell[3].db.replica[1]``), which is also
how ``chaos:`` entries and errors name it. The result is plain data; the engine
(``sim.engine``) adds behaviour.

A cell's services (``sim.scenario.services``) add their nodes (role ``svc``, scope
``cell[3].svc[ledger].node[1]``) and, with ``database: own``, their replicas (role ``svcdb``,
``cell[3].svc[ledger].db.replica[0]``), after the cell's own servers. ``servers_by_role`` is
the one list of a plan's servers by role (cost counts from it): one role per service,
``svc:<name>``, its own replicas included. ``override_layers`` finds the failure-model overrides
(``sim.scenario.failure_models``) that apply to a server; its ``hardware`` (a cost server class,
None = its role's) is resolved here once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.errors import ScenarioError
from sim.scenario.database import Database
from sim.scenario.model import CellSpec, Scenario
from sim.scenario.services import Service

__all__ = ["Server", "ServicePlan", "CellPlan", "BankPlan", "build_bank", "servers_by_role", "override_layers"]


@dataclass
class Server:
    """One machine: a DB replica, an app node, a GNS replica or a bus node."""

    index: int            # global index in BankPlan.servers
    scope: str            # e.g. cell[3].db.replica[1]
    role: str             # db | app | gns | bus | svc | svcdb
    idc: int              # index into BankPlan.idcs
    cell: int | None = None
    member: int = 0       # replica / node number within its group
    rack: int = -1
    power: int = -1
    service: str | None = None   # svc / svcdb: the service's name
    hardware: str | None = None  # cost server class from an override (None: its role's class)


@dataclass
class ServicePlan:
    """One service of one cell: its nodes and, with ``database: own``, its replica set."""

    name: str
    spec: Service
    nodes: list[int] = field(default_factory=list)   # server indices
    db: list[int] = field(default_factory=list)      # server indices of its own replicas
    db_spec: Database | None = None                  # its own set (database: own)


@dataclass
class CellPlan:
    index: int
    spec: CellSpec
    share: float                      # fraction of accounts (and traffic) this cell serves
    db: list[int] = field(default_factory=list)    # server indices of replicas
    app: list[int] = field(default_factory=list)   # server indices of app nodes
    services: list[ServicePlan] = field(default_factory=list)


@dataclass
class BankPlan:
    idcs: list[str]
    idc_region: list[int]
    regions: list[str]
    cells: list[CellPlan]
    servers: list[Server]
    gns: list[int]
    bus: list[int]
    racks: list[list[int]]            # server indices per rack
    power_domains: list[list[int]]    # rack indices per power domain

    def idc_index(self, name: str) -> int:
        return self.idcs.index(name)

    @property
    def has_services(self) -> bool:
        return any(c.services for c in self.cells)

    def db_spec_of(self, s: int) -> Database:
        """The replica set a db or svcdb server belongs to."""
        srv = self.servers[s]
        cell = self.cells[srv.cell]
        if srv.role == "svcdb":
            return next(sp.db_spec for sp in cell.services if sp.name == srv.service)
        return cell.spec.db


def override_layers(topology, plan: BankPlan, srv: Server) -> tuple:
    """The overrides that apply to one server, outermost first: cell, service, replica."""
    if srv.cell is None:
        svc = topology.gns if srv.role == "gns" else topology.bus
        return (svc.failures,)
    cell = plan.cells[srv.cell]
    service = next((sp.spec for sp in cell.services if sp.name == srv.service), None) if srv.service else None
    member = None
    if srv.role in ("db", "svcdb"):
        member = next((m.failures for m in plan.db_spec_of(srv.index).members if m.replica == srv.member), None)
    return (cell.spec.failures, service.failures if service else None, member)


def servers_by_role(plan: BankPlan) -> dict[str, int]:
    """Servers of the plan per role: app, db, gns, bus, then ``svc:<name>`` per service."""
    counts = {"app": 0, "db": 0, "gns": len(plan.gns), "bus": len(plan.bus)}
    for c in plan.cells:
        counts["app"] += len(c.app)
        counts["db"] += len(c.db)
        for sp in c.services:
            key = f"svc:{sp.name}"
            counts[key] = counts.get(key, 0) + len(sp.nodes) + len(sp.db)
    return counts


def _place(plist: list[str], n: int, idcs: list[str]) -> list[int]:
    names = plist or idcs
    return [idcs.index(names[i % len(names)]) for i in range(n)]


def build_bank(sc: Scenario) -> BankPlan:
    """Resolve the scenario's topology into a BankPlan (deterministic; no randomness)."""
    topo = sc.topology
    idcs, idc_region, regions = [], [], []
    for ri, region in enumerate(topo.regions):
        regions.append(region.name)
        for idc in region.idcs:
            idcs.append(idc.name)
            idc_region.append(ri)
    specs = topo.cells.specs()  # validated with the scenario: cannot fail here
    if sc.workload.mapping == "range":
        total_w = sum(s.weight for s in specs)
        shares = [s.weight / total_w for s in specs]
    else:
        shares = [1.0 / len(specs)] * len(specs)

    servers: list[Server] = []

    def add(scope, role, idc, cell=None, member=0, service=None):
        servers.append(Server(len(servers), scope, role, idc, cell, member, service=service))
        return len(servers) - 1

    cells = []
    for ci, spec in enumerate(specs):
        for p in spec.db.placement + spec.app.placement:
            if p not in idcs:
                raise ScenarioError(f"unknown IDC {p!r} (known: {', '.join(idcs)})",
                                    path=f"topology.cells (cell {ci}) placement")
        cp = CellPlan(ci, spec, shares[ci])
        for k, idc in enumerate(_place(spec.db.placement, spec.db.replicas, idcs)):
            cp.db.append(add(f"cell[{ci}].db.replica[{k}]", "db", idc, ci, k))
        for k, idc in enumerate(_place(spec.app.placement, spec.app.nodes, idcs)):
            cp.app.append(add(f"cell[{ci}].app.node[{k}]", "app", idc, ci, k))
        for svc in spec.services:
            sp = ServicePlan(svc.name, svc)
            scope = f"cell[{ci}].svc[{svc.name}]"
            for k, idc in enumerate(_place(svc.placement, svc.nodes, idcs)):
                sp.nodes.append(add(f"{scope}.node[{k}]", "svc", idc, ci, k, svc.name))
            if svc.database == "own":
                sp.db_spec = svc.db or spec.db
                for k, idc in enumerate(_place(sp.db_spec.placement, sp.db_spec.replicas, idcs)):
                    sp.db.append(add(f"{scope}.db.replica[{k}]", "svcdb", idc, ci, k, svc.name))
            cp.services.append(sp)
        cells.append(cp)
    gns = [add(f"gns.replica[{k}]", "gns", idc, None, k)
           for k, idc in enumerate(_place(topo.gns.placement, topo.gns.replicas, idcs))] if topo.gns else []
    bus = [add(f"bus.node[{k}]", "bus", idc, None, k)
           for k, idc in enumerate(_place(topo.bus.placement, topo.bus.replicas, idcs))] if topo.bus else []

    # racks: fill each IDC's servers in declaration order, servers_per_rack at a time
    racks: list[list[int]] = []
    power: list[list[int]] = []
    for ii in range(len(idcs)):
        members = [s.index for s in servers if s.idc == ii]
        first_rack = len(racks)
        for k in range(0, len(members), topo.servers_per_rack):
            racks.append(members[k:k + topo.servers_per_rack])
        idc_racks = list(range(first_rack, len(racks)))
        for k in range(0, len(idc_racks), topo.racks_per_power_domain):
            power.append(idc_racks[k:k + topo.racks_per_power_domain])
    plan = BankPlan(idcs, idc_region, regions, cells, servers, gns, bus, racks, power)
    for srv in servers:  # the innermost override naming a class wins
        for layer in override_layers(topo, plan, srv):
            if layer is not None and layer.hardware is not None:
                srv.hardware = layer.hardware
    for ri, rack in enumerate(racks):
        for s in rack:
            servers[s].rack = ri
    for pi, dom in enumerate(power):
        for r in dom:
            for s in racks[r]:
                servers[s].power = pi
    return plan
