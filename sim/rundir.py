"""The CSV files of a simulator run directory, from its replication results.

``run_csvs(scenario, results)`` gives the text of ``events.csv``, ``timeseries.csv`` and
``replications.csv`` (``sim.results.writer.run_csv_texts`` owns their format). They need only the
run's own replications, not its cost variant's, so ``sim.runner.run_to_dir`` formats them as soon
as those are in, while the workers still simulate the variant: events.csv of a year-long bank is
hundreds of thousands of rows (~1 s of formatting), which then no longer waits at the end of the
run with the other cores idle.
"""

from __future__ import annotations

from sim.engine import ReplicationResult
from sim.metrics import MINUTES_PER_YEAR
from sim.results.writer import run_csv_texts
from sim.scenario import Scenario

__all__ = ["run_csvs", "run_rows"]


def run_rows(sc: Scenario, results: list[ReplicationResult]) -> tuple[list, list, list]:
    """(events rows, timeseries rows, replications rows) in the contract's column order."""
    events = [e for r in results for e in r.events]
    ts_rows = []
    r0 = results[0]
    if r0.timeseries:
        ts = r0.timeseries
        step = ts["step"]
        span = r0.span
        slow = ts.get("slow") or [0.0] * len(ts["offered"])
        rate = sc.workload.transactions_per_day  # offered/failed as request counts (the engine works in mean-rate seconds)
        for k, (off, fail, sl, cd) in enumerate(zip(ts["offered"], ts["failed"], slow, ts["cells_down"])):
            t0 = k * step
            t1 = min(span, (k + 1) * step)
            ts_rows.append((0, float(t0), float(t1), off * rate, fail * rate, sl * rate,
                            fail / off if off > 0 else 0.0, cd))
    # downtime_minutes is per year, as summary.json's downtime_minutes_per_year (whose mean over
    # replications it is); until 2026-12 it was also multiplied by 365 d / span, inflating it
    # in every run whose horizon was not one year
    reps = [(r.index, r.availability_request, r.availability_time,
             (1.0 - r.availability_request) * MINUTES_PER_YEAR, r.outages)
            for r in results]
    return events, ts_rows, reps


def run_csvs(sc: Scenario, results: list[ReplicationResult]) -> dict[str, str]:
    """``{file name: CSV text}`` of the run directory's CSV files."""
    return run_csv_texts(*run_rows(sc, results))
