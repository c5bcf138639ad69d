"""P6: the default ``hivesim run`` of webank-2023 vs 1 M bare SimPy timeout events, wall.

Numerator: wall time of the command a user types, ``python -m sim run scenarios/webank-2023.yaml
--out DIR --quiet`` in a fresh interpreter: imports, the scenario's 200 replications, its cost
variant's 200 (``cost.compare_with``), the run directory and the report with its plots.
Denominator: ``benchmarks.p2_fluid.bare_simpy`` (one SimPy process yielding ``env.timeout(1)`` a
million times), timed in this process right before. Value = median over runs of the per-run
ratio; target <= 6. ``--quick`` runs 10 replications (not a verdict).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import ROOT, figure, median, timed
from benchmarks.p2_fluid import bare_simpy

__all__ = ["run", "hivesim_run"]


def hivesim_run(extra=(), timeout: float = 1800.0) -> tuple[float, dict]:
    """Wall seconds of one ``hivesim run`` of webank-2023 (a fresh interpreter) and its summary."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with tempfile.TemporaryDirectory(prefix="hivesim-bench-") as tmp:
        out = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "sim", "run", str(ROOT / "scenarios" / "webank-2023.yaml"),
               "--out", str(out), "--quiet", *extra]
        proc, wall = timed(subprocess.run, cmd, cwd=str(ROOT), env=env, capture_output=True, text=True,
                           timeout=timeout)
        if proc.returncode != 0:
            last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
            raise RuntimeError(f"hivesim run failed ({proc.returncode}): {last}")
        summary = json.loads((out / "summary.json").read_text())
    return wall, summary


def run(quick: bool = False, runs: int = 3) -> dict:
    runs = 1 if quick else runs
    extra = ("--replications", "10") if quick else ()
    ratios, walls, bare, sims = [], [], [], []
    summary = {}
    for _ in range(runs):
        _, tb = timed(bare_simpy, 100_000 if quick else 1_000_000)
        tb *= 10 if quick else 1
        wall, summary = hivesim_run(extra)
        ratios.append(wall / tb)
        walls.append(wall)
        bare.append(tb)
        sims.append(summary["run"]["wall_seconds"])
    variant = summary.get("cost_variant", {})
    return figure(median(ratios), 6.0, "<=", unit="x", runs=runs, run_wall_s=median(walls),
                  simulate_wall_s=median(sims), bare_simpy_1m_wall_s=median(bare), ratios=ratios,
                  replications=summary["run"].get("replications", summary["estimator"]["replications"]),
                  variant_replications=variant.get("replications"), workers=summary["run"].get("workers"))
