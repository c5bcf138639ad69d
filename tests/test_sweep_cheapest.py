"""``hivesim sweep --target T --cheapest-first`` (sim.readers.cheapest): the full sweep's answer from
only the variants it needs, on the tiny two-cell scenario with cost figures of test_planning.

Each answer is checked against a full sweep of the same grid run here (no hard-coded result): the
same choice, runner-up, margins and text; the same summary for every variant both ran (wall time
aside); and skipped exactly the variants dearer than the runner-up.
"""

from __future__ import annotations

import csv
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.cli import main
from sim.readers.cheapest import cost_levels, hint, run_until_answered
from sim.readers.target import choose, meets, parse_target
from tests.test_planning import DETECTION, REPLICAS, TINY

COST = "cost.per_account_per_year"
# replicas 1-5: five cost levels (detection changes no cost: two variants per level)
GRID = ["--set", f"{REPLICAS}=1,2,3,4,5", "--set", f"{DETECTION}=10s,60s"]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    p = tmp_path_factory.mktemp("cheapest") / "tiny.yaml"
    p.write_text(TINY)
    return p


def _sweep(scenario, name, *extra):
    out = scenario.parent / name
    rc = main(["sweep", str(scenario), *GRID, "--out", str(out), "--workers", "2", "-q", *extra])
    return rc, out, json.loads((out / "table.json").read_text())


def _without_wall(summary: dict) -> dict:
    summary = json.loads(json.dumps(summary))
    summary["run"].pop("wall_seconds")
    return summary


@pytest.fixture(scope="module")
def pair(scenario):
    target = ["--target", "availability.request.lower>=99.9%"]
    return _sweep(scenario, "full", *target), _sweep(scenario, "cheapest", *target, "--cheapest-first")


def test_the_same_answer_as_the_full_sweep(pair):
    (rc_full, _, full), (rc, out, doc) = pair
    assert rc == rc_full == 0 and doc["run"]["status"] == "ok"
    a, b = full["selection"], doc["selection"]
    assert a["best"] is not None and a["runner_up"] is not None  # the grid asks a question with an answer
    assert (b["best"], b["runner_up"], b["margins"], b["text"]) == (a["best"], a["runner_up"], a["margins"], a["text"])
    assert set(b["met"]) <= set(a["met"]) and {b["best"], b["runner_up"]} <= set(b["met"])
    for r_full, r in zip(full["rows"], doc["rows"]):
        if r["status"] == "ok":
            assert (r["target.met"], r["target.choice"]) == (r_full["target.met"], r_full["target.choice"])


def test_runs_only_what_the_answer_needs(pair):
    (_, full_out, full), (_, out, doc) = pair
    rows, info = doc["rows"], doc["cheapest_first"]
    runner_up_cost = full["rows"][full["selection"]["runner_up"]][COST]
    dearer = {r["variant"] for r in full["rows"] if r[COST] > runner_up_cost}
    assert dearer, "the grid has variants dearer than the runner-up: something to skip"
    assert {r["variant"] for r in rows if r["status"] == "skipped"} == dearer
    assert info["skipped"] == len(dearer) and info["variants_run"] == len(rows) - len(dearer)
    assert info["levels"] == 5 and info["levels_run"] < 5
    for i, r in enumerate(rows):
        if r["status"] == "skipped":
            assert r[COST] is None and r["pareto"] is False and not (out / "summaries" / f"{i:03d}.json").exists()
            continue
        assert r["status"] == "ok" and r[COST] == info["planned"][i]  # the order's basis is the summary's figure
        ran = json.loads((out / "summaries" / f"{i:03d}.json").read_text())
        want = json.loads((full_out / "summaries" / f"{i:03d}.json").read_text())
        assert _without_wall(ran) == _without_wall(want)
    with open(out / "table.csv") as f:
        assert [r["status"] for r in csv.DictReader(f)] == [r["status"] for r in rows]


def test_a_full_sweep_says_what_cheapest_first_would_have_run(pair):
    (_, full_out, full), (_, _, doc) = pair
    sums = [json.loads(p.read_text()) for p in sorted((full_out / "summaries").glob("*.json"))]
    met = full["selection"]["met"]
    ran = doc["cheapest_first"]["variants_run"]
    assert hint(sums, met, COST) == f"--cheapest-first would have given this answer from {ran} of the 10 variants"
    assert hint(sums, met, "downtime_minutes_per_year.mean") is None  # not known before simulating
    assert hint(sums[:1] + [RuntimeError("failed")] + sums[2:], met, COST) is None  # a variant's cost unknown


