"""Benchmark: transfers/s through the bank service vs raw psycopg on the same cell, same run.

Brings a live cluster up (scenarios/live-smoke.yaml by default), then runs, with the same number
of concurrent clients and the same transaction code (``loadtests.bank.transfers.transfer_tx``):

* **raw**: asyncio psycopg connections straight to cell 0's primary (no proxy, no HTTP), each
  committing same-cell transfers with synchronous replication to the standbys;
* **service**: HTTP clients posting the same kind of transfers to the gateway (gateway -> app
  server -> primary).

What is measured is the service tier (gateway + app server + pool), so by default the cluster is
brought up without the chaos harness's fault proxies (``Cluster(..., fault_proxies=False)``): a
fault proxy is a process of its own on every database round trip, there to inject network faults,
which this benchmark never does, and the raw path never crossed it. ``--fault-proxy`` measures the
bank as ``hivesim live`` deploys it, every database round trip of the service through its member's
fault proxy (``fault_proxy`` in the result says which ran; the proxies' CPU is its own part).

The service path's load client is measurement harness, not service tier, and it shares the cores
with the bank: by default it is the gateway's own keep-alive HTTP/1.1 client
(``loadtests.bank.upstream.Upstream``: one write per request, httptools parsing), about half the
CPU per transfer of aiohttp's general client; ``--client aiohttp`` measures with aiohttp as before
(``client`` in the result says which). Either way the client's CPU is reported as its own part.

Reports both rates, their ratio (target >= 0.75, ``TARGET_RATIO``), latency percentiles (per
round, and pooled over the rounds) and the machine's load averages before and after, as JSON.
The verdict comes from the rounds, not from the pooled ratio alone: run to run, the pooled ratio
of the same code swings by several hundredths on this shared machine (0.67-0.74), as wide as the
distance to the target. Each round's two paths ran back to back, so each round gives one paired
ratio; ``ratio_ci95`` is a Student-t interval for their mean (``ratio_interval``), and
``verdict`` is "met" when the whole interval is at or above the target, "not met" when it is all
below, "inconclusive" otherwise (``pass`` is true only for "met"). One round gives no interval:
no verdict ("one round"). The
client load generator runs on the same shared cores as the bank, so both figures are understated
by the same machine; the rounds alternate so a neighbour's burst hits both alike. Compare the two,
not absolute numbers across machines.

Where the time goes: each path also reports the CPU milliseconds one transfer costs, by part
(``raw_cpu_ms_per_transfer``, ``service_cpu_ms_per_transfer``: load generator, gateway, app
server, fault proxies, database members, etcd; from /proc, ``loadtests.analysis.cpu``). On a
machine whose cores are busy the ratio follows the ratio of these totals (issue 17 item 4).

Run: ``python benchmarks/bench_bank.py [--seconds 10] [--rounds 2] [--concurrency 16] [--client lean|aiohttp]
[--fault-proxy] [--out result.json]``;
``hivesim bench --bank`` runs ``measure`` (``skip_reason`` says why it cannot run here).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
import psycopg  # noqa: E402

from loadtests.bank.transfers import transfer_tx  # noqa: E402
from loadtests.bank.upstream import Upstream  # noqa: E402
from loadtests.bank.routing import account_id, cell_of  # noqa: E402
from loadtests.cluster import Cluster  # noqa: E402
from loadtests.cluster.procs import read_postmaster_pid  # noqa: E402
from sim.cli.options import add_cluster_dir  # noqa: E402
from sim.scenario import load_scenario  # noqa: E402

__all__ = ["measure", "skip_reason", "run_raw", "run_service", "TARGET_RATIO", "CLIENTS", "main",
           "round_ratios", "ratio_interval", "verdict"]

# issue 17 item 4: the service tier keeps at least this share of raw psycopg's transfer rate
TARGET_RATIO = 0.75
# the verdict's interval over the rounds' paired ratios: two-sided, this level
CI_LEVEL = 0.95
# the service path's HTTP load clients (the first is the default; see the module docstring)
CLIENTS = ("lean", "aiohttp")
# a request's bound in the lean client (aiohttp's default total timeout is 300 s; the gateway
# answers every request within its deadline, seconds)
CLIENT_TIMEOUT = 60.0


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000 if xs else float("nan")


async def run_raw(dsn: str, accounts: list[str], seconds: float, conc: int, cpu=None) -> dict:
    lat: list[float] = []
    end = time.monotonic() + seconds
    conns: list[psycopg.AsyncConnection] = []

    async def worker(seed: int):
        rng = random.Random(seed)
        conn = await psycopg.AsyncConnection.connect(dsn)
        conns.append(conn)
        while time.monotonic() < end:
            a, b = rng.sample(accounts, 2)
            t0 = time.perf_counter()
            r, commit = await transfer_tx(conn, uuid.uuid4().hex, a, b, 1, None)
            if commit:
                await conn.commit()
            else:
                await conn.rollback()
            if r.outcome == "applied":
                lat.append(time.perf_counter() - t0)

    t0 = time.monotonic()
    before = cpu() if cpu else None
    try:
        await asyncio.gather(*[worker(i) for i in range(conc)])
        wall = time.monotonic() - t0
        # read CPU before closing: a closed connection's backend exits and takes its CPU time along
        used = _cpu_delta(before, cpu()) if cpu else None
    finally:
        for conn in conns:
            await conn.close()
    return _result(lat, wall, used)


def _result(lat: list[float], wall: float, used: dict | None, **extra) -> dict:
    out = {"transfers": len(lat), "seconds": round(wall, 2), "tps": round(len(lat) / wall, 1),
           "p50_ms": round(_pct(lat, .5), 2), "p99_ms": round(_pct(lat, .99), 2), **extra, "_lat": lat}
    if used is not None:
        out["_cpu"] = used
    return out


async def run_service(url: str, accounts: list[str], seconds: float, conc: int, cpu=None,
                      client: str = CLIENTS[0]) -> dict:
    lat: list[float] = []
    errors: dict[int, int] = {}
    end = time.monotonic() + seconds
    post = _lean_post if client == "lean" else _aiohttp_post
    async with post(url, conc) as send:
        async def worker(seed: int):
            rng = random.Random(seed)
            while time.monotonic() < end:
                a, b = rng.sample(accounts, 2)
                t0 = time.perf_counter()
                status = await send({"key": uuid.uuid4().hex, "from": a, "to": b, "amount": 1})
                if status == 200:
                    lat.append(time.perf_counter() - t0)
                else:
                    errors[status] = errors.get(status, 0) + 1

        t0 = time.monotonic()
        before = cpu() if cpu else None
        await asyncio.gather(*[worker(1000 + i) for i in range(conc)])
        wall = time.monotonic() - t0
        used = _cpu_delta(before, cpu()) if cpu else None
    return _result(lat, wall, used, errors=errors, client=client)


@contextlib.asynccontextmanager
async def _lean_post(url: str, conc: int):
    """-> ``send(transfer dict) -> status``: POST /transfers on keep-alive connections of the
    gateway's own HTTP client (``Upstream``; a connection lost raises, as aiohttp's would)."""
    up = Upstream(limit=conc)
    headers = {"content-type": "application/json"}

    async def send(transfer: dict) -> int:
        status, _ = await up.request("POST", url, "/transfers", body=json.dumps(transfer).encode(),
                                     headers=headers, timeout=CLIENT_TIMEOUT)
        return status
    try:
        yield send
    finally:
        await up.close()


@contextlib.asynccontextmanager
async def _aiohttp_post(url: str, conc: int):
    """``_lean_post`` with aiohttp (the general well-kept client; ``--client aiohttp``)."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conc)) as session:
        async def send(transfer: dict) -> int:
            async with session.post(url + "/transfers", json=transfer) as r:
                await r.read()
                return r.status
        yield send


