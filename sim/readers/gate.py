"""CI gates on a run's summary.json: thresholds, windowed SLOs, and regressions against a baseline.

A gate is ``metric op value`` on any dotted key of summary.json (``availability.request.nines>=5``,
``cost.per_account_per_year<=3``, ``availability.request.mean>=99.999%``), optionally with a window
(``worst_day:availability.request.mean>=0.9999``; the scenario's ``gates:`` entries carry
``window: run|worst_day|worst_30d``). A window reads the contract's windowed figure: the window name
is inserted before the metric's last part (``availability.request.mean`` + ``worst_day`` ->
``availability.request.worst_day.mean``).

A gate can read the pessimistic end of a figure's interval instead of its mean: name the end
(``availability.request.lower>=99.999%``) or give ``confidence`` (``--confidence 0.95``); see
``sim.readers.confidence``.

A regression check compares a key with a baseline run: it is breached only when the value moved in
the bad direction by more than DELTA **and** the difference is significant. When the two runs
share seed, replication indices and stream keys (``sim.readers.paired``) and the key has
per-replication values, significant means the t-interval of the per-replication differences
excludes 0 ("paired (n=..)"); otherwise that the two runs' 95 % intervals do not overlap
("unpaired"; without intervals, by DELTA alone). See docs/reports-and-gates.md for the full rules.

Results render as a rich table, JUnit XML (one testcase per gate) and Markdown. Exit codes:
0 all passed, 1 a gate breached (or the run itself failed), 2 bad input.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path

from sim.errors import HivesimError, ResultsError
from sim.readers.confidence import check_level, end_value, interval_at, is_end_key, pessimistic_value
from sim.readers.paired import pairing, paired_difference, table_of_run
from sim.results.lookup import MISSING, lookup, lookup_optional
from sim.results.reader import Run, load_run, load_summary
from sim.results.schema import higher_is_better

from sim.results.formatting import format_delta, format_threshold, format_value
__all__ = ["GateResult", "Regression", "parse_require", "parse_regression", "gate_key", "evaluate_gate",
           "evaluate_regression", "display", "scenario_gates", "check_run", "render_table", "to_junit", "to_markdown",
           "apply_scenario_gates"]

_OPS = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
        "<": lambda a, b: a < b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}


@dataclass
class GateResult:
    """The verdict of one gate (what every output format shows)."""

    name: str          # the gate as the user wrote it (or a canonical spelling)
    source: str        # "cli", "scenario", "regression" or "run"
    key: str           # the summary.json key that was read
    op: str            # the comparison: >=, <=, >, <, ==, != (regressions: <= on the worsening)
    threshold: float | None  # the gate's value (regressions: the allowed DELTA); None for run.status
    value: float | None      # the run's value; None when the summary holds null or nothing
    passed: bool       # the verdict
    detail: str = ""   # why it failed (or, for regressions, how the runs differ)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Regression:
    """A ``--max-regression KEY=DELTA`` check against a baseline run."""

    key: str             # dotted summary key compared
    delta: float         # allowed worsening, in the key's unit
    higher_better: bool  # direction: from the key registry, or said by the user (KEY:higher=DELTA)


# --------------------------------------------------------------------------- parsing
_REQ_RE = re.compile(r"\s*(?:(worst_day|worst_30d|run):)?\s*([A-Za-z0-9_.\[\]-]+)\s*(>=|<=|==|!=|>|<)\s*(\S+)\s*")


def parse_require(text: str):
    """``[window:]metric op value`` -> a scenario ``Gate`` (bad text -> one-line error, exit 2).

    Same syntax as the scenario's ``gates:`` strings, but keys may contain ``-`` as the contract's
    cause names do (``outages.by_cause.bad-change-escaped.count<=1``).
    """
    from sim.scenario.model import Gate
    from sim.units import parse_fraction, parse_number
    m = _REQ_RE.fullmatch(text)
    if not m:
        raise HivesimError(f"--require {text!r}: expected 'metric op value' such as "
                           "'availability.request.nines>=5' or 'worst_day:availability.request.mean>=99.9%'")
    window, metric, op, raw = m.groups()
    try:
        value = parse_fraction(raw) if raw.endswith("%") else parse_number(raw)
    except ValueError as exc:
        raise HivesimError(f"--require {text!r}: {exc}") from None
    return Gate(metric=metric, op=op, value=value, window=window or "run")


def parse_regression(text: str) -> Regression:
    """``KEY=DELTA`` or ``KEY:higher=DELTA`` / ``KEY:lower=DELTA`` (which direction is good).

    DELTA is absolute, in the key's unit; a ``%`` suffix divides by 100 as gate values do
    (``0.0005%`` = 5e-6).
    """
    m = re.fullmatch(r"\s*([A-Za-z0-9_.\[\]-]+?)(?::(higher|lower))?\s*=\s*(\S+)\s*", text)
    if not m:
        raise HivesimError(f"--max-regression {text!r}: expected KEY=DELTA such as "
                           "availability.request.mean=0.000005 (or KEY:higher=DELTA / KEY:lower=DELTA)")
    key, direction, raw = m.groups()
    from sim.units import parse_number
    try:
        delta = parse_number(raw[:-1]) / 100.0 if raw.endswith("%") else parse_number(raw)
    except ValueError as exc:
        raise HivesimError(f"--max-regression {text!r}: {exc}") from None
    if delta < 0:
        raise HivesimError(f"--max-regression {text!r}: DELTA must be >= 0, got {raw}")
    hb = {"higher": True, "lower": False}.get(direction) if direction else higher_is_better(key)
    if hb is None:
        raise HivesimError(f"--max-regression {text!r}: cannot tell whether higher or lower {key} is better; "
                           f"write {key}:higher={raw} or {key}:lower={raw}")
    return Regression(key, delta, hb)


def gate_key(metric: str, window: str = "run") -> str:
    """The summary key a (metric, window) gate reads: the window goes before the last part."""
    if window == "run" or f".{window}." in f".{metric}.":
        return metric
    head, _, leaf = metric.rpartition(".")
    return f"{head}.{window}.{leaf}" if head else f"{window}.{leaf}"


def _text(gate) -> str:
    w = "" if gate.window == "run" else f"{gate.window}:"
    return f"{w}{gate.metric}{gate.op}{format_threshold(gate.metric, gate.value)}"


def _number(value, key: str, source: str):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ResultsError(f"{source}: key {key!r} is not a number (got {type(value).__name__}); "
                           "gates compare numbers")
    return float(value)


# --------------------------------------------------------------------------- evaluation
def evaluate_gate(summary: dict, gate, source: str = "cli", where: str = "summary.json",
                  name: str | None = None, confidence: float | None = None, table=None) -> GateResult:
    """One threshold gate; unknown or non-numeric keys raise ``ResultsError`` (exit 2).

    ``confidence``: read the pessimistic end of the figure's interval at that level
    (``sim.readers.confidence``); ``table``: the run's per-replication values, for levels other
    than 0.95.
    """
    key = gate_key(gate.metric, gate.window)
    if gate.window != "run" and lookup_optional(summary, key) is MISSING:
        raise ResultsError(f"{where}: gate {_text(gate)!r}: no windowed figure {key!r} "
                           "(windows exist for availability.*.mean and .min)")
    how = ""
    if is_end_key(key):
        value = end_value(summary, key)
    else:
        value = _number(lookup(summary, key, where), key, where)
        if confidence is not None and value is not None:
            end, how = pessimistic_value(summary, table, key, gate.op, confidence)
            if end is MISSING or end is None:
                how = ""  # no interval (or == / !=): the figure itself, nothing to say
            else:
                value = end
    if value is None or (isinstance(value, float) and math.isnan(value)):
        # the writer nulls figures it cannot support (e.g. nines when no failure was seen) and
        # says why in a sibling "note": a gate on such a figure fails, with that reason
        note = lookup_optional(summary, f"{key.rpartition('.')[0]}.note", None) if "." in key else None
        why = f": {note}" if isinstance(note, str) else ""
        return GateResult(name or _text(gate), source, key, gate.op, gate.value, None, False,
                          f"no value in summary.json (null){why}")
    ok = _OPS[gate.op](value, gate.value)
    detail = "" if ok else f"{format_value(key, value)} is not {gate.op} {format_threshold(key, gate.value)}"
    if how:
        detail = f"{detail}{'; ' if detail else ''}read: {how}"
    return GateResult(name or _text(gate), source, key, gate.op, gate.value, value, ok, detail)


def evaluate_regression(summary: dict, baseline: dict, reg: Regression, where: str = "summary.json",
                        base_where: str = "baseline", tables=(None, None), level: float = 0.95) -> GateResult:
    """Breached when worse by more than DELTA and significant: paired when the runs pair (``tables``:
    the run's and the baseline's per-replication values), else the two intervals are disjoint."""
    cur = _number(lookup(summary, reg.key, where), reg.key, where)
    base = _number(lookup(baseline, reg.key, base_where), reg.key, base_where)
    k = reg.key
    name = f"{k}: regression <= {_d(k, reg.delta)}"
    better = "higher" if reg.higher_better else "lower"
    if cur is None or base is None:
        return GateResult(name, "regression", reg.key, "<=", reg.delta, cur, False,
                          "no value (null) in the run or the baseline")
    cur_t, base_t = tables
    pair = pairing(baseline, base_t, summary, cur_t)
    diff = paired_difference(k, base_t, cur_t, level) if pair.paired else None
    if diff is not None and diff.lo is not None:
        # worsening = -(run - baseline) when higher is better
        sign = -1.0 if reg.higher_better else 1.0
        worse_by = sign * diff.mean
        wlo, whi = sorted((sign * diff.lo, sign * diff.hi))
        significant = bool(diff.significant)
        ci_note = (f"{pair.label} {100 * level:g}% CI of the worsening [{format_delta(k, wlo)}, {format_delta(k, whi)}]"
                   f": {'significant' if significant else 'not significant'}")
    else:
        worse_by = (base - cur) if reg.higher_better else (cur - base)
        ci_c, ci_b = interval_at(summary, cur_t, k, level), interval_at(baseline, base_t, k, level)
        if ci_c and ci_b:
            overlap = ci_c[0] <= ci_b[1] and ci_b[0] <= ci_c[1]
            ci_note = (f"unpaired: CIs {'overlap' if overlap else 'disjoint'} "
                       f"({format_value(k, list(ci_c))} vs {format_value(k, list(ci_b))})")
        else:
            overlap, ci_note = False, "unpaired: no CI for this key, plain delta"
        significant = not overlap
    breached = worse_by > reg.delta and significant
    if worse_by > reg.delta and not significant:
        verdict = f"worse by {_d(k, worse_by)} > {_d(k, reg.delta)} but {ci_note}"
    elif worse_by > reg.delta:
        verdict = f"worse by {_d(k, worse_by)} > {_d(k, reg.delta)}; {ci_note}"
    else:
        verdict = (f"{'worse' if worse_by > 0 else 'better or equal'} by {_d(k, abs(worse_by))} "
                   f"(baseline {format_value(k, base)}; {ci_note})")
    verdict += f" [{better} is better]"
    return GateResult(name, "regression", reg.key, "<=", reg.delta, cur, not breached, verdict)


def _d(key: str, delta: float) -> str:
    """A size of change (no sign) in the key's unit: percentage points for availabilities."""
    return format_delta(key, abs(delta)).lstrip("+")


