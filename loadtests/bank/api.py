"""HTTP plumbing shared by the app server, the gateway and the relay.

* Request models (pydantic, strict types): a client's mistake is a 4xx with a JSON error,
  never a 500 (malformed JSON 400, oversized body 413, wrong types or values 422).
* Prometheus metrics (requests by endpoint and outcome, latency histograms).
* Admin fault hooks behind ``Authorization: Bearer $HIVESIM_ADMIN_TOKEN``: inject errors or
  latency into this process's answers (the "bad change" fault), inspect its state.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import hmac
import json
import os
import random
import socket
import sys
import time
from typing import Annotated

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from loadtests.bank.routing import ACCOUNT_PATTERN, KEY_PATTERN

__all__ = ["AccountId", "IdemKey", "TransferIn", "AccountIn", "AccountsIn", "KeysIn", "BadRequest",
           "read_json", "error", "Metrics", "Faults", "require_admin", "MAX_BODY", "MAX_AMOUNT",
           "admin_token", "uvicorn_run", "endpoint", "serve", "ERROR_HANDLERS", "BankApp"]

MAX_BODY = 2 * 1024 * 1024  # 10,000 accounts fit with room to spare
MAX_AMOUNT = 10**15  # cents; keeps every sum far below bigint's limit
# set by loadtests.cluster.supervisor: the fd of the listening socket it holds (its LISTEN_FD_ENV)
LISTEN_FD_ENV = "HIVESIM_LISTEN_FD"
# set in a warm spare's environment by loadtests.cluster.supervisor (its SPARE_ENV; not imported
# from there: this is the supervisor's protocol, and serve() only reads it)
SPARE_ENV = "HIVESIM_SPARE"
# A served process's first-generation GC threshold (CPython's default is 700). The objects of the
# requests in flight (16 transfers: psycopg cursors, tasks, futures, starlette requests) pass 700
# by themselves, so the app server ran a collection every ~20 requests that found almost nothing,
# promoted the live requests' objects, and so brought on full collections of every module's
# objects: ~4 % of its CPU under bench_bank load. At 10,000 it collected once in ~19,000 requests
# (issue 17 item 4). Cyclic garbage is still collected, only in larger batches.
GC_FIRST_THRESHOLD = 10_000

# pydantic-core matches with Rust's regex, where "$" is the end of the string (no newline caveat)
AccountId = Annotated[str, StringConstraints(pattern=ACCOUNT_PATTERN)]
IdemKey = Annotated[str, StringConstraints(pattern=KEY_PATTERN)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


class TransferIn(_In):
    key: IdemKey
    from_: AccountId = Field(alias="from")
    to: AccountId
    amount: int = Field(gt=0, le=MAX_AMOUNT)

    @model_validator(mode="after")
    def _distinct(self):
        if self.from_ == self.to:
            raise ValueError("from and to must be different accounts")
        return self


class AccountIn(_In):
    id: AccountId
    balance: int = Field(ge=0, le=MAX_AMOUNT)


class AccountsIn(_In):
    accounts: list[AccountIn] = Field(min_length=1, max_length=10_000)

    @model_validator(mode="after")
    def _unique(self):
        ids = [a.id for a in self.accounts]
        if len(set(ids)) != len(ids):
            raise ValueError("account ids must be unique within one request")
        return self


class KeysIn(_In):
    keys: list[IdemKey] = Field(max_length=100_000)


class BadRequest(Exception):
    def __init__(self, status: int, code: str, detail: str = ""):
        super().__init__(detail or code)
        self.status, self.code, self.detail = status, code, detail


def error(http_status: int, code: str, detail: str = "", **extra) -> JSONResponse:
    """A JSON error answer ``{"error": code, "detail": ..., **extra}``."""
    body = {"error": code, **extra}
    if detail:
        body["detail"] = detail
    return JSONResponse(body, status_code=http_status)


async def _not_found(request, exc):
    return error(404, "not_found", f"no route {request.url.path}")


async def _not_allowed(request, exc):
    # RFC 9110: a 405 lists the allowed methods (Starlette puts them on the exception)
    resp = error(405, "method_not_allowed", f"{request.method} not allowed here")
    allow = (getattr(exc, "headers", None) or {}).get("Allow")
    if allow:
        resp.headers["Allow"] = allow
    return resp


# Starlette's 404/405 answers in the bank's JSON error shape (app servers and gateway alike)
ERROR_HANDLERS = {404: _not_found, 405: _not_allowed}


async def read_json(request: Request, model: type[BaseModel]) -> BaseModel:
    """Read a bounded JSON body and validate it; raise ``BadRequest`` on any client mistake."""
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise BadRequest(400, "bad_request", "invalid Content-Length")
        if int(length) > MAX_BODY:
            raise BadRequest(413, "too_large", f"body over {MAX_BODY} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise BadRequest(413, "too_large", f"body over {MAX_BODY} bytes")
        chunks.append(chunk)
    try:
        data = json.loads(b"".join(chunks))
    except (ValueError, RecursionError):
        raise BadRequest(400, "malformed_json", "body is not valid JSON") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        e = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in e["loc"]) or "body"
        raise BadRequest(422, "invalid", f"{where}: {e['msg']}") from None


def admin_token() -> str:
    return os.environ.get("HIVESIM_ADMIN_TOKEN", "")


def require_admin(request: Request) -> JSONResponse | None:
    """None if the request carries the admin bearer token, else the 401 to return."""
    token = admin_token()
    got = request.headers.get("authorization", "")
    if token and hmac.compare_digest(got.encode(), f"Bearer {token}".encode()):
        return None
    return error(401, "unauthorized", "admin endpoints need Authorization: Bearer $HIVESIM_ADMIN_TOKEN")


class Metrics:
    """Per-process Prometheus registry: requests, latency, and a few service-specific counters."""

    def __init__(self, service: str):
        self.service = service
        self.registry = CollectorRegistry()
        self.requests = Counter("hivesim_bank_requests", "HTTP requests by endpoint and outcome",
                                ["service", "endpoint", "outcome"], registry=self.registry)
        self.latency = Histogram("hivesim_bank_request_seconds", "request latency", ["service", "endpoint"],
                                 buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30),
                                 registry=self.registry)
        self.failovers = Counter("hivesim_bank_failovers_seen", "times a new primary (or app server) was reached",
                                 ["service"], registry=self.registry)
        self.retries = Counter("hivesim_bank_retries", "retries by reason", ["service", "reason"],
                               registry=self.registry)

        # labelled children by label values: ``labels()`` validates and locks on every call, and
        # every request is counted twice (issue 17: the bank's per-request overhead)
        self._children: dict[tuple, tuple] = {}

    def observe(self, endpoint: str, outcome: str, seconds: float) -> None:
        pair = self._children.get((endpoint, outcome))
        if pair is None:
            pair = self._children[(endpoint, outcome)] = (self.requests.labels(self.service, endpoint, outcome),
                                                          self.latency.labels(self.service, endpoint))
        pair[0].inc()
        pair[1].observe(seconds)

    def response(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class Faults:
    """Injected misbehaviour of this process (a bad change): error rate and added latency."""

    def __init__(self):
        self.error_rate = 0.0
        self.latency = 0.0
        self.until = 0.0
        self.rng = random.Random()

    def active(self) -> bool:
        if self.until and time.monotonic() > self.until:
            self.error_rate = self.latency = 0.0
            self.until = 0.0
        return self.error_rate > 0 or self.latency > 0

    async def apply(self) -> JSONResponse | None:
        """Delay and/or fail this request (before it touches any data); called once ``active()``
        said a fault is set (``endpoint``: most requests need no coroutine at all)."""
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        if self.error_rate > 0 and self.rng.random() < self.error_rate:
            return error(500, "injected_fault", "failure injected through /admin/fault")
        return None

    def state(self) -> dict:
        self.active()
        return {"error_rate": self.error_rate, "latency_ms": self.latency * 1000,
                "remaining_s": max(0.0, self.until - time.monotonic()) if self.until else None}

    async def admin(self, request: Request) -> Response:
        """``POST /admin/fault {"error_rate": 0-1, "latency_ms": >=0, "duration_s": >0 | null}``;
        ``POST /admin/heal``; ``GET /admin/fault``."""
        denied = require_admin(request)
        if denied:
            return denied
        if request.method == "GET":
            return JSONResponse(self.state())
        if request.url.path.endswith("/heal"):
            self.error_rate = self.latency = 0.0
            self.until = 0.0
            return JSONResponse(self.state())
        try:
            spec = await read_json(request, FaultIn)
        except BadRequest as exc:
            return error(exc.status, exc.code, exc.detail)
        self.error_rate = spec.error_rate
        self.latency = spec.latency_ms / 1000.0
        self.until = time.monotonic() + spec.duration_s if spec.duration_s else 0.0
        return JSONResponse(self.state())


class FaultIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    error_rate: float = Field(0.0, ge=0, le=1)
    latency_ms: float = Field(0.0, ge=0, le=600_000)
    duration_s: float | None = Field(None, gt=0, le=86_400)


def endpoint(name: str, *, errors: tuple[type[Exception], ...] = (), on_error=None, after=None):
    """Wrap a handler: injected faults first, a client's mistake -> 4xx, metrics by outcome.

    ``errors`` are further exception types the handler may raise; ``on_error(exc)`` turns them
    into a response (the app server's 503/504 for database trouble). ``after(state)`` runs once
    the response is known, before the request is counted.
    """

    def deco(fn):
        @functools.wraps(fn)
        async def handler(request: Request):
            st = request.app.state
            t0 = time.perf_counter()
            # no fault injected (nearly always): no coroutine made and awaited for nothing
            resp = await st.faults.apply() if st.faults.active() else None
            if resp is None:
                try:
                    resp = await fn(request)
                except BadRequest as exc:
                    resp = error(exc.status, exc.code, exc.detail)
                except errors as exc:
                    resp = on_error(exc)
            if after is not None:
                after(st)
            outcome = getattr(resp, "outcome", None) or str(resp.status_code)
            st.metrics.observe(name, outcome, time.perf_counter() - t0)
            return resp
        return handler
    return deco


class BankApp(Starlette):
    """A Starlette app whose hot routes skip the middleware stack and the router.

    ``fast``: ``{(method, path): endpoint}`` for exact paths served on every request of the load
    (``POST /transfers``). Starlette's error middlewares add nothing to them: the ``endpoint``
    wrapper already turns every expected error into its JSON answer, and an unexpected exception
    still becomes uvicorn's 500. Every other request, and every other method on these paths (405),
    goes through the full stack as before. (Issue 17: the stack and the router were ~1/5 of the
    gateway's CPU per transfer.)
    """

    def __init__(self, *args, fast: dict[tuple[str, str], object] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fast = dict(fast or {})

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            handler = self.fast.get((scope["method"], scope["path"]))
            if handler is not None:
                scope["app"] = self
                response = await handler(Request(scope, receive, send))
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def serve(create_app, module: str) -> int:
    """``python -m loadtests.bank.<module>``: read the JSON config named by $HIVESIM_BANK_CONFIG
    (or the first argument) and serve the app it describes on 127.0.0.1.

    A warm spare (``$HIVESIM_SPARE`` set by loadtests.cluster.supervisor) does every import and
    reads its config, then blocks until its supervisor writes ``go`` on stdin; only then does it
    create the app (database pools) and bind its port. If stdin closes first it exits 0.
    Under a supervisor that holds the port (``$HIVESIM_LISTEN_FD``) it serves on that inherited
    socket instead of binding: connections made while no process served wait in its backlog."""
    path = os.environ.get("HIVESIM_BANK_CONFIG") or (sys.argv[1] if len(sys.argv) > 1 else None)
    if not path:
        raise SystemExit(f"usage: HIVESIM_BANK_CONFIG={module}.json python -m loadtests.bank.{module}")
    with open(path) as f:
        cfg = json.load(f)
    if os.environ.get(SPARE_ENV):
        _preload_uvicorn()
        if sys.stdin.readline().strip() != "go":
            return 0
        os.environ.pop(SPARE_ENV)  # the live process now: nothing it starts is a spare
    fd = os.environ.get(LISTEN_FD_ENV)
    app = create_app(cfg)
    _tune_gc()
    uvicorn_run(app, cfg["port"], sock=socket.socket(fileno=int(fd)) if fd else None)
    return 0


def _tune_gc() -> None:
    """Before serving: what start-up made (modules, the app) leaves the collector's view
    (``gc.freeze``: a full collection no longer walks it all), and the first generation is
    collected at ``GC_FIRST_THRESHOLD`` allocations, not 700. No ``gc.collect`` first: a warm
    spare starts serving right after this, and a freeze costs next to nothing."""
    gc.freeze()
    gc.set_threshold(GC_FIRST_THRESHOLD, *gc.get_threshold()[1:])


def _preload_uvicorn() -> None:
    """Import what ``uvicorn.run`` would import at start (~0.07 s): a spare does it before ``go``."""
    import importlib
    for name in ("uvicorn", "uvicorn.loops.auto", "uvloop", "uvicorn.loops.uvloop", "uvicorn.loops.asyncio",
                 "uvicorn.protocols.http.auto", "uvicorn.protocols.websockets.auto", "uvicorn.lifespan.on",
                 "loadtests.bank.onewrite"):
        try:
            importlib.import_module(name)
        except ImportError:  # uvloop is optional (absent on Windows); uvicorn falls back by itself
            pass


def uvicorn_run(app, port: int, host: str = "127.0.0.1", sock: socket.socket | None = None) -> None:
    """Serve ``app`` with uvicorn, quietly, on ``host:port`` or on the listening socket ``sock``.
    ``auto``: uvicorn picks uvloop (a dependency of the ``live`` extra, absent on Windows) and falls
    back by itself; HTTP is httptools writing each response once (``onewrite``), else h11."""
    import uvicorn
    try:  # httptools with one socket write per response (loadtests.bank.onewrite)
        from loadtests.bank.onewrite import OneWriteProtocol as http
    except ImportError:  # no httptools: uvicorn's own choice (h11)
        http = "auto"
    # proxy_headers off: no proxy sits in front of these services (the middleware cost ~2 % per request)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, loop="auto",
                            http=http, timeout_keep_alive=30, lifespan="on", proxy_headers=False,
                            server_header=False)
    server = uvicorn.Server(config)
    server.run(sockets=[sock] if sock is not None else None)
    if not server.started:  # as uvicorn.run: a start-up failure (a taken port) exits non-zero
        raise SystemExit(3)
