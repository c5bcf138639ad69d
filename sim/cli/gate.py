"""``hivesim gate RUN_DIR``: check a run against thresholds, windows and a baseline; exit 0/1/2.

Examples:

    hivesim gate results/webank/r1 --require "availability.request.nines>=5" \\
        --require "cost.per_account_per_year<=3" --require "worst_30d:availability.request.mean>=99.999%"
    hivesim gate results/webank/r1 --require "availability.request.lower>=99.999%"   # the pessimistic end
    hivesim gate results/webank/r1 --confidence 0.95 --require "availability.request.mean>=99.999%"  # the same
    hivesim gate results/webank/r2 --baseline results/webank/r1 \\
        --max-regression availability.request.mean=0.000005 --junit gates.xml --markdown gates.md
"""

from __future__ import annotations

from pathlib import Path

from sim.cli.options import add_json

__all__ = ["register", "cmd_gate"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "gate", help="check a run against gates (exit 1 on breach)",
        description="Check RUN_DIR's summary.json against the scenario's gates: block and --require "
                    "thresholds (any dotted key; prefix worst_day: or worst_30d: for windowed figures), and "
                    "against a baseline run with --max-regression (CI-aware). Exit 0 pass, 1 breach, 2 bad input.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory (or a summary.json)")
    p.add_argument("--require", action="append", default=[], metavar="EXPR",
                   help='threshold such as "availability.request.nines>=5" or "availability.request.mean>=99.999%%" (echoed as written)')
    p.add_argument("--baseline", metavar="RUN_DIR_OR_SUMMARY", help="baseline run for --max-regression")
    p.add_argument("--max-regression", action="append", default=[], metavar="KEY=DELTA",
                   help="allowed worsening of KEY vs the baseline, in the key's unit (availabilities: a fraction, or "
                        "percentage points with %% such as 0.0005%%) (KEY:higher=DELTA / KEY:lower=DELTA to set "
                        "the good direction); breached only if worse by more than DELTA and significant: paired (the interval of "
                        "per-replication differences excludes 0) when both runs share seed, replication indices and "
                        "stream keys, else the 95%% CIs do not overlap")
    p.add_argument("--confidence", metavar="LEVEL",
                   help="gate on confidence, not the mean: a threshold on a figure with an interval reads its "
                        "pessimistic end at LEVEL (lower end for >=, upper for <=; 0.95 = the summary's own "
                        "interval); also the level of --max-regression's intervals")
    p.add_argument("--no-scenario-gates", action="store_true", help="ignore the scenario's gates: block")
    p.add_argument("--junit", metavar="FILE", help="write JUnit XML (one testcase per gate)")
    p.add_argument("--markdown", metavar="FILE", help="write a Markdown table (CI job summary)")
    add_json(p, "the verdict ({passed, breached, gates: [...]})")
    p.set_defaults(func=cmd_gate)


def cmd_gate(args) -> int:
    from sim.console import wide_console

    from sim.errors import HivesimError
    from sim.readers.gate import check_run, display, render_table, to_junit, to_markdown
    from sim.results.writer import atomic_write_text, check_output

    for target in (args.junit, args.markdown):
        if target:  # before reading anything: a bad report path is found first
            check_output(target, "file", exist_ok=True)
    results = check_run(Path(args.run_dir), requires=args.require, regressions=args.max_regression,
                        baseline=args.baseline, use_scenario=not args.no_scenario_gates,
                        confidence=args.confidence)
    if not results:
        raise HivesimError(f"{args.run_dir}: no gates to check (the scenario has no gates: block; "
                           "give --require or --max-regression)")
    for target in (args.junit, args.markdown):
        if target and Path(target).is_dir():
            raise HivesimError(f"{target}: is a directory, expected a file name")
    if args.junit:
        atomic_write_text(args.junit, to_junit(results))
    if args.markdown:
        atomic_write_text(args.markdown, to_markdown(results))
    if args.json:
        from sim.cli.options import print_json
        print_json({"passed": all(r.passed for r in results), "breached": sum(not r.passed for r in results),
                    "gates": [{**r.to_dict(), **display(r)} for r in results]})
    else:
        wide_console().print(render_table(results))
    return 1 if any(not r.passed for r in results) else 0