def _thr(r: GateResult) -> str:
    if r.source == "regression":
        return f"{r.op} {_d(r.key, r.threshold)}"
    return f"{r.op} {format_threshold(r.key, r.threshold)}"


def display(r: GateResult) -> dict:
    """How every output shows a verdict's figures: ``value_text`` and ``threshold_text``."""
    return {"value_text": format_value(r.key, r.value),
            "threshold_text": _thr(r) if r.threshold is not None else r.op}


def scenario_gates(run: Run) -> list:
    """The scenario's ``gates:`` entries (strings or mappings) as ``Gate`` objects."""
    return [g for g, _ in _scenario_gates(run)]


def _scenario_gates(run: Run) -> list:
    """(``Gate``, the entry as written: its string, or None for a mapping) per ``gates:`` entry."""
    from pydantic import ValidationError

    from sim.scenario.model import Gate
    raw = run.scenario_document().get("gates") or []
    if not isinstance(raw, list):
        raise ResultsError("scenario gates: expected a list")
    out = []
    for i, g in enumerate(raw):
        try:
            out.append((Gate.parse(g), g.strip()) if isinstance(g, str) else (Gate.model_validate(g), None))
        except (ValueError, ValidationError) as exc:
            raise ResultsError(f"scenario gates[{i}]: {str(exc).splitlines()[0]}") from None
    return out


