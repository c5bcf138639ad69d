"""The planner's target: "meets ``availability.request.lower>=99.999%``", and the cheapest variant that does.

A target is a gate (``sim.readers.gate``): ``[window:]key op value``, read from each variant's
summary. Written on an interval's pessimistic end (``availability.request.lower``) or given a
``confidence`` (``--confidence 0.95`` reads a ``.mean`` key's pessimistic end), it holds only where
the data support it at that confidence, never on a lucky mean.

``choose(rows, summaries, target, minimize)`` answers ``hivesim sweep --target T --minimize K``:
among the variants that ran and meet the target, the one with the smallest ``K`` (ties: the one
that clears the target by more), the runner-up (the next one by ``K`` that also meets it; with one
variant meeting it, none), and the margins: how far the choice clears the target, what the
runner-up costs more, and the runner-up's availability minus the choice's, paired when they share
the seed (``sim.readers.paired``). When no variant meets the target the answer says so and names
the closest miss; ``hivesim sweep`` then exits 1 (the question has no answer in this grid, as a
breached gate has none), after writing everything.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.errors import HivesimError
from sim.readers.confidence import check_level, is_end_key
from sim.readers.gate import evaluate_gate, gate_key, parse_require
from sim.results.lookup import finite_number, lookup_optional
from sim.results.schema import higher_is_better, is_known_key

from sim.results.formatting import format_delta, format_threshold, format_value
__all__ = ["Target", "parse_target", "check_minimize", "meets", "evaluate", "Choice", "choose"]


@dataclass(frozen=True)
class Target:
    """A parsed target: the gate, the summary key it reads, and the confidence it is read at."""

    text: str
    gate: object              # sim.scenario.model.Gate
    key: str                  # the summary key read (window applied)
    confidence: float | None  # None: the key as written (an end key is already an interval's end)

    @property
    def higher(self) -> bool:
        return self.gate.op in (">=", ">")


def parse_target(text: str, confidence=None) -> Target:
    """``"availability.request.lower>=99.999%"`` -> ``Target``; bad text or an unknown key: exit 2."""
    if not isinstance(text, str) or not text.strip():
        raise HivesimError("--target: expected 'key op value' such as 'availability.request.lower>=99.999%'")
    try:
        gate = parse_require(text)
    except HivesimError as exc:
        raise HivesimError(str(exc).replace("--require", "--target", 1)) from None
    key = gate_key(gate.metric, gate.window)
    if not is_known_key(key) and not is_end_key(key):
        raise HivesimError(f"--target {text!r}: no summary.json key {key!r} is known "
                           "(e.g. availability.request.lower, downtime_minutes_per_year.upper)")
    if gate.op in ("==", "!="):
        raise HivesimError(f"--target {text!r}: a target needs a direction: >=, >, <= or <")
    level = None if confidence is None else check_level(confidence)
    return Target(text.strip(), gate, key, level)


def check_minimize(key: str) -> str:
    """``--minimize KEY``: a known summary key, where lower is better or no direction is registered."""
    if not isinstance(key, str) or not is_known_key(key):
        raise HivesimError(f"--minimize {key!r}: no summary.json key of that name is known (e.g. cost.per_account_per_year)")
    if higher_is_better(key) is True:
        raise HivesimError(f"--minimize {key}: higher is better for this key; minimising it makes no sense")
    return key


def meets(summary, target: Target, minimize: str) -> bool:
    """Whether ``choose`` counts this summary as meeting the target: it passes and has a figure
    for ``minimize`` (what a cheapest-first sweep's stopping rule counts, ``sim.readers.cheapest``)."""
    return isinstance(summary, dict) and _score(summary, target, minimize)[2]


def _score(summary: dict, target: Target, minimize: str):
    """``(the target's verdict, the figure minimised, whether it meets)``: ``choose``'s one test."""
    res = evaluate(summary, target)
    cost = finite_number(lookup_optional(summary, minimize, None))
    return res, cost, res.passed and cost is not None


def evaluate(summary: dict, target: Target):
    """The target's verdict on one summary (a ``GateResult``: value read, passed, detail)."""
    from sim.readers.paired import table_from_summary  # a level other than 0.95 reads the replications
    return evaluate_gate(summary, target.gate, "target", name=target.text, confidence=target.confidence,
                         table=table_from_summary(summary))


@dataclass
class Choice:
    """The answer to "the cheapest variant that meets the target"."""

    target: str
    minimize: str
    best: int | None = None             # row index of the choice (None: no variant meets the target)
    runner_up: int | None = None        # row index of the next one meeting it (None: no other)
    closest_miss: int | None = None     # when none meets it: the variant nearest to it
    met: list = field(default_factory=list)  # row indices meeting the target
    margins: dict = field(default_factory=dict)
    text: str = ""                       # one paragraph for the console

    def to_dict(self) -> dict:
        return {"target": self.target, "minimize": self.minimize, "best": self.best, "runner_up": self.runner_up,
                "closest_miss": self.closest_miss, "met": self.met, "margins": self.margins, "text": self.text}


def choose(rows: list[dict], summaries: list, target: Target, minimize: str) -> Choice:
    """The cheapest variant meeting ``target`` (module docstring); marks rows ``target.value`` /
    ``target.met`` / ``target.choice`` in place."""
    from sim.readers.sweep_table import vs_reference
    ch = Choice(target.text, minimize)
    sign = 1.0 if target.higher else -1.0
    scored = []  # (row index, value read, passed, cost)
    for i, (row, s) in enumerate(zip(rows, summaries)):
        row["target.value"] = row["target.met"] = row["target.choice"] = None
        if row.get("status") != "ok" or not isinstance(s, dict):
            continue
        res, cost, met = _score(s, target, minimize)
        row["target.value"], row["target.met"] = res.value, res.passed
        scored.append((i, res.value, met, cost))
    met = sorted((t for t in scored if t[2]), key=lambda t: (t[3], -sign * t[1]))
    ch.met = [t[0] for t in met]
    thr = target.gate.value
    if not met:
        near = [t for t in scored if t[1] is not None]
        if near:
            ch.closest_miss = max(near, key=lambda t: sign * t[1])[0]
            v = rows[ch.closest_miss]["target.value"]
            ch.margins = {"closest_miss_short_by": sign * (thr - v)}
            ch.text = (f"no variant meets {target.text}; closest: {rows[ch.closest_miss]['variant']!r} at "
                       f"{format_value(target.key, v)}, short by {format_delta(target.key, abs(thr - v)).lstrip('+')}")
        else:
            ch.text = f"no variant meets {target.text} (no variant has a value for {target.key})"
        return ch
    ch.best = met[0][0]
    rows[ch.best]["target.choice"] = "best"
    b_val, b_cost = met[0][1], met[0][3]
    ch.margins = {"clears_target_by": sign * (b_val - thr)}
    name = rows[ch.best]["variant"]
    ch.text = (f"cheapest meeting {target.text}: {name!r}, {minimize} {format_value(minimize, b_cost)}, "
               f"{target.key} {format_value(target.key, b_val)} (clears {format_threshold(target.key, thr)} by "
               f"{format_delta(target.key, abs(b_val - thr)).lstrip('+')})")
    if len(met) > 1:
        ch.runner_up = met[1][0]
        rows[ch.runner_up]["target.choice"] = "runner-up"
        d = vs_reference(summaries[ch.best], summaries[ch.runner_up], "availability.request.mean")
        ch.margins.update({"runner_up_costs_more_by": met[1][3] - b_cost,
                           "runner_up_availability_minus_best": d.to_dict()})
        ci = (f", 95% CI [{format_delta('availability.request.mean', d.lo)}, "
              f"{format_delta('availability.request.mean', d.hi)}]" if d.lo is not None else "")
        more = met[1][3] - b_cost
        dearer = f"{format_delta(minimize, more).lstrip('+')} more" if more else "the same"
        ch.text += (f"; runner-up {rows[ch.runner_up]['variant']!r} costs {dearer} ({minimize}), availability "
                    f"{format_delta('availability.request.mean', d.mean)} vs the choice ({d.label}{ci}"
                    f"{', significant' if d.significant else ', not significant' if d.significant is False else ''})")
    else:
        ch.text += "; no other variant meets it"
    return ch
