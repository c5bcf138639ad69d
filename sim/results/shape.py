"""The typed shape of the summary.json keys that readers read, checked when a summary is loaded.

Report, compare, gate, calibrate and predict read only the keys listed here; ``check_summary``
refuses a summary whose value at one of them has the wrong type (``run: null``, ``faults`` a
string, a list where an object is expected) with the key path, so no reader meets an
``AttributeError`` half-way through its work. Keys a run may leave out are optional (absent
or null is fine) unless the reader needs them: ``LIVE_REQUIRED`` for calibration and
prediction. A path's ``[]`` means "every item of the list".
"""

from __future__ import annotations

from sim.errors import ResultsError

__all__ = ["SUMMARY_SHAPE", "LIVE_REQUIRED", "check_summary"]

NUM, STR, BOOL, DICT, LIST = "number", "string", "boolean", "object", "list"
_TYPES = {NUM: (int, float), STR: (str,), BOOL: (bool,), DICT: (dict,), LIST: (list,)}

# dotted key -> expected JSON type (every key optional here; null counts as absent)
SUMMARY_SHAPE: dict[str, str] = {
    "kind": STR, "run": DICT, "scenario": DICT,
    "run.run_id": STR, "run.horizon_days": NUM, "run.warmup_days": NUM, "run.duration_seconds": NUM,
    "run.replications": NUM, "run.cpu_cores": NUM,
    "availability": DICT, "availability.request": DICT, "availability.request.mean": NUM,
    "availability.request.nines": NUM, "availability.request.ci95": LIST, "availability.request.nines_ci95": LIST,
    "availability.request.episodes": NUM, "availability.request.reliability": STR,
    "availability.time": DICT, "availability.time.mean": NUM,
    "downtime_minutes_per_year": DICT, "downtime_minutes_per_year.mean": NUM, "downtime_minutes_per_year.ci95": LIST,
    "cost": DICT, "cost.total_per_year": NUM, "cost.per_account_per_year": NUM,
    "throughput": DICT, "throughput.requests_per_second": NUM, "throughput.offered_requests_per_second": NUM,
    "throughput.profile_tps": LIST, "throughput.capacity_tps": NUM, "throughput.capacity_tps_n_minus_1_idc": NUM,
    "latency_ms": DICT, "latency_ms.by_kind": DICT, "latency_ms.p50": NUM,
    "outages": DICT, "outages.by_cause": DICT,
    "gates": LIST, "gates[]": DICT, "checker": DICT, "cells": LIST,
    "faults": LIST, "faults[]": DICT, "faults[].kind": STR, "faults[].target": STR, "faults[].start": NUM,
    "faults[].end": NUM, "faults[].failed_requests": NUM, "faults[].recovery_seconds": NUM,
    "faults[].disruption_seconds": NUM, "faults[].max_latency_ms": NUM,
}



# what calibration and prediction read without a default (a live run always writes them)
LIVE_REQUIRED = ("run", "scenario", "faults", "faults[].kind", "faults[].target", "faults[].start",
                 "availability", "availability.request", "availability.request.mean", "throughput",
                 "throughput.offered_requests_per_second")


def _values(node, parts: list[str], path: str):
    """(path, value) at ``parts`` below ``node``; absent keys give nothing, ``[]`` fans out."""
    if not parts:
        yield path, node
        return
    head, rest = parts[0], parts[1:]
    key, fan = (head[:-2], True) if head.endswith("[]") else (head, False)
    if not isinstance(node, dict) or node.get(key) is None:
        yield (f"{path}.{key}" if path else key), None  # absent: the caller decides
        return
    sub, here = node[key], (f"{path}.{key}" if path else key)
    if fan:
        if isinstance(sub, list):
            for i, item in enumerate(sub):
                yield from _values(item, rest, f"{here}[{i}]")
        return
    yield from _values(sub, rest, here)


def _type_name(v) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(v), "null" if v is None else "a number")


def check_summary(summary, where: str, required: tuple[str, ...] = ()) -> dict:
    """``summary`` itself when every listed key has its type; else ``ResultsError`` with the key path."""
    if not isinstance(summary, dict):
        raise ResultsError(f"expected a JSON object, got {_type_name(summary)}", file=where)
    for key, want in SUMMARY_SHAPE.items():
        for path, value in _values(summary, key.split("."), ""):
            if value is None:
                if key in required:
                    raise ResultsError(f"missing, expected {want}", file=where, path=path)
                continue
            ok = isinstance(value, _TYPES[want]) and not (want == NUM and isinstance(value, bool))
            if not ok:
                raise ResultsError(f"expected {want}, got {_type_name(value)}", file=where, path=path)
    return summary