def check_run(run_dir, requires: list[str] = (), regressions: list[str] = (), baseline=None,
              use_scenario: bool = True, confidence=None) -> list[GateResult]:
    """All gates of one run, in order: run status, scenario gates, --require, regressions.

    Parsing and key checks happen for every gate before anything is reported, so bad input
    (exit 2) never produces a partial verdict.
    """
    level = None if confidence is None else check_level(confidence)
    run = load_run(run_dir)
    where = str(run.path / "summary.json") if run.path else str(run_dir)
    parsed_req = [parse_require(r) for r in requires]
    parsed_reg = [parse_regression(r) for r in regressions]
    if parsed_reg and baseline is None:
        raise HivesimError("--max-regression needs --baseline RUN_DIR_OR_SUMMARY")
    if baseline is not None and not parsed_reg:
        raise HivesimError("--baseline needs at least one --max-regression KEY=DELTA")
    base_summary = base_table = None
    if baseline is not None:
        base_summary, base_dir = load_summary(baseline)
        if base_dir is not None:
            base_table = table_of_run(Run(base_dir, base_summary))
    table = table_of_run(run)
    results: list[GateResult] = []
    status = lookup_optional(run.summary, "run.status", None)
    if status not in (None, MISSING, "ok"):
        err = lookup_optional(run.summary, "run.error", "")
        results.append(GateResult("run.status==ok", "run", "run.status", "==", None, None, False,
                                  f"the run failed: {err if err is not MISSING else ''}".strip()))
    if use_scenario:
        # a gate is echoed as its author wrote it (">=99.99%", not ">= 0.9999")
        results += [evaluate_gate(run.summary, g, "scenario", where, name=text, confidence=level, table=table)
                    for g, text in _scenario_gates(run)]
    for text, g in zip(requires, parsed_req):
        results.append(evaluate_gate(run.summary, g, "cli", where, name=text.strip(), confidence=level, table=table))
    for reg in parsed_reg:
        results.append(evaluate_regression(run.summary, base_summary, reg, where, str(baseline),
                                           tables=(table, base_table), level=level or 0.95))
    return results


