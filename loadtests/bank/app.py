"""One cell's app server: the bank's HTTP API over that cell's PostgreSQL primary.

It owns the accounts hashed to its cell (``routing.cell_of``) and refuses others (422
``wrong_cell``), so a misrouted request can never create money in the wrong place. Every
database call goes through ``db.run_tx``: retried on the new primary after a failover until the
request's deadline (header ``X-Hivesim-Deadline``, seconds, set by the gateway; else the
configured default), 503 ``unavailable`` if no primary answered, 504 ``unknown_outcome`` if the
connection broke during COMMIT.

Run: ``HIVESIM_BANK_CONFIG=app.json python -m loadtests.bank.app`` where the JSON has
``cell, cells, port, dsn, pool_size, db_timeout, statement_timeout, deadline, name`` and ``members`` (the cell's
database members: ``name``, proxy ``port``, Patroni ``rest`` URL; see ``leader.LeaderFinder``).
"""

from __future__ import annotations

import functools
import math
import os
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from loadtests.bank.api import (ERROR_HANDLERS, AccountsIn, BadRequest, BankApp, Faults, KeysIn, Metrics,
                                TransferIn, endpoint, error, read_json, serve)
from loadtests.bank.db import Pool, Unavailable, UnknownOutcome, run_tx
from loadtests.bank.transfers import transfer_tx
from loadtests.bank.openapi import openapi_response
from loadtests.bank.routing import ACCOUNT_RE, KEY_RE, cell_of

__all__ = ["create_app", "main"]

MAX_LIST = 1000


def _db_error(exc: Exception):
    if isinstance(exc, Unavailable):
        return error(503, "unavailable", str(exc)[:200], retry=True)
    return error(504, "unknown_outcome", str(exc)[:200])


def _count_failovers(st) -> None:
    new = st.pool.failovers_seen - st.failovers_reported
    if new > 0:
        st.metrics.failovers.labels("app").inc(new)
        st.failovers_reported += new


# database trouble -> 503 (nothing committed) or 504 (outcome unknown); failovers counted
_endpoint = functools.partial(endpoint, errors=(Unavailable, UnknownOutcome), on_error=_db_error,
                              after=_count_failovers)


# the least time a request is given, even when the gateway's remaining deadline is (nearly) spent
MIN_REQUEST_SECONDS = 0.05
# the health check's database probe (SELECT pg_is_in_recovery()) gives up after this long
HEALTH_DB_SECONDS = 3.0


def _deadline(request: Request) -> float:
    """The request's end: ``X-Hivesim-Deadline`` seconds from now, at most the configured deadline.

    A header that is not a finite number counts as absent: "nan" used to pass (every comparison
    with NaN is false, so min/max kept it) and the request failed with a bare 500."""
    default = request.app.state.cfg["deadline"]
    raw = request.headers.get("x-hivesim-deadline")
    try:
        d = float(raw) if raw else default
    except ValueError:
        d = default
    if not math.isfinite(d):
        d = default
    return time.monotonic() + max(min(d, default), MIN_REQUEST_SECONDS)


def _check_id(account: str) -> None:
    if not ACCOUNT_RE.match(account):
        raise BadRequest(422, "invalid", "account id: expected [A-Za-z0-9_-]{1,64}")


def _transfer_ok(key: str, status: str, cross_cell: bool) -> Response:
    """``JSONResponse({"key": key, "status": status, "cross_cell": cross_cell})`` byte for byte
    (same body, same headers), without the general encoder on every transfer: the key matches
    [A-Za-z0-9_-] and the status is a fixed word, so there is nothing to escape."""
    body = f'{{"key":"{key}","status":"{status}","cross_cell":{"true" if cross_cell else "false"}}}'
    return Response(body.encode(), media_type=JSONResponse.media_type)


def _tagged(resp: Response, outcome: str) -> Response:
    resp.outcome = outcome
    return resp


