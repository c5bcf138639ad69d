"""Overlapping bad changes keep their own impacts (bug: one ``spec_impact`` per cell).

A random bad change (impact 0.5) from t=0 to 1200 s overlaps a chaos bad-change (impact 1.0)
from 300 s to 900 s on the same cell. The cell's failed fraction must be 0.5, then 1.0, then
0.5 again: before the fix the last change to start set the impact of both, so the cell stayed
100 % failed until 1200 s. Exact arithmetic on a flat profile; no randomness involved.
"""

from __future__ import annotations

import pytest

from sim.engine import Replication
from sim.engine.faults.changes import bad_change
from sim.scenario import load_scenario_text

SCEN = """
name: overlap
simulation: {horizon: 1d, replications: 1, seed: 1, workers: 1}
topology:
  regions: [{name: r, idcs: [a, b, c]}]
  gns: null
  bus: null
  cells: {count: 1, template: {db: {replicas: 3}}}
workload: {mix: {reads: 0.5, intra_cell: 0.5, cross_cell: 0.0}, profile: {peak_factor: 1}}
failures: {components: {server: null}}
"""


def test_overlapping_bad_changes_keep_their_own_impacts():
    rep = Replication(load_scenario_text(SCEN), 0)
    env = rep.env
    env.process(bad_change(rep, [0], 1200.0, "bad-change-global", impact=0.5))
    env.process(bad_change(rep, [0], 600.0, "chaos:bad-change", delay=300.0, impact=1.0))
    env.run(until=2000.0)
    rep.ledger.advance(env.now)
    # one cell, reads and writes both fail at the impact: 300 s x 0.5 + 600 s x 1 + 300 s x 0.5
    assert rep.ledger.failed_time == pytest.approx(300 * 0.5 + 600 * 1.0 + 300 * 0.5, rel=1e-12)
