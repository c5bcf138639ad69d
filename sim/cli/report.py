"""``hivesim report RUN_DIR``: write RUN_DIR/report.html and RUN_DIR/plots/*.png|svg."""

from __future__ import annotations

from sim.cli.options import add_json

__all__ = ["register", "cmd_report"]


def register(subparsers) -> None:
    p = subparsers.add_parser("report", help="write report.html and plots for a run directory",
                              description="Write RUN_DIR/report.html (self-contained, plots embedded) and "
                                          "RUN_DIR/plots/*.png and *.svg from the run's files.")
    p.add_argument("run_dir", nargs="+", metavar="RUN_DIR", help="run directory (several allowed)")
    add_json(p, "the reports written ({reports: [{run_dir, report, plots, seconds}]})")
    p.set_defaults(func=cmd_report)


def cmd_report(args) -> int:
    import time

    from pathlib import Path

    from sim.report import write_report
    from sim.results.writer import check_output
    for d in args.run_dir:  # every output checked before the first report is drawn
        if Path(d).is_dir():
            check_output(Path(d) / "report.html", "file", exist_ok=True)
            check_output(Path(d) / "plots", "dir", exist_ok=True)
    done = []
    for d in args.run_dir:
        t = time.perf_counter()
        path = write_report(d)
        seconds = time.perf_counter() - t
        done.append({"run_dir": str(d), "report": str(path), "plots": str(Path(d) / "plots"), "seconds": seconds})
        if not args.json:
            print(f"{path}  ({seconds:.1f} s)")
    if args.json:
        from sim.cli.options import print_json
        print_json({"reports": done})
    return 0
