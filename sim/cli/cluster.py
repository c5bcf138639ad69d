"""``hivesim cluster up|status|down SCENARIO``: run the scenario's bank as live processes.

``up`` starts etcd, Patroni/PostgreSQL per cell, fault proxies, app servers, relay and gateway
(loadtests.cluster), seeds the accounts and prints where the gateway listens; the processes keep
running after the command returns. ``status`` shows every member's role, timeline and lag and
every service's PID. ``down`` stops them all by PID and checks nothing is left.
The cluster's directory is ``--cluster-dir``, else ``live.run_dir`` (default /tmp/hivesim-live-<scenario name>).
"""

from __future__ import annotations

import json

from sim.cli.options import add_cluster_dir, plain

__all__ = ["register"]


def register(subparsers) -> None:
    p = subparsers.add_parser("cluster", help="start, inspect or stop the live bank of a scenario",
                              description=plain(__doc__.split("\n\n")[0]))
    p.add_argument("action", choices=["up", "status", "down"])
    p.add_argument("scenario", help="scenario YAML (its live: section and topology)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a scenario value")
    add_cluster_dir(p, "live.run_dir of the scenario", old="--run-dir")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--keep", action="store_true", help="down: keep the run directory (logs, data)")
    p.add_argument("--no-seed", action="store_true", help="up: do not create the seeded accounts")
    p.set_defaults(func=run)


def run(args) -> int:
    from loadtests.bank.routing import account_id
    from loadtests.cluster import Cluster
    from sim.preflight import load_checked

    sc = load_checked(args.scenario, sets=args.set, simulation=False)  # the bank's checks, before any process starts
    run_dir = args.cluster_dir or Cluster.default_run_dir(sc)
    if args.action == "up":
        c = Cluster(sc, run_dir)
        secs = c.up(seed=not args.no_seed)
        info = {"gateway_url": c.gateway_url, "run_dir": str(c.run_dir), "bringup_seconds": secs,
                "cells": c.cells, "accounts": c.state.get("seeded", {}).get("accounts", 0)}
        if args.json:
            print(json.dumps(info))
        else:
            print(f"live bank up in {secs:.1f}s: {c.cells} cells, gateway {c.gateway_url}")
            print(f"  run dir {c.run_dir}  (admin token in {c.run_dir}/cluster.json)")
            print(f"  try: curl -s {c.gateway_url}/accounts/{account_id(0)}")
        return 0
    c = Cluster.attach(run_dir)
    if args.action == "status":
        return _status(c, args.json)
    res = c.down(keep=args.keep)
    print(json.dumps(res) if args.json else f"stopped {res['stopped']} processes in {res['seconds']:.1f}s; nothing left")
    return 0


def _status(c, as_json: bool) -> int:
    members = c.status()
    services = {"gateway": {"pid": c.gateway_pid, "url": c.gateway_url},
                "relay": {"pid": c.relay_pid, "url": c.relay_url},
                "supervisor": {"pid": c.supervisor_pid},
                "app_servers": c.app_servers, "etcd": c.etcd_members}
    if as_json:
        print(json.dumps({"members": members, **services}, indent=1))
        return 0
    from rich.console import Console
    from rich.table import Table
    t = Table(title=f"live cluster {c.state['run_id']} ({c.run_dir})")
    for col in ("cell", "member", "idc", "role", "state", "timeline", "lag", "patroni pid", "postmaster pid"):
        t.add_column(col)
    for m in members:
        t.add_row(str(m["cell"]), m["name"], m["idc"], str(m["role"]), str(m["state"]), str(m["timeline"]),
                  str(m["lag"]), str(m["patroni_pid"]), str(m["postmaster_pid"]))
    con = Console()
    con.print(t)
    s = Table(title="services")
    for col in ("service", "pid", "url / health"):
        s.add_column(col)
    s.add_row("gateway", str(c.gateway_pid), c.gateway_url)
    s.add_row("relay", str(c.relay_pid), c.relay_url)
    s.add_row("supervisor", str(c.supervisor_pid), "")
    for a in c.app_servers:
        s.add_row(a["name"], str(a["pid"]), a["url"])
    for e in c.etcd_members:
        s.add_row(e["name"], str(e["pid"]), f"{e['client_url']} healthy={e['healthy']}")
    con.print(s)
    return 0
