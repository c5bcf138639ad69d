"""``report.html`` and ``plots/*.png|svg`` for one run directory (called by ``hivesim report`` and at
the end of ``hivesim run``).

Public API::

    from sim.report import write_report
    path = write_report("results/webank-2023/20261128-1200-abc")   # -> RUN_DIR/report.html

Reads only the files of the run directory (results contract), so it serves simulated and live
runs alike. Plots whose data is absent (no cost section, one replication, ...) are listed in the
report with the reason instead of being drawn empty. ``plots/`` is replaced as a whole and
``report.html`` written atomically: a reader never sees a half-written report.
"""

from __future__ import annotations

import io
from pathlib import Path

from sim.errors import ResultsError
from sim.report import plots as _plots
from sim.report.html import render
from sim.results_io import atomic_dir, atomic_write_text, load_run

__all__ = ["write_report", "draw_plots"]


def draw_plots(run, out_dir: Path, formats=("png", "svg")) -> tuple[list, list]:
    """Draw every applicable plot into ``out_dir``; -> ([(stem, title, desc, png bytes)], [(title, reason)])."""
    drawn, skipped = [], []
    for stem, title, desc, fn in _plots.PLOTS:
        try:
            fig = fn(run)
        except _plots.Skip as why:
            skipped.append((title, str(why)))
            continue
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        png = buf.getvalue()
        fig.set_layout_engine("none")  # keep the layout just computed: the SVG needs no second pass
        if "png" in formats:
            (out_dir / f"{stem}.png").write_bytes(png)
        if "svg" in formats:
            fig.savefig(out_dir / f"{stem}.svg", format="svg")
        drawn.append((stem, title, desc, png))
    return drawn, skipped


def write_report(run_dir) -> Path:
    """Write ``RUN_DIR/plots/`` and ``RUN_DIR/report.html``; return the report's path."""
    p = Path(run_dir)
    if not p.is_dir():
        raise ResultsError(f"{p}: no such run directory")
    run = load_run(p)
    with atomic_dir(p / "plots", replace=True) as tmp:
        drawn, skipped = draw_plots(run, tmp)
    return atomic_write_text(p / "report.html", render(run, drawn, skipped))
