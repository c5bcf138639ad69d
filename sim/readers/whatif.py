"""What-if: the value one input must reach for a target to hold, by bisection on common random numbers.

``hivesim sensitivity SCENARIO --solve key=lo,hi --target "availability.request.lower>=99.999%"``
simulates the scenario with ``key`` at ``lo`` and at ``hi``; if the target holds at one end and not
at the other it bisects the bracket, one simulation per step, for at most ``--iterations`` steps
(or until an integer key's bracket is one apart), and reports the last bracket: the value that
meets the target and the one that does not ("``failures.changes.escape_probability`` must be
<= 0.0049 for five nines: 0.0049 meets, 0.0052 does not"). Midpoints are geometric when both
ends are positive and a decade or more apart (probabilities, rates), arithmetic otherwise.

Every step uses the scenario's seed and replication indices, so the target's value moves with the
input only, not with fresh noise (common random numbers): the bracket is sharp for *this* seed and
replication count; the target itself is read at its pessimistic end (``sim.readers.target``), so
what the bracket claims holds at that confidence. Bisection assumes the target's figure is monotone
in the input between the ends; whatever happens, the two values the bracket names were simulated
and did (and did not) meet the target. With common random numbers the figure is often a step
function of the input (thinned events appear at thresholds): the bracket then locates a step. When
the target holds at both ends or at neither there is nothing to bisect: the answer says so
(``hivesim sensitivity`` exits 1 when it holds at neither).

Inputs are checked before any simulation: the key (by validating the scenario at both ends), the
values (numbers, or durations, fractions and rates with units: bisection needs numbers), the
target and the iteration bound.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from sim.errors import HivesimError
from sim.readers.sweep import Variant, build_scenarios, parse_grid, run_variants
from sim.readers.target import Target, evaluate
from sim.results.schema import run_block, summary_header
from sim.results.formatting import compact, format_value
from sim.results.writer import atomic_dir, dumps_json

__all__ = ["MAX_ITERATIONS", "Solve", "parse_solve", "numeric", "midpoint", "Bisection", "bisect", "write_whatif"]

MAX_ITERATIONS = 30  # 2^-30 of the bracket: far below any input's meaning; bounds the work


@dataclass(frozen=True)
class Solve:
    """``--solve key=lo,hi``: the input and its bracket, as numbers in the scenario's base units."""

    key: str
    lo: float
    hi: float
    integer: bool  # both ends written as integers: bisect on integers


def numeric(key: str, text: str, value) -> float:
    """A bisection end as a number: plain numbers, or a duration / fraction / rate with its unit."""
    from sim.units import parse_duration, parse_fraction, parse_rate
    if isinstance(value, bool):
        raise HivesimError(f"--solve {key}={text}: bisection needs numbers, got a boolean")
    if isinstance(value, (int, float)) and math.isfinite(value):
        return value
    if isinstance(value, str):
        for parse in (parse_duration, parse_fraction, parse_rate):
            try:
                v = parse(value)
            except (ValueError, TypeError):
                continue
            if isinstance(v, (int, float)) and math.isfinite(v):
                return float(v)
    raise HivesimError(f"--solve {key}={text}: bisection needs numbers (or durations, fractions, rates), "
                       f"got {value!r}")


def parse_solve(expr: str) -> Solve:
    """``key=lo,hi`` -> ``Solve`` (two distinct numeric values; bad input: exit 2)."""
    [(key, vals)] = parse_grid([expr])
    if len(vals) != 2:
        raise HivesimError(f"--solve {expr!r}: expected key=low,high (two values), got {len(vals)} values")
    (t1, v1), (t2, v2) = vals
    a, b = numeric(key, t1, v1), numeric(key, t2, v2)
    if a == b:
        raise HivesimError(f"--solve {expr!r}: the two ends are equal; nothing to bisect")
    integer = all(isinstance(v, int) and not isinstance(v, bool) for v in (a, b))
    return Solve(key, a, b, integer)


def midpoint(a: float, b: float, integer: bool) -> float | None:
    """The next value to try between ``a`` and ``b``; None when an integer bracket is closed."""
    if integer:
        if abs(a - b) <= 1:
            return None
        return (a + b) // 2
    if a > 0 and b > 0 and max(a, b) / min(a, b) >= 10:
        return math.sqrt(a * b)
    return (a + b) / 2.0


@dataclass
class Bisection:
    """The answer: the history of evaluations and the last bracket."""

    key: str
    target: str
    steps: list = field(default_factory=list)   # {"value", "target_value", "met", "status"} in run order
    meets: float | None = None                  # the bracket's end where the target holds
    fails: float | None = None                  # ... and where it does not
    outcome: str = ""                           # "bracketed", "holds at both ends", "fails at both ends", "failed"
    text: str = ""

    def to_dict(self) -> dict:
        return {"key": self.key, "target": self.target, "outcome": self.outcome, "meets": self.meets,
                "fails": self.fails, "steps": self.steps, "text": self.text}


