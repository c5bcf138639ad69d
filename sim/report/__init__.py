"""``report.html`` and ``plots/*.png|svg`` for one run directory (called by ``hivesim report`` and at
the end of ``hivesim run``).

Public API::

    from sim.report import write_report
    path = write_report("results/webank-2023/20261128-1200-abc")   # -> RUN_DIR/report.html

Reads only the files of the run directory (results contract), so it serves simulated and live
runs alike. Plots whose data is absent (no cost section, one replication, ...) are listed in the
report with the reason instead of being drawn empty. ``plots/`` is replaced as a whole and
``report.html`` written atomically: a reader never sees a half-written report.

The plots are drawn in parallel, one task per plot on a local process pool (``sim.executors``):
drawing them is matplotlib CPU (~2 s for a run's six, most of it text layout and PNG/SVG
encoding), and at the end of ``hivesim run`` it was most of the serial tail while every other
core sat idle. Each task gets the ``Run`` with the CSVs already read, draws one figure and saves
it; the report is the same whichever process drew what (tests/test_report_*.py).
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

from sim.errors import ResultsError
from sim.executors import LocalPool, Task, usable_cpus
from sim.report import plots as _plots
from sim.report.figures import save_figure
from sim.report.html import render
from sim.report.timeline import timeline
from sim.results.reader import load_run
from sim.results.writer import atomic_dir, atomic_write_text

__all__ = ["write_report", "draw_plots", "plot_workers", "PLOTS"]


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


# the order plots are handed to the pool: the slowest first (seconds measured on webank-2023's
# report), so the last one started is a short one and the processes finish together
_SLOWEST_FIRST = ("cost_breakdown", "timeline", "demand_capacity", "cell_nines", "downtime_cdf", "latency")


def _draw(run, index: int, out_dir: Path, formats) -> tuple[bool, bytes | str]:
    """A pool task: draw plot ``PLOTS[index]`` and save it -> (True, PNG bytes) or (False, why skipped)."""
    stem, _, _, fn = PLOTS[index]
    try:
        fig = fn(run)
    except _plots.Skip as why:  # a reason, not an error: returned as text (an exception would be re-raised)
        return False, str(why)
    return True, save_figure(fig, Path(out_dir) / stem, formats)


def plot_workers() -> int:
    """Processes to draw the plots in: the CPUs this process may use, at most one per plot."""
    return max(1, min(usable_cpus(), len(PLOTS)))


def draw_plots(run, out_dir: Path, formats=("png", "svg"), workers: int | None = None) -> tuple[list, list]:
    """Draw every applicable plot into ``out_dir``; -> ([(stem, title, desc, png bytes)], [(title, reason)]).

    ``workers``: processes to draw in (default ``plot_workers()``; 1 draws in this process). A plot
    that fails raises here, after the pool is shut down, as it would drawn in this process.
    """
    rank = {stem: i for i, stem in enumerate(_SLOWEST_FIRST)}
    order = sorted(range(len(PLOTS)), key=lambda i: rank.get(PLOTS[i][0], -1))
    tasks = [Task(_draw, run, (i, Path(out_dir), tuple(formats))) for i in order]
    got: dict[int, tuple[bool, bytes | str]] = {}
    with closing(LocalPool(plot_workers() if workers is None else workers).run(tasks)) as completed:
        for ti, res, exc in completed:
            if exc is not None:
                raise exc
            got[order[ti]] = res
    drawn, skipped = [], []
    for i, (stem, title, desc, _) in enumerate(PLOTS):  # report order, whichever finished first
        ok, value = got[i]
        if ok:
            drawn.append((stem, title, desc, value))
        else:
            skipped.append((title, value))
    return drawn, skipped


def write_report(run_dir, workers: int | None = None) -> Path:
    """Write ``RUN_DIR/plots/`` and ``RUN_DIR/report.html``; return the report's path.

    ``workers``: processes to draw the plots in (``draw_plots``; default: one per CPU)."""
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
        drawn, skipped = draw_plots(run, tmp, workers=workers)
    return atomic_write_text(p / "report.html", render(run, drawn, skipped))
