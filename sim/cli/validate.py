"""``hivesim validate FILE...``: check scenario files without running anything (the checks of ``run``)."""

from __future__ import annotations

import sys

from sim.errors import ScenarioError

__all__ = ["register"]


def register(sub) -> None:
    p = sub.add_parser("validate", help="validate scenario files (exit 2 on the first bad one)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from sim.preflight import load_checked
    bad = 0
    for f in args.files:
        try:
            sc = load_checked(f, args.sets)  # the same checks as run
        except ScenarioError as exc:
            print(f"hivesim: error: {exc}", file=sys.stderr)
            bad += 1
            continue
        print(f"{f}: ok ({sc.name}: {sc.topology.cells.count} cells, "
              f"{len(sc.topology.idc_names)} IDCs, {sc.simulation.replications} replications)")
    return 2 if bad else 0
