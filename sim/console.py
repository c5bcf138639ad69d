"""The summary table printed at the end of ``hivesim run`` (rich), and the console CI logs get.

Rows, labels and number formats come from the key registry (``sim.results.schema``: the
``console`` view), so the console says what compare, sweep and the report say. Each column means
one thing: the figure's value, the 95 % interval *of that figure*, and the nines of an availability.
Pairs (latency p50 and p99, a worst window's mean and minimum) are two rows, never a value under
the interval's column. Next to every nines figure stand the outage episodes its interval rests on;
a figure flagged ``reliability: few-events`` (fewer than ``sim.metrics.FEW_EVENTS`` episodes, or
effective episodes) is marked ``few events`` there and explained under the table.
"""

from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.table import Table

from sim.metrics.intervals import FEW_EVENTS
from sim.results.lookup import MISSING, ci_key, lookup_optional
from sim.results.schema import keys_for, label_of

from sim.results.formatting import format_value, pct
__all__ = ["print_summary", "wide_console"]


def wide_console(**kw) -> Console:
    """A rich Console; when output is not a terminal (CI logs, pipes) use 160 columns, not 80,
    so verdict tables keep their detail column readable. An explicit ``COLUMNS`` always wins."""
    con = Console(**kw)
    if not con.is_terminal and not os.environ.get("COLUMNS", "").isdigit():
        con = Console(width=160, **kw)
    return con


def _get(summary: dict, key: str):
    v = lookup_optional(summary, key, None)
    return None if v is MISSING else v


def _label(summary: dict, key: str) -> str:
    cur = _get(summary, "cost.currency")
    return f"{label_of(key)} ({cur})" if key.startswith("cost.") and cur else label_of(key)


def print_summary(summary: dict, out=None, console: Console | None = None) -> None:
    """The registry's console keys present in ``summary``, with 95 % CIs and nines, then the causes."""
    con = console or Console(width=None if sys.stdout.isatty() else 120)
    run = summary.get("run", {})
    t = Table(title=f"hivesim: {summary.get('scenario', {}).get('name', '?')}  "
                    f"({run.get('replications')} replications x {run.get('horizon_days', 0):.0f} days, "
                    f"seed {run.get('seed')})", show_lines=False)
    t.add_column("figure", no_wrap=True)
    t.add_column("value", justify="right", max_width=24, overflow="fold")
    t.add_column("95 % CI of the value", justify="right")
    t.add_column("nines (low end of CI)", justify="right")
    t.add_column("episodes", justify="right")
    few = []
    for key in keys_for("console"):
        v = _get(summary, key)
        if v is None:
            continue
        ck = ci_key(key)
        ci = _get(summary, ck) if ck else None
        head, _, leaf = key.rpartition(".")
        block = leaf == "mean" and key.startswith("availability.")
        nines = _get(summary, f"{head}.nines") if block else None
        eps = _get(summary, f"{head}.episodes") if block else None
        rel = _get(summary, f"{head}.reliability") if block else None
        if rel == "few-events":
            few.append(label_of(key))
        t.add_row(_label(summary, key), format_value(key, v), format_value(ck, ci) if ci else "",
                  format_value(f"{head}.nines", nines) if nines is not None else "",
                  "" if eps is None else format_value("outages.count", eps) + (" (few events)" if rel == "few-events" else ""))
    con.print(t)
    if few:
        con.print(f"[yellow]few events:[/] {', '.join(few)}: fewer than {FEW_EVENTS} outage episodes (or "
                  "effective ones, when a few long episodes carry most of the loss), so the interval is the wide "
                  "compound-Poisson bound and the nines are a floor, not a measurement; run more replications "
                  "(or the rare-event estimator) to narrow it")
    causes = (summary.get("outages") or {}).get("by_cause", {})
    if causes:
        ct = Table(title="downtime by cause (request-weighted)")
        ct.add_column("cause")
        ct.add_column("episodes", justify="right")
        ct.add_column("minutes/year", justify="right")
        ct.add_column("share", justify="right")
        for c, v in list(causes.items())[:10]:
            ct.add_row(c, format_value("outages.count", v.get("count")),
                       format_value(f"outages.by_cause.{c}.downtime_minutes_per_year", v.get("downtime_minutes_per_year")),
                       pct(v.get("share"), 1))
        con.print(ct)
    note = (summary.get("availability") or {}).get("request", {}).get("note")
    if note:
        con.print(f"[yellow]note:[/] {note}")
    variant = (summary.get("cost_variant") or {}).get("wall_seconds")
    of_which = (f" (of which the cost variant {format_value('run.wall_seconds', variant)})"
                if isinstance(variant, (int, float)) else "")
    con.print(f"wall time {format_value('run.wall_seconds', run.get('wall_seconds', 0))}{of_which} on "
              f"{run.get('workers')} worker(s)" + (f"; results in [bold]{out}[/]" if out else ""))
