"""Capacity-planning sweeps: run a scenario's variants, tabulate them, draw the cost/nines frontier.

Variants come from a grid of ``--set dotted.key=v1,v2,...`` (every combination) and/or a YAML
file of named variants (``[{name: ..., set: {dotted.key: value}}]``; grid x file when both).
Every variant is validated before anything runs (bad input: exit 2, nothing written). The
replications of every variant are cut into chunks and run as one batch (``sim.runner.simulate_many``)
on a local process pool or on a Dask distributed cluster (``scheduler="tcp://host:port"`` or a
``Client``; ``sim.executors``). The simulation is deterministic for a seed, so both give the
same table (only wall times and ``run.scheduler`` differ).

Grid value syntax: values are split on commas **outside** brackets, braces and quotes, and each
piece is read as YAML, exactly like a single ``--set`` value::

    --set topology.cells.template.db.replicas=2,3,5          -> 2 | 3 | 5
    --set topology.cells.template.db.placement=[sz-a,sz-b],[sz-a,sz-c]   -> two lists
    --set description="a,b",c                                -> "a,b" | c

Outputs (a new directory, written atomically): ``table.csv`` (numbers only in numeric columns:
intervals as ``<key>_lo``/``<key>_hi``, swept values in base units; ``tidy_rows``), ``table.json``
(the rows as built, intervals as ``[lo, hi]``, swept values as written), ``frontier.png``,
``frontier.svg`` (drawn by ``sim.report.frontier``) and ``summaries/NNN.json`` (each variant's full
summary, with its ``per_replication`` values). The rows, their paired differences from the first
variant and the Pareto marks are built in ``sim.readers.sweep_table``; ``--target`` selection lives
in ``sim.readers.target``.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from sim.errors import HivesimError, ScenarioError
from sim.readers.sweep_table import TABLE_KEYS, csv_text, pareto, table_rows, tidy_rows
from sim.results.schema import run_block, summary_header
from sim.results.writer import atomic_dir, dumps_json

__all__ = ["Variant", "split_values", "parse_grid", "grid_variants", "load_variants_file", "combine",
           "build_scenarios", "variant_count", "check_variant_count", "run_variants", "sweep_executor", "summaries_of", "table_rows", "tidy_rows", "pareto", "write_sweep", "TABLE_KEYS",
           "default_sweep_dir"]

@dataclass
class Variant:
    """One point of the sweep: a name and the scenario values it overrides."""

    name: str
    sets: dict = field(default_factory=dict)      # dotted scenario key -> value (Python object)
    shown: dict = field(default_factory=dict)     # dotted key -> text as the user wrote it


# --------------------------------------------------------------------------- parsing
def split_values(raw: str) -> list[str]:
    """Split ``a,b,[c,d],{e: f},"g,h"`` on top-level commas (see module docstring)."""
    out, buf, depth, quote = [], [], 0, None
    for ch in raw:
        if quote:
            buf.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in "\"'":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
            if depth < 0:
                raise HivesimError(f"--set value {raw!r}: unbalanced {ch!r}")
        elif ch == "," and depth == 0:
            out.append("".join(buf).strip())
            buf = []
            continue
        buf.append(ch)
    if quote or depth:
        raise HivesimError(f"--set value {raw!r}: unclosed {'quote' if quote else 'bracket'}")
    out.append("".join(buf).strip())
    if any(p == "" for p in out):
        raise HivesimError(f"--set value {raw!r}: empty value between commas")
    return out


def parse_grid(set_args: list[str]) -> list[tuple[str, list[tuple[str, object]]]]:
    """``["a.b=1,2", "c=x"]`` -> ``[("a.b", [("1", 1), ("2", 2)]), ("c", [("x", "x")])]``."""
    from sim.scenario.loader import parse_set
    grid, seen = [], set()
    for expr in set_args:
        key, sep, raw = expr.partition("=")
        key = key.strip()
        if not sep or not key:
            raise HivesimError(f"--set {expr!r}: expected dotted.key=value[,value...]")
        if key in seen:
            raise HivesimError(f"--set {expr!r}: {key} given twice (list all values in one --set)")
        seen.add(key)
        values = []
        for piece in split_values(raw):
            _, val = parse_set(f"{key}={piece}")
            values.append((piece, val))
        grid.append((key, values))
    return grid


def _short_names(keys: list[str]) -> dict[str, str]:
    """Shortest dotted suffix of each key that is unique among ``keys`` (for variant names)."""
    out = {}
    for k in keys:
        parts = k.split(".")
        for n in range(1, len(parts) + 1):
            suf = ".".join(parts[-n:])
            if sum(1 for o in keys if o == suf or o.endswith("." + suf)) == 1:
                out[k] = suf
                break
        else:
            out[k] = k
    return out


def variant_count(grid, file_variants: list[Variant] | None = None) -> int:
    """How many variants a grid (x a variants file) makes: the product of the axis lengths.

    Computed, never enumerated: five axes of 30 values are 24 million variants, refused at once.
    """
    n = math.prod(len(vals) for _, vals in grid) if grid else 1
    return n * (len(file_variants) if file_variants else 1)


def check_variant_count(grid, file_variants: list[Variant] | None = None) -> int:
    """``variant_count``, refused above ``sim.preflight.MAX_VARIANTS`` with the figure and the limit."""
    from sim.preflight import MAX_VARIANTS
    n = variant_count(grid, file_variants)
    if n > MAX_VARIANTS:
        axes = " x ".join(str(len(vals)) for _, vals in grid) or "1"
        files = f" x {len(file_variants)} file variants" if file_variants else ""
        raise HivesimError(f"the sweep has {n:,} variants ({axes}{files}); split it (limit {MAX_VARIANTS:,})")
    return n


def grid_variants(grid) -> list[Variant]:
    """Every combination of the grid's values (keys with one value are fixed, not in the name)."""
    if not grid:
        return [Variant("base")]
    varying = [k for k, vals in grid if len(vals) > 1]
    short = _short_names(varying)
    out = []
    for combo in itertools.product(*[vals for _, vals in grid]):
        sets = {k: v for (k, _), (_, v) in zip(grid, combo)}
        shown = {k: text for (k, _), (text, _) in zip(grid, combo)}
        name = " ".join(f"{short[k]}={shown[k]}" for k in varying) or "base"
        out.append(Variant(name, sets, shown))
    return out


