"""Benchmark: transfers/s through the bank service vs raw psycopg on the same cell, same run.

Brings a live cluster up (scenarios/live-smoke.yaml by default), then runs, with the same number
of concurrent clients and the same transaction code (``loadtests.bank.db.transfer_tx``):

* **raw**: asyncio psycopg connections straight to cell 0's primary (no proxy, no HTTP), each
  committing same-cell transfers with synchronous replication to the standbys;
* **service**: HTTP clients posting the same kind of transfers to the gateway (gateway -> app
  server -> fault proxy -> primary).

Reports both rates, their ratio (target >= 0.5) and latency percentiles, as JSON. The client
load generator runs on the same 2 shared cores as the bank, so both figures are understated by
the same machine; compare them, not absolute numbers across machines.

Run: ``python benchmarks/bench_bank.py [--seconds 10] [--rounds 2] [--concurrency 16] [--out result.json]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp  # noqa: E402
import psycopg  # noqa: E402

from loadtests.bank.db import transfer_tx  # noqa: E402
from loadtests.bank.routing import account_id, cell_of  # noqa: E402
from loadtests.cluster import Cluster  # noqa: E402
from sim.cli.options import add_cluster_dir  # noqa: E402
from sim.scenario import load_scenario  # noqa: E402


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000 if xs else float("nan")


async def run_raw(dsn: str, accounts: list[str], seconds: float, conc: int) -> dict:
    lat: list[float] = []
    end = time.monotonic() + seconds

    async def worker(seed: int):
        rng = random.Random(seed)
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
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
    await asyncio.gather(*[worker(i) for i in range(conc)])
    wall = time.monotonic() - t0
    return {"transfers": len(lat), "seconds": round(wall, 2), "tps": round(len(lat) / wall, 1),
            "p50_ms": round(_pct(lat, .5), 2), "p99_ms": round(_pct(lat, .99), 2)}


async def run_service(url: str, accounts: list[str], seconds: float, conc: int) -> dict:
    lat: list[float] = []
    errors: dict[int, int] = {}
    end = time.monotonic() + seconds
    # aiohttp: the lightest well-kept async HTTP client here; the load generator shares the cores
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conc)) as client:
        async def worker(seed: int):
            rng = random.Random(seed)
            while time.monotonic() < end:
                a, b = rng.sample(accounts, 2)
                t0 = time.perf_counter()
                async with client.post(url + "/transfers", json={"key": uuid.uuid4().hex, "from": a, "to": b,
                                                                 "amount": 1}) as r:
                    await r.read()
                    status = r.status
                if status == 200:
                    lat.append(time.perf_counter() - t0)
                else:
                    errors[status] = errors.get(status, 0) + 1

        t0 = time.monotonic()
        await asyncio.gather(*[worker(1000 + i) for i in range(conc)])
        wall = time.monotonic() - t0
    return {"transfers": len(lat), "seconds": round(wall, 2), "tps": round(len(lat) / wall, 1),
            "p50_ms": round(_pct(lat, .5), 2), "p99_ms": round(_pct(lat, .99), 2), "errors": errors}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", default="scenarios/live-smoke.yaml")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=2, help="alternating raw/service rounds")
    # the cluster's directory has one name in every command (sim.cli.options); the old spelling warns
    add_cluster_dir(ap, "/tmp/hivesim-bench-bank", old="--run-dir")
    ap.add_argument("--out", help="also write the result JSON here")
    args = ap.parse_args(argv)
    sc = load_scenario(args.scenario, sets=["live.accounts=2000", f"live.pool_size={max(args.concurrency, 8)}"])
    c = Cluster(sc, args.cluster_dir or "/tmp/hivesim-bench-bank")
    bringup = c.up()
    try:
        accounts = [a for a in (account_id(i) for i in range(2000)) if cell_of(a, c.cells) == 0]
        # warm both paths (connections, caches) before measuring
        asyncio.run(run_raw(c.app_dsn(0, via_proxy=False), accounts, 1.0, args.concurrency))
        asyncio.run(run_service(c.gateway_url, accounts, 1.0, args.concurrency))
        raws, svcs = [], []
        dsn = c.app_dsn(0, via_proxy=False)
        # alternate the two so a neighbour's load burst on the shared machine hits both alike
        for r in range(args.rounds):
            first, second = (run_raw, run_service) if r % 2 == 0 else (run_service, run_raw)
            for fn in (first, second):
                target = dsn if fn is run_raw else c.gateway_url
                (raws if fn is run_raw else svcs).append(
                    asyncio.run(fn(target, accounts, args.seconds, args.concurrency)))
    finally:
        c.down()
    raw_tps = sum(r["transfers"] for r in raws) / sum(r["seconds"] for r in raws)
    svc_tps = sum(r["transfers"] for r in svcs) / sum(r["seconds"] for r in svcs)
    result = {"bench": "bank_service_vs_raw", "concurrency": args.concurrency, "seconds": args.seconds,
              "rounds": args.rounds, "bringup_seconds": bringup, "raw": raws, "service": svcs,
              "raw_tps": round(raw_tps, 1), "service_tps": round(svc_tps, 1),
              "ratio": round(svc_tps / raw_tps, 3) if raw_tps else None, "target_ratio": 0.5}
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
