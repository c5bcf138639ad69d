"""Exact event timelines on tiny models (no random failures, only the chaos schedule)."""

from __future__ import annotations

import pytest

from sim.engine import run_replication
from sim.scenario import load_scenario_text

BASE = """
name: tl
simulation: {{horizon: 1d, replications: 1, seed: 1, workers: 1}}
topology:
  regions: [{{name: r, idcs: [a, b, c]}}]
  gns: {{replicas: 3, quorum: 2}}
  bus: {{replicas: 3, quorum: 2}}
  cells:
    count: 2
    template:
      app: {{nodes: 2}}
      db: {{replicas: 3, failover: {{detection: 20s, election: 5s, promotion: 5s}}}}
workload: {{mix: {{reads: 0.5, intra_cell: 0.3, cross_cell: 0.2}}, profile: {{peak_factor: 1}}}}
chaos:
{chaos}
"""


def run(chaos: str):
    return run_replication(load_scenario_text(BASE.format(chaos=chaos)), 0)


def impacts(r):
    return [(e[1], e[2], e[4], e[5], e[6]) for e in r.events if e[6] not in ("chaos", "none")]


def test_primary_crash_costs_one_failover_of_writes():
    r = run("  - {at: 1h, target: 'cell[0].db.primary', fault: crash, duration: 2h}")
    assert impacts(r) == [(3600.0, 3630.0, "cell[0]", "chaos:crash", "writes-down")]
    # writes of cell 0 (share 1/2) fail for 30 s: intra 0.3 + cross-cell 0.2 * (1 - (1 - 1/2)^2)
    expected = 30.0 * (0.3 * 0.5 + 0.2 * (1 - 0.25))
    assert r.failed_req == pytest.approx(expected, rel=1e-12)
    assert r.failed_time == pytest.approx(expected, rel=1e-12)


def test_pause_shorter_than_detection_stalls_without_failover():
    r = run("  - {at: 1h, target: 'cell[1].db.primary', fault: pause, duration: 15s}")
    assert impacts(r) == [(3600.0, 3615.0, "cell[1]", "chaos:pause", "writes-down")]


def test_pause_longer_than_detection_fails_over():
    r = run("  - {at: 1h, target: 'cell[1].db.primary', fault: pause, duration: 60s}")
    # stalled for the 20 s detection time, then election + promotion (10 s): 30 s in all
    assert impacts(r) == [(3600.0, 3630.0, "cell[1]", "chaos:pause", "writes-down")]


def test_one_idc_down_costs_each_cell_a_failover_and_keeps_the_router():
    r = run("  - {at: 2h, target: 'idc[a]', fault: down, duration: 1h}")
    assert sorted(impacts(r)) == [(7200.0, 7230.0, "cell[0]", "chaos:down", "writes-down"),
                                  (7200.0, 7230.0, "cell[1]", "chaos:down", "writes-down")]


def test_two_idcs_down_lose_quorum_router_and_bus():
    r = run("  - {at: 2h, target: 'idc[a]', fault: down, duration: 1h}\n"
            "  - {at: 2h, target: 'idc[b]', fault: down, duration: 1h}")
    targets = {e[2] for e in impacts(r)}
    assert {"gns", "bus", "cell[0]", "cell[1]"} <= targets
    assert r.failed_req == pytest.approx(3600.0, rel=1e-9)  # GNS below quorum: everything fails 1 h


def test_gns_outage_fails_everything_and_cells_keep_their_own_figures():
    r = run("  - {at: 3h, target: gns, fault: down, duration: 10m}")
    assert r.failed_req == pytest.approx(600.0, rel=1e-12)
    assert r.cell_failed == pytest.approx([600.0, 600.0], rel=1e-12)


def test_cell_overrides_apply_to_named_cells_only():
    from sim.model import build_bank
    text = BASE.format(chaos="  []").replace("    count: 2\n", "    count: 4\n    overrides:\n"
                                             "      - {cells: '1-2', set: {db: {replicas: 5}}}\n")
    plan = build_bank(load_scenario_text(text))
    assert [len(c.db) for c in plan.cells] == [3, 5, 5, 3]
    assert plan.servers[plan.cells[1].db[4]].scope == "cell[1].db.replica[4]"


def test_timeseries_slow_requests_add_up_to_the_replication_figure():
    """With a capacity model, timeseries.csv's slow column sums to the replication's slow count."""
    from sim.scenario import load_scenario
    sc = load_scenario("scenarios/webank-2023.yaml", ["simulation.horizon=20d", "topology.cells.count=4",
                                                      "slo.latency=15ms"])
    r = run_replication(sc, 0)
    assert r.slow_req > 0
    assert sum(r.timeseries["slow"]) == pytest.approx(r.slow_req, rel=1e-6)
