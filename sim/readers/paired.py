"""Paired comparisons on common random numbers: when two runs may be compared replication by replication.

Replication ``i`` of a simulated run draws every random number from child ``i`` of
``SeedSequence(run.seed)``, and each component from a sub-stream keyed by its scope name
(``sim.engine.streams``). Two runs that share the seed, the replication indices and the stream
keys therefore see the same crashes, repairs and bad changes in replication ``i``, except where
the scenarios differ. The difference ``d_i = y_i - x_i`` of one figure then varies much less
than either run, and because replication ``i`` of both runs depends on child ``i`` only, the pairs
``(x_i, y_i)`` -- hence the ``d_i`` -- are independent and identically distributed across ``i``.
The Student-t interval over the ``d_i`` is valid (availability-math.md §6); it is what
``compare``, ``gate --baseline``, ``sweep --target`` and ``sensitivity`` report as
"paired (n=..)". Anything else is compared unpaired ("unpaired": each run's own interval, as
before: significant when the two 95 % intervals are disjoint).

**When two runs are paired** (``pairing``), from what their files record:

* both are simulated runs (``kind: simulation``; a live run is one replication of real time);
* the same ``run.seed`` and ``run.mode`` (request mode draws other streams than the fluid engine);
* the same ``run.hivesim_version``: stream keys are scope names fixed by the build, so a run of
  another build may key its streams differently (pairing it would still be valid, but not
  sharper: "unpaired" is the honest label);
* both have per-replication values (``replications.csv``, or a sweep summary's
  ``per_replication`` block) for the same replication indices, at least two of them.

Per-replication values exist for the keys in ``PAIRED_COLUMNS`` (the columns of
``replications.csv``); other keys (cost, throughput: deterministic; worst windows; nines) are
compared as before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sim.metrics.intervals import t_interval

__all__ = ["PAIRED_COLUMNS", "Pairing", "Difference", "table_from_rows", "table_from_summary", "table_of_run",
           "pairing", "paired_difference", "unpaired_difference", "difference", "per_replication_block"]

# summary key -> its per-replication column (replications.csv; a sweep summary's per_replication)
PAIRED_COLUMNS = {"availability.request.mean": "availability_request",
                  "availability.time.mean": "availability_time",
                  "downtime_minutes_per_year.mean": "downtime_minutes"}


@dataclass(frozen=True)
class Pairing:
    """Whether two runs may be compared replication by replication, and why (not)."""

    paired: bool
    n: int          # common replications (0 when not paired)
    reason: str     # one line: what they share, or what differs

    @property
    def label(self) -> str:
        return f"paired (n={self.n})" if self.paired else "unpaired"


@dataclass(frozen=True)
class Difference:
    """``run - reference`` of one key, with its interval when one can be given."""

    key: str
    paired: bool
    n: int | None             # replications paired (None when unpaired)
    mean: float | None        # the difference (paired: mean of d_i; unpaired: difference of the means)
    lo: float | None          # paired: t-interval of the mean difference; unpaired: None
    hi: float | None
    level: float
    significant: bool | None  # paired: interval excludes 0; unpaired: the runs' intervals are disjoint

    @property
    def label(self) -> str:
        return f"paired (n={self.n})" if self.paired else "unpaired"

    def to_dict(self) -> dict:
        return {"key": self.key, "method": "paired" if self.paired else "unpaired", "n": self.n, "mean": self.mean,
                "interval": None if self.lo is None else [self.lo, self.hi], "level": self.level,
                "significant": self.significant}


def _num(v) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def table_from_rows(rows) -> dict[int, dict[str, float]] | None:
    """replications.csv rows -> ``{replication index: {column: value}}`` (None without rows)."""
    if not rows:
        return None
    out = {}
    for r in rows:
        i = _num(r.get("replication"))
        if i is None:
            return None
        out[int(i)] = {c: _num(r.get(c)) for c in PAIRED_COLUMNS.values()}
    return out


def table_from_summary(summary: dict) -> dict[int, dict[str, float]] | None:
    """A sweep variant's ``per_replication`` block (columns as lists) -> the same table."""
    block = summary.get("per_replication") if isinstance(summary, dict) else None
    if not isinstance(block, dict) or not isinstance(block.get("replication"), list):
        return None
    idx = block["replication"]
    cols = {c: block.get(c) for c in PAIRED_COLUMNS.values()}
    if any(not isinstance(v, list) or len(v) != len(idx) for v in cols.values()):
        return None
    return {int(i): {c: _num(v[k]) for c, v in cols.items()} for k, i in enumerate(idx)}


