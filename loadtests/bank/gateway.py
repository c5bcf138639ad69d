"""The gateway (the GNS): one public entry that routes each account to its cell.

Same API as a cell's app server. It validates input at the edge (bad input never reaches a
cell), routes by ``routing.cell_of``, spreads a cell's requests over its app servers, and rides
out failovers: a request that could not reach a working primary is retried (another app server,
the same idempotency key) until ``deadline`` seconds have passed.

Outcomes it must keep apart (docs/live-api.md):
* the deadline passed and no attempt could have committed -> 503 ``unavailable``;
* some attempt may have committed (connection lost after sending a transfer, or a cell said
  504) and no later attempt settled it -> 504 ``unknown_outcome``, never "failed". Retrying a
  transfer with the same key is always safe: the cell answers with the original outcome.

Cross-cell transfers: the destination account is checked first (accounts are never deleted, so
a positive answer is cached), then the source cell debits and writes its outbox row.

Run: ``HIVESIM_BANK_CONFIG=gateway.json python -m loadtests.bank.gateway`` with
``{"port", "cells": [[app urls of cell 0], ...], "deadline", "backoff", "max_backoff", "name"}``;
the cluster writes them from the scenario (``live.gateway_deadline``, ``live.retry.gateway_backoff``
and ``gateway_max_backoff``); a missing key takes the setting's default (``sim.scenario.live``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from loadtests.bank.api import (ERROR_HANDLERS, AccountsIn, BadRequest, BankApp, Faults, Metrics, TransferIn,
                                endpoint, error, read_json, require_admin, serve)
from loadtests.bank.openapi import openapi_response
from loadtests.bank.routing import ACCOUNT_RE, KEY_RE, cell_of
from loadtests.bank.upstream import Lost, NotSent, Upstream
from sim.scenario.live import Live, LiveRetry

__all__ = ["create_app", "Router", "main"]

# accounts remembered to exist (never deleted, so a hit needs no lookup); bounded so a flood of
# distinct ids cannot grow the gateway without limit (~100 MB at this size)
KNOWN_CACHE_MAX = 2_000_000
# connections to the app servers: more than Locust's users ever hold, reused for 15 s when idle
# (the app servers' uvicorn closes idle ones after 30 s: we stop reusing them well before)
CONNECTION_LIMIT = 512
KEEPALIVE_SECONDS = 15
# an attempt needs at least this much of the deadline left to be worth sending
MIN_ATTEMPT_SECONDS = 0.01
# connecting to a local app server takes milliseconds: longer means it is down, try another
CONNECT_TIMEOUT = 1.0
# an app server stops at the deadline it was sent (x-hivesim-deadline); its answer may take this
# much longer to arrive, and is still worth more than a 504
ANSWER_GRACE = 1.0


class Router:
    """Forwards requests to a cell's app servers with retries inside a deadline."""

    def __init__(self, cells: list[list[str]], deadline: float, metrics: Metrics,
                 backoff: float | None = None, max_backoff: float | None = None):
        self.cells = cells
        self.deadline = deadline
        # the wait between retries starts at backoff and doubles up to max_backoff (live.retry)
        self.backoff = LiveRetry().gateway_backoff if backoff is None else float(backoff)
        self.max_backoff = LiveRetry().gateway_max_backoff if max_backoff is None else float(max_backoff)
        self.metrics = metrics
        self.rr = [0] * len(cells)
        self._upstream: Upstream | None = None
        self.known: set[str] = set()  # accounts seen to exist (never deleted)

    @property
    def upstream(self) -> Upstream:
        # made on first use, inside the serving event loop (its connections belong to that loop)
        if self._upstream is None:
            self._upstream = Upstream(CONNECTION_LIMIT, KEEPALIVE_SECONDS, CONNECT_TIMEOUT)
        return self._upstream

    async def close(self) -> None:
        if self._upstream is not None:
            await self._upstream.close()

    def cell(self, account: str) -> int:
        return cell_of(account, len(self.cells))

    async def forward(self, cell: int, method: str, path: str, *, body: bytes | None = None,
                      params: dict | None = None, write: bool = False, end: float | None = None):
        """-> (status, content bytes). Retries 503s and unreachable app servers until ``end``."""
        end = end or (time.monotonic() + self.deadline)
        servers = self.cells[cell]
        unknown = False
        backoff = self.backoff
        detail = "deadline passed"
        while True:
            remaining = end - time.monotonic()
            if remaining <= MIN_ATTEMPT_SECONDS:
                break
            i = self.rr[cell] = (self.rr[cell] + 1) % len(servers)
            headers = {"x-hivesim-deadline": f"{remaining:.3f}", "content-type": "application/json"}
            try:
                status, content = await self.upstream.request(
                    method, servers[i], path, body=body, params=params, headers=headers,
                    timeout=remaining + ANSWER_GRACE, connect_timeout=min(CONNECT_TIMEOUT, remaining))
            except NotSent as exc:  # never sent
                detail = f"cell {cell} app server unreachable: {exc}"
                self.metrics.retries.labels("gateway", "connect").inc()
            except Lost as exc:  # sent (maybe partly), answer lost
                detail = f"cell {cell} connection lost: {exc}"
                if write:
                    unknown = True
                self.metrics.retries.labels("gateway", "lost").inc()
            else:
                if status == 503:
                    detail = f"cell {cell}: " + _detail(content)
                    self.metrics.retries.labels("gateway", "unavailable").inc()
                elif status == 504:
                    detail = f"cell {cell}: " + _detail(content)
                    unknown = unknown or write
                    self.metrics.retries.labels("gateway", "unknown").inc()
                else:
                    return status, content
            await asyncio.sleep(min(backoff, max(end - time.monotonic(), 0)))
            backoff = min(backoff * 2, self.max_backoff)
        if unknown:
            return 504, json.dumps({"error": "unknown_outcome", "detail": detail}).encode()
        return 503, json.dumps({"error": "unavailable", "retry": True, "detail": detail}).encode()

    async def exists(self, account: str, end: float) -> int:
        """200 if the account exists, 404 if not, else the failing status."""
        if account in self.known:
            return 200
        status, _ = await self.forward(self.cell(account), "GET", f"/accounts/{account}", end=end)
        if status == 200:
            if len(self.known) > KNOWN_CACHE_MAX:
                self.known.clear()
            self.known.add(account)
        return status


