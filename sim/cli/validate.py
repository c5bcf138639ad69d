"""``hivesim validate FILE...``: check scenario files without running anything (the checks of ``run``)."""

from __future__ import annotations

import sys

from sim.cli.options import add_json
from sim.errors import ScenarioError

__all__ = ["register"]


def register(sub) -> None:
    p = sub.add_parser("validate", help="validate scenario files (exit 2 if any is bad)",
                       description="Check scenario files with every check run does, without running anything. "
                                   "Exit 0 when all are valid, 2 when any is not (each error on stderr).")
    p.add_argument("files", nargs="+", metavar="FILE", help="scenario YAML files")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario value before checking (repeatable)")
    add_json(p, "one entry per file ({files: [{file, valid, name, cells, idcs, replications | error}]})")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from sim.preflight import load_checked
    bad = 0
    found = []
    for f in args.files:
        try:
            sc = load_checked(f, args.sets)  # the same checks as run
        except ScenarioError as exc:
            print(f"hivesim: error: {exc}", file=sys.stderr)
            found.append({"file": f, "valid": False, "error": str(exc)})
            bad += 1
            continue
        found.append({"file": f, "valid": True, "name": sc.name, "cells": sc.topology.cells.count,
                      "idcs": len(sc.topology.idc_names), "replications": sc.simulation.replications})
        if not args.json:
            print(f"{f}: ok ({sc.name}: {sc.topology.cells.count} cells, "
                  f"{len(sc.topology.idc_names)} IDCs, {sc.simulation.replications} replications)")
    if args.json:
        from sim.cli.options import print_json
        print_json({"valid": not bad, "files": found})
    return 2 if bad else 0