# --------------------------------------------------------------------------- output
def render_table(results: list[GateResult], title: str = "hivesim gates"):
    """A rich Table of the verdicts (print it with a rich Console)."""
    from rich.markup import escape
    from rich.table import Table
    failed = sum(not r.passed for r in results)
    table = Table(title=f"{title}: {'FAIL' if failed else 'PASS'} ({failed} of {len(results)} breached)")
    table.add_column("")
    table.add_column("gate", overflow="fold", min_width=24)
    for col in ("source", "value", "threshold", "detail"):
        table.add_column(col, overflow="fold")
    for r in results:
        mark = "[green]PASS[/]" if r.passed else "[bold red]FAIL[/]"
        thr = _thr(r) if r.threshold is not None else r.op
        # escape: gate names and details hold brackets (cells[3], CIs) that rich would take as markup
        table.add_row(mark, escape(r.name), r.source, format_value(r.key, r.value), escape(thr), escape(r.detail))
    return table


def to_junit(results: list[GateResult], suite: str = "hivesim gates") -> str:
    """JUnit XML: one testcase per gate, a <failure> for each breach."""
    failed = sum(not r.passed for r in results)
    root = ET.Element("testsuites", name=suite, tests=str(len(results)), failures=str(failed))
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(results)), failures=str(failed),
                       errors="0", skipped="0")
    for r in results:
        tc = ET.SubElement(ts, "testcase", classname=f"hivesim.gate.{r.source}", name=r.name)
        ET.SubElement(tc, "system-out").text = (f"key={r.key} value={format_value(r.key, r.value)} "
                                                f"threshold={_thr(r) if r.threshold is not None else r.op} {r.detail}").strip()
        if not r.passed:
            f = ET.SubElement(tc, "failure", message=r.detail or "gate breached", type="GateBreached")
            f.text = f"{r.name}: {r.detail}"
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _md(s: str) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def to_markdown(results: list[GateResult], title: str = "hivesim gates") -> str:
    """A Markdown table (for CI job summaries) listing every gate and its verdict."""
    failed = sum(not r.passed for r in results)
    lines = [f"### {title}: {'FAIL' if failed else 'PASS'} ({failed} of {len(results)} breached)", "",
             "| result | gate | source | value | threshold | detail |", "|---|---|---|---|---|---|"]
    for r in results:
        thr = _thr(r) if r.threshold is not None else r.op
        lines.append(f"| {'PASS' if r.passed else '**FAIL**'} | `{_md(r.name)}` | {r.source} | "
                     f"{format_value(r.key, r.value)} "
                     f"| {_md(thr)} | {_md(r.detail)} |")
    return "\n".join(lines) + "\n"


def apply_scenario_gates(run_dir, console=None) -> int:
    """What ``hivesim run --gate`` calls: check the scenario's gates, print the table, return 0/1.

    Reads only the run directory. A scenario without gates passes (prints a note). Bad gates
    raise ``HivesimError`` (exit 2) like any bad input.
    """
    from sim.console import wide_console
    console = console or wide_console(stderr=True)
    results = check_run(Path(run_dir), use_scenario=True)
    if not results:
        console.print("hivesim: no gates in the scenario; nothing to check")
        return 0
    console.print(render_table(results))
    return 1 if any(not r.passed for r in results) else 0
