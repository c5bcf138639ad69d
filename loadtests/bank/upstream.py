"""The gateway's HTTP/1.1 client to the app servers: keep-alive connections, one write per request.

Why not aiohttp (which the gateway used before, and which the leader finder and the benchmark's
load client still use): the gateway forwards every transfer once, and aiohttp's general machinery
(request and response objects, payload writers, timers, trace hooks, a stream reader per
response) was about a sixth of the gateway's busy time in a py-spy profile under bench_bank
load (issue 17 item 4). The gateway needs much less: its own app servers on 127.0.0.1, small
JSON bodies with a Content-Length, no cookies, no redirects, no compression, no TLS. So this
client writes each request as one bytes object on a pooled connection and parses the answer with
httptools (the parser uvicorn uses, already a dependency) straight from ``data_received``.

What it keeps from aiohttp, because the gateway's outcome rules depend on it (``gateway.Router``):
* ``NotSent``: nothing reached an app server (connection refused or not made within
  ``connect_timeout``, or no connection slot free in time), so a retry is always safe;
* ``Lost``: the request was (maybe partly) sent and no complete answer came in time, or the
  connection broke; for a transfer its outcome is unknown.
Every wait is bounded: the connect by ``connect_timeout``, the whole request by its ``timeout``.
A connection is reused only after a complete answer with keep-alive; anything else (an error, a
timeout, a cancelled caller) closes it, so a late answer can never be read as the next one's.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlencode, urlsplit

import httptools

__all__ = ["Upstream", "NotSent", "Lost"]


class NotSent(Exception):
    """Nothing was sent: no connection (refused, too slow, or no free slot)."""


class Lost(Exception):
    """The request went out (maybe partly) and no complete answer came back."""


class _Conn(asyncio.Protocol):
    """One keep-alive connection: at most one request in flight, its answer parsed as it arrives."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future | None = None
        self.body: list[bytes] = []
        self.keep = True
        self.closed = False
        self.idle_since = 0.0

    # ------------------------------------------------------------ asyncio.Protocol
    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(Lost(f"bad answer: {exc}"))

    def connection_lost(self, exc) -> None:
        self.closed = True
        self._fail(Lost(f"connection closed: {exc or 'EOF'}"))

    # ------------------------------------------------------------ httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"connection" and b"close" in value.lower():
            self.keep = False

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result((self.parser.get_status_code(), b"".join(self.body)))
        self.waiter = None

    # ------------------------------------------------------------
    def _fail(self, exc: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.close()

    def send(self, data: bytes) -> asyncio.Future:
        if self.closed:  # the server closed it between the connect (or its reuse) and now:
            raise NotSent("connection closed before the request")  # nothing went out
        self.body = []
        self.waiter = self.loop.create_future()
        self.transport.write(data)
        return self.waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


def _expire(waiter: asyncio.Future, timeout: float) -> None:
    """An answer's time is up: its request fails with ``Lost`` (the connection is then closed)."""
    if not waiter.done():
        waiter.set_exception(Lost(f"no answer within {timeout:.3f}s"))


class Upstream:
    """Pooled keep-alive connections to ``http://127.0.0.1:port`` style servers.

    ``limit``: connections open at once over all servers (a caller waits for a free one within
    its timeout, then ``NotSent``); ``keepalive``: an idle connection older than this is closed
    instead of reused (below uvicorn's own 30 s, so the server is not the one closing it while
    a request is on its way); ``connect_timeout``: the longest a new connection may take.
    """

    def __init__(self, limit: int = 512, keepalive: float = 15.0, connect_timeout: float = 1.0):
        self.keepalive = keepalive
        self.connect_timeout = connect_timeout
        self._slots = asyncio.Semaphore(limit)
        self._idle: dict[tuple[str, int], list[_Conn]] = {}
        self._heads: dict[str, tuple[tuple[str, int], bytes]] = {}

    def _target(self, base: str) -> tuple[tuple[str, int], bytes]:
        """``base`` URL -> ((host, port), the Host header line), parsed once per server."""
        got = self._heads.get(base)
        if got is None:
            u = urlsplit(base)
            if u.scheme != "http" or not u.hostname or u.path not in ("", "/"):
                raise ValueError(f"upstream must be http://host:port, got {base!r}")
            port = u.port or 80
            got = self._heads[base] = ((u.hostname, port), f"host: {u.hostname}:{port}\r\n".encode())
        return got

    async def request(self, method: str, base: str, path: str, *, body: bytes | None = None,
                      params: dict | None = None, headers: dict[str, str] | None = None,
                      timeout: float, connect_timeout: float | None = None) -> tuple[int, bytes]:
        """-> (status, body bytes) of ``method base+path``; ``NotSent`` or ``Lost`` otherwise."""
        if params:
            path += "?" + urlencode(params)
        if any(c in path for c in " \r\n") or not path.startswith("/"):
            raise ValueError(f"unsafe request path {path!r}")  # callers validate ids first
        addr, host = self._target(base)
        parts = [f"{method} {path} HTTP/1.1\r\n".encode(), host]
        for k, v in (headers or {}).items():
            parts.append(f"{k}: {v}\r\n".encode())
        if body is not None or method in ("POST", "PUT", "PATCH"):
            parts.append(b"content-length: %d\r\n" % len(body or b""))
        parts.append(b"\r\n")
        if body:
            parts.append(body)
        data = b"".join(parts)
        end = time.monotonic() + timeout
        if self._slots.locked():  # every connection busy: wait for one, boundedly
            try:
                async with asyncio.timeout(max(min(timeout, connect_timeout or self.connect_timeout), 0.001)):
                    await self._slots.acquire()
            except TimeoutError:
                raise NotSent("no free connection to the app servers") from None
        else:  # a free slot is taken at once (no timer to arm and cancel on every request)
            await self._slots.acquire()
        conn = None
        try:
            conn = self._take(addr)
            if conn is None:
                conn = await self._connect(addr, min(connect_timeout or self.connect_timeout, end - time.monotonic()))
            # the answer's bound: a timer failing the answer's future, on the connection's loop
            # (an asyncio.timeout per request makes a context object, looks the loop up twice and
            # keeps the task's uncancel bookkeeping: fewer objects and callbacks this way)
            waiter = conn.send(data)
            timer = conn.loop.call_later(max(end - time.monotonic(), 0.001), _expire, waiter, timeout)
            try:
                status, content = await waiter
            finally:
                timer.cancel()
            if conn.keep and not conn.closed:
                conn.idle_since = time.monotonic()
                self._idle.setdefault(addr, []).append(conn)
                conn = None
            return status, content
        finally:
            if conn is not None:  # an error, a timeout or a cancelled caller: never reused
                conn.close()
            self._slots.release()

    def _take(self, addr) -> _Conn | None:
        idle = self._idle.get(addr)
        now = time.monotonic()
        while idle:
            c = idle.pop()
            if not c.closed and now - c.idle_since < self.keepalive:
                return c
            c.close()
        return None

    async def _connect(self, addr: tuple[str, int], timeout: float) -> _Conn:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(max(timeout, 0.001)):
                _, conn = await loop.create_connection(lambda: _Conn(loop), addr[0], addr[1])
        except (OSError, TimeoutError) as exc:
            raise NotSent(f"cannot connect to {addr[0]}:{addr[1]}: {type(exc).__name__}") from None
        return conn

    async def close(self) -> None:
        for conns in self._idle.values():
            for c in conns:
                c.close()
        self._idle.clear()