def _cpu_groups(c: Cluster) -> dict[str, list[int]]:
    """The processes whose CPU a transfer costs, by part (each with its descendants): gateway,
    cell 0's app servers, the fault proxies, the database members (Patroni, PostgreSQL and its
    backends and walsenders) and etcd. (The load generator is this process: ``_cpu_reader``.)"""
    members = c.state.get("members", [])
    # Patroni detaches its postmaster (not a descendant of Patroni's PID): read postmaster.pid
    db = [m["pid"] for m in members] + [read_postmaster_pid(Path(m["member_dir"]) / "data") for m in members]
    return {"gateway": [c.gateway_pid],
            "app": [a["pid"] for a in c.app_servers if a["cell"] == 0],
            "proxy": [m.get("proxy_pid") for m in members], "database": db,
            "etcd": [e["pid"] for e in c.state.get("etcd", [])]}


def _cpu_reader(c: Cluster):
    """-> a function reading CPU seconds per part now (``_cpu_groups``), for ``run_raw``/``run_service``."""
    from loadtests.analysis.cpu import process_cpu_seconds
    groups = _cpu_groups(c)

    def read() -> dict:
        t = os.times()  # the load generator: this process alone (the cluster's processes are its descendants)
        return {"client": t.user + t.system, **{k: process_cpu_seconds([p for p in pids if p])
                                                for k, pids in groups.items()}}
    return read


