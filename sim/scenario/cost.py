"""The scenario's ``cost:`` section: unit prices, with one currency, for the yearly IT cost.

Production node counts come from the topology (``sim.model.plan``: app nodes, DB replicas,
GNS replicas, bus nodes, and the nodes of each cell's services once cells declare them) plus
what only the cost model knows about:

* ``fleet``: the bank's systems *outside* the simulated transaction path, as server counts by
  server class: ``per_cell`` (in every cell: a DCN's other business systems and their
  databases) and ``bank`` (once: admin zone, data platform, risk, office systems);
* ``admin_zone`` (kept for older scenarios: the same as a ``fleet.bank`` entry ``admin``) and
  ``spares`` (a share of every production server);
* ``environments``: every other environment (remote/DR region, test, staging, grey release),
  each either a multiple of production (``of_production``), a number of cells' worth
  (``cells``), or an explicit fleet (``servers`` of ``server_class``), optionally restricted
  to some roles or systems (``only``).

Each server runs on a server class (capex amortised over years, power, cores); on top come
facilities (power: W x PUE x price per kWh; rack space), network (a share of server capex, a
flat amount per server, and named links such as inter-IDC and inter-region circuits),
software licences (per core or per server, on named roles or fleet systems), operations
staff (not R&D: one engineer per N servers, or an explicit headcount) and fixed yearly items.
``cloud`` replaces owned servers (capex, power, space, network) with a price per vCPU-year.

See ``sim.cost`` for the arithmetic and the breakdown.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sim.scenario.base import Strict
from sim.scenario.types import Fraction, Number, PosInt, PosNumber

__all__ = ["ServerClass", "Power", "Space", "Network", "Link", "License", "Staff", "Cloud", "FixedItem",
           "AdminZone", "FleetItem", "Fleet", "Environment", "CompareWith", "CostSpec", "ROLES",
           "PRODUCTION"]

ROLES = ("app", "db", "gns", "bus", "admin", "spares")
PRODUCTION = "production"   # the environment the topology describes


class ServerClass(Strict):
    capex: Number = Field(ge=0, description="purchase price of one server, in cost.currency")
    amortization_years: PosNumber = Field(4.0, description="years over which capex is spread")
    power_w: Number = Field(500.0, ge=0, description="average electrical draw, watts")
    cores: PosInt = Field(32, description="physical cores (per-core licences, cloud vCPUs)")
    maintenance_per_year: Number = Field(0.0, ge=0, description="vendor support contract per server-year")
    rack_units: PosNumber = Field(1.0, description="space taken, in server slots of a rack (servers_per_rack)")


class Power(Strict):
    price_per_kwh: Number = Field(0.0, ge=0)
    pue: Number = Field(1.5, ge=1.0, le=5.0, description="power usage effectiveness (facility / IT power)")


class Space(Strict):
    per_rack_per_year: Number = Field(0.0, ge=0, description="colocation or building cost of one rack-year")
    servers_per_rack: PosInt | None = Field(None, description="default: topology.servers_per_rack")


class Link(Strict):
    """A leased or owned circuit priced per year (inter-IDC fibre, inter-region line, internet)."""

    name: str = Field(min_length=1, max_length=64)
    count: Number = Field(1.0, ge=0, description="how many such links")
    per_year: Number = Field(ge=0, description="yearly price of one link, in cost.currency")
    environment: str = Field(PRODUCTION, min_length=1, max_length=64,
                             description="environment the link is charged to (production or a cost.environments name)")


class Network(Strict):
    share_of_server_capex: Fraction = Field(0.0, description="network gear as a share of yearly server capex")
    per_server_per_year: Number = Field(0.0, ge=0, description="or a flat yearly amount per server")
    links: list[Link] = Field(default_factory=list, description="circuits priced per link-year (inter-IDC, inter-region)")


class License(Strict):
    name: str = Field(min_length=1, max_length=64)
    per: Literal["core", "server"] = "core"
    price: Number = Field(ge=0, description="one-time licence price per unit (amortised like capex)")
    amortization_years: PosNumber = Field(5.0)
    support_per_year: Number = Field(0.0, ge=0, description="yearly support per unit")
    core_factor: PosNumber = Field(1.0, description="licences per core (e.g. Oracle x86 core factor 0.5)")
    roles: list[str] = Field(default_factory=lambda: ["db"], max_length=64,
                             description="roles (app, db, gns, bus, admin, spares) or cost.fleet system names it covers")


class Staff(Strict):
    servers_per_engineer: PosNumber | None = Field(None, description="one operations engineer per N servers")
    salary_per_year: Number = Field(0.0, ge=0, description="fully loaded cost of one engineer-year")
    min_engineers: Number = Field(0.0, ge=0, description="floor: on-call needs people even for few servers")
    engineers: Number | None = Field(None, ge=0, description="explicit operations headcount (not R&D); "
                                     "replaces servers_per_engineer, min_engineers stays a floor")


class Cloud(Strict):
    price_per_vcpu_year: Number = Field(ge=0, description="instead of owned servers: price of one vCPU-year")
    vcpus_per_core: PosNumber = Field(2.0, description="vCPUs (hyperthreads) per physical core of the class")


class FixedItem(Strict):
    name: str = Field(min_length=1, max_length=64)
    per_year: Number = Field(ge=0)
    role: Literal["app", "db", "gns", "bus", "admin", "spares", "fleet", "shared"] = "shared"
    environment: str = Field(PRODUCTION, min_length=1, max_length=64,
                             description="environment the item is charged to (production or a cost.environments name)")


class AdminZone(Strict):
    servers: int = Field(0, ge=0, le=1_000_000, description="servers of the admin zone (ADM: batch, reporting)")


class FleetItem(Strict):
    """A group of servers of one system (or family of systems) outside the transaction path."""

    servers: int = Field(ge=0, le=10_000_000, description="servers of this system group (per cell, or bank-wide)")
    server_class: str | None = Field(None, description="a cost.server_classes name; default: the class of role admin")


class Fleet(Strict):
    per_cell: dict[str, FleetItem] = Field(default_factory=dict,
                                           description="system groups present in every cell (DCN), servers per cell")
    bank: dict[str, FleetItem] = Field(default_factory=dict,
                                       description="system groups present once for the whole bank (admin zone, data platform)")


class Environment(Strict):
    """A non-production environment, sized relative to production or explicitly (give one of three)."""

    of_production: Number | None = Field(None, ge=0, le=100,
                                          description="servers = this multiple of each production group (rounded up)")
    cells: Number | None = Field(None, ge=0, le=100_000,
                                 description="servers = this many cells' worth of every per-cell group (rounded up)")
    servers: int | None = Field(None, ge=0, le=10_000_000, description="an explicit number of servers")
    server_class: str | None = Field(None, description="class of the explicit servers; default: the class of role admin")
    only: list[str] = Field(default_factory=list, max_length=64,
                            description="restrict of_production/cells to these roles or fleet systems (default: all but spares)")
    licensed: bool = Field(True, description="whether cost.licenses apply to this environment's servers")

    @model_validator(mode="after")
    def _one_size(self):
        given = [k for k in ("of_production", "cells", "servers") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of of_production, cells, servers"
                             + (f" (found {', '.join(given)})" if given else ""))
        if self.servers is None and self.server_class is not None:
            raise ValueError("server_class applies only to explicit servers")
        if self.servers is not None and self.only:
            raise ValueError("only applies to of_production and cells, not to explicit servers")
        return self


class CompareWith(Strict):
    """A cheaper (or dearer) variant of this scenario, for the cost of each extra nine."""

    name: str = Field(min_length=1, max_length=128)
    set: dict = Field(default_factory=dict, description="dotted.key: value overrides, like --set")


class CostSpec(Strict):
    currency: str = Field("CNY", min_length=3, max_length=3, pattern=r"^[A-Z]{3}$")
    accounts: PosNumber | None = Field(None, description="accounts to divide by; default: workload.accounts")
    server_classes: dict[str, ServerClass] = Field(min_length=1)
    roles: dict[Literal["app", "db", "gns", "bus", "admin", "spares"], str] = Field(
        default_factory=dict, description="server class of each role; a missing role uses 'default' or the only class")
    admin_zone: AdminZone = Field(default_factory=AdminZone)
    fleet: Fleet = Field(default_factory=Fleet, description="production systems outside the transaction path")
    environments: dict[str, Environment] = Field(default_factory=dict,
                                                 description="non-production environments (DR region, test, staging, grey)")
    spares: Fraction = Field(0.0, description="spare servers as a share of all other servers (rounded up)")
    power: Power = Field(default_factory=Power)
    space: Space = Field(default_factory=Space)
    network: Network = Field(default_factory=Network)
    licenses: list[License] = Field(default_factory=list)
    staff: Staff = Field(default_factory=Staff)
    cloud: Cloud | None = None
    fixed: list[FixedItem] = Field(default_factory=list)
    compare_with: CompareWith | None = None

    @model_validator(mode="after")
    def _classes(self):
        for role, cls in self.roles.items():
            if cls not in self.server_classes:
                raise ValueError(f"roles.{role}: unknown server class {cls!r} (known: {', '.join(self.server_classes)})")
        if len(self.server_classes) > 1 and "default" not in self.server_classes:
            missing = [r for r in ROLES if r not in self.roles]
            if missing:
                raise ValueError(f"roles: give a server class for {', '.join(missing)} "
                                 "(or name one class 'default')")
        systems = self.fleet_names()
        clash = [n for n in systems if n in ROLES or n == PRODUCTION]
        dup = set(self.fleet.per_cell) & set(self.fleet.bank)
        if clash or dup:
            raise ValueError(f"fleet: system name {sorted(set(clash) | dup)[0]!r} is a role or used twice")
        for where, item in [(f"fleet.per_cell.{n}", i) for n, i in self.fleet.per_cell.items()] + \
                [(f"fleet.bank.{n}", i) for n, i in self.fleet.bank.items()] + \
                [(f"environments.{n}", e) for n, e in self.environments.items()]:
            if item.server_class is not None and item.server_class not in self.server_classes:
                raise ValueError(f"{where}.server_class: unknown server class {item.server_class!r} "
                                 f"(known: {', '.join(self.server_classes)})")
        known = set(ROLES) | set(systems)
        for where, names in [(f"licenses[{i}].roles", lic.roles) for i, lic in enumerate(self.licenses)] + \
                [(f"environments.{n}.only", e.only) for n, e in self.environments.items()]:
            for name in names:
                if name not in known:
                    raise ValueError(f"{where}: {name!r} names no role or fleet system "
                                     f"(known: {', '.join(sorted(known))})")
        envs = {PRODUCTION, *self.environments}
        if PRODUCTION in self.environments:
            raise ValueError(f"environments: {PRODUCTION!r} is the topology itself, not an extra environment")
        for where, env in [(f"network.links[{i}].environment", lk.environment) for i, lk in enumerate(self.network.links)] + \
                [(f"fixed[{i}].environment", f.environment) for i, f in enumerate(self.fixed)]:
            if env not in envs:
                raise ValueError(f"{where}: unknown environment {env!r} (known: {', '.join(sorted(envs))})")
        return self

    def fleet_names(self) -> list[str]:
        """Names of the fleet's system groups, per-cell first."""
        return [*self.fleet.per_cell, *self.fleet.bank]

    def class_of(self, role: str) -> str:
        if role in self.roles:
            return self.roles[role]
        if "default" in self.server_classes:
            return "default"
        return next(iter(self.server_classes))
