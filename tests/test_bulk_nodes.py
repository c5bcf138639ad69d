"""Service nodes drawn in bulk (sim/engine/faults/bulk_nodes.py) against the same nodes as events.

Without bulk nodes a service node runs as one SimPy event per failure and repair
(``faults.timed``'s walker) from the very same pre-drawn timeline (same stream keys), so the two
replications see the same faults at the same instants: every figure must agree (to float
rounding: event times are accumulated differently). Services with ``needs`` of 1, n - 1 and n
exercise the three paths (a step of level >= 2, the exact count, every step), racks, power
domains and IDCs hold nodes, and repairs are long, so overlaps are common.
"""

from __future__ import annotations

import math

import pytest

from sim.engine import faults
from sim.engine.replication import Replication
from sim.model import build_bank
from sim.scenario import load_scenario_text

SCENARIO = """
name: bulk-nodes
simulation: {horizon: 200d, replications: 1, seed: 7, workers: 1}
topology:
  regions: [{name: r, idcs: [{name: a}, {name: b}, {name: c}]}]
  servers_per_rack: 4
  racks_per_power_domain: 2
  gns: null
  bus: null
  cells:
    count: 3
    template:
      services:
        - {name: one, nodes: 3, placement: [a, b, c], needs: 1, database: none}
        - {name: most, nodes: 4, placement: [a, b, c], needs: 3, database: none}
        - {name: all, nodes: 2, placement: [a, b], needs: 2, database: none}
workload: {mix: {reads: 0.5, intra_cell: 0.5, cross_cell: 0},
           paths: {reads: [one, all], intra_cell: [most, one]}}
failures:
  components:
    server: {rate: 6/yr, mttr: 3d}
    app_process: {rate: 20/yr, mttr: 12h}
  correlated:
    rack: {rate: 2/yr, duration: 1d}
    power: {rate: 1/yr, duration: 2d}
    idc: {rate: 1/yr, duration: 1d}
"""


def _run(index: int, bulk: bool):
    sc = load_scenario_text(SCENARIO)
    if not bulk:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(faults.components.bulk_nodes, "prepare", lambda *a: None)
            rep = Replication(sc, index, build_bank(sc))
            return rep.run(), rep
    rep = Replication(sc, index, build_bank(sc))
    return rep.run(), rep


@pytest.mark.parametrize("index", [0, 1, 2])
def test_bulk_nodes_give_the_figures_of_nodes_as_events(index):
    fast, bank = _run(index, True)
    slow, events_bank = _run(index, False)
    assert bank.bulk is not None and len(bank.bulk.servers) == 3 * 9
    assert events_bank.bulk is None
    assert fast.failed_req > 0  # services did fail: the comparison has teeth
    assert fast.sim_events < slow.sim_events
    for name in ("failed_req", "failed_time", "slow_req", "rpo_exposure"):
        assert math.isclose(getattr(fast, name), getattr(slow, name), rel_tol=1e-9, abs_tol=1e-12), name
    assert fast.outages == slow.outages
    assert fast.cause_failed.keys() == slow.cause_failed.keys()
    for k, v in fast.cause_failed.items():
        assert math.isclose(v, slow.cause_failed[k], rel_tol=1e-9, abs_tol=1e-12), k
    assert all(math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) for a, b in zip(fast.cell_failed, slow.cell_failed))
    # the raw episodes too (detail replication): the same spans, recorded in bulk
    key = lambda e: (e[4], e[5], round(e[1], 3))  # noqa: E731
    assert [key(e) for e in sorted(fast.events, key=key)] == [key(e) for e in sorted(slow.events, key=key)]
