"""Gates on confidence, not the mean: which end of an interval a gate reads.

Two ways to gate on what the data support rather than on the point estimate:

* **name the end**: ``availability.<kind>.lower`` / ``.upper`` and
  ``downtime_minutes_per_year.lower`` / ``.upper`` are the ends of the figure's 95 % interval
  (``ci95``; whatever method ``sim.metrics`` used for it). For availability the **lower** end is
  the pessimistic one (``availability.request.lower >= 99.999%``: five nines at 95 % confidence,
  one-sided 97.5 %); for downtime the **upper** end is. A summary that writes these keys itself is
  read as written; otherwise they are read from ``ci95``.
* **--confidence LEVEL**: a threshold gate on a figure with an interval (``x.mean``) reads the
  interval's pessimistic end *for that gate*: the lower end for ``>=``/``>``, the upper end for
  ``<=``/``<`` (``==``/``!=`` read the figure itself). At 0.95 the summary's own interval; at another
  level the Student-t interval over the run's replications.csv (only the keys it has a column for,
  ``sim.readers.paired.PAIRED_COLUMNS``). A figure without an interval (cost, throughput: no
  randomness; worst windows) is read as it is.
"""

from __future__ import annotations

import math
import re

from sim.errors import ResultsError
from sim.metrics.intervals import t_interval
from sim.readers.paired import PAIRED_COLUMNS
from sim.results.lookup import MISSING, ci_key, ci_of, is_number, lookup_optional
from sim.results.schema import AVAILABILITY_KINDS

__all__ = ["END_RE", "end_base", "is_end_key", "end_value", "interval_at", "pessimistic_value", "check_level"]

# ``availability.request.lower``, ``downtime_minutes_per_year.upper``
END_RE = re.compile(rf"^(availability\.(?:{'|'.join(AVAILABILITY_KINDS)})|downtime_minutes_per_year)\.(lower|upper)$")


def check_level(level) -> float:
    """``--confidence``: a number strictly between 0 and 1 (``0.95``; ``95%`` is read as 0.95)."""
    if isinstance(level, str):
        text = level.strip()
        try:
            level = float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
        except ValueError:
            raise ResultsError(f"--confidence {text!r}: expected a level such as 0.95 or 95%") from None
    if not isinstance(level, (int, float)) or not math.isfinite(level) or not 0.0 < level < 1.0:
        raise ResultsError(f"--confidence {level!r}: expected a level strictly between 0 and 1, such as 0.95")
    return float(level)


def end_base(key: str) -> tuple[str, int] | None:
    """``availability.request.lower`` -> (``availability.request.mean``, 0); other keys -> None."""
    m = END_RE.match(key)
    return None if m is None else (f"{m.group(1)}.mean", 0 if m.group(2) == "lower" else 1)


def is_end_key(key: str) -> bool:
    return END_RE.match(key) is not None


def end_value(summary: dict, key: str) -> float | None:
    """The value of an end key: as the summary writes it, else from the figure's ``ci95``; None
    when there is no interval (one replication)."""
    val = lookup_optional(summary, key)
    if val is not MISSING:
        return float(val) if is_number(val) else None
    base, side = end_base(key)
    ci = ci_of(summary, base)
    return None if ci is None else ci[side]


def interval_at(summary: dict, table, key: str, level: float) -> tuple[float, float] | None:
    """The ``level`` interval of ``key``: the summary's own at 0.95, else a t-interval over the
    per-replication table (None when the key has neither)."""
    if abs(level - 0.95) < 1e-12:
        return ci_of(summary, key)
    col = PAIRED_COLUMNS.get(key)
    if col is None or not table:
        if ci_key(key) is not None and ci_of(summary, key) is not None:
            raise ResultsError(f"--confidence {level}: {key} has only the summary's 95 % interval here "
                               "(no replications.csv column for it); use --confidence 0.95")
        return None
    vals = [row.get(col) for _, row in sorted(table.items())]
    if any(v is None for v in vals):
        return None
    _, lo, hi = t_interval(vals, level)
    return None if lo is None else (lo, hi)


def pessimistic_value(summary: dict, table, key: str, op: str, level: float):
    """(value, how) a ``--confidence`` gate reads: the interval's end against the gate's direction."""
    if op not in (">=", ">", "<=", "<"):
        return None, "the figure (== and != gates have no pessimistic end)"
    ci = interval_at(summary, table, key, level)
    if ci is None:
        return MISSING, "the figure (no interval)"
    side = 0 if op in (">=", ">") else 1
    return ci[side], f"{'lower' if side == 0 else 'upper'} end of the {100 * level:g}% interval"
