"""Run a scenario's replications (in parallel) and turn them into a run directory.

``simulate(scenario)`` is pure: for a given scenario and seed it returns the same summary
whatever the number of workers and wherever they run (each replication has its own seeded
generator and results are aggregated in replication order). Where the replications run is
``sim.executors``' business (local process pool or Dask cluster); ``simulate_many`` sends the
chunks of several scenarios (a run and its cost variant, or a sweep's variants) there as one
batch, each distinct simulation once (``sim.batch``). ``run_to_dir`` adds the results contract's
files. Sweeps (``sim.readers.sweep``) and benchmarks call these."""

from __future__ import annotations

import copy
import os
import time
import traceback
from contextlib import closing, contextmanager
from pathlib import Path

from sim.engine import ReplicationResult, run_replication
from sim.errors import ScenarioError
from sim.metrics import aggregate
from sim.metrics.intervals import warm_up
from sim.model import build_bank
from sim.results import default_run_dir, new_run_id, write_run_dir
from sim.results.schema import run_block, scenario_file_ref, summary_header, utc_iso
from sim.rundir import run_csvs
from sim.scenario import Scenario, scenario_sha256
from sim.scenario.chaos_effects import CREDIT_DELAY

__all__ = ["simulate", "simulate_full", "simulate_many", "run_to_dir", "resolve_workers", "summary_extras",
           "progress_bar", "progress_display", "run_to_dir_full"]


def resolve_workers(sc: Scenario, workers: int | None = None) -> int:
    w = workers if workers is not None else sc.simulation.workers
    if w == "auto" or w is None:
        from sim.executors import usable_cpus
        w = usable_cpus()
    return max(1, min(int(w), sc.simulation.replications))


_MODELS: dict[str, tuple] = {}


def _models(sc: Scenario):
    """Deterministic per-scenario structures shared by the replications of one worker.

    Cached per worker process (a pool reuses its processes across chunks), because the
    capacity model's queueing tables take ~0.1 s per tier state to build. Threads of one Dask
    worker share the cache: its objects only memoise pure functions, so a race computes the
    same value twice, never a different one.
    """
    key = scenario_sha256(sc)
    if key not in _MODELS:
        if len(_MODELS) > 8:
            _MODELS.clear()
        _MODELS[key] = _build_models(sc)
    return _MODELS[key]


def _build_models(sc: Scenario):
    plan = build_bank(sc)
    cm = None
    if sc.capacity is not None:
        from sim.capacity import CapacityModel
        cm = CapacityModel(sc, plan)
    return plan, cm


def _chunk(sc: Scenario, indices: list[int], keep_events: bool = True) -> list[ReplicationResult]:
    """A task: replications ``indices`` of ``sc`` (events dropped when only the summary is wanted,
    as in sweeps: they are most of a result's bytes; the ``credit-delay`` rows, few, are kept:
    summary.json's ``chaos`` reads them)."""
    plan, cm = _models(sc)
    out = [run_replication(sc, i, plan, cm) for i in indices]
    if not keep_events:
        for r in out:
            r.events = [e for e in r.events if e[6] == CREDIT_DELAY]
    return out


def _whole(sc: Scenario):
    """A task: a whole request-mode simulation (its lanes are vectorised in one process)."""
    from sim.request.mode import simulate_request_mode
    return simulate_request_mode(sc, workers=1, progress=False)


def progress_bar():
    """The run's progress display: one line per simulation (the run, then its cost variant), on
    stderr so ``hivesim run > out.txt`` or ``| tee`` keeps the bars visible and stdout clean."""
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)
    return Progress(TextColumn("[bold]{task.fields[what]}[/] {task.description}"), BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(), transient=True,
                    console=Console(stderr=True))


def _variant_note(sc: Scenario, variant: Scenario) -> str:
    changed = ", ".join(f"{k}={v!r}" for k, v in sc.cost.compare_with.set.items()) or "no change"
    return (f"a second simulation of {variant.simulation.replications} replications was run, of the variant "
            f"{variant.name!r} ({changed}) with the same seeds, because cost.compare_with asks what one extra "
            f"nine costs; it ran alongside the first on the same workers, and cost_variant.wall_seconds is "
            f"the time until its last replication finished, within run.wall_seconds")