def table_of_run(run) -> dict[int, dict[str, float]] | None:
    """The per-replication table of a loaded run (``sim.results.reader.Run``): its replications.csv."""
    if run.path is None:
        return None
    return table_from_rows(run.replications())


def per_replication_block(results) -> dict:
    """The runner's replication results -> a summary's ``per_replication`` block: replications.csv's
    columns as lists (``downtime_minutes`` = (1 - availability_request) x 525,600, as there)."""
    from sim.metrics.blocks import MINUTES_PER_YEAR
    rows = sorted(results, key=lambda r: r.index)
    return {"replication": [r.index for r in rows],
            "availability_request": [r.availability_request for r in rows],
            "availability_time": [r.availability_time for r in rows],
            "downtime_minutes": [(1.0 - r.availability_request) * MINUTES_PER_YEAR for r in rows],
            "outages": [r.outages for r in rows]}


def _run(summary: dict, field: str):
    run = summary.get("run") if isinstance(summary, dict) else None
    return run.get(field) if isinstance(run, dict) else None


def pairing(ref: dict, ref_table, other: dict, other_table) -> Pairing:
    """Whether ``other`` may be compared with ``ref`` replication by replication (module docstring)."""
    def no(why):
        return Pairing(False, 0, why)
    for s, name in ((ref, "reference"), (other, "run")):
        if s.get("kind", "simulation") != "simulation":
            return no(f"the {name} is not a simulated run (kind {s.get('kind')!r})")
    for field, what in (("seed", "seeds"), ("mode", "modes"), ("hivesim_version", "builds (stream keys)")):
        a, b = _run(ref, field), _run(other, field)
        if a is None or a != b:
            return no(f"different {what}: {a!r} vs {b!r}")
    if not ref_table or not other_table:
        return no("no per-replication values (replications.csv) in both runs")
    if set(ref_table) != set(other_table):
        return no(f"different replication indices ({len(ref_table)} vs {len(other_table)} replications)")
    if len(ref_table) < 2:
        return no("fewer than 2 replications")
    return Pairing(True, len(ref_table), f"same seed {_run(ref, 'seed')}, replications 0-{len(ref_table) - 1}")


def paired_difference(key: str, ref_table, other_table, level: float = 0.95) -> Difference | None:
    """Mean of ``other_i - ref_i`` over the common replications, with its t-interval; None when
    ``key`` has no per-replication column or a value is missing."""
    col = PAIRED_COLUMNS.get(key)
    if col is None:
        return None
    d = []
    for i in sorted(ref_table):
        a, b = ref_table[i].get(col), other_table.get(i, {}).get(col)
        if a is None or b is None:
            return None
        d.append(b - a)
    m, lo, hi = t_interval(d, level)
    sig = None if lo is None else (lo > 0 or hi < 0)
    return Difference(key, True, len(d), m, lo, hi, level, sig)


def unpaired_difference(key: str, ref_value, other_value, ref_ci, other_ci, level: float = 0.95) -> Difference:
    """The difference of the two figures, significant when their intervals are disjoint (as before)."""
    a, b = _num(ref_value), _num(other_value)
    mean = None if a is None or b is None else b - a
    sig = None if not ref_ci or not other_ci else not (other_ci[0] <= ref_ci[1] and ref_ci[0] <= other_ci[1])
    return Difference(key, False, None, mean, None, None, level, sig)


def difference(key: str, ref: dict, ref_table, other: dict, other_table, ref_value, other_value,
               ref_ci=None, other_ci=None, pair: Pairing | None = None, level: float = 0.95) -> Difference:
    """Paired when the runs pair and ``key`` has per-replication values, else unpaired."""
    pair = pair or pairing(ref, ref_table, other, other_table)
    if pair.paired:
        d = paired_difference(key, ref_table, other_table, level)
        if d is not None:
            return d
    return unpaired_difference(key, ref_value, other_value, ref_ci, other_ci, level)