# ---------------------------------------------------------------------- handlers
@_endpoint("create_accounts")
async def create_accounts(request: Request):
    st = request.app.state
    body = await read_json(request, AccountsIn)
    wrong = [a.id for a in body.accounts if cell_of(a.id, st.cfg["cells"]) != st.cfg["cell"]]
    if wrong:
        raise BadRequest(422, "wrong_cell", f"{len(wrong)} account(s) belong to other cells, e.g. {wrong[0]}")
    ids = [a.id for a in body.accounts]
    bals = [a.balance for a in body.accounts]

    async def tx(conn):
        cur = await conn.execute("SELECT id FROM accounts WHERE id = ANY(%s) LIMIT 100", (ids,))
        existing = [r[0] for r in await cur.fetchall()]
        if existing:
            return existing, False
        await conn.execute("INSERT INTO accounts (id, balance) SELECT * FROM unnest(%s::text[], %s::bigint[])",
                           (ids, bals))
        return [], True

    existing = await run_tx(st.pool, _deadline(request), tx)
    if existing:
        return error(409, "exists", "some accounts already exist; nothing was created", ids=existing)
    return JSONResponse({"created": len(ids), "cell": st.cfg["cell"]}, status_code=201)


@_endpoint("get_account")
async def get_account(request: Request):
    st = request.app.state
    account = request.path_params["id"]
    _check_id(account)

    async def tx(conn):
        cur = await conn.execute("SELECT balance FROM accounts WHERE id = %s", (account,))
        return await cur.fetchone(), False

    row = await run_tx(st.pool, _deadline(request), tx)
    if row is None:
        return error(404, "unknown_account", accounts=[account])
    return JSONResponse({"id": account, "balance": row[0], "cell": st.cfg["cell"]})


@_endpoint("transfer")
async def transfer(request: Request):
    st = request.app.state
    t = await read_json(request, TransferIn)
    cells = st.cfg["cells"]
    if cell_of(t.from_, cells) != st.cfg["cell"]:
        raise BadRequest(422, "wrong_cell", f"account {t.from_} belongs to cell {cell_of(t.from_, cells)}")
    dst = cell_of(t.to, cells)
    dst_cell = None if dst == st.cfg["cell"] else dst

    async def tx(conn):
        return await transfer_tx(conn, t.key, t.from_, t.to, t.amount, dst_cell)

    r = await run_tx(st.pool, _deadline(request), tx)
    if r.outcome in ("applied", "pending"):
        return _tagged(_transfer_ok(r.key, r.outcome, r.cross_cell), r.outcome)
    if r.outcome == "rejected":
        return _tagged(error(422, "insufficient_funds", key=r.key, status="rejected"), "rejected")
    if r.outcome == "unknown_account":
        return error(404, "unknown_account", accounts=r.missing)
    return error(409, "key_conflict", "this key was used for a different transfer", key=r.key)


def _transfer_row(row) -> dict:
    key, src, dst, amount, status, dst_cell, reason = row
    out = {"key": key, "status": status, "from": src, "to": dst, "amount": amount,
           "cross_cell": dst_cell is not None}
    if reason:
        out["reason"] = reason
    return out


@_endpoint("get_transfer")
async def get_transfer(request: Request):
    st = request.app.state
    key = request.path_params["key"]
    if not KEY_RE.match(key):
        raise BadRequest(422, "invalid", "key: expected [A-Za-z0-9_-]{8,128}")

    async def tx(conn):
        cur = await conn.execute("SELECT key, src, dst, amount, status, dst_cell, reason FROM transfers "
                                 "WHERE key = %s", (key,))
        return await cur.fetchone(), False

    row = await run_tx(st.pool, _deadline(request), tx)
    if row is None:
        return error(404, "unknown_transfer", "no transfer with this key was committed in this cell", key=key)
    return JSONResponse({**_transfer_row(row), "cell": st.cfg["cell"]})


@_endpoint("account_transfers")
async def account_transfers(request: Request):
    st = request.app.state
    account = request.path_params["id"]
    _check_id(account)

    async def tx(conn):
        cur = await conn.execute("SELECT 1 FROM accounts WHERE id = %s", (account,))
        if await cur.fetchone() is None:
            return None, False
        cur = await conn.execute(
            "SELECT key, src, dst, amount, status, dst_cell, reason FROM transfers WHERE src = %(a)s OR dst = %(a)s "
            "UNION ALL SELECT key, src, dst, amount, 'applied', %(c)s, NULL FROM applied_transfers WHERE dst = %(a)s "
            "LIMIT %(n)s", {"a": account, "c": st.cfg["cell"], "n": MAX_LIST})
        return await cur.fetchall(), False

    rows = await run_tx(st.pool, _deadline(request), tx)
    if rows is None:
        return error(404, "unknown_account", accounts=[account])
    return JSONResponse({"id": account, "transfers": [_transfer_row(r) for r in rows], "limit": MAX_LIST})


