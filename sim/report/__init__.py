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

from pathlib import Path

from sim.errors import ResultsError
from sim.report import plots as _plots
from sim.report.figures import save_figure
from sim.report.html import render
from sim.report.timeline import timeline
from sim.results.reader import load_run
from sim.results.writer import atomic_dir, atomic_write_text

__all__ = ["write_report", "draw_plots", "PLOTS"]


# (file stem, title, one-line description, function) in report order
PLOTS = [
    ("timeline", "Availability timeline",
     "Share of requests served per time bucket of replication 0 (logit axis: 99%, 99.9%, ... equally spaced) and "
     "offered/failed/slow requests per second; fault periods shaded and labelled by cause.", timeline),
    ("downtime_cdf", "Annual downtime distribution",
     "Empirical CDF of downtime minutes per year across replications with the SLO's downtime budget.", _plots.downtime_cdf),
    ("cell_nines", "Nines per cell",
     "Each cell's availability in nines with its 95% confidence interval, the bank-wide figure and the SLO.", _plots.cell_nines),
    ("demand_capacity", "Demand vs capacity",
     "Hourly demand over the day against capacity with all IDCs up and with one IDC lost.", _plots.demand_capacity),
    ("latency", "Latency percentiles",
     "Latency percentiles (request-weighted, or at the peak hour from the capacity model) against the SLO latency.",
     _plots.latency),
    ("cost_breakdown", "Cost breakdown",
     "Yearly IT cost by item (one panel per decomposition), with the total and the cost per account per year.",
     _plots.cost_breakdown),
]


def draw_plots(run, out_dir: Path, formats=("png", "svg")) -> tuple[list, list]:
    """Draw every applicable plot into ``out_dir``; -> ([(stem, title, desc, png bytes)], [(title, reason)])."""
    drawn, skipped = [], []
    for stem, title, desc, fn in PLOTS:
        try:
            fig = fn(run)
        except _plots.Skip as why:
            skipped.append((title, str(why)))
            continue
        png = save_figure(fig, Path(out_dir) / stem, formats)
        drawn.append((stem, title, desc, png))
    return drawn, skipped


def write_report(run_dir) -> Path:
    """Write ``RUN_DIR/plots/`` and ``RUN_DIR/report.html``; return the report's path."""
    p = Path(run_dir)
    if not p.is_dir():
        raise ResultsError(f"{p}: no such run directory")
    run = load_run(p)
    # read every file the report draws from before writing anything: a bad file is refused
    # with nothing written (never plots/ without report.html)
    run.scenario_document()
    run.timeseries()
    run.events(replication=0)
    if run.replications() is None:
        run.events()
    with atomic_dir(p / "plots", replace=True) as tmp:
        drawn, skipped = draw_plots(run, tmp)
    return atomic_write_text(p / "report.html", render(run, drawn, skipped))
