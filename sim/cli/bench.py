"""``hivesim bench [--json FILE] [--quick] [--full]``: the performance figures P1-P4, P6, P7 with their targets.

Each figure is a ratio timed side by side in one run (medians of ``--runs``, default 3); see
docs/performance.md. ``--quick`` runs each once at small sizes so CI can check that the suite
works (its numbers are not verdicts). ``--full`` runs the whole 32-variant sweep of P7 (otherwise
estimated from a subset, and labelled so). ``--check`` exits 1 when a figure misses its target.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sim.cli.bankbench import add_arguments as add_bank_arguments
from sim.cli.bankbench import bank_figure, bank_table
from sim.cli.options import plain
from sim.errors import HivesimError
from sim.results.writer import atomic_write_text

__all__ = ["register", "cmd_bench"]


def _suite():
    try:
        from benchmarks import suite
    except ModuleNotFoundError:  # run from elsewhere: the benchmarks live next to the package
        sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
        try:
            from benchmarks import suite
        except ModuleNotFoundError as exc:
            raise HivesimError("hivesim bench needs the benchmarks/ folder of the source tree") from exc
    return suite


def _write_json(path: Path, data: dict, force: bool) -> None:
    if path.exists() and not force:
        raise HivesimError(f"{path}: exists; pass --force to replace it")
    if not path.parent.is_dir():
        raise HivesimError(f"{path.parent}: no such directory")
    # the one atomic writer: written whole, then renamed, never half a file
    atomic_write_text(path, json.dumps(data, indent=2, default=float) + "\n")


def suite_figures() -> dict:
    """The figures ``hivesim bench`` knows, by key."""
    return _suite().FIGURES


def cmd_bench(args) -> int:
    from rich.console import Console
    only = None
    if args.only:
        only = [x.strip().upper() for x in args.only.split(",") if x.strip()]
        known = list(suite_figures())
        bad = [x for x in only if x not in known]
        if bad:
            raise HivesimError(f"--only: expected figures among {','.join(known)}, got {bad[0]!r}")
    if args.runs < 1:
        raise HivesimError(f"--runs: expected an integer >= 1, got {args.runs}")
    path = Path(args.json) if args.json else None
    if path is not None and path.exists() and not args.force:  # fail before minutes of work
        raise HivesimError(f"{path}: exists; pass --force to replace it")
    suite = _suite()
    err = Console(stderr=True)
    results = suite.run(quick=args.quick, runs=args.runs, only=only, progress=lambda m: err.print(m, style="dim"),
                        full=args.full)
    Console().print(suite.table(results))
    bank = bank_figure(args, progress=lambda m: err.print(m, style="dim"))  # --bank (sim/cli/bankbench.py)
    if bank is not None:
        Console().print(bank_table(bank))
        results["bank"] = bank
    if path is not None:
        _write_json(path, results, args.force)
    if args.check and not all(r.get("pass") or r.get("skipped") for r in results.values()):
        return 1
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="performance figures (P1-P4, P6, P7) with their targets",
                              description=plain(__doc__.split("\n\n")[1]))
    p.add_argument("--json", metavar="FILE", help="write the figures as JSON (atomically)")
    p.add_argument("--quick", action="store_true", help="one run at small sizes (checks the suite runs)")
    p.add_argument("--runs", type=int, default=3, help="runs per figure; the median is reported (default 3)")
    p.add_argument("--only", metavar="P1,P3", help="run only these figures")
    p.add_argument("--full", action="store_true",
                   help="run P7's whole 32-variant sweep (minutes) instead of estimating it from 2 variants")
    p.add_argument("--force", action="store_true", help="replace an existing --json file")
    p.add_argument("--check", action="store_true", help="exit 1 if any figure misses its target")
    add_bank_arguments(p)
    p.set_defaults(func=cmd_bench)
