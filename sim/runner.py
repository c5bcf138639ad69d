"""Run a scenario's replications (in parallel) and turn them into a run directory.

``simulate(scenario)`` is pure: for a given scenario and seed it returns the same summary
whatever the number of worker processes (each replication has its own seeded generator and
results are aggregated in replication order). ``run_to_dir`` adds the results contract's
files. Sweeps (``sim.readers.sweep``) and benchmarks call these.
"""

from __future__ import annotations

import math
import os
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path

from sim.engine import ReplicationResult, run_replication
from sim.errors import ScenarioError
from sim.metrics import MINUTES_PER_YEAR, aggregate
from sim.model import build_bank
from sim.results import default_run_dir, new_run_id, write_run_dir
from sim.results.schema import run_block, scenario_file_ref, summary_header, utc_iso
from sim.scenario import Scenario, scenario_sha256

__all__ = ["simulate", "simulate_full", "run_to_dir", "resolve_workers", "summary_extras", "progress_bar",
           "run_to_dir_full"]


def resolve_workers(sc: Scenario, workers: int | None = None) -> int:
    w = workers if workers is not None else sc.simulation.workers
    if w == "auto" or w is None:
        w = os.cpu_count() or 1
    return max(1, min(int(w), sc.simulation.replications))


_MODELS: dict[str, tuple] = {}