def load_variants_file(path: str | os.PathLike) -> list[Variant]:
    """A YAML list of ``{name: str, set: {dotted.key: value}}`` (read by ``sim.files``: a regular
    UTF-8 file, no aliases, depth and size bounded; then checked)."""
    from sim.files import VARIANTS_MAX_BYTES, parse_yaml, read_text
    p = Path(path)
    if not p.exists() and not p.is_symlink():
        raise ScenarioError("no such variants file", file=str(p))
    data, _ = parse_yaml(read_text(p, "variants file", VARIANTS_MAX_BYTES, ScenarioError), str(p), ScenarioError)
    if not isinstance(data, list) or not data:
        raise HivesimError(f"{p}: expected a non-empty list of {{name: ..., set: {{dotted.key: value}}}}")
    out, names = [], set()
    for i, item in enumerate(data):
        if not isinstance(item, dict) or set(item) - {"name", "set"} or "name" not in item:
            raise HivesimError(f"{p}: [{i}]: expected a mapping with keys name and set, got {item!r}"[:300])
        name, sets = str(item["name"]), item.get("set") or {}
        if not isinstance(sets, dict) or not all(isinstance(k, str) and k for k in sets):
            raise HivesimError(f"{p}: [{i}].set: expected a mapping of dotted keys to values")
        if name in names:
            raise HivesimError(f"{p}: [{i}].name: duplicate variant name {name!r}")
        names.add(name)
        out.append(Variant(name, dict(sets), {k: json.dumps(v) if not isinstance(v, str) else v
                                              for k, v in sets.items()}))
    return out


def combine(file_variants: list[Variant] | None, grid_vars: list[Variant]) -> list[Variant]:
    """File variants x grid variants (either may be absent)."""
    if not file_variants:
        return grid_vars
    out = []
    for fv in file_variants:
        for gv in grid_vars:
            name = fv.name if gv.name == "base" else f"{fv.name} {gv.name}"
            out.append(Variant(name, {**fv.sets, **gv.sets}, {**fv.shown, **gv.shown}))
    return out


def _apply(data: dict, key: str, value) -> None:
    node = data
    parts = key.split(".")
    for i, part in enumerate(parts[:-1]):
        nxt = node.get(part) if isinstance(node, dict) else None
        if nxt is None:
            nxt = node[part] = {}
        if not isinstance(nxt, dict):
            raise ScenarioError(f"{'.'.join(parts[:i + 1])} is not a mapping", path=key)
        node = nxt
    node[parts[-1]] = copy.deepcopy(value)


