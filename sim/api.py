"""The documented Python API (docs/python-api.md): what ``import sim`` offers scripts and notebooks.

* ``load_scenario(path=None, sets=None)``: a scenario file loaded, ``extends`` resolved, ``sets``
  (``["simulation.replications=20"]``, as ``--set``) applied and validated into a ``Scenario``;
  ``None`` is the embedded webank-2023;
* ``simulate(scenario, out=None, ...)``: the summary dict (summary.json's content); with ``out``
  the run directory is written too (the results contract, as ``hivesim run --out``); with
  ``results=True`` the per-replication results come back as well;
* ``Run.open(dir)``: a run directory, simulated or live; ``.to_pandas()`` its data frames.

Everything here runs the same checks as the command line before anything runs (``sim.preflight``),
and raises ``HivesimError`` subclasses with the same one-line messages.
"""

from __future__ import annotations

import os

from sim.results.reader import Run
from sim.scenario import Scenario, load_scenario

__all__ = ["load_scenario", "simulate", "Run"]


def simulate(scenario: Scenario | str | os.PathLike | None = None, out: str | os.PathLike | None = None, *,
             sets: list[str] | None = None, workers: int | None = None, progress: bool = False,
             results: bool = False):
    """Simulate ``scenario`` (a ``Scenario``, a scenario file, or None for the embedded webank-2023).

    Returns summary.json's content as a dict; ``results=True`` returns ``(summary, replications)``
    (``sim.engine.ReplicationResult`` per replication). ``out`` writes the run directory there
    (never overwriting one); ``sets`` apply to a scenario given as a file. ``workers`` defaults to
    ``simulation.workers``; the figures do not depend on it.
    """
    from sim.preflight import check
    from sim.results.writer import check_output
    from sim.runner import run_to_dir_full, simulate_full
    scenario_file = None
    if not isinstance(scenario, Scenario):
        scenario_file = os.fspath(scenario) if scenario is not None else "<embedded webank-2023>"
        scenario = load_scenario(scenario, sets)
    elif sets:
        raise TypeError("sets: only for a scenario given as a file (apply them with load_scenario)")
    check(scenario)  # the semantic checks and cost estimate hivesim run makes, before anything runs
    if out is None:
        summary, reps = simulate_full(scenario, workers, progress)
    else:
        check_output(out, "dir")
        _, summary, reps = run_to_dir_full(scenario, out, workers, progress, scenario_file=scenario_file)
    return (summary, reps) if results else summary