def _detail(content: bytes) -> str:
    try:
        return str(json.loads(content).get("detail") or json.loads(content).get("error"))[:200]
    except Exception:
        return content[:200].decode("latin-1")


def _raw(status: int, content: bytes) -> Response:
    resp = Response(content, status_code=status, media_type="application/json")
    try:
        resp.outcome = json.loads(content).get("status") if status == 200 else None
    except Exception:
        resp.outcome = None
    return resp


def _check(value: str, regex, what: str) -> None:
    if not regex.match(value):
        raise BadRequest(422, "invalid", f"{what}: expected {regex.pattern[2:-2]}")  # without \A...\Z


@endpoint("transfer")
async def transfer(request: Request):
    router: Router = request.app.state.router
    t = await read_json(request, TransferIn)
    end = time.monotonic() + router.deadline
    src, dst = router.cell(t.from_), router.cell(t.to)
    if src != dst:
        status = await router.exists(t.to, end)
        if status == 404:
            return error(404, "unknown_account", accounts=[t.to])
        if status != 200:
            return error(503, "unavailable", f"destination cell {dst} unreachable; nothing changed", retry=True)
    # json.dumps of {"key", "from", "to", "amount"}, byte for byte: the ids match
    # [A-Za-z0-9_-] (nothing to escape) and the amount is an int (strict), so a format does it
    body = f'{{"key": "{t.key}", "from": "{t.from_}", "to": "{t.to}", "amount": {t.amount}}}'.encode()
    return _raw(*await router.forward(src, "POST", "/transfers", body=body, write=True, end=end))


@endpoint("get_account")
async def get_account(request: Request):
    router: Router = request.app.state.router
    account = request.path_params["id"]
    _check(account, ACCOUNT_RE, "account id")
    return _raw(*await router.forward(router.cell(account), "GET", f"/accounts/{account}"))


@endpoint("account_transfers")
async def account_transfers(request: Request):
    router: Router = request.app.state.router
    account = request.path_params["id"]
    _check(account, ACCOUNT_RE, "account id")
    return _raw(*await router.forward(router.cell(account), "GET", f"/accounts/{account}/transfers"))


@endpoint("create_accounts")
async def create_accounts(request: Request):
    router: Router = request.app.state.router
    body = await read_json(request, AccountsIn)
    by_cell: dict[int, list] = {}
    for a in body.accounts:
        by_cell.setdefault(router.cell(a.id), []).append({"id": a.id, "balance": a.balance})
    end = time.monotonic() + router.deadline
    cells = sorted(by_cell)
    results = await asyncio.gather(*[
        router.forward(c, "POST", "/accounts", body=json.dumps({"accounts": by_cell[c]}).encode(), write=True, end=end)
        for c in cells])
    per_cell = [{"cell": c, "status": s, **json.loads(b)} for c, (s, b) in zip(cells, results)]
    statuses = {s for s, _ in results}
    for c, (s, _) in zip(cells, results):
        if s == 201:  # the GNS learns the accounts it created (no lookup before cross-cell transfers)
            router.known.update(a["id"] for a in by_cell[c])
    if statuses == {201}:
        return JSONResponse({"created": sum(p["created"] for p in per_cell)}, status_code=201)
    worst = 504 if 504 in statuses else 503 if 503 in statuses else max(statuses)
    code = {504: "unknown_outcome", 503: "unavailable", 409: "exists"}.get(worst, "failed")
    return error(worst, code, "account creation is atomic per cell; see cells", cells=per_cell)


