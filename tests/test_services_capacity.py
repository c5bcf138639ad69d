"""Services' capacity (sim/capacity/paths.py) and cost roles (sim/cost.py), against hand figures."""

from __future__ import annotations

import pytest

from sim.capacity import throughput_summary
from sim.cost import cost_summary, node_counts
from sim.model import build_bank, servers_by_role
from sim.scenario import load_scenario_text

BANK = """
name: services-capacity
topology:
  regions: [{name: r, idcs: [a, b, c]}]
  cells:
    count: 2
    template:
      app: {nodes: 3, capacity_tps: 100000}
      services:
        - {name: gw, nodes: 3, capacity_tps: 900}
        - {name: ledger, nodes: 4, placement: [a, a, b, c], demand: 20ms}
        - {name: risk, nodes: 2, needs: 2, placement: [a, b], capacity_tps: 5000, database: own, db: {replicas: 3}}
workload:
  mix: {reads: 0.5, intra_cell: 0.5, cross_cell: 0}
  paths:
    reads: [gw]
    intra_cell: [gw, {service: ledger, calls: 2}, risk]
capacity: {app_node: {cores: 8}}
cost:
  server_classes: {box: {capex: 3000, amortization_years: 3}}
"""


def test_path_capacity_is_the_tightest_service_over_its_calls():
    t = throughput_summary(load_scenario_text(BANK))["services"]
    # per cell: gw 3 x 900 = 2700/s; ledger 4 x 8 cores / 20 ms = 1600 calls/s, 2 calls = 800 tx/s;
    # risk 2 x 5000 = 10000/s
    assert t["paths"]["reads"]["capacity_tps"] == pytest.approx(2 * 2700)
    assert t["paths"]["intra_cell"]["capacity_tps"] == pytest.approx(2 * 800)
    assert t["paths"]["intra_cell"]["bottleneck"] == ["ledger"]
    # the mix: gw carries 1 call per tx (2700), ledger 0.5 x 2 = 1 (1600), risk 0.5 (20000)
    assert t["capacity_tps"] == pytest.approx(2 * 1600)
    # losing IDC a: ledger keeps 2 of 4 nodes (800 calls/s), risk falls below needs (2 of 2): 0
    assert t["paths"]["intra_cell"]["capacity_tps_n_minus_1_idc"] == 0.0
    assert t["worst_idc"] == "a"
    assert t["paths"]["reads"]["capacity_tps_n_minus_1_idc"] == pytest.approx(2 * 1800)


def test_services_count_as_production_servers_one_role_each():
    sc = load_scenario_text(BANK)
    counts = servers_by_role(build_bank(sc))   # the one list of a plan's servers by role
    assert counts == {"app": 6, "db": 6, "gns": 3, "bus": 3, "svc:gw": 6, "svc:ledger": 8, "svc:risk": 2 * (2 + 3)}
    assert sum(v for k, v in node_counts(sc).items() if k != "spares") == sum(counts.values())
    c = cost_summary(sc)
    assert c["servers"]["total"] == sum(counts.values())
    assert sum(c["breakdown"]["by_role"].values()) == pytest.approx(c["total_per_year"], rel=1e-12)


def test_the_headline_capacity_is_bound_by_the_services_when_they_are_tighter():
    sc = load_scenario_text(BANK)
    t = throughput_summary(sc)
    # front tier 3 x 100,000/s per cell and the db are far above the services' 1,600 tx/s a cell
    assert min(t["by_tier"]["app"]["capacity_tps"], t["by_tier"]["db"]["capacity_tps"]) > 10 * 3200
    assert t["capacity_tps"] == pytest.approx(2 * 1600)
    assert t["by_tier"]["services"]["capacity_tps"] == pytest.approx(2 * 1600)
    assert t["bottleneck"] == ["service:ledger"]
    # losing IDC a stops risk (2 needed, 1 left): every cell's writes path serves nothing
    assert t["capacity_tps_n_minus_1_idc"] == 0.0 and t["headroom_n_minus_1_idc"] == 0.0
    # the peak daily volume: each cell (share 1/2) keeps its busiest hour at or below 1,600/s
    from sim.capacity.model import CapacityModel
    peak_w = float(CapacityModel(sc).profile.weights.max())
    assert t["peak_daily_transactions"] == pytest.approx(1600 / (0.5 * peak_w) * 86400)


def test_without_services_the_headline_has_no_services_tier():
    text = BANK.split("      services:")[0] + "workload:\n  mix: {reads: 0.5, intra_cell: 0.5, cross_cell: 0}\n"
    t = throughput_summary(load_scenario_text(text))
    assert "services" not in t["by_tier"] and "services" not in t
    assert t["capacity_tps"] == pytest.approx(t["by_tier"]["app"]["capacity_tps"]) or \
        t["capacity_tps"] == pytest.approx(t["by_tier"]["db"]["capacity_tps"])
