"""``hivesim sweep SCENARIO``: run a grid or a list of variants; table + frontier plot.

Examples:

    hivesim sweep scenarios/webank-2023.yaml --replications 50 \\
        --set topology.cells.template.db.replicas=3,5 --set topology.cells.template.db.failover.detection=10s,30s
    hivesim sweep scenarios/webank-2023.yaml --variants variants.yaml --scheduler tcp://127.0.0.1:8786
    hivesim sweep scenarios/webank-2023.yaml --replications 50 --set topology.cells.template.db.replicas=3,5 \
        --target "availability.request.lower>=99.999%" --minimize cost.per_account_per_year

With ``--target`` the sweep also answers "the cheapest variant that meets the target"
(``sim.readers.target``): printed under the table, in table.json's ``selection`` and marked on the
frontier. Exit 1 when no variant meets it (everything is written first); 3 when a variant failed.
``--cheapest-first`` runs the variants in order of their cost, known before simulating, and stops
once the choice and its runner-up are known (``sim.readers.cheapest``): the same answer, from
only the variants it needs; the others are listed as skipped.
"""

from __future__ import annotations

import sys

from sim.cli.options import add_json, add_scheduler, scheduler_of

__all__ = ["register", "cmd_sweep", "sweep_table"]

# the console table's columns: (header, key); short headers so 80 columns show every figure
_COLUMNS = [("status", "status"), ("availability", "availability.request.mean"),
            ("nines", "availability.request.nines"), ("down min/yr", "downtime_minutes_per_year.mean"),
            ("cost/acct/yr", "cost.per_account_per_year"), ("vs #1", "vs_first"), ("pareto", "pareto"),
            ("target", "target.choice")]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sweep", help="run scenario variants (grid or list) and draw the cost/nines frontier",
        description="Run every variant of SCENARIO and write table.csv, table.json, frontier.png/svg and each "
                    "variant's summary into a new sweep directory. Grid values are split on commas outside "
                    "brackets and quotes: --set a.b=1,2,3 --set c=[x,y],[z]. Runs on a local process pool, or on "
                    "a Dask cluster with --scheduler; results are identical for the same seeds.")
    p.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="grid axis: every combination of all --set values is one variant")
    p.add_argument("--variants", metavar="FILE", help="YAML list of {name: ..., set: {dotted.key: value}}")
    p.add_argument("--replications", type=int, help="shortcut for simulation.replications in every variant")
    p.add_argument("--seed", type=int, help="shortcut for simulation.seed in every variant")
    p.add_argument("--out", help="sweep directory to create (default: results/<name>/sweep-<UTC time>)")
    p.add_argument("--results", default="results", help="root of default output directories")
    p.add_argument("--workers", type=int, help="local worker processes (default: CPU count)")
    add_scheduler(p, "every variant's replications")
    p.add_argument("--target", metavar="EXPR",
                   help='the cheapest variant meeting EXPR, e.g. "availability.request.lower>=99.999%%" (the '
                        "pessimistic end: met at 95%% confidence); exit 1 when none meets it")
    p.add_argument("--minimize", metavar="KEY", help="what --target minimises (default cost.per_account_per_year)")
    p.add_argument("--confidence", metavar="LEVEL",
                   help="read --target on a .mean key at the pessimistic end of this interval (e.g. 0.95)")
    p.add_argument("--cheapest-first", action="store_true",
                   help="with --target: run the variants in order of --minimize (a cost figure, known before "
                        "simulating), one cost level at a time, and stop once the choice and its runner-up are "
                        "known; the same answer as the full sweep, the variants not needed listed as skipped")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar or table: the sweep directory only")
    add_json(p, "the sweep (its directory and every variant's row)")
    p.set_defaults(func=cmd_sweep)


