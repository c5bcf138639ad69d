"""``hivesim sensitivity SCENARIO --vary key=low,high ...``: a tornado; ``--solve key=lo,hi --target``: what-if.

Examples:

    hivesim sensitivity scenarios/webank-2023.yaml --replications 20 \\
        --vary topology.cells.template.db.failover.detection=10s,30s --vary failures.changes.escape_probability=0.01,0.04
    hivesim sensitivity scenarios/webank-2023.yaml --replications 20 \\
        --solve failures.changes.escape_probability=0.001,0.1 --target "availability.request.lower>=99.999%"

With ``--scheduler tcp://HOST:PORT`` (or ``HIVESIM_SCHEDULER``) the replications run on a Dask
cluster: a tornado submits every variant's replications as one batch; a what-if submits both ends
as one batch, then each bisection step (a step needs the previous one's verdict). Results are
identical to the local pool's for the same seed.

Exit codes: 0 done; 1 ``--solve`` found the target met at neither end; 2 bad input (before any
simulation); 3 a variant failed.
"""

from __future__ import annotations

import sys

from sim.cli.options import add_json, add_scheduler, scheduler_of

__all__ = ["register", "cmd_sensitivity"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sensitivity", help="tornado of inputs (--vary) or the value an input needs for a target (--solve)",
        description="Each --vary key=low,high runs the scenario with that key at each end (the others at the base), "
                    "all with the same seed, and compares every variant with the base replication by replication: "
                    "a tornado of the change in downtime (paired 95% intervals) and cost, sorted by effect. "
                    "--solve key=lo,hi with --target EXPR bisects the input for the value at which the target "
                    "holds. Writes summary.json, a CSV, a plot and each variant's summary into a new directory.")
    p.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file")
    p.add_argument("--vary", action="append", default=[], metavar="KEY=LOW,HIGH", help="an input and its two ends")
    p.add_argument("--solve", metavar="KEY=LO,HI", help="bisect this numeric input between LO and HI for --target")
    p.add_argument("--target", metavar="EXPR", help='with --solve: e.g. "availability.request.lower>=99.999%%"')
    p.add_argument("--confidence", metavar="LEVEL", help="read --target on a .mean key at this interval's pessimistic end")
    p.add_argument("--iterations", type=int, default=8, help="with --solve: at most this many bisection steps (default 8)")
    p.add_argument("--replications", type=int, help="shortcut for simulation.replications")
    p.add_argument("--seed", type=int, help="shortcut for simulation.seed")
    p.add_argument("--out", help="directory to create (default: results/<name>/sensitivity-<UTC time>)")
    p.add_argument("--results", default="results", help="root of default output directories")
    p.add_argument("--workers", type=int, help="local worker processes (default: CPU count)")
    add_scheduler(p, "every variant's replications")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar or table: the directory only")
    add_json(p, "the sensitivity document (or the what-if answer)")
    p.set_defaults(func=cmd_sensitivity)


def _checked(args):
    """Everything about the input, before anything runs: -> (mode, parsed, base sets, output dir)."""
    from sim.errors import HivesimError
    from sim.results.writer import check_output
    if args.workers is not None and args.workers < 1:
        raise HivesimError(f"--workers: expected an integer >= 1, got {args.workers}")
    if bool(args.vary) == bool(args.solve):
        raise HivesimError("sensitivity: give either --vary KEY=LOW,HIGH (a tornado) or --solve KEY=LO,HI with --target")
    base = [f"simulation.replications={args.replications}"] if args.replications is not None else []
    base += [f"simulation.seed={args.seed}"] if args.seed is not None else []
    if args.out:
        check_output(args.out, "dir")
    else:
        check_output(args.results, "dir", exist_ok=True)
    if args.vary:
        if args.target or args.confidence:
            raise HivesimError("--target and --confidence go with --solve")
        from sim.readers.sensitivity import parse_vary
        return "vary", parse_vary(args.vary), base
    if not args.target:
        raise HivesimError("--solve needs --target EXPR, e.g. 'availability.request.lower>=99.999%'")
    from sim.readers.target import parse_target
    from sim.readers.whatif import MAX_ITERATIONS, parse_solve
    if not 0 <= args.iterations <= MAX_ITERATIONS:
        raise HivesimError(f"--iterations {args.iterations}: expected an integer from 0 to {MAX_ITERATIONS}")
    return "solve", (parse_solve(args.solve), parse_target(args.target, args.confidence)), base


