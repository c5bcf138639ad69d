"""CPU time per simulated year of webank-2023 in fluid mode, models built; two trees paired.

Wall ratios (P2) swing with the other work on a shared machine; CPU per year is steadier, and
steadier still when two code trees are timed replication by replication, alternating which goes
first, so both see the same load::

    python -m benchmarks.year_cpu                      # this tree: replications 0-6
    python -m benchmarks.year_cpu --pair OTHER_TREE    # OTHER_TREE vs this tree, 1-10, 3 rounds

Each tree runs in its own process (``PYTHONPATH`` = the tree), which builds the bank's plan and
capacity tables first (a run's workers do that once), then times ``run_replication(sc, i)`` with
``time.process_time``. Prints medians and, paired, the median of the per-replication ratios.

``run_replication`` pauses the cycle collector; what a replication leaves in reference cycles is
collected after it, in the first young collection (a run's workers pay it between replications).
That collection is timed too (``gc.collect(0)`` right after, the result still held), and
reported apart: "with its garbage" is the year's CPU with it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _child() -> None:
    """Answer ``i`` lines on stdin with ``cpu_seconds sim_events gc_cpu_seconds`` of replication i."""
    import gc
    from benchmarks.p2_fluid import load_reference
    from sim.engine import run_replication
    sc = load_reference()
    run_replication(sc, 10_000)  # builds the models
    gc.collect()
    print("ready", flush=True)
    for line in sys.stdin:
        t = time.process_time()
        r = run_replication(sc, int(line))
        t1 = time.process_time()
        gc.collect(0)  # what the replication left in cycles (the collector would do it next)
        print(f"{t1 - t} {r.sim_events} {time.process_time() - t1}", flush=True)


def _start(tree: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(tree))
    # this file runs as a script in the other tree: it imports that tree's sim and benchmarks
    p = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child"], cwd=tree, env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if p.stdout.readline().strip() != "ready":
        raise SystemExit(f"year_cpu: {tree} did not start")
    return p


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pair", type=Path, help="another tree to time against this one")
    ap.add_argument("--first", type=int, default=None, help="first replication (default 0, paired 1)")
    ap.add_argument("--count", type=int, default=None, help="replications per round (default 7, paired 10)")
    ap.add_argument("--rounds", type=int, default=None, help="rounds (default 1, paired 3)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        _child()
        return 0
    paired = a.pair is not None
    first = a.first if a.first is not None else (1 if paired else 0)
    count = a.count if a.count is not None else (10 if paired else 7)
    rounds = a.rounds if a.rounds is not None else (3 if paired else 1)
    trees = [a.pair.resolve(), ROOT] if paired else [ROOT]
    procs = [_start(t) for t in trees]
    cpu = [[] for _ in trees]
    events = [[] for _ in trees]
    gcs = [[] for _ in trees]
    try:
        for rnd in range(rounds):
            for i in range(first, first + count):
                order = list(range(len(trees)))
                if (i + rnd) % 2:
                    order.reverse()  # alternate which tree goes first
                for k in order:
                    procs[k].stdin.write(f"{i}\n")
                    procs[k].stdin.flush()
                    c, n, g = procs[k].stdout.readline().split()
                    cpu[k].append(float(c))
                    events[k].append(int(n))
                    gcs[k].append(float(g))
    finally:
        for p in procs:
            p.stdin.close()
            p.wait()
    both = [[c + g for c, g in zip(cs, gs)] for cs, gs in zip(cpu, gcs)]
    for t, c, e, g, b in zip(trees, cpu, events, gcs, both):
        print(f"{t}: CPU per year median {1e3 * statistics.median(c):.1f} ms (min {1e3 * min(c):.1f}, "
              f"n {len(c)}); SimPy events median {statistics.median(e):.0f}; its garbage collected after "
              f"{1e3 * statistics.median(g):.1f} ms, with it {1e3 * statistics.median(b):.1f} ms")
    if paired:
        ratios = [b / a_ for a_, b in zip(cpu[0], cpu[1])]
        with_gc = [b / a_ for a_, b in zip(both[0], both[1])]
        print(f"paired: this tree / {trees[0]} median {statistics.median(ratios):.3f} "
              f"(with its garbage collected: {statistics.median(with_gc):.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
