"""The full operating cost: fleet outside the transaction path, environments, links, explicit
staff; every breakdown (category, role, environment, service) sums to the total; bad names refused."""

import pytest

from sim.cost import cost_summary, fleet_groups
from sim.errors import ScenarioError
from sim.scenario import load_scenario_text

BASE = """
name: fleet
topology:
  regions: [{name: r, idcs: [a, b, c]}]
  servers_per_rack: 40
  cells:
    count: 4
    template:
      app: {nodes: 2}
      db: {replicas: 3}
  gns: {replicas: 3, quorum: 1}
  bus: null
workload:
  accounts: 1_000_000
cost:
  currency: CNY
  server_classes:
    default: {capex: 40000, amortization_years: 4, power_w: 500, cores: 32}
    big: {capex: 100000, amortization_years: 5, power_w: 1000, cores: 64}
  roles: {db: big}
  fleet:
    per_cell:
      other-systems: {servers: 5}
      system-db: {servers: 3, server_class: big}
    bank:
      data-platform: {servers: 10}
  spares: 10%
  environments:
    dr: {of_production: 0.5, only: [db, system-db]}
    test: {of_production: 0.25, licensed: false}
    grey: {cells: 1}
    office: {servers: 7}
  power: {price_per_kwh: 1.0, pue: 2.0}
  space: {per_rack_per_year: 40000}
  network:
    share_of_server_capex: 0.1
    links:
      - {name: inter-idc, count: 3, per_year: 1000}
      - {name: dr-line, count: 2, per_year: 5000, environment: dr}
  licenses:
    - {name: dbms, per: server, price: 500, amortization_years: 5, support_per_year: 100, roles: [db, system-db]}
  staff: {engineers: 2, salary_per_year: 300000, min_engineers: 1}
  fixed:
    - {name: monitoring, per_year: 10000, environment: test}
"""


def sc(*sets):
    return load_scenario_text(BASE, "f.yaml", sets=list(sets))


def test_fleet_sizes_by_environment_and_service():
    s = cost_summary(sc())
    prod = s["fleet"]["production"]
    # 4 cells x (2 app, 3 db, 5 other, 3 system-db), 3 gns, 10 data platform; spares ceil(10 % of 65)
    assert prod == {"app": 8, "db": 12, "gns": 3, "other-systems": 20, "system-db": 12,
                    "data-platform": 10, "spares": 7}
    assert s["fleet"]["dr"] == {"db": 6, "system-db": 6}                       # half of the two DB groups
    assert s["fleet"]["test"] == {"app": 2, "db": 3, "gns": 1, "other-systems": 5, "system-db": 3,
                                  "data-platform": 3}                          # ceil(n / 4), no spares
    assert s["fleet"]["grey"] == {"app": 2, "db": 3, "other-systems": 5, "system-db": 3}  # one cell's worth
    assert s["fleet"]["office"] == {"office": 7}
    assert s["servers_by_environment"] == {"production": 72, "dr": 12, "test": 17, "grey": 13, "office": 7}
    assert s["servers"]["total"] == 72 + 12 + 17 + 13 + 7
    assert s["servers"]["production"] == 72 and s["servers"]["fleet"] == 42


def test_every_breakdown_sums_to_the_total():
    s = cost_summary(sc())
    total = s["total_per_year"]
    for name, part in s["breakdown"].items():
        assert sum(part.values()) == pytest.approx(total, rel=1e-12), name
    assert s["per_account_per_year"] == pytest.approx(total / 1e6)


def test_licences_links_staff_and_fixed_by_hand():
    s = cost_summary(sc())
    by_cat, by_env = s["breakdown"]["by_category"], s["breakdown"]["by_environment"]
    licensed = 12 + 12 + 6 + 6 + 3 + 3       # db + system-db in production, dr, grey; test is unlicensed
    assert by_cat["licenses"] == pytest.approx(licensed * (500 / 5 + 100))
    assert s["breakdown"]["by_service"]["links"] == 3 * 1000 + 2 * 5000
    assert by_cat["staff"] == pytest.approx(2 * 300000)                   # explicit headcount
    assert s["engineers"] == 2
    assert by_cat["fixed"] == 10000
    # the dr environment: its servers' own cost plus its line; servers priced as production's
    big = 12 * (100000 / 5 + 1000 * 8.76 * 2 + 40000 / 40 + 0.1 * 20000 + 200)
    staff = 2 * 300000 * 12 / s["servers"]["total"]
    assert by_env["dr"] == pytest.approx(big + staff + 10000)


def test_a_bigger_environment_costs_more_with_the_same_staff():
    a = cost_summary(sc("cost.environments.test.of_production=0.5"))
    b = cost_summary(sc("cost.environments.test.of_production=1.0"))
    assert b["servers_by_environment"]["test"] > a["servers_by_environment"]["test"]
    assert b["servers"]["production"] == a["servers"]["production"]
    # the staff headcount is explicit, so more test servers add only their own server-side cost
    assert b["total_per_year"] > a["total_per_year"]
    assert b["breakdown"]["by_category"]["staff"] == pytest.approx(a["breakdown"]["by_category"]["staff"], rel=1e-12)


def test_without_fleet_or_environments_only_production():
    plain = ["cost.licenses=[]", "cost.environments={}", "cost.network.links=[]", "cost.fixed=[]"]
    s = cost_summary(sc("cost.fleet={}", *plain))
    assert list(s["breakdown"]["by_environment"]) == ["production"]
    assert list(s["fleet"]) == ["production"]
    assert len(fleet_groups(sc(*plain))) == 7     # app, db, gns, two per-cell and one bank system, spares


@pytest.mark.parametrize("sets,msg", [
    (["cost.environments.dr.only=[nothing]"], "names no role or fleet system"),
    (["cost.licenses=[{name: x, price: 1, roles: [ghost]}]"], "names no role or fleet system"),
    (["cost.fleet.bank={db: {servers: 1}}"], "is a role or used twice"),
    (["cost.environments.x={of_production: 1, cells: 2}"], "exactly one of"),
    (["cost.environments.x={servers: 3, server_class: nope}"], "unknown server class"),
    (["cost.network.links=[{name: l, per_year: 1, environment: moon}]"], "unknown environment"),
])
def test_bad_names_refused(sets, msg):
    with pytest.raises(ScenarioError, match=msg):
        sc(*sets)


def test_services_nodes_in_the_plan_are_priced_by_service():
    # the services parser (issue 14 item 1) adds service nodes to the plan; the cost model groups
    # plan servers by their `service` attribute and prices an unknown role on the app role's class
    from sim.model import build_bank
    s = sc("cost.environments={}", "cost.network.links=[]", "cost.fixed=[]")
    plan = build_bank(s)
    for k, idx in enumerate(i for c in plan.cells for i in c.app):
        plan.servers[idx].service = "ledger" if k % 2 else "accounts"
        plan.servers[idx].role = "svc"
    for idx in (i for c in plan.cells for i in c.db):
        plan.servers[idx].service = "ledger"
        plan.servers[idx].role = "svcdb"
    c = cost_summary(s, plan=plan)
    assert c["fleet"]["production"]["ledger"] == 4 and c["fleet"]["production"]["accounts"] == 4
    assert c["fleet"]["production"]["ledger.db"] == 12
    assert "app" not in c["fleet"]["production"] and "db" not in c["fleet"]["production"]
    assert c["servers"]["app"] == 8 and c["servers"]["db"] == 12   # priced as the app and db roles
    base = cost_summary(s)
    assert c["total_per_year"] == pytest.approx(base["total_per_year"], rel=1e-12)