def build_scenarios(scenario_path, variants: list[Variant], base_sets: list[str] = ()) -> list:
    """Validate and pre-flight every variant's scenario up front; -> list of ``Scenario`` (same order)."""
    from sim.preflight import check
    from sim.scenario import validate_document
    from sim.scenario.loader import Located, apply_sets, load_with_extends
    from sim.scenario import default_scenario_path
    doc = load_with_extends(scenario_path or default_scenario_path())
    apply_sets(doc, list(base_sets))
    out = []
    for v in variants:
        d = Located(copy.deepcopy(doc.data), dict(doc.origin), doc.root_file)
        for k, val in v.sets.items():
            _apply(d.data, k, val)
            d.origin[k] = (f"variant {v.name!r}", None)  # errors on a swept key name the variant
        try:
            out.append(check(validate_document(d), d))
        except ScenarioError as exc:
            if f"variant {v.name!r}" in str(exc):
                raise
            raise ScenarioError(f"variant {v.name!r}: {exc}") from None
    return out


# --------------------------------------------------------------------------- running
def run_variants(scenarios: list, scheduler=None, workers: int | None = None, progress: bool = True,
                 label: str = "sweep") -> list[dict | BaseException]:
    """Run every scenario; -> summaries (or the exception a variant raised), in input order.

    Every variant's replication chunks (and its cost variant's) go to the executor as one batch
    (``sim.runner.simulate_many``), so the workers stay busy across variants. ``scheduler``:
    ``None`` = local process pool (``workers`` processes, default ``usable_cpus()``); ``"tcp://host:port"``
    or a ``distributed.Client`` = that Dask cluster (``sim.executors``).
    """
    from sim.runner import simulate_many
    with sweep_executor(scheduler, workers, progress) as (ex, bar):
        # summaries only: replications come back without their events (sweeps write no events.csv)
        done = simulate_many(scenarios, ex, bar, label=label, keep_events=False, fail_fast=False)
    return summaries_of(done)


@contextlib.contextmanager
def sweep_executor(scheduler=None, workers: int | None = None, progress: bool = True):
    """``(executor, progress bar)`` for a sweep's batches: the Dask cluster at ``scheduler``, else a
    local pool of ``workers`` processes (default ``usable_cpus()``). Shared by ``run_variants`` and
    the cheapest-first sweep (``sim.readers.cheapest``), which runs several batches on it."""
    from sim.executors import open_executor, usable_cpus
    from sim.runner import progress_display
    with open_executor(scheduler, max(1, workers or usable_cpus())) as ex, \
            progress_display(bool(progress)) as bar:
        yield ex, bar


def summaries_of(done: list) -> list[dict | BaseException]:
    """``simulate_many``'s answers as a sweep keeps them: each summary with its per-replication
    values (``sim.readers.paired``), so variants run with one seed are compared replication by
    replication (common random numbers); a failed variant's exception as it is."""
    from sim.readers.paired import per_replication_block
    out = []
    for d in done:
        if isinstance(d, BaseException):
            out.append(d)
        else:
            summary, results = d
            summary["per_replication"] = per_replication_block(results)
            out.append(summary)
    return out


def write_sweep(out: str | os.PathLike, rows: list[dict], summaries: list, meta: dict) -> Path:
    """Write the sweep directory atomically (refuses an existing one).

    ``table.json`` starts with the contract's header (``kind: sweep``) and ``run`` block (status
    ``failed`` with the count when a variant failed), then ``meta`` and the rows.
    """
    failed = sum(1 for r in rows if r.get("status") == "failed")  # "skipped" (cheapest first) is not a failure
    run = run_block(status="failed" if failed else "ok", mode="sweep", variants=len(rows),
                    error=f"{failed} of {len(rows)} variants failed" if failed else None)
    with atomic_dir(out) as tmp:
        (tmp / "table.csv").write_text(csv_text(rows, summaries), encoding="utf-8")
        (tmp / "table.json").write_text(dumps_json({**summary_header("sweep"), "run": run, **meta, "rows": rows}),
                                        encoding="utf-8")
        (tmp / "summaries").mkdir()
        for i, s in enumerate(summaries):
            if isinstance(s, dict):
                (tmp / "summaries" / f"{i:03d}.json").write_text(dumps_json(s), encoding="utf-8")
        from sim.report.frontier import frontier_figure
        fig = frontier_figure(rows, meta.get("scenario_name", "sweep"), meta.get("swept_keys", []))
        from sim.report.figures import save_figure
        save_figure(fig, tmp / "frontier")
    return Path(out)


def default_sweep_dir(scenario_name: str, root: str = "results") -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    base = Path(root) / scenario_name / f"sweep-{stamp}"
    p, n = base, 2
    while p.exists():
        p, n = base.with_name(f"{base.name}-{n}"), n + 1
    return p