@endpoint("get_transfer")
async def get_transfer(request: Request):
    """Find a transfer by key: in the cell of ``?from=`` if given, else by asking every cell.

    404 only when every cell answered 404 (never committed anywhere); if some cell could not
    answer, 503: absence is not proven.
    """
    router: Router = request.app.state.router
    key = request.path_params["key"]
    _check(key, KEY_RE, "key")
    src = request.query_params.get("from")
    if src is not None:
        _check(src, ACCOUNT_RE, "from")
        cells = [router.cell(src)]
    else:
        cells = list(range(len(router.cells)))
    end = time.monotonic() + router.deadline
    results = await asyncio.gather(*[router.forward(c, "GET", f"/transfers/{key}", end=end) for c in cells])
    for status, content in results:
        if status == 200:
            return _raw(status, content)
    if all(s == 404 for s, _ in results):
        return error(404, "unknown_transfer", "no cell has committed a transfer with this key", key=key)
    return error(503, "unavailable", "some cells did not answer; the transfer may exist there", retry=True)


@endpoint("audit")
async def audit(request: Request):
    """Sum of balances per cell + money in flight (debited in the source, not yet credited).

    Exact when no transfer or relay delivery runs concurrently (the checker quiesces first);
    under load the cells are read at slightly different instants.
    """
    router: Router = request.app.state.router
    end = time.monotonic() + router.deadline
    n = len(router.cells)
    results = await asyncio.gather(*[router.forward(c, "GET", "/audit", end=end) for c in range(n)])
    if any(s != 200 for s, _ in results):
        return error(503, "unavailable", "some cells did not answer the audit", retry=True)
    cells = [json.loads(b) for _, b in results]
    pending_by_dst: dict[int, dict[str, int]] = {}
    for c in cells:
        for p in c["pending"]:
            pending_by_dst.setdefault(p["dst_cell"], {})[p["key"]] = p["amount"]
    in_flight = 0
    for dst, keys in pending_by_dst.items():
        s, b = await router.forward(dst, "POST", "/internal/applied",
                                    body=json.dumps({"keys": list(keys)}).encode(), end=end)
        if s != 200:
            return error(503, "unavailable", f"cell {dst} did not answer", retry=True)
        applied = set(json.loads(b)["applied"])
        in_flight += sum(a for k, a in keys.items() if k not in applied)
    out_cells = [{k: c[k] for k in ("cell", "total", "accounts", "outbox_pending")} for c in cells]
    total = sum(c["total"] for c in cells) + in_flight
    return JSONResponse({"cells": out_cells, "in_flight": in_flight, "total": total,
                         "pending_transfers": sum(len(k) for k in pending_by_dst.values())})


async def health(request: Request):
    return JSONResponse({"ok": True, "service": "gateway", "name": request.app.state.cfg.get("name", "gateway"),
                         "cells": len(request.app.state.router.cells), "pid": os.getpid()})


async def metrics(request: Request):
    return request.app.state.metrics.response()


async def fault(request: Request):
    return await request.app.state.faults.admin(request)


async def admin_routes(request: Request):
    denied = require_admin(request)
    if denied:
        return denied
    return JSONResponse({"cells": request.app.state.router.cells, "deadline": request.app.state.router.deadline})


def create_app(cfg: dict) -> BankApp:
    routes = [
        Route("/accounts", create_accounts, methods=["POST"]),
        Route("/accounts/{id}", get_account, methods=["GET"]),
        Route("/accounts/{id}/transfers", account_transfers, methods=["GET"]),
        Route("/transfers", transfer, methods=["POST"]),
        Route("/transfers/{key}", get_transfer, methods=["GET"]),
        Route("/audit", audit, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi_response, methods=["GET"]),
        Route("/admin/fault", fault, methods=["GET", "POST"]),
        Route("/admin/heal", fault, methods=["POST"]),
        Route("/admin/routes", admin_routes, methods=["GET"]),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        await app.state.router.close()

    app = BankApp(routes=routes, exception_handlers=ERROR_HANDLERS, lifespan=lifespan,
                  fast={("POST", "/transfers"): transfer})
    app.state.cfg = cfg
    app.state.metrics = Metrics("gateway")
    app.state.router = Router(cfg["cells"], float(cfg.get("deadline", Live().gateway_deadline)), app.state.metrics,
                              cfg.get("backoff"), cfg.get("max_backoff"))
    app.state.faults = Faults()
    return app


def main() -> int:
    return serve(create_app, "gateway")


if __name__ == "__main__":
    raise SystemExit(main())