@_endpoint("audit")
async def audit(request: Request):
    """This cell's money, read in one snapshot: balances, pending outbox rows."""
    st = request.app.state

    async def tx(conn):
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cur = await conn.execute("SELECT coalesce(sum(balance), 0)::bigint, count(*) FROM accounts")
        total, n = await cur.fetchone()
        cur = await conn.execute("SELECT key, dst_cell, amount FROM outbox WHERE NOT done ORDER BY created")
        pending = [{"key": k, "dst_cell": c, "amount": a} for k, c, a in await cur.fetchall()]
        cur = await conn.execute("SELECT count(*) FROM applied_transfers")
        (applied,) = await cur.fetchone()
        return {"cell": st.cfg["cell"], "total": total, "accounts": n,
                "outbox_pending": sum(p["amount"] for p in pending), "pending": pending,
                "credits_applied": applied}, False

    return JSONResponse(await run_tx(st.pool, _deadline(request), tx))


@_endpoint("applied")
async def applied(request: Request):
    """``POST /internal/applied {"keys": [...]}`` -> which of them this cell has credited."""
    st = request.app.state
    body = await read_json(request, KeysIn)

    async def tx(conn):
        cur = await conn.execute("SELECT key FROM applied_transfers WHERE key = ANY(%s)", (body.keys,))
        return [r[0] for r in await cur.fetchall()], False

    return JSONResponse({"applied": await run_tx(st.pool, _deadline(request), tx)})


async def health(request: Request):
    st = request.app.state
    out = {"ok": True, "service": "app", "name": st.cfg["name"], "cell": st.cfg["cell"],
           "primary_port": st.pool.primary_port, "failovers_seen": st.pool.failovers_seen, "pid": os.getpid(),
           "pool": st.pool.stats()}
    if request.query_params.get("db"):
        async def tx(conn):
            cur = await conn.execute("SELECT pg_is_in_recovery()")
            return (await cur.fetchone())[0], False
        try:
            in_recovery = await run_tx(st.pool, time.monotonic() + HEALTH_DB_SECONDS, tx)
            out["db"] = "standby" if in_recovery else "primary"
            out["primary_port"] = st.pool.primary_port
        except (Unavailable, UnknownOutcome) as exc:
            return JSONResponse({**out, "ok": False, "db": str(exc)[:200]}, status_code=503)
    return JSONResponse(out)


async def metrics(request: Request):
    return request.app.state.metrics.response()


async def fault(request: Request):
    return await request.app.state.faults.admin(request)


def create_app(cfg: dict) -> BankApp:
    routes = [
        Route("/accounts", create_accounts, methods=["POST"]),
        Route("/accounts/{id}", get_account, methods=["GET"]),
        Route("/accounts/{id}/transfers", account_transfers, methods=["GET"]),
        Route("/transfers", transfer, methods=["POST"]),
        Route("/transfers/{key}", get_transfer, methods=["GET"]),
        Route("/audit", audit, methods=["GET"]),
        Route("/internal/applied", applied, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi_response, methods=["GET"]),
        Route("/admin/fault", fault, methods=["GET", "POST"]),
        Route("/admin/heal", fault, methods=["POST"]),
    ]
    app = BankApp(routes=routes, exception_handlers=ERROR_HANDLERS,
                  fast={("POST", "/transfers"): transfer})
    app.state.cfg = cfg
    app.state.pool = Pool(cfg["dsn"], size=cfg.get("pool_size", 8), op_timeout=cfg.get("db_timeout", 5.0),
                          members=cfg.get("members"), statement_timeout=cfg.get("statement_timeout", 0.0))
    app.state.metrics = Metrics("app")
    app.state.faults = Faults()
    app.state.failovers_reported = 0
    return app


def main() -> int:
    return serve(create_app, "app")


if __name__ == "__main__":
    raise SystemExit(main())
