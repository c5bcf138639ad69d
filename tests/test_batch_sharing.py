"""A batch simulates each distinct simulation once (sim.batch): two sweep variants that differ only
in a key their cost variant sets share that cost variant, which runs once, and every summary is
the one it gets when run alone (wall times aside)."""

from __future__ import annotations

import copy

import pytest

from sim.batch import count_simulations, share, simulation_key, simulations
from sim.executors import LocalPool
from sim.readers.sweep import Variant, build_scenarios
from sim.runner import progress_bar, simulate_many
from sim.scenario import Scenario

BASE = ["simulation.replications=3", "simulation.horizon=30d", "simulation.seed=4"]
REPLICAS = "topology.cells.template.db.replicas"
TWO = [Variant("r2", {REPLICAS: 2}), Variant("r3", {REPLICAS: 3})]


class CountingPool(LocalPool):
    """The in-process pool, recording every task it is given: (simulation key, replications)."""

    def __init__(self):
        super().__init__(1)
        self.tasks = []

    def run(self, tasks):
        self.tasks += [(simulation_key("chunk", t.scenario), len(t.args[0])) for t in tasks]
        return super().run(tasks)


class FailingVariantPool(LocalPool):
    """The in-process pool whose tasks of the cost variant (``webank-2023-two-replicas``) fail."""

    def __init__(self):
        super().__init__(1)

    def run(self, tasks):
        for i, res, exc in super().run(tasks):
            if tasks[i].scenario.name == "webank-2023-two-replicas":
                res, exc = None, RuntimeError("planted failure")
            yield i, res, exc


def _without_wall(summary: dict) -> dict:
    s = copy.deepcopy(summary)
    assert s["run"].pop("wall_seconds") > 0
    if "cost_variant" in s:
        assert s["cost_variant"].pop("wall_seconds") > 0
    return s


@pytest.fixture(scope="module")
def two_variants():
    return build_scenarios("scenarios/webank-2023.yaml", TWO, BASE)


def test_a_shared_cost_variant_runs_once_and_gives_the_figures_of_separate_runs(two_variants):
    pool, bar = CountingPool(), progress_bar()
    together = simulate_many(two_variants, pool, bar, label="sweep", keep_events=False, fail_fast=False)
    # r2, r3 and ONE cost variant: 3 simulations of 3 replications, not 4
    assert sum(n for _, n in pool.tasks) == 9 and len({k for k, _ in pool.tasks}) == 3
    (line,) = bar.tasks
    assert line.description == "sweep, 4 simulations, 1 shared" and line.completed == line.total == 9
    for sc, (summary, results) in zip(two_variants, together):
        alone_pool = CountingPool()
        (alone,) = simulate_many([sc], alone_pool, keep_events=False)
        assert sum(n for _, n in alone_pool.tasks) == 6  # alone it runs its cost variant itself
        assert _without_wall(summary) == _without_wall(alone[0])
        assert results == alone[1]
    a, b = (s for s, _ in together)
    assert a["scenario"]["topology"] != b["scenario"]["topology"]  # two variants ...
    assert _without_wall(a)["cost_variant"] == _without_wall(b)["cost_variant"]  # ... one cost variant


def test_a_simulation_an_earlier_batch_ran_is_not_run_again(two_variants):
    """``done`` carries simulations across batches (a cheapest-first sweep's cost levels): the second
    variant's batch runs its own replications only and gives the summary it gets alone."""
    pool, done = CountingPool(), {}
    (first,) = simulate_many(two_variants[:1], pool, keep_events=False, done=done)
    assert sum(n for _, n in pool.tasks) == 6 and len(done) == 2  # r2 and the cost variant
    pool.tasks.clear()
    (second,) = simulate_many(two_variants[1:], pool, keep_events=False, done=done)
    assert sum(n for _, n in pool.tasks) == 3 and len(done) == 3  # r3 only: its cost variant was done
    (alone,) = simulate_many(two_variants[1:], CountingPool(), keep_events=False)
    # its cost variant was in before the batch began: 0 s of it, none of run.wall_seconds
    variant, variant_alone = second[0].pop("cost_variant"), alone[0].pop("cost_variant")
    assert variant.pop("wall_seconds") == 0.0 and variant_alone.pop("wall_seconds") > 0
    assert variant == variant_alone and first[0]["cost_variant"]["wall_seconds"] > 0
    assert _without_wall(second[0]) == _without_wall(alone[0]) and second[1] == alone[1]


def test_a_failure_of_a_shared_simulation_fails_every_summary_that_needs_it(two_variants):
    out = simulate_many(two_variants, FailingVariantPool(), keep_events=False, fail_fast=False)
    assert [str(o) for o in out] == ["planted failure", "planted failure"]


def test_name_and_description_change_no_replication_and_are_left_out_of_the_key(two_variants):
    sc = two_variants[0]
    renamed = Scenario.model_validate({**sc.model_dump(mode="python"), "name": "another-name",
                                       "description": "another description"})
    (a,), (b,) = (simulate_many([s], LocalPool(1)) for s in (sc, renamed))
    assert a[1] == b[1]  # every replication, events included
    assert a[0]["scenario"]["name"] == "webank-2023" and b[0]["scenario"]["name"] == "another-name"
    assert simulation_key("chunk", sc) == simulation_key("chunk", renamed)
    # a request-mode simulation returns a summary echoing its scenario: compared whole
    assert simulation_key("whole", sc) != simulation_key("whole", renamed)
    seed = Scenario.model_validate({**sc.model_dump(mode="python"),
                                    "simulation": {**sc.simulation.model_dump(), "seed": 5}})
    assert simulation_key("chunk", sc) != simulation_key("chunk", seed)


def test_the_bench_grid_needs_64_simulations_of_which_48_distinct():
    from benchmarks.p7_sweep import SUBSET, simulation_counts, variants
    every = variants()
    assert simulation_counts(every) == (64, 48)  # what P7's estimate scales by
    assert simulation_counts([every[i] for i in SUBSET]) == (4, 4)  # the corners share nothing
    grid = build_scenarios("scenarios/webank-2023.yaml", [Variant(v["name"], v["set"]) for v in every])
    assert count_simulations(grid) == (64, 48)
    first = share(simulations(grid, {}))
    # the repeats are exactly the cost variants of the replicas-3 half (variants 16-31)
    assert [k // 2 for k, f in enumerate(first) if f != k] == list(range(16, 32))