def _models(sc: Scenario):
    """Deterministic per-scenario structures shared by the replications of one worker.

    Cached per worker process (a pool reuses its processes across chunks), because the
    capacity model's queueing tables take ~0.1 s per tier state to build.
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


def _work(sc: Scenario, indices: list[int]) -> list[ReplicationResult]:
    plan, cm = _models(sc)
    return [run_replication(sc, i, plan, cm) for i in indices]


def _chunks(n: int, workers: int) -> list[list[int]]:
    size = max(1, math.ceil(n / (workers * 4)))
    return [list(range(i, min(n, i + size))) for i in range(0, n, size)]


def progress_bar():
    """The run's progress display: one line per simulation (the run, then its cost variant), on
    stderr so ``hivesim run > out.txt`` or ``| tee`` keeps the bars visible and stdout clean."""
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)
    return Progress(TextColumn("[bold]{task.fields[what]}[/] {task.description}"), BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(), transient=True,
                    console=Console(stderr=True))


# The run's process pool: one for a run and its cost variant (``cost.compare_with``), so the
# variant's replications are queued right behind the run's and both keep every worker busy (no
# second pool start-up, no idle tail while the first simulation is being summarised).
_POOL: dict = {}


@contextmanager
def _run_pool(workers: int):
    if workers <= 1 or _POOL:  # one worker, or a pool already serves this run
        yield
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        _POOL.update(pool=pool, pending={})
        try:
            yield
        finally:
            for futs in _POOL["pending"].values():  # a failed run: drop what was queued
                for f in futs:
                    f.cancel()
            _POOL.clear()


def _submit(sc: Scenario, workers: int) -> list:
    pending = _POOL["pending"].pop(scenario_sha256(sc), None)
    if pending is not None:
        return pending
    return [_POOL["pool"].submit(_work, sc, idx) for idx in _chunks(sc.simulation.replications, workers)]


def _queue_cost_variant(sc: Scenario, workers: int | None) -> None:
    """Queue the cost variant's replications behind the run's (its results are read later)."""
    if sc.cost is None or sc.cost.compare_with is None:
        return
    from sim.cost import variant_scenario
    variant = variant_scenario(sc)
    w = resolve_workers(variant, workers)  # as summary_extras will resolve it
    if w > 1:
        _POOL["pending"][scenario_sha256(variant)] = _submit(variant, w)


def _replicate(sc: Scenario, workers: int, bar=None, what: str = "simulating") -> list[ReplicationResult]:
    """Every replication of ``sc``, in order; ``bar`` (a rich Progress) gets a line of its own."""
    n = sc.simulation.replications
    task = bar.add_task(sc.name, total=n, what=what) if bar is not None else None
    if workers <= 1:
        plan, cm = _models(sc)
        out = []
        for i in range(n):
            out.append(run_replication(sc, i, plan, cm))
            if bar is not None:
                bar.advance(task)
        return out
    out = []
    with _run_pool(workers):
        futs = _submit(sc, workers)
        _queue_cost_variant(sc, workers)
        for f in as_completed(futs):
            part = f.result()
            out.extend(part)
            if bar is not None:
                bar.advance(task, len(part))
    out.sort(key=lambda r: r.index)
    return out


def _variant_note(sc: Scenario, variant: Scenario) -> str:
    changed = ", ".join(f"{k}={v!r}" for k, v in sc.cost.compare_with.set.items()) or "no change"
    return (f"a second simulation of {variant.simulation.replications} replications was run, of the variant "
            f"{variant.name!r} ({changed}) with the same seeds, because cost.compare_with asks what one extra "
            f"nine costs; its wall time is cost_variant.wall_seconds, included in run.wall_seconds")


def summary_extras(sc: Scenario, summary: dict, results: list[ReplicationResult],
                   workers: int = 1, progress=False) -> None:
    """Add capacity (throughput, latency, request_slo) and cost figures when modelled.

    ``progress``: False, True (a display of its own) or the run's rich Progress (``progress_bar``),
    where the cost variant's simulation gets its own line.
    """
    from sim.metrics import block_from_replications
    if sc.capacity is not None:
        import numpy as np

        from sim.capacity import latency_summary, throughput_summary
        summary["throughput"] = throughput_summary(sc)
        hist = np.sum([r.latency_hist for r in results], axis=0)
        summary["latency_ms"] = latency_summary(hist)
        summary["availability"]["request_slo"] = block_from_replications(
            [r.availability_request_slo for r in results])
    if sc.cost is not None:
        from sim.cost import cost_summary, variant_scenario
        nines = summary["availability"]["request"].get("nines")
        variant_nines = None
        if sc.cost.compare_with is not None:
            # what an extra nine costs: simulate the cheaper variant with the same seeds
            variant = variant_scenario(sc)
            t0 = time.perf_counter()
            with _display(progress) as bar:
                vsum = _simulate(variant, workers, bar, what="cost variant")[0]
            variant_nines = vsum["availability"]["request"].get("nines")
            summary["cost_variant"] = {"name": variant.name,
                                       "availability": vsum["availability"]["request"],
                                       "downtime_minutes_per_year": vsum["downtime_minutes_per_year"],
                                       "replications": variant.simulation.replications,
                                       "wall_seconds": time.perf_counter() - t0,
                                       "note": _variant_note(sc, variant)}
        variant_ci = summary.get("cost_variant", {}).get("availability", {}).get("ci95")
        summary["cost"] = cost_summary(sc, nines, variant_nines,
                                       ci=summary["availability"]["request"].get("ci95"), variant_ci=variant_ci)


@contextmanager
def _display(progress):
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


def _simulate(sc: Scenario, workers: int | None, bar, what: str = "simulating") -> tuple[dict, list]:
    t0 = time.perf_counter()
    w = resolve_workers(sc, workers)
    results = _replicate(sc, w, bar, what)
    summary = summary_header("simulation")
    summary.update(aggregate(results))
    summary["estimator"] = {"method": "naive", "replications": len(results)}
    if sc.simulation.estimator == "importance":
        from sim.rare import estimate_scenario
        # the fluid replications still give every figure; the rare-event estimator adds a
        # tight interval on the part naive sampling cannot resolve (quorum loss)
        frag = estimate_scenario(sc)
        summary["estimator"] = {**frag["estimator"], "naive_replications": len(results)}
        summary["availability"]["quorum_loss"] = frag["availability"]
        summary["downtime_minutes_per_year"]["quorum_loss"] = frag["downtime_minutes_per_year"]
    summary_extras(sc, summary, results, w, bar or False)
    summary["run"] = run_block(sc, workers=w, wall_seconds=time.perf_counter() - t0)
    summary["scenario"] = sc.model_dump(mode="json")
    return summary, results


def simulate_full(sc: Scenario, workers: int | None = None, progress: bool = False):
    """Run all replications; return (summary dict, replication results). Deterministic."""
    if sc.simulation.mode == "request":
        from sim.request.mode import simulate_request_mode
        return simulate_request_mode(sc, workers=workers, progress=progress)
    with _display(progress) as bar, _run_pool(resolve_workers(sc, workers)):
        return _simulate(sc, workers, bar)


def simulate(sc: Scenario, workers: int | None = None, progress: bool = False) -> dict:
    """The summary dict of a scenario's run (no files written)."""
    return simulate_full(sc, workers, progress)[0]


