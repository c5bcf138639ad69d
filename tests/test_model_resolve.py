"""sim.model.resolve: every chaos target form, resolved against small plans (scope names checked)."""

from __future__ import annotations

import pytest

from sim.model import build_bank, resolve_servers
from sim.scenario import load_scenario_text
from sim.scenario.chaos import parse_target

PLAN_TEXT = """
name: t
topology:
  regions: [{name: r, idcs: [a, b, c]}]
  gns: {replicas: 3, quorum: 2}
  bus: {replicas: 2, quorum: 1, placement: [a, b]}
  cells:
    count: 2
    template:
      db: {replicas: 3}
      app: {nodes: 2, placement: [a, b]}
    overrides:
      - {cells: [1], set: {db: {replicas: 2, placement: [b, c]}}}
"""


@pytest.fixture(scope="module")
def plan():
    return build_bank(load_scenario_text(PLAN_TEXT))


def scopes(plan, text, primary_of=None):
    return [plan.servers[s].scope for s in resolve_servers(parse_target(text), plan, primary_of)]


@pytest.mark.parametrize("text,expected", [
    ("cell[0]", ["cell[0].db.replica[0]", "cell[0].db.replica[1]", "cell[0].db.replica[2]",
                 "cell[0].app.node[0]", "cell[0].app.node[1]"]),
    ("cell[1].db", ["cell[1].db.replica[0]", "cell[1].db.replica[1]"]),
    ("cell[*].db.replica[1]", ["cell[0].db.replica[1]", "cell[1].db.replica[1]"]),
    ("cell[1].db.replica[1]", ["cell[1].db.replica[1]"]),
    ("cell[0].db.primary", ["cell[0].db.replica[0]"]),
    ("cell[0].db.sync_standby", ["cell[0].db.replica[1]"]),
    ("cell[*].app", ["cell[0].app.node[0]", "cell[0].app.node[1]", "cell[1].app.node[0]", "cell[1].app.node[1]"]),
    ("cell[1].app.node[1]", ["cell[1].app.node[1]"]),
    ("gns", ["gns.replica[0]", "gns.replica[1]", "gns.replica[2]"]),
    ("gateway", ["gns.replica[0]", "gns.replica[1]", "gns.replica[2]"]),
    ("relay", ["bus.node[0]", "bus.node[1]"]),
    ("etcd", []),
    ("etcd[quorum]", []),
])
def test_every_target_form(plan, text, expected):
    assert scopes(plan, text) == expected


def test_idc_takes_everything_placed_there(plan):
    got = scopes(plan, "idc[b]")
    assert got == ["cell[0].db.replica[1]", "cell[0].app.node[1]", "cell[1].db.replica[0]",
                   "cell[1].app.node[1]", "gns.replica[1]", "bus.node[1]"]
    assert all(plan.idcs[plan.servers[s].idc] == "b" for s in resolve_servers(parse_target("idc[b]"), plan))


def test_primary_is_read_when_the_fault_starts(plan):
    later = {0: plan.cells[0].db[2], 1: None}.get  # cell 0 failed over to replica 2; cell 1 is failing over
    assert scopes(plan, "cell[0].db.primary", later) == ["cell[0].db.replica[2]"]
    assert scopes(plan, "cell[0].db.sync_standby", later) == ["cell[0].db.replica[0]"]
    assert scopes(plan, "cell[1].db.primary", later) == []
    assert scopes(plan, "cell[*].db.primary", later) == ["cell[0].db.replica[2]"]