def _evaluate(scenario_path, base_sets, key, values, target: Target, workers, progress,
              scheduler=None) -> list[tuple[dict, object]]:
    variants = [Variant(f"{key}={compact(v)}", {key: v}) for v in values]
    scenarios = build_scenarios(scenario_path, variants, base_sets)
    results = run_variants(scenarios, scheduler=scheduler, workers=workers, progress=progress, label=f"what-if {key}")
    out = []
    for v, res in zip(values, results):
        if not isinstance(res, dict):
            out.append(({"value": v, "target_value": None, "met": None,
                         "status": f"failed: {type(res).__name__}: {res}"}, res))
            continue
        g = evaluate(res, target)
        out.append(({"value": v, "target_value": g.value, "met": g.passed, "status": "ok"}, res))
    return out


def bisect(scenario_path, solve: Solve, target: Target, iterations: int = 8, base_sets=(), workers=None,
           progress: bool = True, scheduler=None) -> tuple[Bisection, list]:
    """Bisect ``solve``'s bracket for ``target`` (module docstring) -> (answer, every summary run);
    ``scheduler``: a Dask scheduler address or Client (None: the local pool)."""
    if not isinstance(iterations, int) or not 0 <= iterations <= MAX_ITERATIONS:
        raise HivesimError(f"--iterations {iterations!r}: expected an integer from 0 to {MAX_ITERATIONS}")
    # both ends validated (and the key with them) before anything runs
    build_scenarios(scenario_path, [Variant("lo", {solve.key: solve.lo}), Variant("hi", {solve.key: solve.hi})],
                    list(base_sets))
    ans = Bisection(solve.key, target.text)
    summaries = []
    ends = _evaluate(scenario_path, base_sets, solve.key, [solve.lo, solve.hi], target, workers, progress, scheduler)
    for step, res in ends:
        ans.steps.append(step)
        summaries.append(res)
    (lo, _), (hi, _) = ends
    if lo["met"] is None or hi["met"] is None:
        ans.outcome, ans.text = "failed", f"a run at an end of the bracket failed: {lo['status']}; {hi['status']}"
        return ans, summaries
    if lo["met"] == hi["met"]:
        ans.outcome = "holds at both ends" if lo["met"] else "fails at both ends"
        ans.text = (f"{target.text} {'holds' if lo['met'] else 'fails'} at both {solve.key}={compact(solve.lo)} and "
                    f"{compact(solve.hi)}: nothing to bisect (widen the bracket)")
        return ans, summaries
    good, bad = (solve.lo, solve.hi) if lo["met"] else (solve.hi, solve.lo)
    for _ in range(iterations):
        mid = midpoint(good, bad, solve.integer)
        if mid is None or mid in (good, bad):
            break
        [(step, res)] = _evaluate(scenario_path, base_sets, solve.key, [mid], target, workers, progress, scheduler)
        ans.steps.append(step)
        summaries.append(res)
        if step["met"] is None:
            break  # a failed step: keep the last true bracket
        good, bad = (mid, bad) if step["met"] else (good, mid)
    ans.meets, ans.fails, ans.outcome = good, bad, "bracketed"
    rel = "<=" if good < bad else ">="
    g, b = _pair_text(good, bad)
    ans.text = (f"{solve.key} must be {rel} {g} for {target.text} (bracket: {g} meets it, "
                f"{b} does not; {len(ans.steps)} simulations, same seed)")
    return ans, summaries


def _pair_text(a: float, b: float) -> tuple[str, str]:
    """Two bracket ends with the fewest significant digits (>= 4) that tell them apart."""
    for digits in range(4, 18):
        ta, tb = f"{a:.{digits}g}", f"{b:.{digits}g}"
        if ta != tb:
            return ta, tb
    return repr(a), repr(b)


def _csv(ans: Bisection, target: Target) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["step", "value", "target_value", "met"])
    for i, s in enumerate(ans.steps):
        w.writerow([i, compact(s["value"]), "" if s["target_value"] is None else compact(s["target_value"]),
                    "" if s["met"] is None else int(bool(s["met"]))])
    return buf.getvalue()


def write_whatif(out: str | os.PathLike, ans: Bisection, target: Target, summaries: list, meta: dict) -> Path:
    """The what-if directory, atomically: summary.json, whatif.csv, whatif.png|svg, summaries/."""
    from sim.report.bisection import bisection_figure
    from sim.report.figures import save_figure
    run = run_block(status="ok" if ans.outcome != "failed" else "failed", mode="what-if", variants=len(summaries),
                    **({"error": ans.text} if ans.outcome == "failed" else {}))
    with atomic_dir(out) as tmp:
        doc = {**summary_header("sweep"), "run": run, **meta, "what_if": ans.to_dict(),
               "threshold_text": format_value(target.key, target.gate.value)}
        (tmp / "summary.json").write_text(dumps_json(doc), encoding="utf-8")
        (tmp / "whatif.csv").write_text(_csv(ans, target), encoding="utf-8")
        (tmp / "summaries").mkdir()
        for i, s in enumerate(summaries):
            if isinstance(s, dict):
                (tmp / "summaries" / f"{i:03d}.json").write_text(dumps_json(s), encoding="utf-8")
        save_figure(bisection_figure(ans, target, meta.get("scenario_name", "scenario")), tmp / "whatif")
    return Path(out)