def _rows(results: list[ReplicationResult]):
    events = [e for r in results for e in r.events]
    ts_rows = []
    r0 = results[0]
    if r0.timeseries:
        ts = r0.timeseries
        step = ts["step"]
        span = r0.span
        slow = ts.get("slow") or [0.0] * len(ts["offered"])
        for k, (off, fail, sl, cd) in enumerate(zip(ts["offered"], ts["failed"], slow, ts["cells_down"])):
            t0 = k * step
            t1 = min(span, (k + 1) * step)
            ts_rows.append((0, float(t0), float(t1), off, fail, sl, fail / off if off > 0 else 0.0, cd))
    # downtime_minutes is per year, as summary.json's downtime_minutes_per_year (whose mean over
    # replications it is); until 2026-12 it was also multiplied by 365 d / span, inflating it
    # in every run whose horizon was not one year
    reps = [(r.index, r.availability_request, r.availability_time,
             (1.0 - r.availability_request) * MINUTES_PER_YEAR, r.outages)
            for r in results]
    return events, ts_rows, reps


def _scale_timeseries(ts_rows, sc: Scenario):
    """Offered/failed as request counts (the engine works in mean-rate seconds)."""
    rate = sc.workload.transactions_per_day
    return [(r, a, b, off * rate, fail * rate, slow * rate, ff, cd)
            for (r, a, b, off, fail, slow, ff, cd) in ts_rows]


def run_to_dir(sc: Scenario, out: str | os.PathLike | None = None, workers: int | None = None,
               progress: bool = True, scenario_file: str | None = None,
               results_root: str | os.PathLike = "results") -> tuple[Path, dict]:
    """Simulate and write the run directory; a failed run still leaves its config and error."""
    target, summary, _ = run_to_dir_full(sc, out, workers, progress, scenario_file, results_root)
    return target, summary


def run_to_dir_full(sc: Scenario, out: str | os.PathLike | None = None, workers: int | None = None,
                    progress: bool = True, scenario_file: str | None = None,
                    results_root: str | os.PathLike = "results") -> tuple[Path, dict, list]:
    """``run_to_dir``, also returning the replication results (``sim.simulate(..., results=True)``)."""
    sha = scenario_sha256(sc)
    started = time.time()
    run_id = new_run_id(sha, started)
    target = Path(out) if out else default_run_dir(sc.name, run_id, results_root)
    try:
        summary, results = simulate_full(sc, workers, progress)
    except ScenarioError:
        raise  # bad input found late is still bad input: nothing written (sim.preflight should catch it first)
    except Exception as exc:
        summary = {**summary_header("simulation"),
                   "run": run_block(sc, status="failed", error=f"{type(exc).__name__}: {exc}",
                                    run_id=target.name, scenario_file=scenario_file,
                                    started_utc=utc_iso(started)),
                   "scenario": sc.model_dump(mode="json")}
        write_run_dir(target, summary, sc.model_dump(mode="json"),
                      extra_files={"error.txt": traceback.format_exc()})
        raise
    summary["run"].update({"run_id": target.name, "scenario_file": scenario_file_ref(scenario_file),
                           "started_utc": utc_iso(started)})
    events, ts_rows, reps = _rows(results)
    write_run_dir(target, summary, sc.model_dump(mode="json"), events,
                  _scale_timeseries(ts_rows, sc), reps)
    return target, summary, results

