"""Writing run directories atomically, in the results contract (docs/results-contract.md).

A run directory is assembled in a hidden temporary sibling and renamed into place in one
step, so readers never see half a run and an existing directory is never overwritten.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from pathlib import Path

import yaml

from sim.results_io import atomic_dir, atomic_write_text

__all__ = ["new_run_id", "default_run_dir", "write_run_dir", "json_safe", "dumps_json",
           "atomic_write_text"]


def json_safe(obj):
    """Replace NaN/inf by None (JSON has no such numbers) and tuples by lists, recursively."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return json_safe(obj.item())
    return obj


def dumps_json(obj) -> str:
    return json.dumps(json_safe(obj), indent=2, allow_nan=False) + "\n"


def new_run_id(sha: str = "") -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return f"{stamp}-{sha[:8]}" if sha else stamp


def default_run_dir(scenario_name: str, run_id: str, root: str | os.PathLike = "results") -> Path:
    base = Path(root) / scenario_name / run_id
    p, n = base, 2
    while p.exists():  # two runs in the same second: never overwrite, add a suffix
        p = base.with_name(f"{base.name}-{n}")
        n += 1
    return p


def _csv(rows, header) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow([f"{v:.10g}" if isinstance(v, float) else v for v in row])
    return buf.getvalue()


EVENTS_HEADER = ["replication", "start_s", "end_s", "duration_s", "target", "cause", "effect",
                 "failed_fraction"]
TIMESERIES_HEADER = ["replication", "t_start_s", "t_end_s", "offered_requests", "failed_requests",
                     "slow_requests", "failed_fraction", "cells_down"]
REPLICATIONS_HEADER = ["replication", "availability_request", "availability_time",
                       "downtime_minutes", "outages"]


def write_run_dir(out: Path, summary: dict, scenario_dump: dict, events=(), timeseries=(),
                  replications=(), extra_files: dict[str, str] | None = None,
                  allow_existing_empty: bool = True) -> Path:
    """Write a complete run directory at ``out`` atomically; refuse to overwrite."""
    out = Path(out)
    if out.exists() and allow_existing_empty and out.is_dir() and not any(out.iterdir()):
        out.rmdir()  # an empty directory made for us (e.g. by a CI step) is not overwritten data
    with atomic_dir(out) as tmp:
        (tmp / "summary.json").write_text(dumps_json(summary), encoding="utf-8")
        (tmp / "scenario.yaml").write_text(
            "# effective scenario: every default filled in; re-run with `hivesim run scenario.yaml`\n"
            + yaml.safe_dump(json_safe(scenario_dump), sort_keys=False, allow_unicode=True),
            encoding="utf-8")
        (tmp / "events.csv").write_text(_csv(events, EVENTS_HEADER), encoding="utf-8")
        (tmp / "timeseries.csv").write_text(_csv(timeseries, TIMESERIES_HEADER), encoding="utf-8")
        if replications:
            (tmp / "replications.csv").write_text(_csv(replications, REPLICATIONS_HEADER), encoding="utf-8")
        for name, text in (extra_files or {}).items():
            (tmp / name).write_text(text, encoding="utf-8")
    return out