def cmd_sweep(args) -> int:
    from sim.console import wide_console

    from sim.errors import HivesimError
    from sim.readers.sweep import (build_scenarios, check_variant_count, combine, default_sweep_dir,
                                   grid_variants, load_variants_file, parse_grid, run_variants, table_rows,
                                   write_sweep)

    if args.workers is not None and args.workers < 1:
        raise HivesimError(f"--workers: expected an integer >= 1, got {args.workers}")
    scheduler = scheduler_of(args)  # a malformed HIVESIM_SCHEDULER: exit 2 before anything runs
    target = minimize = None
    if args.target is not None:  # before anything runs: a malformed target is bad input
        from sim.readers.target import check_minimize, parse_target
        target = parse_target(args.target, args.confidence)
        minimize = check_minimize(args.minimize or "cost.per_account_per_year")
    elif args.minimize is not None or args.confidence is not None or args.cheapest_first:
        raise HivesimError("--minimize, --confidence and --cheapest-first go with --target EXPR")
    base = []
    if args.replications is not None:
        base.append(f"simulation.replications={args.replications}")
    if args.seed is not None:
        base.append(f"simulation.seed={args.seed}")
    from sim.executors import LOCAL_NAME
    from sim.results.schema import scenario_file_ref
    from sim.results.writer import check_output
    if args.out:
        check_output(args.out, "dir")
    else:
        check_output(args.results, "dir", exist_ok=True)
    grid = parse_grid(args.sets)
    file_variants = load_variants_file(args.variants) if args.variants else None
    check_variant_count(grid, file_variants)  # the product of the axes, before any combination is built
    variants = combine(file_variants, grid_variants(grid))
    if len({v.name for v in variants}) != len(variants):
        raise HivesimError("two variants got the same name; give distinct names in the variants file")
    scenarios = build_scenarios(args.scenario, variants, base)  # all validated before anything runs
    out = default_sweep_dir(scenarios[0].name, args.results) if not args.out else args.out
    from pathlib import Path
    if Path(out).exists():
        raise HivesimError(f"{out}: already exists (choose another --out or remove it)")
    label = f"{scenarios[0].name}: {len(variants)} variants"
    cheapest = None
    if args.cheapest_first:
        from sim.readers.cheapest import planned_values, run_cheapest_first
        planned = planned_values(scenarios, [v.name for v in variants], minimize)  # before anything runs
        results, cheapest = run_cheapest_first(scenarios, planned, target, minimize, scheduler=scheduler,
                                               workers=args.workers, progress=not (args.quiet or args.json),
                                               label=label)
    else:
        results = run_variants(scenarios, scheduler=scheduler, workers=args.workers,
                               progress=not (args.quiet or args.json), label=label)
    rows = table_rows(variants, results)
    swept = list(dict.fromkeys(k for v in variants for k in v.sets if len({json_key(x.sets.get(k)) for x in variants}) > 1))
    meta = {"scenario_file": scenario_file_ref(args.scenario), "scenario_name": scenarios[0].name, "base_sets": base,
            "grid": args.sets, "variants_file": args.variants, "swept_keys": swept,
            "scheduler": scheduler or LOCAL_NAME}
    if cheapest is not None:
        meta["cheapest_first"] = cheapest
    choice = None
    if target is not None:
        from sim.readers.target import choose
        choice = choose(rows, results, target, minimize)
        meta["selection"] = choice.to_dict()
    path = write_sweep(out, rows, results, meta)
    failed = [r for r in rows if r["status"] == "failed"]
    if args.json:
        from sim.cli.options import print_json
        print_json({"out": str(path), "variants": len(rows), "failed": len(failed), "rows": rows,
                    **({"selection": choice.to_dict()} if choice else {}),
                    **({"cheapest_first": cheapest} if cheapest else {})})
    elif not args.quiet:
        wide_console().print(sweep_table(rows, path))
        if choice is not None:
            print(choice.text)
        from sim.readers.cheapest import describe, hint
        if cheapest is not None:
            print(describe(cheapest))
        elif choice is not None and (line := hint(results, choice.met, minimize)):
            print(line)
    for r in failed:
        print(f"hivesim: variant {r['variant']!r} failed: {r['error']}", file=sys.stderr)
    if not args.json:
        print(path)
    return 3 if failed else 1 if choice is not None and choice.best is None else 0


def sweep_table(rows: list[dict], path):
    """The console table: a column only when some variant has a figure for it (no all-empty
    columns), each figure formatted by the key registry."""
    from rich.markup import escape
    from rich.table import Table

    from sim.results.formatting import format_value

    def text(key, r):
        if key == "pareto":
            return {True: "*", False: "", None: ""}[r.get("pareto")]
        if key == "status":
            return r["status"] if r["status"] != "ok" else ""
        if key == "vs_first":  # the downtime difference from the first variant, paired when it can be
            d = r.get("vs_first.downtime_minutes_per_year.mean")
            if r.get("index") == 0 or d is None:
                return ""
            return f"{d:+.3g}{'*' if r.get('vs_first.significant') else ''}"
        if key == "target.choice":
            return {"best": "choice", "runner-up": "runner-up"}.get(r.get(key), "met" if r.get("target.met") else "")
        return format_value(key, r.get(key))

    cols = [(head, key) for head, key in _COLUMNS if any(text(key, r) not in ("", "-") for r in rows)]
    method = next((r.get("vs_first.method") for r in rows[1:] if r.get("vs_first.method")), None)
    note = f"; vs #1: downtime min/yr minus the first variant's, {method}, * = significant" if method else ""
    t = Table(title=f"sweep: {len(rows)} variants", caption=escape(f"{path}{note}"))
    t.add_column("variant", overflow="fold", ratio=1)
    for head, key in cols:
        t.add_column(head, justify="right" if key not in ("status", "pareto", "target.choice") else "left", no_wrap=True)
    for r in rows:
        t.add_row(escape(r["variant"]), *[text(key, r) for _, key in cols])
    return t


def json_key(v) -> str:
    import json
    return json.dumps(v, sort_keys=True, default=str)
