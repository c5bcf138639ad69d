"""Yearly IT cost of a scenario's bank, per account, broken down by category and by role.

Node counts by role come from the topology (``sim.model.servers_by_role``: app nodes, DB
replicas, GNS replicas, bus nodes, and one role ``svc:<name>`` per service of the cells, priced
on the app role's class) plus the cost section's admin zone and spares. Each role runs on a
server class; for ``n`` servers of a class the yearly cost is

* servers: ``n * (capex / amortization_years + maintenance_per_year)``
* power:   ``n * power_w * 8.76 kWh/W-yr * PUE * price_per_kwh``
* space:   ``n * rack_units / servers_per_rack * per_rack_per_year``
* network: ``share_of_server_capex * yearly server capex + n * per_server_per_year``
* cloud (instead of the four above): ``n * cores * vcpus_per_core * price_per_vcpu_year``
* licenses: per unit (core x core_factor, or server) ``price / amortization_years + support``
* staff:   ``max(min_engineers, servers / servers_per_engineer) * salary``, shared by roles in
  proportion to their servers
* fixed:   yearly items, on a role or ``shared``

Both breakdowns (by category, by role) sum to ``total_per_year``; the tests check it.
``per_extra_nine`` compares with the variant named in ``cost.compare_with``: it needs that
variant's availability, so ``cost_per_extra_nine`` takes both runs' nines and costs.
"""

from __future__ import annotations

import copy
import math

from sim.model import BankPlan, build_bank
from sim.model.plan import servers_by_role
from sim.scenario.cost import ROLES, CostSpec
from sim.scenario.model import Scenario

__all__ = ["CATEGORIES", "node_counts", "cost_summary", "variant_scenario", "cost_per_extra_nine"]

CATEGORIES = ("servers", "power", "space", "network", "cloud", "licenses", "staff", "fixed")
_KWH_PER_W_YEAR = 8760.0 / 1000.0


def node_counts(sc: Scenario, plan: BankPlan | None = None) -> dict[str, int]:
    """Servers per role: app, db, gns, bus from the topology; admin, spares from ``cost:``."""
    plan = plan or build_bank(sc)
    spec = sc.cost
    counts = servers_by_role(plan)  # the one list of a plan's servers by role
    counts["admin"] = spec.admin_zone.servers if spec else 0
    spare_share = float(spec.spares) if spec else 0.0
    # round up: a spare is a whole machine
    counts["spares"] = int(math.ceil(spare_share * sum(counts.values()) - 1e-9))
    return counts


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
    counts = node_counts(sc, plan)
    total_servers = sum(counts.values())
    by_cat = {k: 0.0 for k in CATEGORIES}
    roles = (*ROLES, *(r for r in counts if r not in ROLES))  # services after the fixed roles
    by_role = {r: 0.0 for r in (*roles, "shared")}
    cells: dict[tuple[str, str], float] = {}

    def add(cat, role, amount):
        by_cat[cat] += amount
        by_role[role] += amount
        cells[(cat, role)] = cells.get((cat, role), 0.0) + amount

    per_rack = spec.space.servers_per_rack or sc.topology.servers_per_rack
    for role in roles:
        n = counts[role]
        if n == 0:
            continue
        cls = spec.server_classes[spec.class_of("app" if role.startswith("svc:") else role)]
        if spec.cloud is not None:
            add("cloud", role, n * cls.cores * spec.cloud.vcpus_per_core * spec.cloud.price_per_vcpu_year)
        else:
            capex_year = n * cls.capex / cls.amortization_years
            add("servers", role, capex_year + n * cls.maintenance_per_year)
            add("power", role, n * cls.power_w * _KWH_PER_W_YEAR * spec.power.pue * spec.power.price_per_kwh)
            add("space", role, n * cls.rack_units / per_rack * spec.space.per_rack_per_year)
            add("network", role, spec.network.share_of_server_capex * capex_year
                + n * spec.network.per_server_per_year)
        for lic in spec.licenses:
            if role in lic.roles:
                units = n * cls.cores * lic.core_factor if lic.per == "core" else n
                add("licenses", role, units * (lic.price / lic.amortization_years + lic.support_per_year))
    engineers = 0.0
    if spec.staff.servers_per_engineer:
        engineers = total_servers / spec.staff.servers_per_engineer
    engineers = max(engineers, spec.staff.min_engineers)
    staff_cost = engineers * spec.staff.salary_per_year
    if staff_cost > 0:
        if total_servers > 0:
            for role in roles:
                if counts[role]:
                    add("staff", role, staff_cost * counts[role] / total_servers)
        else:
            add("staff", "shared", staff_cost)
    for item in spec.fixed:
        add("fixed", item.role, item.per_year)

    total = sum(by_cat.values())
    accounts = float(spec.accounts or sc.workload.accounts)
    out = {
        "currency": spec.currency,
        "accounts": accounts,
        "total_per_year": total,
        "per_account_per_year": total / accounts,
        "servers": {**counts, "total": total_servers},
        "engineers": engineers,
        "breakdown": {
            "by_category": by_cat,   # every category and role listed (zeros too): stable keys
            "by_role": by_role,
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