def summary_extras(sc: Scenario, summary: dict, results: list[ReplicationResult],
                   variant: tuple | None = None) -> None:
    """Add capacity (throughput, latency, request_slo) and cost figures when modelled.

    ``variant``: ``(scenario, its replications, its wall seconds)`` of the cost variant
    (``cost.compare_with``), simulated alongside the run (``simulate_many``).
    """
    from sim.metrics import block_from_replications
    if sc.capacity is not None:
        import numpy as np

        from sim.capacity import latency_summary, throughput_summary
        summary["throughput"] = throughput_summary(sc)
        hist = np.sum([r.latency_hist for r in results], axis=0)
        summary["latency_ms"] = latency_summary(hist)
        summary["availability"]["request_slo"] = block_from_replications(
            [r.availability_request_slo for r in results], [r.outages for r in results])
    if sc.cost is not None:
        from sim.cost import cost_summary
        nines = summary["availability"]["request"].get("nines")
        variant_nines = None
        if variant is not None:
            vsc, vresults, vwall = variant
            vagg = aggregate(vresults)
            variant_nines = vagg["availability"]["request"].get("nines")
            summary["cost_variant"] = {"name": vsc.name,
                                       "availability": vagg["availability"]["request"],
                                       "downtime_minutes_per_year": vagg["downtime_minutes_per_year"],
                                       "replications": vsc.simulation.replications,
                                       "wall_seconds": vwall,
                                       "note": _variant_note(sc, vsc)}
        variant_ci = summary.get("cost_variant", {}).get("availability", {}).get("ci95")
        summary["cost"] = cost_summary(sc, nines, variant_nines,
                                       ci=summary["availability"]["request"].get("ci95"), variant_ci=variant_ci)


@contextmanager
def progress_display(progress):
    """The rich Progress to draw on: the one given, a new one (``True``, stopped at the end) or None."""
    if progress is True:
        bar = progress_bar()
        bar.start()
        try:
            yield bar
        finally:
            bar.stop()
    else:
        yield progress or None


def _summarize(sc: Scenario, results: list[ReplicationResult], companions: dict, ex, ready: float) -> dict:
    """The summary of ``sc``; ``companions``: ``{role: (scenario, results, wall seconds)}`` of the
    simulations it asked for (``sim.batch.companions``); ``ready``: seconds from the batch's start
    until all of them were done, to which the time spent here is added."""
    t0 = time.perf_counter()
    summary = summary_header("simulation")
    summary.update(aggregate(results))
    summary["estimator"] = {"method": "naive", "replications": len(results)}
    if sc.simulation.estimator == "importance":
        from sim.rare.scenario import estimate_scenario
        # the fluid replications still give every figure; the rare-event estimator adds the bank's
        # quorum-loss figure and, with naive replications of the quorum-1 bank (frequent causes),
        # one bank figure with one interval (sim/rare/scenario.py)
        freq = aggregate(companions["frequent causes"][1])["availability"]["request"]
        frag = estimate_scenario(sc, frequent=(1.0 - freq["mean"], freq["half_width"] or 0.0, len(results)))
        summary["estimator"] = {**frag["estimator"], "naive_replications": len(results)}
        summary["availability"].update(frag["availability"])
        summary["downtime_minutes_per_year"].update(frag["downtime_minutes_per_year"])
        summary["durability"] = frag["durability"]
    else:
        from sim.rare.durability import durability_summary
        summary["durability"] = durability_summary(sc, summary)
    summary_extras(sc, summary, results, companions.get("cost variant"))
    summary["run"] = run_block(sc, workers=ex.workers, scheduler=ex.name,
                               wall_seconds=ready + time.perf_counter() - t0)
    summary["scenario"] = sc.model_dump(mode="json")
    return summary


