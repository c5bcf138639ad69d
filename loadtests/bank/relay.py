"""The relay (the bank's reliable message bus): delivers cross-cell credits exactly once.

A cross-cell transfer commits, in its source cell, the debit and an ``outbox`` row in one
transaction. The relay, for each source cell, repeatedly:

1. reads pending outbox rows (oldest first) from the source primary;
2. in the destination cell, in one transaction: locks the destination accounts (id order, the
   same order transfers use, so no deadlock), inserts each key into ``applied_transfers``
   (``ON CONFLICT DO NOTHING``) and credits only the keys that were new;
3. in the source cell, marks those outbox rows done and the transfers ``applied``.

A crash or failover between 2 and 3 makes the relay deliver again; step 2's unique key turns
that into a no-op, so each credit happens once. A destination account that does not exist (only
possible when a client bypasses the gateway's check) is refunded in the source cell and the
transfer marked ``rejected`` (reason ``unknown_destination``).

Run: ``HIVESIM_BANK_CONFIG=relay.json python -m loadtests.bank.relay`` with
``{"port", "cells": [dsn of cell 0, ...], "interval", "db_timeout", "statement_timeout", "batch"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time

from prometheus_client import Counter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from loadtests.bank.api import Metrics, require_admin, serve
from loadtests.bank.db import Pool, Unavailable, UnknownOutcome, run_tx

__all__ = ["Relay", "create_app", "main"]

log = logging.getLogger("hivesim.relay")

# How the delivery loop waits: while paused (an admin switch) it checks back every PAUSED_POLL s;
# after a database error it retries in RETRY_WAIT s (deliveries are idempotent, a failover takes
# seconds), after an unexpected error in ERROR_WAIT s (not spinning on a bug); while idle it
# polls the outbox IDLE_GROWTH times slower each empty round, up to IDLE_MAX_FACTOR x
# ``interval``, so an idle bank does not spend its cores on empty queries.
PAUSED_POLL = 0.1
RETRY_WAIT = 0.2
ERROR_WAIT = 0.5
IDLE_GROWTH = 1.5
IDLE_MAX_FACTOR = 5


class Relay:
    def __init__(self, dsns: list[str], *, interval: float = 0.05, db_timeout: float = 5.0, batch: int = 500,
                 metrics: Metrics | None = None, members: list[list[dict]] | None = None,
                 statement_timeout: float = 0.0):
        # two connections per cell: its own loop and the other cells' deliveries into it; a
        # round waits for one at most db_timeout, then fails and is retried (never piles up)
        self.pools = [Pool(d, size=2, op_timeout=db_timeout, members=(members[i] if members else None),
                           statement_timeout=statement_timeout) for i, d in enumerate(dsns)]
        self.interval = interval
        self.db_timeout = db_timeout
        self.batch = batch
        self.paused = False
        self.metrics = metrics or Metrics("relay")
        self.delivered = Counter("hivesim_relay_delivered", "credits applied in destination cells",
                                 ["src_cell", "dst_cell"], registry=self.metrics.registry)
        self.returned = Counter("hivesim_relay_returned", "transfers refunded (unknown destination)",
                                ["src_cell"], registry=self.metrics.registry)
        self.errors = Counter("hivesim_relay_errors", "delivery rounds that failed and will be retried",
                              ["cell", "kind"], registry=self.metrics.registry)
        self.last_round: dict[int, float] = {}
        self.tasks: list[asyncio.Task] = []

    def _end(self) -> float:
        return time.monotonic() + self.db_timeout

    async def drain_once(self, src: int) -> int:
        """One delivery round for source cell ``src``; returns how many rows it settled."""
        async def fetch(conn):
            cur = await conn.execute("SELECT key, src, dst_cell, dst, amount FROM outbox WHERE NOT done "
                                     "ORDER BY created LIMIT %s", (self.batch,))
            return await cur.fetchall(), False

        rows = await run_tx(self.pools[src], self._end(), fetch)
        if not rows:
            return 0
        by_dst: dict[int, list] = {}
        for r in rows:
            by_dst.setdefault(r[2], []).append(r)
        settled = 0
        for dst, items in by_dst.items():
            returned = await run_tx(self.pools[dst], self._end(), lambda conn: self._apply(conn, src, items))
            settled += await run_tx(self.pools[src], self._end(), lambda conn: self._settle(conn, items, returned))
            self.delivered.labels(str(src), str(dst)).inc(len(items) - len(returned))
        return settled

    @staticmethod
    async def _apply(conn, src: int, items: list):
        dsts = sorted({r[3] for r in items})
        cur = await conn.execute("SELECT id FROM accounts WHERE id = ANY(%s) ORDER BY id FOR UPDATE", (dsts,))
        existing = {r[0] for r in await cur.fetchall()}
        ok = [r for r in items if r[3] in existing]
        returned = {r[0] for r in items if r[3] not in existing}
        if ok:
            await conn.execute(
                "WITH ins AS (INSERT INTO applied_transfers (key, src_cell, src, dst, amount) "
                "  SELECT * FROM unnest(%s::text[], %s::int[], %s::text[], %s::text[], %s::bigint[]) "
                "  ON CONFLICT (key) DO NOTHING RETURNING dst, amount), "
                "agg AS (SELECT dst, sum(amount)::bigint AS s FROM ins GROUP BY dst) "
                "UPDATE accounts a SET balance = a.balance + agg.s FROM agg WHERE a.id = agg.dst",
                ([r[0] for r in ok], [src] * len(ok), [r[1] for r in ok], [r[3] for r in ok], [r[4] for r in ok]))
        return returned, True

    async def _settle(self, conn, items: list, returned: set):
        keys = [r[0] for r in items]
        cur = await conn.execute("UPDATE outbox SET done = true, done_at = clock_timestamp() "
                                 "WHERE key = ANY(%s) AND NOT done RETURNING key", (keys,))
        done = {r[0] for r in await cur.fetchall()}
        applied = [k for k in keys if k in done and k not in returned]
        if applied:
            await conn.execute("UPDATE transfers SET status = 'applied', updated = clock_timestamp() "
                               "WHERE key = ANY(%s)", (applied,))
        back = [r for r in items if r[0] in done and r[0] in returned]
        if back:  # refund the source: the destination account does not exist
            await conn.execute("UPDATE transfers SET status = 'rejected', reason = 'unknown_destination', "
                               "updated = clock_timestamp() WHERE key = ANY(%s)", ([r[0] for r in back],))
            for r in sorted(back, key=lambda r: r[1]):
                await conn.execute("UPDATE accounts SET balance = balance + %s WHERE id = %s", (r[4], r[1]))
            self.returned.labels(str(items[0][2])).inc(len(back))
        return len(done), True

    async def loop(self, src: int) -> None:
        idle = self.interval
        while True:
            if self.paused:
                await asyncio.sleep(PAUSED_POLL)
                continue
            try:
                n = await self.drain_once(src)
                self.last_round[src] = time.time()
            except (Unavailable, UnknownOutcome) as exc:
                # the delivery is simply retried; step 2 is idempotent
                self.errors.labels(str(src), type(exc).__name__).inc()
                log.warning("cell %d: %s", src, exc)
                await asyncio.sleep(RETRY_WAIT)
                continue
            except Exception as exc:  # never let one bad round stop the bus
                self.errors.labels(str(src), type(exc).__name__).inc()
                log.exception("cell %d: unexpected", src)
                await asyncio.sleep(ERROR_WAIT)
                continue
            # poll fast while there is traffic, back off (to 5x the interval) while idle, so an
            # idle bank does not spend its cores on empty outbox queries
            idle = self.interval if n else min(idle * IDLE_GROWTH, IDLE_MAX_FACTOR * self.interval)
            if n < self.batch:
                await asyncio.sleep(idle)

    def start(self) -> None:
        self.tasks = [asyncio.create_task(self.loop(i)) for i in range(len(self.pools))]

    async def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        for t in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        for p in self.pools:
            await p.close()


def create_app(cfg: dict) -> Starlette:
    metrics = Metrics("relay")
    relay = Relay(cfg["cells"], interval=cfg.get("interval", 0.05), db_timeout=cfg.get("db_timeout", 5.0),
                  batch=cfg.get("batch", 500), metrics=metrics, members=cfg.get("members"),
                  statement_timeout=cfg.get("statement_timeout", 0.0))

    async def health(request):
        return JSONResponse({"ok": True, "service": "relay", "paused": relay.paused, "pid": os.getpid(),
                             "last_round": {str(k): v for k, v in relay.last_round.items()},
                             "pools": [p.stats() for p in relay.pools]})

    async def metrics_ep(request):
        return metrics.response()

    async def admin(request: Request):
        denied = require_admin(request)
        if denied:
            return denied
        if request.url.path.endswith("/pause"):
            relay.paused = True
        elif request.url.path.endswith("/resume"):
            relay.paused = False
        return JSONResponse({"paused": relay.paused})

    @contextlib.asynccontextmanager
    async def lifespan(app):
        relay.start()
        yield
        await relay.stop()

    app = Starlette(routes=[Route("/health", health), Route("/metrics", metrics_ep),
                            Route("/admin/pause", admin, methods=["POST"]),
                            Route("/admin/resume", admin, methods=["POST"]),
                            Route("/admin/state", admin, methods=["GET"])], lifespan=lifespan)
    app.state.relay = relay
    return app


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return serve(create_app, "relay")


if __name__ == "__main__":
    raise SystemExit(main())
