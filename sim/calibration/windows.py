"""Fault windows and recovery figures, as the live benchmark defines them (docs/live-benchmark.md).

Pure functions on per-request arrays (start times, latencies, outcomes): the live benchmark's
analysis (loadtests/analysis/recovery.py) applies them to a live run's records, and the replay
of a live run (``sim.calibration.measure.fault_figures``) to its simulated requests, so both
count a fault's failed requests the same way:

* a fault's **window** runs from its start to the next fault's start (or the end of the run);
* a request belongs to the window in which it **completed** (``t + latency`` in [start, end)):
  one in flight when the next fault starts and failing from it counts for the next fault;
* **recovery**: from the first failed request (its start, clamped to the fault's start) to the
  first successful request started after the window's last failure.
"""

from __future__ import annotations

import numpy as np

from sim.scenario.chaos import parse_target

__all__ = ["window_end", "completed_in", "recovery_in_window", "cell_scope", "fault_cell", "longest_stall"]


def window_end(starts: list[float], n: int, run_end: float) -> float:
    """End of the n-th fault's window: the next fault's start (``starts`` sorted) or the run's end."""
    return float(starts[n + 1]) if n + 1 < len(starts) else float(run_end)


def completed_in(t: np.ndarray, latency_s: np.ndarray, start: float, end: float) -> np.ndarray:
    """Which requests (start ``t``, latency in seconds) completed in the window [start, end)."""
    done = t + latency_s
    return (done >= start) & (done < end)


def recovery_in_window(ts: np.ndarray, bad: np.ndarray, start: float, end: float,
                       steady: float) -> tuple[float | None, bool, float | None]:
    """(recovery seconds, recovered?, first bad time) for requests with start times ``ts``.

    ``ts`` sorted; ``bad`` the matching booleans. Recovery is measured from the first bad
    request (clamped to the fault's start) to the first good request after the last bad one;
    not recovered if no request succeeded after the last failure within ``steady`` seconds of
    data (then it counts to the window's end).
    """
    if not bad.any():
        return 0.0, True, None
    first_bad = max(start, float(ts[bad][0]))
    last_bad_i = int(np.nonzero(bad)[0][-1])
    after = np.nonzero(~bad[last_bad_i + 1:])[0]
    if after.size == 0:
        return end - first_bad, False, first_bad
    t_ok = float(ts[last_bad_i + 1 + after[0]])
    recovered = (end - t_ok) >= steady or (after.size >= 3 and (end - t_ok) >= 0)
    return max(0.0, t_ok - first_bad), bool(recovered), first_bad


def cell_scope(target: str) -> tuple[int, ...] | str | None:
    """The cells a fault's target lies in: a tuple of indices, ``"all"`` for ``cell[*]``, None
    when it names no cell (an IDC, the router, etcd) or is not a target (parsed once, by
    ``sim.scenario.chaos.parse_target``)."""
    try:
        t = parse_target(target)
    except ValueError:
        return None
    if t.part != "cell":
        return None
    return "all" if t.cells is None else t.cells


def fault_cell(target: str) -> int | None:
    """The one cell a target lies in (``cell[2].db.primary`` -> 2), else None: a fault's scope."""
    cells = cell_scope(target)
    return cells[0] if isinstance(cells, tuple) and len(cells) == 1 else None


def longest_stall(done: np.ndarray, start: float, end: float) -> float:
    """Longest interval within [start, end] without a successful completion (``done`` sorted)."""
    pts = done[(done >= start) & (done <= end)]
    edges = np.concatenate(([start], pts, [end]))
    return float(np.diff(edges).max()) if edges.size > 1 else end - start
