"""Dotted keys into a summary: ``availability.request.worst_day.mean``, ``cells[3].nines``.

The dotted keys of summary.json are the results contract's public API (docs/results-contract.md);
every reader (gate, compare, sweep, report, users' scripts) resolves them here, so a key means
the same everywhere. Also here: the convention that names a figure's 95 % interval (``ci_key``).
"""

from __future__ import annotations

import difflib
import math
import re

from sim.errors import ResultsError

__all__ = ["MISSING", "lookup", "lookup_optional", "flat_keys", "ci_key", "ci_of", "is_number", "finite_number"]

MISSING = object()  # sentinel: key absent (distinct from a JSON null)
_PART_RE = re.compile(r"^([^\[\]]+)((?:\[\d+\])*)$")


def is_number(v) -> bool:
    """An int or float that is not a bool (JSON numbers as Python reads them)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def finite_number(v) -> float | None:
    """``v`` as a float when it is a finite number, else ``None`` (nulls, text, inf, NaN)."""
    return float(v) if is_number(v) and math.isfinite(v) else None


def lookup_optional(summary: dict, key: str, default=MISSING):
    """Value at dotted ``key`` (``a.b.c``, ``cells[2].nines``) or ``default`` when absent.

    A dotted key is first tried as given at each level, so a literal key with a dot in it
    (unusual, but JSON allows it) still resolves.
    """
    node = summary
    parts = key.split(".")
    i = 0
    while i < len(parts):
        if not isinstance(node, dict):
            return default
        # longest literal match first (keys such as "by_cause" never contain dots, but be safe)
        for j in range(len(parts), i, -1):
            cand = ".".join(parts[i:j])
            m = _PART_RE.match(cand)
            name, idx = (m.group(1), m.group(2)) if m else (cand, "")
            if name in node:
                node = node[name]
                for k in re.findall(r"\[(\d+)\]", idx):
                    if not isinstance(node, list) or int(k) >= len(node):
                        return default
                    node = node[int(k)]
                i = j
                break
        else:
            return default
    return node


def lookup(summary: dict, key: str, source: str = "summary.json"):
    """Value at dotted ``key``; unknown keys raise a one-line ``ResultsError`` with a hint."""
    val = lookup_optional(summary, key)
    if val is MISSING:
        # suggest the closest existing key (what a user needs to fix a typo)
        close = difflib.get_close_matches(key, flat_keys(summary), n=1, cutoff=0.75)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ResultsError(f"{source}: unknown key {key!r}{hint}")
    return val


def flat_keys(node, prefix: str = "") -> list[str]:
    """Every leaf key of a summary in dotted form (lists of records indexed: ``cells[0].nines``)."""
    out: list[str] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "scenario" and not prefix:
                continue  # the echoed scenario is not a figure
            out += flat_keys(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(node, list) and node and all(isinstance(x, dict) for x in node):
        for i, v in enumerate(node):
            out += flat_keys(v, f"{prefix}[{i}]")
    else:
        out.append(prefix)
    return out


def ci_key(key: str) -> str | None:
    """The summary key of the 95 % interval belonging to ``key`` (a contract convention).

    ``x.mean`` -> ``x.ci95``; ``x.nines`` -> ``x.nines_ci95``; ``cells[i].availability`` ->
    ``cells[i].ci95``; ``downtime_minutes_per_year.mean`` -> ``downtime_minutes_per_year.ci95``.
    Other keys (worst-day figures, counts, cost) have no interval: ``None``.
    """
    head, _, leaf = key.rpartition(".")
    if not head:
        return None
    if leaf == "mean":
        return f"{head}.ci95"
    if leaf == "nines":
        return f"{head}.nines_ci95"
    if leaf == "availability" and re.search(r"cells\[\d+\]$", head):
        return f"{head}.ci95"
    return None


def ci_of(summary: dict, key: str) -> tuple[float, float] | None:
    """The (lo, hi) interval of ``key`` when the summary has one, else ``None``."""
    ck = ci_key(key)
    if ck is None:
        return None
    val = lookup_optional(summary, ck, None)
    if isinstance(val, (list, tuple)) and len(val) == 2 and all(is_number(v) for v in val):
        lo, hi = float(val[0]), float(val[1])
        return (min(lo, hi), max(lo, hi))
    return None