def simulate_many(scenarios: list[Scenario], ex, bar=None, label: str | None = None,
                  keep_events: bool = True, fail_fast: bool = True, on_results=None,
                  done: dict | None = None) -> list:
    """Simulate every scenario on executor ``ex`` (``sim.executors``) as ONE batch of tasks.

    Each scenario's replications (and its cost variant's) are cut into chunks and every chunk
    of every scenario is submitted at once, so the workers stay busy across scenarios. A
    simulation several summaries need (``sim.batch``: one cost variant for two sweep variants)
    runs once and every one of them gets its results. Returns,
    per scenario in order, ``(summary, results)``, or (``fail_fast=False``, sweeps) the exception
    one of its tasks raised. ``bar``: a rich Progress; one line per simulation run, or one line
    ``label`` counting every replication run (and saying how many simulations were shared).
    Results are put back in replication order, so they do not depend on the executor, its
    worker count or the chunking. ``on_results(i, results)``: called once scenario ``i``'s own
    replications are all in, while its companions (a cost variant) may still run, so the caller
    can prepare what needs only those (``run_to_dir``: the CSV files) on a core the workers leave
    idle (the main process waits for them). ``done``: simulation key (``sim.batch.simulation_key``)
    -> its chunks' results, from earlier batches of the same caller (a cheapest-first sweep's cost
    levels, ``sim.readers.cheapest``): a simulation found there is not run again (its results were
    in before this batch began: 0 s of its wall time), and every one this batch runs is added.
    """
    from sim.batch import share, simulation_key, simulations
    from sim.executors import Task, chunk_size, chunks
    t0 = time.perf_counter()
    failed: dict[int, BaseException] = {}
    sims = simulations(scenarios, failed)
    if failed and fail_fast:
        raise next(iter(failed.values()))
    sim_keys = [simulation_key(role, s) for _, role, s in sims]
    first = share(sims, sim_keys)  # a repeat (first[k] != k) runs nothing: it takes simulation first[k]'s results
    needers: dict[int, list[int]] = {}  # simulation that runs -> every simulation that takes its results
    for j, f in enumerate(first):
        needers.setdefault(f, []).append(j)
    parts: list[list] = [[] for _ in sims]
    keys = {k: sim_keys[k] for k in needers if sims[k][1] != "whole"} if done is not None else {}
    known = {k for k, key in keys.items() if key in done}  # simulated in an earlier batch: nothing to run
    for k in known:
        parts[k] = done[keys[k]]
        if on_results is not None:
            _announce(on_results, sims, needers[k], parts[k], failed)
    runs = [k for k in needers if k not in known]
    weight = {k: 1 if sims[k][1] == "whole" else sims[k][2].simulation.replications for k in runs}
    size = chunk_size(sum(w for k, w in weight.items() if sims[k][1] != "whole"), ex.workers)
    tasks, owner, left = [], [], [0] * len(sims)
    for k in runs:
        _, role, s = sims[k]
        for idx in [None] if role == "whole" else chunks(s.simulation.replications, size):
            tasks.append(Task(_whole, s) if idx is None else Task(_chunk, s, (idx, keep_events)))
            owner.append((k, 1 if idx is None else len(idx)))
            left[k] += 1
    lines = _progress_lines(bar, label, sims, needers, weight)
    done_at = [0.0] * len(sims)  # seconds from the start until each simulation's last task
    broken: set[int] = set()     # simulations a task of which raised
    # closing: a failure (or Ctrl-C) here cancels the tasks not run yet, now rather than at exit
    with closing(ex.run(tasks)) as completed:
        for ti, res, exc in completed:
            k, n = owner[ti]
            if exc is not None:
                if fail_fast:
                    raise exc
                broken.add(k)
                for j in needers[k]:  # every summary that needed it fails
                    failed.setdefault(sims[j][0], exc)
            else:
                parts[k].append(res)
            left[k] -= 1
            if lines:
                bar.advance(lines[k], n)
            if not left[k]:
                done_at[k] = time.perf_counter() - t0
                if on_results is not None:
                    _announce(on_results, sims, needers[k], parts[k], failed)
    for k in runs:
        if k in keys and k not in broken:
            done[keys[k]] = parts[k]
    for k, f in enumerate(first):
        if f != k:  # the same replications; a request-mode summary is a dict its owner updates: a copy
            parts[k] = copy.deepcopy(parts[f]) if sims[k][1] == "whole" else parts[f]
            done_at[k] = done_at[f]
    out: list = [None] * len(scenarios)
    for k, (i, role, s) in enumerate(sims):
        if i in failed or role not in ("simulating", "whole"):
            continue
        try:
            out[i] = _assemble(sims, k, parts, done_at, ex)
        except Exception as exc:  # noqa: BLE001
            if fail_fast:
                raise
            failed[i] = exc
    for i, exc in failed.items():
        out[i] = exc
    return out


def _announce(on_results, sims: list, users: list[int], parts: list, failed: dict) -> None:
    """``on_results(i, results in replication order)`` for each scenario ``i`` whose own simulation
    (not a companion's) this was and that has not failed."""
    mine = [j for j in users if sims[j][1] == "simulating" and sims[j][0] not in failed]
    if mine:
        results = sorted((r for part in parts for r in part), key=lambda r: r.index)
        for j in mine:
            on_results(sims[j][0], results)


def _progress_lines(bar, label: str | None, sims: list, needers: dict, weight: dict) -> dict:
    """The progress line of each simulation that runs (``weight``: its replications): its own
    line, or one line ``label`` for all, saying how many simulations were shared (``sim.batch``)."""
    if bar is None:
        return {}
    if label is not None:
        shared = len(sims) - len(weight)
        line = bar.add_task(f"{label}, {len(sims)} simulations, {shared} shared", total=sum(weight.values()),
                            what="sweep")
        return dict.fromkeys(weight, line)
    out = {}
    for k, w in weight.items():
        users = len(needers[k])
        name = sims[k][2].name + (f" (shared by {users})" if users > 1 else "")
        out[k] = bar.add_task(name, total=w, what=sims[k][1])
    return out


