"""The scenario's ``cost:`` section: unit prices, with one currency, for the yearly IT cost.

Node counts come from the topology (app nodes, DB replicas, GNS replicas, bus nodes) plus
what only the cost model knows about: the admin zone and spares. Each role runs on a server
class (capex amortised over years, power, cores); on top come power (W x PUE x price per
kWh), rack space, a network share, software licences (per core or per server), operations
staff (one engineer per N servers) and fixed yearly items. ``cloud`` replaces owned servers
(capex, power, space, network) with a price per vCPU-year.

See ``sim.cost`` for the arithmetic and the breakdown.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sim.scenario.base import Strict
from sim.scenario.types import Fraction, Number, PosInt, PosNumber

__all__ = ["ServerClass", "Power", "Space", "Network", "License", "Staff", "Cloud", "FixedItem",
           "AdminZone", "CompareWith", "CostSpec", "ROLES"]

ROLES = ("app", "db", "gns", "bus", "admin", "spares")


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


class Network(Strict):
    share_of_server_capex: Fraction = Field(0.0, description="network gear as a share of yearly server capex")
    per_server_per_year: Number = Field(0.0, ge=0, description="or a flat yearly amount per server")


class License(Strict):
    name: str = Field(min_length=1, max_length=64)
    per: Literal["core", "server"] = "core"
    price: Number = Field(ge=0, description="one-time licence price per unit (amortised like capex)")
    amortization_years: PosNumber = Field(5.0)
    support_per_year: Number = Field(0.0, ge=0, description="yearly support per unit")
    core_factor: PosNumber = Field(1.0, description="licences per core (e.g. Oracle x86 core factor 0.5)")
    roles: list[Literal["app", "db", "gns", "bus", "admin", "spares"]] = Field(default_factory=lambda: ["db"])


class Staff(Strict):
    servers_per_engineer: PosNumber | None = Field(None, description="one operations engineer per N servers")
    salary_per_year: Number = Field(0.0, ge=0, description="fully loaded cost of one engineer-year")
    min_engineers: Number = Field(0.0, ge=0, description="floor: on-call needs people even for few servers")


class Cloud(Strict):
    price_per_vcpu_year: Number = Field(ge=0, description="instead of owned servers: price of one vCPU-year")
    vcpus_per_core: PosNumber = Field(2.0, description="vCPUs (hyperthreads) per physical core of the class")


class FixedItem(Strict):
    name: str = Field(min_length=1, max_length=64)
    per_year: Number = Field(ge=0)
    role: Literal["app", "db", "gns", "bus", "admin", "spares", "shared"] = "shared"


class AdminZone(Strict):
    servers: int = Field(0, ge=0, le=1_000_000, description="servers of the admin zone (ADM: batch, reporting)")


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
        return self

    def class_of(self, role: str) -> str:
        if role in self.roles:
            return self.roles[role]
        if "default" in self.server_classes:
            return "default"
        return next(iter(self.server_classes))
