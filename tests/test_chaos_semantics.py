"""The fault table of ``sim.scenario.chaos`` as the simulator carries it (exact timelines).

One meaning per kind for both engines: ``duration: 0`` holds a fault until the run ends,
kill-postmaster is instantaneous (one full failover), replica[k] and node[k] hit one server.
"""

from __future__ import annotations

import pytest

from sim.engine import run_replication
from sim.scenario import load_scenario_text
from sim.scenario.chaos import FAULT_KINDS, ChaosEntry, hold_seconds

BASE = """
name: sem
simulation: {{horizon: 1d, replications: 1, seed: 1, workers: 1}}
topology:
  regions: [{{name: r, idcs: [a, b, c]}}]
  gns: {{replicas: 3, quorum: 2}}
  bus: {{replicas: 3, quorum: 2}}
  cells:
    count: 2
    template:
      app: {{nodes: 2, min_nodes: 2}}
      db: {{replicas: 3, failover: {{detection: 20s, election: 5s, promotion: 5s}}}}
workload: {{mix: {{reads: 0.5, intra_cell: 0.3, cross_cell: 0.2}}, profile: {{peak_factor: 1}}}}
chaos:
{chaos}
"""
DAY = 86400.0


def impacts(chaos: str):
    r = run_replication(load_scenario_text(BASE.format(chaos=chaos)), 0)
    return [(e[1], e[2], e[4], e[5], e[6]) for e in r.events if e[6] not in ("chaos", "none")]


def test_duration_zero_holds_until_the_run_ends():
    # an app node down with min_nodes 2: the cell is down from 1 h to the end of the day
    got = impacts("  - {at: 1h, target: 'cell[1].app.node[0]', fault: crash}")
    assert got == [(3600.0, DAY, "cell[1]", "chaos:crash", "cell-down")]


def test_kill_postmaster_is_one_full_failover():
    got = impacts("  - {at: 1h, target: 'cell[0].db.primary', fault: kill-postmaster}")
    assert got == [(3600.0, 3630.0, "cell[0]", "chaos:kill-postmaster", "writes-down")]


def test_replica_k_is_one_member_and_a_standby_costs_nothing():
    assert impacts("  - {at: 1h, target: 'cell[0].db.replica[2]', fault: crash, duration: 1h}") == []
    assert impacts("  - {at: 1h, target: 'cell[0].db.replica[0]', fault: crash, duration: 1h}") == [
        (3600.0, 3630.0, "cell[0]", "chaos:crash", "writes-down")]


def test_bad_change_duration_zero_lasts_to_the_end():
    got = impacts("  - {at: 2h, target: 'cell[0].app', fault: bad-change}")
    assert got == [(7200.0, DAY, "cell[0]", "chaos:bad-change", "cell-down")]


@pytest.mark.parametrize("fault,duration,expected", [
    ("crash", 0.0, 900.0), ("crash", 30.0, 30.0), ("pause", 0.0, 900.0), ("kill-postmaster", 0.0, 0.0)])
def test_hold_rule_is_one_function(fault, duration, expected):
    e = ChaosEntry(at=100.0, target="cell[0].db.primary", fault=fault, duration=duration)
    assert hold_seconds(e, 1000.0) == expected
    assert FAULT_KINDS[fault].held == (fault != "kill-postmaster")
