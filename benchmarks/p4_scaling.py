"""P4: scaling with the number of cells: wall time and peak RSS of one simulated year.

Each size runs in a fresh interpreter (so peak RSS is that size's alone, reported by the child
from ``getrusage(RUSAGE_SELF).ru_maxrss``) with ``--set topology.cells.count=N``: one replication
of ``sim.engine.run_replication`` on webank-2023, timed inside the child after imports and
scenario loading.

Value = time(1000 cells) / time(500 cells): the cost of doubling the bank at the largest step
(linear scaling gives 2.0; target <= 2.2). Also reported: time(1000)/time(100) / 10 (the
per-cell cost ratio over a decade) and whether 1000 cells stay within 1 GiB.
"""

from __future__ import annotations

from benchmarks.common import CHILD_FOOTER, figure, median, run_child

__all__ = ["run", "measure"]

CHILD = """
import time
from benchmarks.p2_fluid import load_reference
from sim.engine import run_replication
sc = load_reference([{sets}])
t = time.perf_counter()
run_replication(sc, 0)
_out = {{"cells": sc.topology.cells.count, "wall_s": time.perf_counter() - t}}
"""


def measure(cells: int, extra: tuple[str, ...] = ()) -> dict:
    sets = ", ".join(repr(s) for s in (f"topology.cells.count={cells}", *extra))
    return run_child(CHILD.format(sets=sets) + CHILD_FOOTER)


def run(quick: bool = False, runs: int = 3) -> dict:
    runs = 1 if quick else runs
    sizes = (10, 20, 40) if quick else (10, 100, 500, 1000)
    extra = ("simulation.horizon=30d",) if quick else ()
    try:
        import sim.engine  # noqa: F401
    except Exception as exc:
        return figure(None, 2.2, "<=", error=f"fluid engine not available: {type(exc).__name__}: {exc}")
    rows = []
    try:
        for n in sizes:
            ms = [measure(n, extra) for _ in range(runs)]
            rows.append({"cells": n, "wall_s": median([m["wall_s"] for m in ms]),
                         "peak_rss_mib": max(m["peak_rss_mib"] for m in ms), "walls": [m["wall_s"] for m in ms]})
    except Exception as exc:
        return figure(None, 2.2, "<=", error=f"{type(exc).__name__}: {exc}", sizes=rows)
    big, half = rows[-1], rows[-2]
    value = big["wall_s"] / half["wall_s"] * (2 * half["cells"] / big["cells"])  # normalised to a doubling
    out = figure(value, 2.2, "<=", unit="x", sizes=rows, runs=runs,
                 definition=f"time({big['cells']}) / time({half['cells']}) (a doubling)",
                 per_cell_decade=rows[-1]["wall_s"] / rows[1]["wall_s"] / (rows[-1]["cells"] / rows[1]["cells"]),
                 largest_peak_rss_mib=big["peak_rss_mib"], rss_limit_mib=1024.0)
    if not quick:
        out["pass"] = out["pass"] and big["peak_rss_mib"] <= 1024.0
    return out
