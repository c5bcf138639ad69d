"""Sensitivity on common random numbers: how much each input moves downtime, nines and cost (a tornado).

``hivesim sensitivity SCENARIO --vary key=low,high [--vary ...]`` runs the scenario as it is (the
base) and, for each varied key, once at ``low`` and once at ``high`` (the other keys at the base),
all with the scenario's seed and replication indices. Each variant is then compared with the base
**replication by replication** (``sim.readers.paired``): the difference in request availability and
in downtime minutes per year gets the t-interval of the per-replication differences, which common
random numbers make far narrower than either run's own interval. Cost has no randomness: its
difference is exact. The keys are sorted by effect: the larger absolute downtime difference of
their two ends.

The variants run through the sweep's machinery (``sim.readers.sweep``: validated and pre-flighted
before anything runs, one task per variant). Outputs, in a new directory written atomically
(``sim.results.writer``): ``summary.json`` (the contract's header, ``kind: sweep``, ``run.mode:
sensitivity``, the base's figures and one entry per key, sorted), ``sensitivity.csv`` (one row per
key and end, numbers only), ``tornado.png|svg`` (``sim.report.tornado``) and
``summaries/NNN.json`` (each variant's summary; 000 is the base).
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from sim.errors import HivesimError
from sim.readers.sweep import Variant, parse_grid
from sim.readers.sweep_table import vs_reference
from sim.results.lookup import finite_number, lookup_optional
from sim.results.schema import COST_KEY, NINES_KEY, run_block, summary_header
from sim.results.formatting import compact
from sim.results.writer import atomic_dir, dumps_json

__all__ = ["AVAIL", "DOWN", "parse_vary", "sensitivity_variants", "tabulate", "CSV_COLUMNS", "csv_rows",
           "write_sensitivity"]

AVAIL, DOWN = "availability.request.mean", "downtime_minutes_per_year.mean"


def parse_vary(exprs: list[str]) -> list[tuple[str, list[tuple[str, object]]]]:
    """``["key=low,high", ...]`` -> ``[(key, [(low text, low), (high text, high)])]``; exactly two values."""
    if not exprs:
        raise HivesimError("sensitivity: give at least one --vary key=low,high")
    grid = parse_grid(exprs)
    for (key, vals), expr in zip(grid, exprs):
        if len(vals) != 2:
            raise HivesimError(f"--vary {expr!r}: expected two values, low and high (key=low,high), got {len(vals)}")
    return grid


def sensitivity_variants(grid) -> list[Variant]:
    """The base, then each key at its low and its high end (the other keys at the base)."""
    out = [Variant("base")]
    for key, vals in grid:
        for text, val in vals:
            out.append(Variant(f"{key}={text}", {key: val}, {key: text}))
    return out


def _side(base: dict, res, key: str, text: str) -> dict:
    """One end of one key: its figures and its differences from the base."""
    entry = {"value": text, "status": "ok", "error": ""}
    if isinstance(res, BaseException) or not isinstance(res, dict):
        entry.update(status="failed", error=f"{type(res).__name__}: {res}")
        return entry
    for k in (AVAIL, NINES_KEY, DOWN, COST_KEY):
        entry[k] = lookup_optional(res, k, None)
    for k in (AVAIL, DOWN):
        d = vs_reference(base, res, k)
        entry[f"delta.{k}"] = d.to_dict()
    cb, cv = finite_number(lookup_optional(base, COST_KEY, None)), finite_number(lookup_optional(res, COST_KEY, None))
    entry[f"delta.{COST_KEY}"] = None if cb is None or cv is None else cv - cb
    nb, nv = finite_number(lookup_optional(base, NINES_KEY, None)), finite_number(lookup_optional(res, NINES_KEY, None))
    entry[f"delta.{NINES_KEY}"] = None if nb is None or nv is None else nv - nb
    return entry


def tabulate(grid, variants: list[Variant], results: list) -> dict:
    """The sensitivity document's body: the base's figures and one entry per key, sorted by effect."""
    base = results[0]
    if not isinstance(base, dict):
        raise HivesimError(f"sensitivity: the base run failed: {type(base).__name__}: {base}")
    entries, k = [], 1
    for key, vals in grid:
        sides = {}
        for end, (text, _) in zip(("low", "high"), vals):
            sides[end] = _side(base, results[k], key, text)
            k += 1
        effects = [abs(s[f"delta.{DOWN}"]["mean"]) for s in sides.values()
                   if s["status"] == "ok" and s[f"delta.{DOWN}"]["mean"] is not None]
        entries.append({"key": key, **sides, "effect": max(effects) if effects else None})
    entries.sort(key=lambda e: -(e["effect"] if e["effect"] is not None else -1.0))
    return {"base": {k: lookup_optional(base, k, None) for k in (AVAIL, "availability.request.ci95", NINES_KEY, DOWN,
                                                                  "downtime_minutes_per_year.ci95", COST_KEY)},
            "effect": "largest |difference in downtime minutes per year| of the key's two ends, paired",
            "keys": entries}


CSV_COLUMNS = ["rank", "key", "end", "value", "status", "delta_downtime", "delta_downtime_lo", "delta_downtime_hi",
               "delta_availability", "delta_availability_lo", "delta_availability_hi", "paired_n",
               "delta_nines", "delta_cost", "availability", "nines", "downtime", "cost"]


def csv_rows(body: dict) -> list[dict]:
    """sensitivity.csv: one row per key and end, in effect order (``value`` as written on --vary)."""
    rows = []
    for rank, e in enumerate(body["keys"], 1):
        for end in ("low", "high"):
            s = e[end]
            da, dd = s.get(f"delta.{AVAIL}") or {}, s.get(f"delta.{DOWN}") or {}
            rows.append({"rank": rank, "key": e["key"], "end": end, "value": s["value"], "status": s["status"],
                         "delta_downtime": dd.get("mean"), "delta_downtime_lo": (dd.get("interval") or [None, None])[0],
                         "delta_downtime_hi": (dd.get("interval") or [None, None])[1],
                         "delta_availability": da.get("mean"),
                         "delta_availability_lo": (da.get("interval") or [None, None])[0],
                         "delta_availability_hi": (da.get("interval") or [None, None])[1],
                         "paired_n": dd.get("n"), "delta_nines": s.get(f"delta.{NINES_KEY}"),
                         "delta_cost": s.get(f"delta.{COST_KEY}"), "availability": s.get(AVAIL),
                         "nines": s.get(NINES_KEY), "downtime": s.get(DOWN), "cost": s.get(COST_KEY)})
    return rows


def _csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: "" if r.get(k) is None else compact(r[k]) for k in CSV_COLUMNS})
    return buf.getvalue()


def write_sensitivity(out: str | os.PathLike, body: dict, results: list, meta: dict) -> Path:
    """The sensitivity directory, atomically (refuses an existing one)."""
    from sim.report.figures import save_figure
    from sim.report.tornado import tornado_figure
    failed = sum(1 for r in results if not isinstance(r, dict))
    run = run_block(status="failed" if failed else "ok", mode="sensitivity", variants=len(results),
                    error=f"{failed} of {len(results)} variants failed" if failed else None)
    with atomic_dir(out) as tmp:
        (tmp / "summary.json").write_text(dumps_json({**summary_header("sweep"), "run": run, **meta, **body}),
                                          encoding="utf-8")
        (tmp / "sensitivity.csv").write_text(_csv(csv_rows(body)), encoding="utf-8")
        (tmp / "summaries").mkdir()
        for i, s in enumerate(results):
            if isinstance(s, dict):
                (tmp / "summaries" / f"{i:03d}.json").write_text(dumps_json(s), encoding="utf-8")
        save_figure(tornado_figure(body, meta.get("scenario_name", "scenario")), tmp / "tornado")
    return Path(out)
