"""Cheapest-first sweeps: ``hivesim sweep --target T --cheapest-first`` runs only what the answer needs.

The planner's question "which is the cheapest design that meets T?" needs only the variants that
cost no more than its answer and its runner-up. When what ``--minimize`` minimises is known before
simulating (a ``cost.*`` figure: ``sim.cost.cost_summary`` of the scenario alone, the function and
numbers the summary reports after the run), the variants can run in that order, one cost level
(the variants of equal cost) at a time, and the sweep can stop as soon as the answer is known.

Stopping rule: cost levels run in ascending order, each level whole; after a level, once at least
two of the variants run meet the target, the sweep stops. The choice and its runner-up are then
those the full sweep gives (``sim.readers.target.choose``): each variant runs with its own seed
and replications whatever else runs, so its summary, hence its verdict, does not depend on which
others ran; every variant cheaper than the runner-up has run, and so has every variant costing
the same as the choice or the runner-up (ties are broken by the margin). With fewer than two
variants meeting the target every level runs, and the answer ("none meets it", the closest miss)
is again the full sweep's. No statistics change: the same verdicts are read, on fewer variants.

What differs from a full sweep: variants not run are rows with status ``skipped``; the selection's
``met`` lists the meeting variants among those run; the Pareto marks and the ``vs_first`` columns
are over the variants run (``vs_first`` is empty when the first variant did not run). Levels run
one after another, so on a Dask cluster each level is its own batch of tasks, not one task graph.
"""

from __future__ import annotations

from sim.errors import HivesimError
from sim.results.lookup import finite_number, lookup_optional

__all__ = ["planned_values", "cost_levels", "run_until_answered", "run_cheapest_first", "hint",
           "describe"]


def planned_values(scenarios: list, names: list[str], key: str) -> list[float]:
    """``key`` (a ``cost.*`` summary key) of each variant, computed from its scenario before any
    simulation; one clear error (exit 2) when it cannot be known before simulating."""
    if not key.startswith("cost."):
        raise HivesimError(f"--cheapest-first: --minimize {key} is known only after simulating; "
                           "it needs a cost figure known before, such as cost.per_account_per_year")
    from sim.cost import cost_summary
    out = []
    for sc, name in zip(scenarios, names):
        if sc.cost is None:
            raise HivesimError(f"--cheapest-first: variant {name!r} has no cost: section, so {key} is unknown")
        value = finite_number(lookup_optional({"cost": cost_summary(sc)}, key, None))
        if value is None:
            raise HivesimError(f"--cheapest-first: --minimize {key} is known only after simulating (it needs "
                               "the availability); choose a cost figure such as cost.per_account_per_year")
        out.append(value)
    return out


def cost_levels(values: list[float]) -> list[list[int]]:
    """Variant indices grouped by equal value, the groups in ascending value, each in input order."""
    levels: dict[float, list[int]] = {}
    for i, v in enumerate(values):
        levels.setdefault(v, []).append(i)
    return [levels[v] for v in sorted(levels)]


def run_until_answered(levels: list[list[int]], run_level) -> int:
    """The stopping rule (module docstring): ``run_level(k, level)`` runs level ``k`` (from 1) whole
    and returns how many of its variants meet the target; -> the number of levels run."""
    met = 0
    for k, level in enumerate(levels, 1):
        met += run_level(k, level)
        if met >= 2:  # the choice and its runner-up are known
            return k
    return len(levels)


def run_cheapest_first(scenarios: list, planned: list[float], target, minimize: str, scheduler=None,
                       workers: int | None = None, progress: bool = True, label: str = "sweep"):
    """Run the cost levels in order until the answer is known (module docstring).

    -> ``(results, info)``: per variant its summary, the exception it raised, or None (not run);
    ``info`` counts the levels and variants run, for ``table.json`` and the console.
    """
    from sim.readers.sweep import summaries_of, sweep_executor
    from sim.readers.target import meets
    from sim.runner import simulate_many
    levels = cost_levels(planned)
    results: list = [None] * len(scenarios)
    simulated: dict = {}  # simulation key -> its results: a cost variant two levels share runs once
    with sweep_executor(scheduler, workers, progress) as (ex, bar):

        def run_level(k: int, level: list[int]) -> int:
            done = simulate_many([scenarios[i] for i in level], ex, bar, keep_events=False, fail_fast=False,
                                 label=f"{label}, cost level {k} of {len(levels)} ({_plural(len(level), 'variant')})",
                                 done=simulated)
            for i, summary in zip(level, summaries_of(done)):
                results[i] = summary
            return sum(meets(results[i], target, minimize) for i in level)

        run = run_until_answered(levels, run_level)
    ran = sum(len(level) for level in levels[:run])
    info = {"levels": len(levels), "levels_run": run, "variants_run": ran, "skipped": len(scenarios) - ran,
            "planned": planned}
    return results, info


def hint(summaries: list, met: list[int], minimize: str) -> str | None:
    """After a full sweep: how many variants ``--cheapest-first`` would have run for the same answer
    (the stopping rule on the costs the summaries report and ``met``, the choice's variants meeting
    the target); None when it saves nothing or when a variant has no figure for ``minimize`` (a
    failed one: its place in the order is unknown)."""
    if not minimize.startswith("cost."):
        return None
    values = [finite_number(lookup_optional(s, minimize, None)) if isinstance(s, dict) else None for s in summaries]
    if not values or any(v is None for v in values):
        return None
    levels = cost_levels(values)
    meeting = set(met)
    run = run_until_answered(levels, lambda _k, level: sum(i in meeting for i in level))
    ran = sum(len(level) for level in levels[:run])
    if ran == len(summaries):
        return None
    return f"--cheapest-first would have given this answer from {ran} of the {len(summaries)} variants"


def describe(info: dict) -> str:
    """One console line: what the cheapest-first sweep ran and left out."""
    ran, total = info["variants_run"], info["variants_run"] + info["skipped"]
    levels = f"{info['levels_run']} of {info['levels']} cost levels"
    if not info["skipped"]:
        return f"cheapest first: ran all {_plural(total, 'variant')} ({levels}): the answer needed every level"
    return (f"cheapest first: ran {ran} of {_plural(total, 'variant')} ({levels}); "
            f"{info['skipped']} dearer not needed, listed as skipped")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
