"""``hivesim check``: run the bank checker alone against a running live cluster.

Reads the cluster from its directory, ``--cluster-dir`` (``hivesim cluster up`` / ``hivesim live --keep-cluster``),
and, with ``--history RESULTS_DIR`` (a ``hivesim live`` result, or a directory of Locust records
written with ``--bank-record-dir``), the client history to check against. Without a history it
checks what the bank alone can show: money conserved against the seeded total, no negative
balance, per-account balances consistent with the transfers held, replicas converged.
Exit 1 on a violation (explained), 0 when valid.
"""

from __future__ import annotations

import json
import os
import sys

from sim.cli.options import add_cluster_dir, plain

__all__ = ["register"]


def register(subparsers) -> None:
    p = subparsers.add_parser("check", help="check a running live bank (exactly-once, money, replicas)",
                              description=plain(__doc__.split("\n\n")[0]))
    p.add_argument("scenario", help="scenario YAML (for the default cluster run directory)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a scenario value")
    add_cluster_dir(p, "live.run_dir of the scenario", old="--run-dir")
    p.add_argument("--history", help="client history: a live results directory or a records directory")
    p.add_argument("--settle", type=float, default=30.0, help="seconds to wait for the relay and the replicas")
    p.add_argument("--json", action="store_true", help="print checker.json to stdout")
    p.set_defaults(func=run)


def run(args) -> int:
    from loadtests.analysis.records import read_transfers
    from loadtests.bank.routing import account_id
    from loadtests.chaos.adapter import member_dsns
    from loadtests.checker import run_checker
    from loadtests.cluster import Cluster
    from sim.errors import HivesimError
    from sim.preflight import load_checked

    sc = load_checked(args.scenario, sets=args.set, simulation=False)  # the bank's checks, before any process starts
    c = Cluster.attach(args.cluster_dir or Cluster.default_run_dir(sc))
    seeded = c.state.get("seeded")
    if not seeded:
        raise HivesimError(f"{c.run_dir}: the cluster was started without seeded accounts; nothing to check against")
    initial = {account_id(i): seeded["initial_balance"] for i in range(seeded["accounts"])}
    history = None
    if args.history:
        rec = os.path.join(args.history, "records") if os.path.isdir(os.path.join(args.history, "records")) \
            else args.history
        if not os.path.isdir(rec):
            raise HivesimError(f"--history {args.history}: not a directory")
        history = read_transfers(rec)
        if not history:
            raise HivesimError(f"--history {args.history}: no transfers-*.jsonl records found")
    res = run_checker(c.gateway_url, history, initial, member_dsns(c), settle=args.settle, replica_wait=args.settle,
                      log=lambda s: print(s, file=sys.stderr))
    if args.json:
        print(json.dumps(res.to_dict(), indent=2))
    print(res.explain(), file=sys.stderr if args.json else sys.stdout)
    return 0 if res.valid else 1
