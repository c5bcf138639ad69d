"""Yearly IT cost of a scenario's bank, per account, broken down by category, role, environment
and service (system).

The bank's servers are a list of *groups* (``FleetGroup``: environment, system, role, server
class, count). Production comes from the topology (``sim.model.build_bank``: every server of the
plan, grouped by its service when cells declare services, else by role: app nodes, DB replicas,
GNS replicas, bus nodes), plus ``cost.fleet`` (systems outside the transaction path, per cell or
bank-wide), the admin zone and spares (``cost.spares`` x every other production server, rounded
up). Each of ``cost.environments`` adds groups: ``of_production: x`` = ``ceil(x * n)`` of every
production group ``n`` (spares excepted; ``only`` restricts it), ``cells: k`` = ``ceil(n * k /
cells)`` of every per-cell group, ``servers: n`` = an explicit group named after the environment.

For ``n`` servers of a class the yearly cost is

* servers: ``n * (capex / amortization_years + maintenance_per_year)``
* power:   ``n * power_w * 8.76 kWh/W-yr * PUE * price_per_kwh``  (facilities: cooling via PUE)
* space:   ``n * rack_units / servers_per_rack * per_rack_per_year``  (facilities: building, racks)
* network: ``share_of_server_capex * yearly server capex + n * per_server_per_year``, plus each
  ``network.links`` entry ``count * per_year`` (inter-IDC, inter-region circuits)
* cloud (instead of servers, power, space and per-server network): ``n * cores * vcpus_per_core *
  price_per_vcpu_year``
* licenses: per unit (core x core_factor, or server) ``price / amortization_years + support``, on
  the groups whose role or system the licence names, in environments with ``licensed: true``
* staff:   operations (not R&D): ``max(min_engineers, engineers or servers / servers_per_engineer)
  * salary``, shared by groups in proportion to their servers
* fixed:   yearly items, on a role (or ``shared``) and an environment

Every breakdown (by category, role, environment, service) sums to ``total_per_year``; the tests
check it. ``per_extra_nine`` compares with the variant named in ``cost.compare_with``: it needs
that variant's availability, so ``cost_per_extra_nine`` takes both runs' nines and costs.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

from sim.model import BankPlan, build_bank
from sim.scenario.cost import PRODUCTION, ROLES, CostSpec
from sim.scenario.model import Scenario

__all__ = ["CATEGORIES", "BY_ROLE", "FleetGroup", "fleet_groups", "node_counts", "cost_summary",
           "variant_scenario", "cost_per_extra_nine"]

CATEGORIES = ("servers", "power", "space", "network", "cloud", "licenses", "staff", "fixed")
BY_ROLE = (*ROLES, "fleet", "shared")
_KWH_PER_W_YEAR = 8760.0 / 1000.0
_SERVICE_ROLES = {"svc": "app", "svcdb": "db"}   # plan roles of cell services -> the role they are priced as


@dataclass(frozen=True)
class FleetGroup:
    """Servers of one system in one environment, on one server class."""

    environment: str      # production or a cost.environments name
    service: str          # the system: app, db, gns, bus, a cell service, admin, spares, a fleet name
    role: str             # by_role key: app, db, gns, bus, admin, spares or fleet
    server_class: str
    servers: int
    per_cell: bool        # present in every cell (scales with environments' cells:)
    licensed: bool = True


def _production(sc: Scenario, spec: CostSpec, plan: BankPlan) -> list[FleetGroup]:
    counts: dict[tuple[str, str, str, bool], int] = {}
    for s in plan.servers:
        # a cell service's nodes (plan role svc) are priced as the app role, its own database
        # replicas (svcdb) as the db role, each under the service's name (``ledger``, ``ledger.db``)
        role = s.role if s.role in ROLES else _SERVICE_ROLES.get(s.role, "app")
        svc = getattr(s, "service", None)
        name = (f"{svc}.db" if role == "db" else svc) if svc else s.role
        # an override's ``hardware`` (an older cell, a primary on better hardware) prices that
        # server on its own class; the others stay on their role's class
        server_class = s.hardware or spec.class_of(role)
        key = (name, role, server_class, s.cell is not None)
        counts[key] = counts.get(key, 0) + 1
    groups = [FleetGroup(PRODUCTION, svc, role, server_class, n, per_cell)
              for (svc, role, server_class, per_cell), n in counts.items()]
    if spec.admin_zone.servers:
        groups.append(FleetGroup(PRODUCTION, "admin", "admin", spec.class_of("admin"), spec.admin_zone.servers, False))
    cells = len(plan.cells)
    for name, item in spec.fleet.per_cell.items():
        groups.append(FleetGroup(PRODUCTION, name, "fleet", item.server_class or spec.class_of("admin"),
                                 item.servers * cells, True))
    for name, item in spec.fleet.bank.items():
        groups.append(FleetGroup(PRODUCTION, name, "fleet", item.server_class or spec.class_of("admin"),
                                 item.servers, False))
    # round up: a spare is a whole machine
    spares = int(math.ceil(float(spec.spares) * sum(g.servers for g in groups) - 1e-9))
    groups.append(FleetGroup(PRODUCTION, "spares", "spares", spec.class_of("spares"), spares, False))
    return groups


def fleet_groups(sc: Scenario, plan: BankPlan | None = None) -> list[FleetGroup]:
    """Every server group of the bank: production first, then each environment in order."""
    spec = sc.cost
    if spec is None:
        raise ValueError("the scenario has no cost: section")
    plan = plan or build_bank(sc)
    prod = _production(sc, spec, plan)
    out = list(prod)
    cells = max(len(plan.cells), 1)
    for env, e in spec.environments.items():
        if e.servers is not None:
            out.append(FleetGroup(env, env, "fleet", e.server_class or spec.class_of("admin"), e.servers,
                                  False, e.licensed))
            continue
        for g in prod:
            if g.role == "spares" or (e.only and g.role not in e.only and g.service not in e.only):
                continue
            if e.of_production is not None:
                n = math.ceil(float(e.of_production) * g.servers - 1e-9)
            elif g.per_cell:
                n = math.ceil(g.servers * float(e.cells) / cells - 1e-9)
            else:
                continue  # cells' worth: bank-wide systems are not per cell
            if n:
                out.append(FleetGroup(env, g.service, g.role, g.server_class, n, g.per_cell, e.licensed))
    return out


def node_counts(sc: Scenario, plan: BankPlan | None = None) -> dict[str, int]:
    """Production servers per role: app, db, gns, bus from the topology; admin, spares (and
    ``fleet``, only when ``cost.fleet`` names systems) from ``cost:``."""
    counts = {r: 0 for r in (*ROLES, "fleet")}
    plan = plan or build_bank(sc)
    if sc.cost is not None:
        for g in _production(sc, sc.cost, plan):
            counts[g.role] += g.servers
    else:
        for s in plan.servers:
            counts[s.role if s.role in ROLES else "app"] += 1
    if not counts["fleet"]:
        del counts["fleet"]
    return counts


class _Ledger:
    """Amounts by category, role, environment and service; every add goes to all four."""

    def __init__(self, environments):
        self.by_cat = {k: 0.0 for k in CATEGORIES}
        self.by_role = {r: 0.0 for r in BY_ROLE}
        self.by_env = {e: 0.0 for e in (PRODUCTION, *environments)}
        self.by_service: dict[str, float] = {}

    def add(self, cat, role, env, service, amount):
        self.by_cat[cat] += amount
        self.by_role[role] += amount
        self.by_env[env] += amount
        self.by_service[service] = self.by_service.get(service, 0.0) + amount


def _engineers(spec: CostSpec, total_servers: int) -> float:
    st = spec.staff
    if st.engineers is not None:
        n = float(st.engineers)
    elif st.servers_per_engineer:
        n = total_servers / st.servers_per_engineer
    else:
        n = 0.0
    return max(n, st.min_engineers)


def cost_summary(sc: Scenario, availability_nines: float | None = None,
                 variant_nines: float | None = None, plan: BankPlan | None = None,
                 ci: tuple[float, float] | None = None,
                 variant_ci: tuple[float, float] | None = None) -> dict:
    """summary.json ``cost.*``: currency, total and per-account yearly cost, breakdowns.

    With ``cost.compare_with`` the variant's cost is included; ``per_extra_nine`` is filled
    when both ``availability_nines`` and ``variant_nines`` are given (else null), and says
    whether the two availability intervals (``ci``, ``variant_ci``: 95 % CIs) are disjoint.
    """
    spec: CostSpec | None = sc.cost
    if spec is None:
        raise ValueError("the scenario has no cost: section")
    groups = fleet_groups(sc, plan)
    total_servers = sum(g.servers for g in groups)
    led = _Ledger(spec.environments)
    per_rack = spec.space.servers_per_rack or sc.topology.servers_per_rack
    for g in groups:
        n = g.servers
        if n == 0:
            continue
        cls = spec.server_classes[g.server_class]

        def add(cat, amount, g=g):
            led.add(cat, g.role, g.environment, g.service, amount)

        if spec.cloud is not None:
            add("cloud", n * cls.cores * spec.cloud.vcpus_per_core * spec.cloud.price_per_vcpu_year)
        else:
            capex_year = n * cls.capex / cls.amortization_years
            add("servers", capex_year + n * cls.maintenance_per_year)
            add("power", n * cls.power_w * _KWH_PER_W_YEAR * spec.power.pue * spec.power.price_per_kwh)
            add("space", n * cls.rack_units / per_rack * spec.space.per_rack_per_year)
            add("network", spec.network.share_of_server_capex * capex_year + n * spec.network.per_server_per_year)
        if g.licensed:
            for lic in spec.licenses:
                if g.role in lic.roles or g.service in lic.roles:
                    units = n * cls.cores * lic.core_factor if lic.per == "core" else n
                    add("licenses", units * (lic.price / lic.amortization_years + lic.support_per_year))
    for link in spec.network.links:
        led.add("network", "shared", link.environment, "links", link.count * link.per_year)
    engineers = _engineers(spec, total_servers)
    staff_cost = engineers * spec.staff.salary_per_year
    if staff_cost > 0:
        if total_servers > 0:
            for g in groups:
                if g.servers:
                    led.add("staff", g.role, g.environment, g.service, staff_cost * g.servers / total_servers)
        else:
            led.add("staff", "shared", PRODUCTION, "shared", staff_cost)
    for item in spec.fixed:
        led.add("fixed", item.role, item.environment, item.role if item.role in ROLES else "shared", item.per_year)

    total = sum(led.by_cat.values())
    accounts = float(spec.accounts or sc.workload.accounts)
    counts = {r: 0 for r in (*ROLES, "fleet")}
    fleet: dict[str, dict[str, int]] = {e: {} for e in led.by_env}
    for g in groups:
        if g.environment == PRODUCTION:
            counts[g.role] += g.servers
        svc = fleet[g.environment]
        svc[g.service] = svc.get(g.service, 0) + g.servers
    out = {
        "currency": spec.currency,
        "accounts": accounts,
        "total_per_year": total,
        "per_account_per_year": total / accounts,
        # production servers per role; total = every environment
        "servers": {**counts, "production": sum(counts.values()), "total": total_servers},
        "servers_by_environment": {e: sum(v.values()) for e, v in fleet.items()},
        "fleet": fleet,          # environment -> system -> servers
        "engineers": engineers,
        "breakdown": {
            "by_category": led.by_cat,   # every category and role listed (zeros too): stable keys
            "by_role": led.by_role,
            "by_environment": led.by_env,
            "by_service": led.by_service,
        },
        "availability_nines": availability_nines,
        "per_extra_nine": None,
    }
    if spec.compare_with is not None:
        var = variant_scenario(sc)
        vc = cost_summary(var, variant_nines, plan=None)
        out["compare_with"] = {"name": spec.compare_with.name, "total_per_year": vc["total_per_year"],
                               "per_account_per_year": vc["per_account_per_year"],
                               "availability_nines": variant_nines}
        if availability_nines is not None and variant_nines is not None:
            out["per_extra_nine"] = cost_per_extra_nine(total, availability_nines, vc["total_per_year"],
                                                        variant_nines, accounts, ci, variant_ci)
    return out


def _set_dotted(data: dict, key: str, value) -> None:
    parts = key.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        nxt = node.get(part)
        if nxt is None:
            nxt = node[part] = {}
        if not isinstance(nxt, dict):
            raise ValueError(f"cost.compare_with.set: {'.'.join(parts[:i + 1])} is not a mapping")
        node = nxt
    node[parts[-1]] = value


def variant_scenario(sc: Scenario) -> Scenario:
    """The scenario with ``cost.compare_with.set`` applied (and no compare_with of its own)."""
    if sc.cost is None or sc.cost.compare_with is None:
        raise ValueError("the scenario names no cost.compare_with variant")
    data = copy.deepcopy(sc.model_dump(mode="python"))
    for key, value in sc.cost.compare_with.set.items():
        _set_dotted(data, key, copy.deepcopy(value))
    data["name"] = sc.cost.compare_with.name
    if data.get("cost"):
        data["cost"]["compare_with"] = None
    return Scenario.model_validate(data)


def cost_per_extra_nine(cost: float, nines: float, other_cost: float, other_nines: float,
                        accounts: float | None = None, ci: tuple[float, float] | None = None,
                        other_ci: tuple[float, float] | None = None) -> dict | None:
    """What one more nine costs: ``(cost - other_cost) / (nines - other_nines)`` per year.

    Returns None when both have the same number of nines (the ratio is undefined). With both
    runs' 95 % availability intervals (``ci``, ``other_ci``), ``significant`` says whether they
    are disjoint; when they overlap the ratio is mostly noise and readers should say so.
    """
    dn = nines - other_nines
    if not math.isfinite(dn) or abs(dn) < 1e-9:
        return None
    per_year = (cost - other_cost) / dn
    out = {"per_year": per_year, "nines_gained": dn, "extra_cost_per_year": cost - other_cost}
    if accounts:
        out["per_account_per_year"] = per_year / accounts
    if ci is not None and other_ci is not None:
        out["significant"] = bool(ci[0] > other_ci[1] or other_ci[0] > ci[1])
    return out
