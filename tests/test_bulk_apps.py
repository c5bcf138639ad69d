"""App nodes drawn in bulk (sim/engine/faults/bulk_apps.py) against the same nodes as events.

Without bulk app nodes an app node's failures and repairs are steps of the pre-drawn timelines'
walker (``faults.timed``), drawn from the very same keys, so both replications see the same
faults at the same instants: every figure must agree (to float rounding). Tight capacity (a
node down slows or sheds at the peak), ``min_nodes`` of n - 1 and n (a step of level >= 2, and
every step, may flip the tier), long repairs and racks, power domains and IDCs holding nodes
exercise the flips, the holders and the capacity overlay's replay.
"""

from __future__ import annotations

import math

import pytest

from sim.engine.faults import bulk_apps, components
from sim.engine.replication import Replication
from sim.model import build_bank
from sim.scenario import load_scenario_text

SCENARIO = """
name: bulk-apps
simulation: {{horizon: 200d, replications: 1, seed: 7, workers: 1, timeseries_step: 1d}}
topology:
  regions: [{{name: r, idcs: [{{name: a}}, {{name: b}}, {{name: c}}]}}]
  servers_per_rack: 4
  racks_per_power_domain: 2
  cells:
    count: 3
    template:
      app: {{nodes: 4, min_nodes: {min_nodes}, capacity_tps: 100, placement: [a, b, c]}}
      db: {{replicas: 3, placement: [a, b, c], capacity_tps: 2000}}
workload:
  transactions_per_day: 30_000_000/day
  profile: {{peak_factor: 3, peak_hour: 12}}
failures:
  components:
    server: {{rate: 6/yr, mttr: 3d}}
    app_process: {{rate: 20/yr, mttr: 12h}}
  correlated:
    rack: {{rate: 2/yr, duration: 1d}}
    power: {{rate: 1/yr, duration: 2d}}
    idc: {{rate: 1/yr, duration: 1d}}
capacity:
  app_node: {{cores: 4}}
  db_node: {{cores: 8}}
"""


def _run(text: str, index: int, bulk: bool):
    sc = load_scenario_text(text)
    components._STEPS._store.clear()  # which entries go to bulk_apps is cached per plan
    with pytest.MonkeyPatch.context() as mp:
        if not bulk:
            mp.setattr(bulk_apps, "eligible", lambda sc: False)
        rep = Replication(sc, index, build_bank(sc))
        result = rep.run()
    components._STEPS._store.clear()
    return result, rep


def _close(a, b) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


@pytest.mark.parametrize("min_nodes", [3, 4])
@pytest.mark.parametrize("index", [0, 1, 2])
def test_bulk_app_nodes_give_the_figures_of_nodes_as_events(min_nodes, index):
    text = SCENARIO.format(min_nodes=min_nodes)
    fast, bank = _run(text, index, True)
    slow, events_bank = _run(text, index, False)
    assert bank.bulk_apps is not None and len(bank.bulk_apps.servers) == 3 * 4
    assert events_bank.bulk_apps is None
    assert fast.failed_req > 0 and fast.slow_req > 0  # the comparison has teeth
    assert fast.cause_failed.get("app-server", 0) > 0
    assert min_nodes == 4 or fast.cause_failed.get("capacity", 0) > 0  # below 4 nodes: shed
    if min_nodes == 3:  # only steps at a level >= 2 come as events (with 4, each step may flip)
        assert fast.sim_events < slow.sim_events
    for name in ("failed_req", "failed_time", "slow_req", "rpo_exposure"):
        assert _close(getattr(fast, name), getattr(slow, name)), name
    assert fast.outages == slow.outages
    assert fast.cause_failed.keys() == slow.cause_failed.keys()
    for k, v in fast.cause_failed.items():
        assert _close(v, slow.cause_failed[k]), k
    assert all(_close(a, b) for a, b in zip(fast.cell_failed, slow.cell_failed))
    assert all(_close(a, b) for a, b in zip(fast.latency_hist, slow.latency_hist))
    if index == 0:  # the timeseries replication: slow and shed requests bucket by bucket
        for name in ("failed", "slow", "cells_down"):
            assert all(_close(a, b) for a, b in zip(fast.timeseries[name], slow.timeseries[name])), name
    key = lambda e: (e[4], e[5], round(e[1], 3), e[6])  # noqa: E731
    assert [key(e) for e in sorted(fast.events, key=key)] == [key(e) for e in sorted(slow.events, key=key)]
