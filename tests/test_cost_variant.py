"""The cost variant is visible (issue 16, item 6): when ``cost.compare_with`` runs a second
simulation, it has its own line in the progress display, its own wall time and a note in
summary.json."""

from __future__ import annotations

import json

import sim.runner
from sim.runner import run_to_dir, simulate_full
from sim.scenario import load_scenario

SETS = ["simulation.replications=2", "simulation.horizon=30d", "simulation.seed=4"]


def test_the_cost_variant_has_its_own_progress_line_wall_time_and_note(monkeypatch):
    shown = []

    def recording_bar():
        bar = _real()
        shown.append(bar)
        return bar

    _real = sim.runner.progress_bar
    monkeypatch.setattr(sim.runner, "progress_bar", recording_bar)
    sc = load_scenario("scenarios/webank-2023.yaml", SETS)
    summary, _ = simulate_full(sc, workers=1, progress=True)
    assert len(shown) == 1  # one display for the run ...
    tasks = shown[0].tasks  # ... with one line per simulation
    assert [(t.fields["what"], t.description) for t in tasks] == [
        ("simulating", "webank-2023"), ("cost variant", "webank-2023-two-replicas")]
    assert all(t.completed == t.total == 2 for t in tasks)
    cv = summary["cost_variant"]
    assert cv["name"] == "webank-2023-two-replicas" and cv["replications"] == 2
    assert 0 < cv["wall_seconds"] <= summary["run"]["wall_seconds"]
    assert "second simulation of 2 replications" in cv["note"] and "cost.compare_with" in cv["note"]
    assert "topology.cells.template.db.replicas=2" in cv["note"]


def test_the_cost_variant_is_in_summary_json_and_without_progress_too(tmp_path):
    sc = load_scenario("scenarios/webank-2023.yaml", SETS)
    out, _ = run_to_dir(sc, tmp_path / "run", workers=1, progress=False)
    cv = json.loads((out / "summary.json").read_text())["cost_variant"]
    assert cv["wall_seconds"] > 0 and cv["note"].startswith("a second simulation of 2 replications")


def test_no_cost_variant_no_second_simulation():
    sc = load_scenario("scenarios/examples/one-cell.yaml", ["simulation.replications=2"])
    summary, _ = simulate_full(sc, workers=1)
    assert "cost_variant" not in summary


def test_the_runs_own_results_are_announced_before_its_cost_variant_finishes(tmp_path):
    # run_to_dir formats the run's CSV files as soon as its own replications are in, while the
    # variant still simulates (sim.runner.simulate_many's on_results): called once, with exactly
    # the results returned, and the files are those formatted from them at the end
    from sim.executors import LocalPool
    from sim.rundir import run_csvs
    from sim.runner import simulate_many
    sc = load_scenario("scenarios/webank-2023.yaml", SETS + ["simulation.replications=3"])
    calls, variant_done = [], []
    ex = LocalPool(1)  # in this process, chunks in order: the variant's come after the run's
    real_run = ex.run

    def recording_run(tasks):
        for ti, res, exc in real_run(tasks):
            if tasks[ti].scenario.name != sc.name:
                variant_done.append(len(calls))
            yield ti, res, exc

    ex.run = recording_run
    (summary, results), = simulate_many([sc], ex, on_results=lambda i, res: calls.append((i, res)))
    assert len(calls) == 1 and calls[0][0] == 0 and calls[0][1] == results
    assert variant_done and variant_done[0] == 1  # the run's results came before the variant's first chunk
    out, _ = run_to_dir(sc, tmp_path / "run", workers=2, progress=False)
    for name, text in run_csvs(sc, results).items():
        assert (out / name).read_text() == text