def _cpu_delta(before: dict, after: dict) -> dict:
    return {k: max(0.0, after[k] - before[k]) for k in before}


def skip_reason() -> str | None:
    """Why the bank cannot be measured on this machine (None: it can)."""
    from loadtests.cluster import check_prerequisites
    missing = check_prerequisites()
    return "live stack missing: " + "; ".join(missing) if missing else None


def round_ratios(raws: list[dict], svcs: list[dict]) -> list[float]:
    """Service / raw transfers per second of each round. A round's two paths ran back to back
    (the rounds alternate which goes first), so a slow spell of the shared machine hits both."""
    return [round(s["tps"] / r["tps"], 4) for r, s in zip(raws, svcs) if r["tps"] > 0]


def ratio_interval(ratios: list[float], level: float = CI_LEVEL) -> tuple[float, float] | None:
    """Student-t interval for the mean of the rounds' paired ratios (``sim.metrics.intervals.
    t_interval``, rounded to 4 places); None below 2 rounds.

    Assumes the rounds' ratios independent and near normal around the service tier's true ratio
    (pairing takes out what a slow spell does to both paths alike). With 3 rounds t is 4.30: the
    interval is as wide as three rounds leave it. Under those assumptions each one-sided verdict
    ("met", "not met") is wrong with probability at most (1 - level) / 2 = 2.5 %."""
    from sim.metrics.intervals import t_interval
    _, lo, hi = t_interval(ratios, level)
    return None if lo is None else (round(lo, 4), round(hi, 4))


def verdict(ci: tuple[float, float] | None, target: float = TARGET_RATIO) -> str:
    """"met" (the interval at or above ``target``), "not met" (all below), "inconclusive", or
    "one round" (no interval: no verdict)."""
    if ci is None:
        return "one round"
    return "met" if ci[0] >= target else "not met" if ci[1] < target else "inconclusive"


def _pooled(rounds: list[dict]) -> dict:
    """Rate over all rounds (transfers / seconds) and percentiles of every latency pooled; CPU
    milliseconds per transfer by part (``_cpu_groups``), summed over the rounds."""
    lat = [x for r in rounds for x in r.pop("_lat")]
    secs = sum(r["seconds"] for r in rounds)
    out = {"tps": round(len(lat) / secs, 1) if secs else 0.0, "p50_ms": round(_pct(lat, .5), 2),
           "p99_ms": round(_pct(lat, .99), 2)}
    cpus = [r.pop("_cpu") for r in rounds if "_cpu" in r]
    n = sum(r["transfers"] for r in rounds)
    if cpus and n:
        per = {k: round(sum(x[k] for x in cpus) / n * 1000, 3) for k in cpus[0]}
        out["cpu_ms"] = {**per, "total": round(sum(per.values()), 3)}
    return out


