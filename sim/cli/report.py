"""``hivesim report RUN_DIR``: write RUN_DIR/report.html and RUN_DIR/plots/*.png|svg."""

from __future__ import annotations

__all__ = ["register", "cmd_report"]


def register(subparsers) -> None:
    p = subparsers.add_parser("report", help="write report.html and plots for a run directory",
                              description="Write RUN_DIR/report.html (self-contained, plots embedded) and "
                                          "RUN_DIR/plots/*.png and *.svg from the run's files.")
    p.add_argument("run_dir", nargs="+", metavar="RUN_DIR", help="run directory (several allowed)")
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
    for d in args.run_dir:
        t = time.perf_counter()
        path = write_report(d)
        print(f"{path}  ({time.perf_counter() - t:.1f} s)")
    return 0
