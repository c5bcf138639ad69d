"""Cost arithmetic by hand, breakdown sums, scaling with cells, cloud pricing, extra nines."""

import math

import pytest

from sim.cost import CATEGORIES, cost_per_extra_nine, cost_summary, node_counts, variant_scenario
from sim.errors import ScenarioError
from sim.scenario import load_scenario_text

BASE = """
name: costly
topology:
  regions: [{name: r, idcs: [a, b, c]}]
  servers_per_rack: 40
  cells:
    count: 4
    template:
      app: {nodes: 2}
      db: {replicas: 3}
  gns: {replicas: 3, quorum: 1}
  bus: {replicas: 3, quorum: 2}
workload:
  accounts: 1_000_000
cost:
  currency: CNY
  server_classes:
    default: {capex: 40000, amortization_years: 4, power_w: 500, cores: 32}
    big: {capex: 100000, amortization_years: 5, power_w: 1000, cores: 64, maintenance_per_year: 2000}
  roles: {db: big}
  admin_zone: {servers: 4}
  spares: 10%
  power: {price_per_kwh: 1.0, pue: 2.0}
  space: {per_rack_per_year: 40000}
  network: {share_of_server_capex: 0.1}
  licenses:
    - {name: dbms, per: core, price: 1000, amortization_years: 5, support_per_year: 100, core_factor: 0.5, roles: [db]}
  staff: {servers_per_engineer: 50, salary_per_year: 300000}
  fixed:
    - {name: monitoring, per_year: 10000}
"""


def sc(**sets):
    return load_scenario_text(BASE, "c.yaml", sets=[f"{k}={v}" for k, v in sets.items()])


def test_node_counts_from_topology():
    n = node_counts(sc())
    # 4 cells x 2 app, 4 x 3 db, 3 gns, 3 bus, 4 admin; spares ceil(10 % of 30) = 3
    assert n == {"app": 8, "db": 12, "gns": 3, "bus": 3, "admin": 4, "spares": 3}


def test_cost_by_hand():
    s = cost_summary(sc())
    c = s["breakdown"]["by_category"]
    small = 8 + 3 + 3 + 4 + 3          # servers of class default: 21
    big = 12
    assert c["servers"] == pytest.approx(small * 40000 / 4 + big * (100000 / 5 + 2000))
    assert c["power"] == pytest.approx((small * 500 + big * 1000) * 8.76 * 2.0 * 1.0)
    assert c["space"] == pytest.approx((small + big) / 40 * 40000)
    assert c["network"] == pytest.approx(0.1 * (small * 10000 + big * 20000))
    assert c["licenses"] == pytest.approx(big * 64 * 0.5 * (1000 / 5 + 100))
    assert c["staff"] == pytest.approx(33 / 50 * 300000)
    assert c["fixed"] == 10000
    assert c["cloud"] == 0
    assert s["per_account_per_year"] == pytest.approx(s["total_per_year"] / 1e6)
    assert s["currency"] == "CNY"
    assert s["servers"]["total"] == 33


def test_breakdowns_sum_to_total():
    s = cost_summary(sc())
    total = s["total_per_year"]
    assert set(s["breakdown"]["by_category"]) == set(CATEGORIES)
    assert sum(s["breakdown"]["by_category"].values()) == pytest.approx(total, rel=1e-12)
    assert sum(s["breakdown"]["by_role"].values()) == pytest.approx(total, rel=1e-12)
    assert s["breakdown"]["by_role"]["shared"] == 10000       # the fixed item


def test_doubling_cells_doubles_total_keeps_per_account():
    one = cost_summary(sc())
    # doubling everything that scales (cells, shared services, admin zone, fixed items): exact
    two = cost_summary(sc(**{"topology.cells.count": 8, "workload.accounts": 2_000_000,
                             "topology.gns.replicas": 6, "topology.bus.replicas": 6,
                             "cost.admin_zone.servers": 8, "cost.fixed": "[{name: monitoring, per_year: 20000}]"}))
    assert two["total_per_year"] == pytest.approx(2 * one["total_per_year"], rel=1e-12)
    assert two["per_account_per_year"] == pytest.approx(one["per_account_per_year"], rel=1e-12)
    # doubling only cells and accounts: shared services, admin zone and fixed items stay, so
    # the total grows by less than 2x (here a third of the servers are shared, so ~1.76x) and
    # the per-account figure falls accordingly (economies of scale of the shared parts)
    rough = cost_summary(sc(**{"topology.cells.count": 8, "workload.accounts": 2_000_000}))
    ratio = rough["total_per_year"] / one["total_per_year"]
    assert 1.6 < ratio < 2.0
    assert rough["per_account_per_year"] == pytest.approx(one["per_account_per_year"] * ratio / 2)


def test_cloud_replaces_owned_server_costs():
    s = cost_summary(sc(**{"cost.cloud": "{price_per_vcpu_year: 700, vcpus_per_core: 2}"}))
    c = s["breakdown"]["by_category"]
    assert c["servers"] == c["power"] == c["space"] == c["network"] == 0
    assert c["cloud"] == pytest.approx((21 * 32 + 12 * 64) * 2 * 700)
    assert sum(c.values()) == pytest.approx(s["total_per_year"])


def test_staff_floor():
    s = cost_summary(sc(**{"cost.staff.min_engineers": 5}))
    assert s["engineers"] == 5
    assert s["breakdown"]["by_category"]["staff"] == pytest.approx(5 * 300000)


def test_unknown_server_class_rejected():
    with pytest.raises(ScenarioError, match="unknown server class 'huge'"):
        sc(**{"cost.roles.db": "huge"})


def test_compare_with_variant_and_per_extra_nine():
    s0 = sc(**{"cost.compare_with": "{name: two-replicas, set: {topology.cells.template.db.replicas: 2}}"})
    var = variant_scenario(s0)
    assert var.topology.cells.template.db.replicas == 2 and var.cost.compare_with is None
    s = cost_summary(s0, availability_nines=5.2, variant_nines=4.7)
    assert s["compare_with"]["total_per_year"] < s["total_per_year"]
    extra = s["per_extra_nine"]
    assert extra["per_year"] == pytest.approx((s["total_per_year"] - s["compare_with"]["total_per_year"]) / 0.5)
    assert extra["per_account_per_year"] == pytest.approx(extra["per_year"] / 1e6)
    noisy = cost_summary(s0, 5.2, 4.7, ci=(0.99999, 0.999994), variant_ci=(0.999985, 0.999992))
    assert noisy["per_extra_nine"]["significant"] is False
    # no nines for the variant yet: no figure, not a made-up one
    assert cost_summary(s0, availability_nines=5.2)["per_extra_nine"] is None


def test_cost_per_extra_nine_undefined_for_equal_nines():
    assert cost_per_extra_nine(10.0, 5.0, 8.0, 5.0) is None
    assert cost_per_extra_nine(10.0, 5.0, 8.0, 4.0)["per_year"] == 2.0
    assert cost_per_extra_nine(10.0, math.inf, 8.0, 4.0) is None


def test_per_extra_nine_flags_overlapping_intervals():
    r = cost_per_extra_nine(11.5, 5.05, 10.7, 5.08, ci=(0.999989, 0.999993), other_ci=(0.999990, 0.999994))
    assert r["significant"] is False and r["per_year"] < 0
    r = cost_per_extra_nine(11.5, 5.5, 10.7, 4.5, ci=(0.999996, 0.999998), other_ci=(0.99996, 0.99997))
    assert r["significant"] is True and r["per_year"] == pytest.approx(0.8)
