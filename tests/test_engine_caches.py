"""The lean engine's caches change no figure: each is checked against the uncached computation.

Exact equality throughout (no tolerance): a cache returns the very floats it stored, so any
difference is a bug. Cheap: small horizons, a few replications.
"""

import dataclasses

import numpy as np

from sim.capacity import CapacityModel
from sim.engine import run_replication
from sim.engine.replication import Replication
from sim.model import build_bank
from sim.request.fifo import fifo_lanes
from sim.scenario import load_scenario

GRAY = "failures.gray={rate: 6/yr, duration: 2h, capacity_factor: 0.3, targets: [app, db]}"
# a bank whose cells often run below nominal capacity: gray nodes, weak standbys, two app nodes
TIGHT = ["simulation.horizon=40d", GRAY, "capacity.standby_factor=0.3",
         "topology.cells.template.app.nodes=2", "topology.cells.count=6",
         "workload.transactions_per_day=60_000_000/day", "failures.components.app_process.mttr=5h",
         "simulation.timeseries_step=10m"]


def _tight():
    return load_scenario("scenarios/webank-2023.yaml", TIGHT)


def test_cached_models_give_the_replication_of_fresh_ones(monkeypatch):
    """run_replication's per-scenario plan and capacity tables vs a bank built from scratch."""
    from sim.engine.capacity_overlay import CapacityOverlay
    closed = []
    close = CapacityOverlay.close_period
    monkeypatch.setattr(CapacityOverlay, "close_period", lambda self, c, now: closed.append(c) or close(self, c, now))
    sc = _tight()
    for i in (0, 3):
        closed.clear()
        cached = dataclasses.asdict(run_replication(sc, i))
        assert closed  # cells ran below nominal capacity: the overlay's caches were exercised
        cm = CapacityModel(sc)
        fresh = dataclasses.asdict(Replication(sc, i, build_bank(sc), capacity=cm).run())
        assert cached == fresh
        assert (cached["timeseries"] is not None) == (i == 0)  # replication 0's, from the caches


def test_capacity_cache_still_records_the_last_state_asked():
    """interval_effect reads the tier state that last produced a capacity: cached answers too."""
    m = CapacityModel(_tight())
    cap = m.cell_capacity_tps(0, 2, 0, 1.0)
    assert m.cell_capacity_tps(0, 1, 1, 1.0) != cap  # another state, another capacity
    state = m._state_for(0, m.cell_capacity_tps(0, 2, 0, 1.0))  # cached answer: record refreshed
    assert state == (2.0, 1.0)
    e1 = m.interval_effect(0, cap, 0.0, 86400.0)
    e2 = CapacityModel(_tight()).interval_effect(0, CapacityModel(_tight()).cell_capacity_tps(0, 2, 0, 1.0),
                                                 0.0, 86400.0)
    assert e1.slow == e2.slow and np.array_equal(e1.latency_hist, e2.latency_hist)


def test_fifo_lanes_without_start_times_gives_the_same_finishes():
    rng = np.random.default_rng(5)
    arr = np.sort(rng.random((30, 200)) * 40.0, axis=1)
    svc = rng.exponential(1.0, (30, 200))
    start, finish = fifo_lanes(arr, svc, 4)
    none, finish2 = fifo_lanes(arr, svc, 4, want_start=False)
    assert none is None and np.array_equal(finish, finish2)
    assert (start >= arr).all() and np.array_equal(finish, start + svc)


def test_bench_sweep_grid_is_32_valid_variants():
    from benchmarks.p7_sweep import variants
    from sim.readers.sweep import Variant, build_scenarios
    vs = variants()
    assert len(vs) == 32 and len({v["name"] for v in vs}) == 32
    built = build_scenarios("scenarios/webank-2023.yaml", [Variant(v["name"], v["set"]) for v in vs[:2] + vs[-1:]])
    assert built[0].topology.cells.template.db.replicas == 2
    assert built[-1].topology.cells.template.app.nodes == 12
