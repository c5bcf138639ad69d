"""The sweep's table: one row per variant, its figures, Pareto marks and paired differences.

``table_rows(variants, results)`` builds the rows ``hivesim sweep`` prints and writes
(``table.json``; ``tidy_rows`` -> ``table.csv``). Each row also holds its difference from the
first variant (the reference) in request availability and downtime: **paired** when the variants
share the seed and replication indices (a sweep runs every variant with one seed, so they do unless
``--set simulation.seed=...`` is swept): the t-interval of the per-replication differences
(``sim.readers.paired``); otherwise unpaired (the difference of the means, no interval). Columns:
``vs_first.method`` ("paired (n=..)" / "unpaired"), ``vs_first.<key>`` and ``vs_first.<key>_lo`` /
``_hi`` for ``availability.request.mean`` and ``downtime_minutes_per_year.mean``, and
``vs_first.significant`` (the availability interval excludes 0).
"""

from __future__ import annotations

import csv
import io

from sim.readers.paired import Difference, difference, table_from_summary
from sim.results.lookup import MISSING, ci_of, finite_number, lookup_optional
from sim.results.schema import COST_KEY, NINES_KEY, keys_for, spec_of
from sim.results.formatting import compact
from sim.units import parse_duration

__all__ = ["TABLE_KEYS", "PAIRED_KEYS", "table_rows", "pareto", "tidy_rows", "csv_text", "vs_reference"]

# summary keys copied into the table: the registry's sweep view (dotted keys, so gates and tables agree)
TABLE_KEYS = keys_for("sweep")
# the figures each row compares with the first variant, paired when it can
PAIRED_KEYS = ("availability.request.mean", "downtime_minutes_per_year.mean")


def vs_reference(ref: dict, other: dict, key: str) -> Difference:
    """``other - ref`` of ``key`` between two variants' summaries: paired when they pair."""
    return difference(key, ref, table_from_summary(ref), other, table_from_summary(other),
                      lookup_optional(ref, key, None), lookup_optional(other, key, None), ci_of(ref, key), ci_of(other, key))


def _paired_columns(ref, res) -> dict:
    out: dict = {"vs_first.method": None}
    for key in PAIRED_KEYS:
        out.update({f"vs_first.{key}": None, f"vs_first.{key}_lo": None, f"vs_first.{key}_hi": None})
    out["vs_first.significant"] = None
    if not isinstance(ref, dict) or not isinstance(res, dict):
        return out
    for key in PAIRED_KEYS:
        d = vs_reference(ref, res, key)
        out[f"vs_first.{key}"], out[f"vs_first.{key}_lo"], out[f"vs_first.{key}_hi"] = d.mean, d.lo, d.hi
        if key == PAIRED_KEYS[0]:
            out["vs_first.method"], out["vs_first.significant"] = d.label, d.significant
    return out


def table_rows(variants: list, results: list) -> list[dict]:
    """One row per variant: name, the swept scenario keys (``scenario.<key>``), the figures."""
    swept = list(dict.fromkeys(k for v in variants for k in v.sets))
    rows = []
    for i, (v, res) in enumerate(zip(variants, results)):
        row = {"variant": v.name, "index": i}
        for k in swept:
            row[f"scenario.{k}"] = v.sets.get(k)
        if isinstance(res, BaseException):
            row.update({"status": "failed", "error": f"{type(res).__name__}: {res}"})
            row.update({k: None for k in TABLE_KEYS})
        elif res is None:  # not run: a cheapest-first sweep knew its answer without it (sim.readers.cheapest)
            row.update({"status": "skipped", "error": ""})
            row.update({k: None for k in TABLE_KEYS})
        else:
            row.update({"status": "ok", "error": ""})
            for k in TABLE_KEYS:
                val = lookup_optional(res, k, None)
                row[k] = None if val is MISSING else val
        row.update(_paired_columns(results[0] if results else None, res))
        rows.append(row)
    marks = pareto(rows)
    for r, m in zip(rows, marks):
        r["pareto"] = m
    return rows


def pareto(rows: list[dict]) -> list[bool | None]:
    """Pareto-optimal on (lower cost per account, more nines); ``None`` when there is no cost.

    Nines are the contract's pessimistic figure, so a point is never on the frontier by virtue
    of a wide interval. Rows without both figures are never optimal.
    """
    pts = [(finite_number(r.get(COST_KEY)), finite_number(r.get(NINES_KEY))) for r in rows]
    if all(c is None for c, _ in pts):
        return [None] * len(rows)
    out = []
    for i, (c, n) in enumerate(pts):
        if c is None or n is None:
            out.append(False)
            continue
        dominated = any(oc is not None and on is not None and oc <= c and on >= n and (oc < c or on > n)
                        for j, (oc, on) in enumerate(pts) if j != i)
        out.append(not dominated)
    return out


def _effective(key: str, raw, summary) -> object:
    """A swept value as the variant ran it, in base units (``10s`` -> 10.0): from the scenario its
    summary echoes; a variant that failed has none, so its duration strings are parsed here."""
    if isinstance(summary, dict) and isinstance(summary.get("scenario"), dict):
        val = lookup_optional(summary["scenario"], key, MISSING)
        if val is not MISSING:
            return val
    if isinstance(raw, str):
        try:
            return parse_duration(raw)
        except ValueError:
            return raw
    return raw


def tidy_rows(rows: list[dict], summaries: list | None = None) -> list[dict]:
    """table.csv's rows: numbers in numeric columns. An interval (``*.ci95``) becomes two columns,
    ``<key>_lo`` and ``<key>_hi``; a swept ``scenario.<key>`` holds the effective value in the
    scenario's base units (seconds, per second, fractions); ``vs_first.method`` becomes
    ``vs_first.paired_n`` (empty: unpaired), ``vs_first.significant`` and ``target.met`` 1/0,
    ``target.choice`` ``target.rank`` (1 the choice, 2 the runner-up); other lists are JSON text."""
    out = []
    for i, r in enumerate(rows):
        summary = summaries[i] if summaries is not None and i < len(summaries) else None
        t = {}
        for k, v in r.items():
            spec = spec_of(k)
            if spec is not None and spec.format == "interval":
                lo, hi = v if isinstance(v, (list, tuple)) and len(v) == 2 else (None, None)
                t[f"{k}_lo"], t[f"{k}_hi"] = lo, hi
            elif k.startswith("scenario."):
                t[k] = _effective(k[len("scenario."):], v, summary)
            elif k == "vs_first.method":  # numbers only: the pairs compared, empty when unpaired
                t["vs_first.paired_n"] = int(v[len("paired (n="):-1]) if isinstance(v, str) and v.startswith("paired") \
                    else None
            elif k in ("vs_first.significant", "target.met"):
                t[k] = None if v is None else int(bool(v))
            elif k == "target.choice":  # sweep --target: 1 = the choice, 2 = the runner-up
                t["target.rank"] = {"best": 1, "runner-up": 2}.get(v)
            else:
                t[k] = v
        out.append(t)
    return out


def csv_text(rows: list[dict], summaries: list | None = None) -> str:
    rows = tidy_rows(rows, summaries)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if v is None else compact(v)) for k, v in r.items()})
    return buf.getvalue()


