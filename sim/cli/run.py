"""``hivesim run [SCENARIO]``: simulate a scenario and write its run directory and report."""

from __future__ import annotations

import sys

from sim.cli.options import add_scheduler, scheduler_of
from sim.errors import HivesimError

__all__ = ["register", "cmd_run"]


def register(sub) -> None:
    p = sub.add_parser("run", help="simulate a scenario and write results/<name>/<run-id>/",
                       description="Simulate SCENARIO (default: the embedded webank-2023 reference) in "
                       "seeded replications; print a summary table; write summary.json, events.csv, "
                       "timeseries.csv, scenario.yaml and report.html.")
    p.add_argument("scenario", nargs="?", help="scenario YAML file (default: embedded webank-2023)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario value, e.g. --set simulation.replications=50 (repeatable)")
    p.add_argument("--out", help="run directory to create (default: results/<name>/<run-id>)")
    p.add_argument("--results", default="results", help="root of default run directories (default: results)")
    p.add_argument("--workers", type=int, help="worker processes (default: scenario's simulation.workers)")
    add_scheduler(p, "the replications")
    p.add_argument("--replications", type=int, help="shortcut for --set simulation.replications=N")
    p.add_argument("--seed", type=int, help="shortcut for --set simulation.seed=N")
    p.add_argument("--gate", action="store_true", help="apply the scenario's gates after the run (exit 1 on breach)")
    p.add_argument("--no-report", action="store_true", help="skip report.html and plots")
    p.add_argument("--quiet", "-q", action="store_true",
                   help="no progress bar or table: print the run directory only (for scripts)")
    p.add_argument("--json", action="store_true", help="print the whole summary.json on stdout instead of the table")
    p.set_defaults(func=cmd_run)


def _import_report() -> None:
    """Import the report's modules (matplotlib: ~0.4 s) while the workers still simulate the cost
    variant and this process would only wait, rather than after the run, when nothing else runs."""
    import sim.report  # noqa: F401


def cmd_run(args) -> int:
    from sim.console import print_summary
    from sim.runner import run_to_dir
    from sim.preflight import load_checked

    scheduler = scheduler_of(args)  # a malformed HIVESIM_SCHEDULER: exit 2 before anything runs
    sets = list(args.sets)
    if args.replications is not None:
        sets.append(f"simulation.replications={args.replications}")
    if args.seed is not None:
        sets.append(f"simulation.seed={args.seed}")
    if args.workers is not None and args.workers < 1:
        raise HivesimError(f"--workers: expected an integer >= 1, got {args.workers}")
    sc = load_checked(args.scenario, sets)  # every check validate does, before anything runs
    from sim.results.writer import check_output
    if args.out:
        check_output(args.out, "dir")
    else:
        check_output(args.results, "dir", exist_ok=True)
    try:
        out, summary = run_to_dir(sc, args.out, args.workers, progress=not args.quiet,
                                  scenario_file=args.scenario or "<embedded webank-2023>",
                                  results_root=args.results, scheduler=scheduler,
                                  meanwhile=None if args.no_report else _import_report)
    except HivesimError:
        raise
    except Exception as exc:  # an engine bug: the run dir keeps the config and the traceback
        print(f"hivesim: run failed: {type(exc).__name__}: {exc} (details in the run directory's error.txt)",
              file=sys.stderr)
        return 3
    if not args.no_report:
        from sim.report import write_report
        from sim.runner import resolve_workers
        write_report(out, workers=resolve_workers(sc, args.workers))  # as many processes as the run had
    if args.json:
        from sim.cli.options import print_json
        print_json(summary)
    elif args.quiet:
        print(out)
    else:
        print_summary(summary, out)
    if args.gate:
        from sim.readers.gate import apply_scenario_gates
        return apply_scenario_gates(out)
    return 0