def test_no_variant_meets_every_level_runs(scenario):
    target = ["--target", "availability.request.lower>=99.99999%"]
    rc_full, _, full = _sweep(scenario, "none-full", *target)
    rc, _, doc = _sweep(scenario, "none-cheapest", *target, "--cheapest-first")
    assert rc == rc_full == 1
    assert doc["selection"] == full["selection"] and doc["selection"]["closest_miss"] is not None
    assert doc["cheapest_first"]["skipped"] == 0 and all(r["status"] == "ok" for r in doc["rows"])


def _summary(lower: float, cost: float) -> dict:
    """What ``choose`` reads of a summary: the availability interval and the cost."""
    return {"availability": {"request": {"mean": lower + 1e-4, "ci95": [lower, lower + 2e-4]}},
            "cost": {"per_account_per_year": cost}}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 4), st.sampled_from([0.997, 0.9985, 0.9991, 0.9993, 0.9995])),
                min_size=1, max_size=9))
def test_the_stopping_rule_gives_the_full_sweeps_answer(variants):
    """Any costs (ties included) and verdicts: the levels the rule runs give ``choose`` the answer
    it gives on every variant, and no level dearer than the runner-up's runs."""
    target = parse_target("availability.request.lower>=99.9%")
    sums = [_summary(lower, float(cost)) for cost, lower in variants]
    full = choose([{"variant": f"v{i}", "status": "ok"} for i in range(len(sums))], sums, target, COST)
    ran: set[int] = set()

    def run_level(k, level):
        ran.update(level)
        return sum(meets(sums[i], target, COST) for i in level)

    run_until_answered(cost_levels([float(c) for c, _ in variants]), run_level)
    part = choose([{"variant": f"v{i}", "status": "ok" if i in ran else "skipped"} for i in range(len(sums))],
                  [s if i in ran else None for i, s in enumerate(sums)], target, COST)
    assert (part.best, part.runner_up, part.closest_miss, part.margins, part.text) == \
        (full.best, full.runner_up, full.closest_miss, full.margins, full.text)
    if full.runner_up is not None:
        assert max(variants[i][0] for i in ran) == variants[full.runner_up][0]
    else:
        assert len(ran) == len(sums)


def test_cost_levels_ascending_ties_together_in_input_order():
    assert cost_levels([3.0, 1.0, 2.0, 1.0, 3.0]) == [[1, 3], [2], [0, 4]]
    assert cost_levels([]) == []


@pytest.mark.parametrize("extra, words", [
    (["--cheapest-first"], "go with --target"),
    (["--cheapest-first", "--target", "availability.request.lower>=99.9%", "--minimize",
      "downtime_minutes_per_year.mean"], "known only after simulating"),
    (["--cheapest-first", "--target", "availability.request.lower>=99.9%", "--minimize", "cost.per_extra_nine"],
     "it needs the availability"),
])
def test_bad_input_is_one_line_exit_2_nothing_written(scenario, tmp_path, capsys, extra, words):
    out = tmp_path / "never"
    assert main(["sweep", str(scenario), "--set", f"{REPLICAS}=1,3", "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1 and not out.exists()


def test_a_scenario_without_cost_is_refused_before_running(tmp_path, capsys):
    sc = tmp_path / "nocost.yaml"
    sc.write_text(TINY.split("cost:")[0])
    out = tmp_path / "never"
    assert main(["sweep", str(sc), "--set", f"{REPLICAS}=1,3", "--target", "availability.request.lower>=99.9%",
                 "--cheapest-first", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "has no cost: section" in err and len(err.splitlines()) == 1 and not out.exists()


def test_a_dask_cluster_gives_the_same_table(pair, scenario):
    """The cost levels on a Dask LocalCluster of 2 workers: the same rows as on the local pool."""
    distributed = pytest.importorskip("distributed")
    (_, _, _), (_, _, local) = pair
    out = scenario.parent / "cheapest-dask"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        assert main(["sweep", str(scenario), *GRID, "--out", str(out), "--scheduler", cluster.scheduler_address,
                     "-q", "--target", "availability.request.lower>=99.9%", "--cheapest-first"]) == 0
    remote = json.loads((out / "table.json").read_text())

    def rows(doc):
        return [{k: v for k, v in r.items() if k != "run.wall_seconds"} for r in doc["rows"]]

    assert rows(remote) == rows(local) and remote["selection"] == local["selection"]
    assert remote["cheapest_first"] == local["cheapest_first"] and remote["scheduler"] != local["scheduler"]
