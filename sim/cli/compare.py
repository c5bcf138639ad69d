"""``hivesim compare RUN_DIR RUN_DIR... [--out DIR]``: key figures side by side, deltas, CI overlap."""

from __future__ import annotations

from sim.cli.options import add_json

__all__ = ["register", "cmd_compare"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "compare", help="compare runs side by side (deltas, CI overlap, overlay plots)",
        description="Print the key figures of two or more runs side by side, with deltas against the first run "
                    "and whether they are significant: replication by replication ('paired (n=..)': the 95% interval "
                    "of the per-replication differences excludes 0) when the runs share seed, replication indices and "
                    "stream keys (build), else by whether the 95% CIs overlap ('unpaired'). With --out DIR also write "
                    "compare.md, compare.html and overlay plots (downtime CDFs; cost per account vs nines).")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories or summary.json files (first = reference)")
    p.add_argument("--out", metavar="DIR", help="new directory for compare.md, compare.html and plots")
    add_json(p, "the comparison (runs, then per key: values, 95% CIs, deltas, CI overlap)")
    p.set_defaults(func=cmd_compare)


def cmd_compare(args) -> int:
    from rich.markup import escape
    from rich.table import Table

    from sim.cli.options import print_json
    from sim.console import wide_console
    from sim.readers.compare import cell, compare_runs, pairings, significant, to_json, write_compare
    from sim.results.reader import run_label

    if args.out:
        from sim.results.writer import check_output
        check_output(args.out, "dir")  # before reading the runs: a bad --out is found first
    runs, rows = compare_runs(args.runs)
    if args.json:
        doc = to_json(runs, rows)
        if args.out:
            doc["out"] = str(write_compare(args.out, runs, rows))
        print_json(doc)
        return 0
    t = Table(title="hivesim compare (Δ vs #1; 95% CI in brackets)")
    t.add_column("metric", no_wrap=True)
    for i, r in enumerate(runs):
        t.add_column(escape(run_label(r, i + 1)), overflow="fold")
    for row in rows:
        cells = []
        for i in range(len(runs)):
            c = escape(cell(row, i))
            cells.append(f"[red]{c}[/]" if i > 0 and significant(row, i) else c)
        t.add_row(row.key, *cells)
    t.caption = escape("; ".join(f"#{i + 1} vs #1: {p.label} ({p.reason})" for i, p in enumerate(pairings(runs)) if i))
    wide_console().print(t)
    if args.out:
        out = write_compare(args.out, runs, rows)
        print(f"{out}/compare.html")
    return 0
