"""Reproducibility: the same scenario and seed give the same summary whatever the worker count."""

from __future__ import annotations

from sim.runner import simulate
from sim.scenario import load_scenario

SMALL = ["simulation.replications=6", "simulation.horizon=90d", "topology.cells.count=8"]


def _strip(summary):
    s = dict(summary)
    s["run"] = {k: v for k, v in s["run"].items() if k not in ("wall_seconds", "workers")}
    if "cost_variant" in s:  # the cost variant's second simulation has a wall time of its own
        s["cost_variant"] = {k: v for k, v in s["cost_variant"].items() if k != "wall_seconds"}
    return s


def test_same_seed_same_summary_with_1_and_2_workers():
    sc = load_scenario("scenarios/webank-2023.yaml", SMALL)
    a = simulate(sc, workers=1)
    b = simulate(sc, workers=2)
    c = simulate(sc, workers=1)
    assert _strip(a) == _strip(b) == _strip(c)
    assert a["outages"]["count"] > 0  # the comparison is not between empty runs


def test_different_seed_differs():
    a = simulate(load_scenario("scenarios/webank-2023.yaml", SMALL), workers=1)
    b = simulate(load_scenario("scenarios/webank-2023.yaml", SMALL + ["simulation.seed=99"]), workers=1)
    assert a["availability"]["request"]["mean"] != b["availability"]["request"]["mean"]


def test_replication_streams_do_not_depend_on_replication_count():
    """Replication i is the same whether the run has 3 or 6 replications."""
    from sim.engine import run_replication
    a = run_replication(load_scenario("scenarios/webank-2023.yaml", SMALL), 2)
    b = run_replication(load_scenario("scenarios/webank-2023.yaml",
                                      SMALL + ["simulation.replications=3"]), 2)
    assert a.failed_req == b.failed_req and a.events == b.events