def _assemble(sims, k: int, parts: list[list], done_at: list[float], ex) -> tuple[dict, list]:
    """``(summary, results)`` of simulation ``k`` from its chunks (and its companions', next in
    ``sims``), in replication order."""
    i, role, sc = sims[k]
    if role == "whole":
        summary, results = parts[k][0]
        summary["run"].update(workers=ex.workers, scheduler=ex.name)
        return summary, results
    results = sorted((r for part in parts[k] for r in part), key=lambda r: r.index)
    companions = {}
    for j in range(k + 1, len(sims)):
        if sims[j][0] != i:
            break
        cres = sorted((r for part in parts[j] for r in part), key=lambda r: r.index)
        companions[sims[j][1]] = (sims[j][2], cres, done_at[j])
    ready = max([done_at[k]] + [c[2] for c in companions.values()])
    return _summarize(sc, results, companions, ex, ready), results


def simulate_full(sc: Scenario, workers: int | None = None, progress: bool = False, ex=None, on_results=None):
    """Run all replications; return (summary dict, replication results). Deterministic.

    ``ex``: an open executor (``sim.executors.open_executor``); default a local pool of
    ``workers`` processes (the scenario's ``simulation.workers`` when None). ``on_results``:
    ``simulate_many``'s (``results`` only; never called in request mode).
    """
    if ex is None and sc.simulation.mode == "request":
        from sim.executors import LOCAL_NAME
        from sim.request.mode import simulate_request_mode
        summary, results = simulate_request_mode(sc, workers=workers, progress=progress)
        summary["run"]["scheduler"] = LOCAL_NAME
        return summary, results
    if ex is None:
        from sim.executors import LocalPool
        ex = LocalPool(resolve_workers(sc, workers))
    with progress_display(progress) as bar:
        hook = None if on_results is None else (lambda _i, results: on_results(results))
        return simulate_many([sc], ex, bar, on_results=hook)[0]


def simulate(sc: Scenario, workers: int | None = None, progress: bool = False) -> dict:
    """The summary dict of a scenario's run (no files written)."""
    return simulate_full(sc, workers, progress)[0]


def run_to_dir(sc: Scenario, out: str | os.PathLike | None = None, workers: int | None = None,
               progress: bool = True, scenario_file: str | None = None,
               results_root: str | os.PathLike = "results", scheduler=None, meanwhile=None) -> tuple[Path, dict]:
    """Simulate and write the run directory; a failed run still leaves its config and error.

    ``scheduler``: a Dask scheduler address (``tcp://host:port``) or ``distributed.Client``
    to run the replications on (``sim.executors``); None = the local process pool.
    ``meanwhile()``: called once in this process when the run's own replications are in, while
    the workers may still simulate its cost variant (``hivesim run`` imports the report's
    modules then, instead of after the run).
    """
    target, summary, _ = run_to_dir_full(sc, out, workers, progress, scenario_file, results_root, scheduler,
                                         meanwhile)
    return target, summary


def run_to_dir_full(sc: Scenario, out: str | os.PathLike | None = None, workers: int | None = None,
                    progress: bool = True, scenario_file: str | None = None,
                    results_root: str | os.PathLike = "results", scheduler=None,
                    meanwhile=None) -> tuple[Path, dict, list]:
    """``run_to_dir``, also returning the replication results (``sim.simulate(..., results=True)``)."""
    from sim.executors import open_executor
    sha = scenario_sha256(sc)
    started = time.time()
    run_id = new_run_id(sha, started)
    target = Path(out) if out else default_run_dir(sc.name, run_id, results_root)
    # the executor opens (a Dask scheduler is reached and checked) before anything is written
    csvs: dict = {}  # the CSV files' text, formatted while the cost variant still simulates (sim.rundir)

    def own_results_in(results):
        csvs.update(run_csvs(sc, results))
        warm_up()  # scipy.special, for the summary's intervals
        if meanwhile is not None:
            meanwhile()
    with open_executor(scheduler, resolve_workers(sc, workers)) as ex:
        try:
            summary, results = simulate_full(sc, workers, progress, ex if scheduler is not None else None,
                                             on_results=own_results_in)
        except ScenarioError:
            raise  # bad input found late is still bad input: nothing written (sim.preflight should catch it first)
        except Exception as exc:
            summary = {**summary_header("simulation"),
                       "run": run_block(sc, status="failed", error=f"{type(exc).__name__}: {exc}",
                                        run_id=target.name, scenario_file=scenario_file,
                                        started_utc=utc_iso(started), scheduler=ex.name),
                       "scenario": sc.model_dump(mode="json")}
            write_run_dir(target, summary, sc.model_dump(mode="json"),
                          extra_files={"error.txt": traceback.format_exc()})
            raise
    summary["run"].update({"run_id": target.name, "scenario_file": scenario_file_ref(scenario_file),
                           "started_utc": utc_iso(started)})
    write_run_dir(target, summary, sc.model_dump(mode="json"), csvs=csvs or run_csvs(sc, results))
    return target, summary, results