def _out_dir(args, name: str, stem: str):
    import time
    from pathlib import Path

    from sim.errors import HivesimError
    if args.out:
        out = Path(args.out)
        if out.exists():
            raise HivesimError(f"{out}: already exists (choose another --out or remove it)")
        return out
    base = Path(args.results) / name / f"{stem}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    out, n = base, 2
    while out.exists():
        out, n = base.with_name(f"{base.name}-{n}"), n + 1
    return out


def cmd_sensitivity(args) -> int:
    from sim.readers.sweep import build_scenarios, run_variants
    from sim.results.schema import scenario_file_ref

    mode, parsed, base = _checked(args)
    scheduler = scheduler_of(args)  # a malformed HIVESIM_SCHEDULER: exit 2 before anything runs
    quiet = args.quiet or args.json
    meta = {"scenario_file": scenario_file_ref(args.scenario), "base_sets": base}
    if mode == "vary":
        from sim.readers.sensitivity import sensitivity_variants, tabulate, write_sensitivity
        variants = sensitivity_variants(parsed)
        scenarios = build_scenarios(args.scenario, variants, base)  # all validated before anything runs
        out = _out_dir(args, scenarios[0].name, "sensitivity")
        results = run_variants(scenarios, scheduler=scheduler, workers=args.workers, progress=not quiet,
                               label=f"{scenarios[0].name}: {len(variants)} variants")
        body = tabulate(parsed, variants, results)
        meta.update(scenario_name=scenarios[0].name, vary=args.vary)
        path = write_sensitivity(out, body, results, meta)
        failed = sum(1 for r in results if not isinstance(r, dict))
        _print_vary(args, body, path)
        return 3 if failed else 0
    from sim.readers.whatif import bisect, write_whatif
    solve, target = parsed
    from sim.readers.sweep import Variant
    name = build_scenarios(args.scenario, [Variant("base")], base)[0].name
    out = _out_dir(args, name, "what-if")
    ans, summaries = bisect(args.scenario, solve, target, args.iterations, base, args.workers, progress=not quiet,
                            scheduler=scheduler)
    meta.update(scenario_name=name, solve=args.solve, target=args.target, iterations=args.iterations)
    path = write_whatif(out, ans, target, summaries, meta)
    if args.json:
        from sim.cli.options import print_json
        print_json({"out": str(path), **ans.to_dict()})
    else:
        if not args.quiet:
            print(ans.text)
        print(path)
    return {"failed": 3, "fails at both ends": 1}.get(ans.outcome, 0)


def _print_vary(args, body: dict, path) -> None:
    if args.json:
        from sim.cli.options import print_json
        print_json({"out": str(path), **body})
        return
    if not args.quiet:
        from sim.console import wide_console
        wide_console().print(tornado_table(body, path))
    for e in body["keys"]:
        for end in ("low", "high"):
            if e[end]["status"] != "ok":
                print(f"hivesim: {e['key']}={e[end]['value']} failed: {e[end]['error']}", file=sys.stderr)
    print(path)


def tornado_table(body: dict, path):
    """The console table: one line per key and end, sorted by effect, paired intervals."""
    from rich.markup import escape
    from rich.table import Table

    from sim.results.formatting import format_delta, format_value
    base = body["base"]
    t = Table(title=f"sensitivity: base {format_value('downtime_minutes_per_year.mean', base.get('downtime_minutes_per_year.mean'))} "
                    f"min/yr, {format_value('availability.request.nines', base.get('availability.request.nines'))} nines",
              caption=escape(f"{path}; Δ vs the base, 95% CI of the per-replication differences (same seed)"))
    for col in ("key", "end", "Δ down min/yr [95% CI]", "Δ availability", "nines", "Δ cost/acct/yr"):
        t.add_column(col, overflow="fold", justify="left" if col in ("key", "end") else "right")
    down, av = "downtime_minutes_per_year.mean", "availability.request.mean"
    for e in body["keys"]:
        for end in ("low", "high"):
            s = e[end]
            if s["status"] != "ok":
                t.add_row(escape(e["key"]), f"{end} {escape(str(s['value']))}", "failed", "", "", "")
                continue
            dd, da = s[f"delta.{down}"], s[f"delta.{av}"]
            iv = dd.get("interval")
            ci = f" [{format_delta(down, iv[0])}, {format_delta(down, iv[1])}]" if iv else " (unpaired)"
            star = "*" if dd.get("significant") else ""
            t.add_row(escape(e["key"]) if end == "low" else "", f"{end} {escape(str(s['value']))}",
                      f"{format_delta(down, dd.get('mean'))}{ci}{star}", format_delta(av, da.get("mean")),
                      format_value("availability.request.nines", s.get("availability.request.nines")),
                      format_delta("cost.per_account_per_year", s.get("delta.cost.per_account_per_year")))
    return t