def measure(scenario: str = str(REPO / "scenarios" / "live-smoke.yaml"), seconds: float = 10.0, rounds: int = 2,
            concurrency: int = 16, cluster_dir: str = "/tmp/hivesim-bench-bank", progress=None,
            client: str = CLIENTS[0], fault_proxy: bool = False) -> dict:
    """Bring a cluster up (with fault proxies on the service's database path only if
    ``fault_proxy``), time raw and service transfers in alternating rounds, bring it down.

    -> the result dict (``ratio``: service / raw transfers per second; ``pass``: ratio >= target)."""
    say = progress or (lambda m: None)
    sc = load_scenario(scenario, sets=["live.accounts=2000", f"live.pool_size={max(concurrency, 8)}"])
    c = Cluster(sc, cluster_dir, fault_proxies=fault_proxy)
    load_before = os.getloadavg()
    say("bank: bringing the live cluster up")
    bringup = c.up()
    try:
        accounts = [a for a in (account_id(i) for i in range(2000)) if cell_of(a, c.cells) == 0]
        dsn = c.app_dsn(0, via_proxy=False)
        # warm both paths (connections, caches, prepared statements) before measuring
        asyncio.run(run_raw(dsn, accounts, 1.0, concurrency))
        asyncio.run(run_service(c.gateway_url, accounts, 1.0, concurrency, client=client))
        cpu = _cpu_reader(c)
        raws, svcs = [], []
        # alternate the two so a neighbour's load burst on the shared machine hits both alike
        for r in range(rounds):
            first, second = (run_raw, run_service) if r % 2 == 0 else (run_service, run_raw)
            for fn in (first, second):
                say(f"bank: round {r + 1}/{rounds}, {'raw' if fn is run_raw else 'service'}")
                if fn is run_raw:
                    raws.append(asyncio.run(run_raw(dsn, accounts, seconds, concurrency, cpu)))
                else:
                    svcs.append(asyncio.run(run_service(c.gateway_url, accounts, seconds, concurrency, cpu, client)))
    finally:
        c.down()
    per_round = round_ratios(raws, svcs)
    ci = ratio_interval(per_round)
    said = verdict(ci)
    raw, svc = _pooled(raws), _pooled(svcs)
    ratio = round(svc["tps"] / raw["tps"], 3) if raw["tps"] else None
    return {"bench": "bank_service_vs_raw", "concurrency": concurrency, "seconds": seconds, "rounds": rounds,
            "client": client, "fault_proxy": fault_proxy,
            "bringup_seconds": bringup, "raw": raws, "service": svcs, "raw_tps": raw["tps"],
            "service_tps": svc["tps"], "raw_p50_ms": raw["p50_ms"], "raw_p99_ms": raw["p99_ms"],
            "service_p50_ms": svc["p50_ms"], "service_p99_ms": svc["p99_ms"], "ratio": ratio,
            "raw_cpu_ms_per_transfer": raw.get("cpu_ms"), "service_cpu_ms_per_transfer": svc.get("cpu_ms"),
            "ratio_rounds": per_round, "ratio_ci95": list(ci) if ci else None, "verdict": said,
            "target_ratio": TARGET_RATIO, "pass": said == "met" if ci else None,
            "machine": {"cpus": os.cpu_count(), "loadavg_before": [round(x, 2) for x in load_before],
                        "loadavg_after": [round(x, 2) for x in os.getloadavg()]}}


def main(argv: list[str] | None = None) -> int:
    from sim.errors import HivesimError
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", default=str(REPO / "scenarios" / "live-smoke.yaml"))
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=2,
                    help="alternating raw/service rounds (2 or more give the verdict's interval)")
    ap.add_argument("--client", choices=CLIENTS, default=CLIENTS[0],
                    help="the service path's HTTP load client (lean: the gateway's own keep-alive client)")
    ap.add_argument("--fault-proxy", action="store_true",
                    help="route the service's database round trips through the chaos fault proxies, as "
                         "'hivesim live' deploys the bank (default: the service tier alone)")
    # the cluster's directory has one name in every command (sim.cli.options); the old spelling warns
    add_cluster_dir(ap, "/tmp/hivesim-bench-bank", old="--run-dir")
    ap.add_argument("--out", help="also write the result JSON here")
    args = ap.parse_args(argv)
    try:
        # checked before minutes of cluster work, as the hivesim commands check theirs (the
        # scenario is the first thing ``measure`` reads)
        for name in ("rounds", "concurrency"):
            if getattr(args, name) < 1:
                raise HivesimError(f"--{name}: expected an integer >= 1, got {getattr(args, name)}")
        if not (math.isfinite(args.seconds) and args.seconds > 0):
            raise HivesimError(f"--seconds: expected a number of seconds > 0, got {args.seconds}")
        if args.out and not Path(args.out).resolve().parent.is_dir():
            raise HivesimError(f"--out {args.out}: its directory does not exist")
        result = measure(args.scenario, args.seconds, args.rounds, args.concurrency,
                         args.cluster_dir or "/tmp/hivesim-bench-bank", client=args.client,
                         fault_proxy=args.fault_proxy)
    except HivesimError as exc:
        print(f"bench_bank: error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
