"""P7: a 32-variant sweep of webank-2023 at 200 replications, wall seconds on this machine.

The grid a planner would run: DB replicas {2, 3} x failover detection {10 s, 20 s, 30 s, 60 s} x
app nodes per cell {4, 6, 8, 12} = 32 variants, each the scenario's 200 replications plus its
cost variant's (``cost.compare_with``), through ``python -m sim sweep --variants FILE`` in a fresh
interpreter on the local process pool (all cores). Target <= 300 s on 2 cores.

With ``--full`` all 32 variants run. Otherwise only ``SUBSET`` of them run (the cheapest and the
dearest corner of the grid, so the pair averages the grid's spread) and the figure is
*estimated* from their wall time, scaled by distinct simulations: a sweep simulates each distinct
simulation once (``sim.batch``), and the cost variant of replicas 2 and of replicas 3 (same
detection, same app nodes) is one scenario, so the grid runs 48 of the 64 simulations its
summaries need, while the two corners share nothing (4 of 4). The estimate is subset wall x
48 / 4 (``distinct_simulations`` / ``subset_simulations``, counted by
``sim.batch.count_simulations`` on the built scenarios, not assumed); the output says so
("estimated from N variants, x D/S distinct simulations: R of the grid's T shared").
``--quick`` runs the subset at 10 replications (not a verdict).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from benchmarks.common import ROOT, figure, timed

__all__ = ["run", "variants", "sweep_wall", "simulation_counts"]

GRID = {"topology.cells.template.db.replicas": [2, 3],
        "topology.cells.template.db.failover.detection": ["10s", "20s", "30s", "60s"],
        "topology.cells.template.app.nodes": [4, 6, 8, 12]}
SUBSET = (0, 31)  # the grid's first and last variant: 2 replicas, 10 s, 4 nodes / 3, 60 s, 12 nodes


def variants() -> list[dict]:
    """The 32 variants, as a ``--variants`` file lists them."""
    keys = list(GRID)
    out = []
    for values in itertools.product(*(GRID[k] for k in keys)):
        sets = dict(zip(keys, values))
        out.append({"name": "r{}-d{}-a{}".format(*values), "set": sets})
    return out


def sweep_wall(chosen: list[dict], extra=(), timeout: float = 3600.0) -> float:
    """Wall seconds of ``hivesim sweep`` over ``chosen`` variants (a fresh interpreter)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with tempfile.TemporaryDirectory(prefix="hivesim-bench-") as tmp:
        vf = Path(tmp) / "variants.yaml"
        vf.write_text(yaml.safe_dump(chosen, sort_keys=False))
        cmd = [sys.executable, "-m", "sim", "sweep", str(ROOT / "scenarios" / "webank-2023.yaml"),
               "--variants", str(vf), "--out", str(Path(tmp) / "sweep"), "--quiet", *extra]
        proc, wall = timed(subprocess.run, cmd, cwd=str(ROOT), env=env, capture_output=True, text=True,
                           timeout=timeout)
        if proc.returncode != 0:
            last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
            raise RuntimeError(f"hivesim sweep failed ({proc.returncode}): {last}")
    return wall


def simulation_counts(chosen: list[dict], replications: int | None = None) -> tuple[int, int]:
    """``(needed, distinct)`` simulations of a sweep over ``chosen`` variants: what its summaries
    need (each variant and its cost variant) and what it runs (``sim.batch``), from the scenarios
    ``hivesim sweep`` builds (validated, pre-flighted), in this process; nothing is simulated."""
    from sim.batch import count_simulations
    from sim.readers.sweep import Variant, build_scenarios
    base = [f"simulation.replications={replications}"] if replications else []
    built = build_scenarios(ROOT / "scenarios" / "webank-2023.yaml",
                            [Variant(v["name"], v["set"]) for v in chosen], base)
    return count_simulations(built)


def run(quick: bool = False, runs: int = 3, full: bool = False) -> dict:
    every = variants()
    chosen = every if full and not quick else [every[i] for i in SUBSET]
    extra = ("--replications", "10") if quick else ()
    needed, distinct = simulation_counts(every, 10 if quick else None)
    _, subset = simulation_counts(chosen, 10 if quick else None)
    wall = sweep_wall(chosen, extra)  # one run: minutes of work, and its own ratio needs no pair
    # the corners' simulations stand for the grid's average simulation (as they stood for its
    # average variant before sharing), so the grid's wall scales with the simulations it runs
    value = wall * distinct / subset
    basis = ("measured" if len(chosen) == len(every) else
             f"estimated from {len(chosen)} variants, x {distinct}/{subset} distinct simulations: "
             f"{needed - distinct} of the grid's {needed} shared")
    return figure(value, 300.0, "<=", unit=" s", basis=basis, variants_run=len(chosen),
                  variants=len(every), measured_wall_s=wall, cores=os.cpu_count(), simulations=needed,
                  distinct_simulations=distinct, subset_simulations=subset,
                  grid={k: [str(v) for v in vs] for k, vs in GRID.items()})
