"""A small asyncio TCP fault proxy: the app -> database path of the live bank goes through it.

This kernel has no ``netem``, so latency, jitter and partitions between app servers and one
PostgreSQL member are made here, in user space. The cluster manager runs one proxy process per
database member; app servers and the relay ALWAYS connect to members through their proxies.

Data plane: ``--listen`` port -> ``--target`` port, both on 127.0.0.1, on uvloop when installed.
While no fault is set each chunk read from one socket is written to the other at once, from the
protocol callback (no task or queue per chunk: the bank's every database round trip crosses the
proxy). With latency, a direction's chunks wait in a queue drained by one timer, so a chunk can be
held until ``now + latency + jitter`` without reordering bytes (a chunk is never delivered before
the one ahead of it).

Control plane (HTTP on ``--control``, 127.0.0.1 only; every route but ``GET /health`` needs
``Authorization: Bearer $HIVESIM_ADMIN_TOKEN``):

* ``GET /state``                        -> mode, latency, jitter, connection counts
* ``POST /latency {"latency_ms": 50, "jitter_ms": 20}``  add delay to every chunk, both directions
* ``POST /partition {"mode": "reset"}``  close every connection, refuse new ones (RST-like)
* ``POST /partition {"mode": "blackhole"}``  keep connections open but forward nothing
  (a silent network cut: clients hang until their own timeouts); new connections are accepted
  and never answered
* ``POST /heal``                          remove every fault; connections that were black-holed
  are closed (their byte streams are broken), new ones work again

Run: ``python -m loadtests.chaos.proxy --listen 6001 --target 5432 --control 6101 --name c0-m0``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import hmac
import json
import os
import random
import signal
import time

__all__ = ["FaultProxy", "main"]

CHUNK = 65536
MAX_CONTROL_BODY = 4096


class FaultProxy:
    """One listener forwarding to one target, with the faults its control API switches on.

    ``protocol`` is the listener's protocol factory (``loop.create_server(proxy.protocol, ...)``).
    """

    def __init__(self, target_port: int, *, name: str = "proxy", seed: int | None = None):
        self.target_port = target_port
        self.name = name
        self.mode = "ok"  # ok | reset | blackhole
        self.latency = 0.0  # seconds
        self.jitter = 0.0
        self.rng = random.Random(seed)
        self.conns: set[_Conn] = set()
        self.accepted = 0
        self.refused = 0

    # ------------------------------------------------------------------ data plane
    def protocol(self) -> asyncio.Protocol:
        return _Side(self, None)

    def delay(self) -> float:
        if self.latency <= 0 and self.jitter <= 0:
            return 0.0
        return max(0.0, self.latency + self.rng.uniform(-self.jitter, self.jitter))

    # ------------------------------------------------------------------ faults
    def set_latency(self, latency_ms: float, jitter_ms: float) -> None:
        self.latency, self.jitter = latency_ms / 1000.0, jitter_ms / 1000.0

    def partition(self, mode: str) -> None:
        self.mode = mode
        for c in list(self.conns):
            if mode == "reset":
                c.close(abort=True)
            else:
                c.doomed = True

    def heal(self) -> None:
        self.mode = "ok"
        self.latency = self.jitter = 0.0
        for c in list(self.conns):
            if c.doomed:
                c.close(abort=True)

    def state(self) -> dict:
        return {"name": self.name, "target_port": self.target_port, "mode": self.mode,
                "latency_ms": self.latency * 1000, "jitter_ms": self.jitter * 1000,
                "connections": len(self.conns), "accepted": self.accepted, "refused": self.refused}


class _Side(asyncio.Protocol):
    """One socket of a proxied connection (the client's, or the upstream's when ``conn`` is set).

    Bytes are forwarded from ``data_received`` straight into the other socket's transport: no
    stream reader, no task and no future per chunk, which is what the proxy spent most of its
    time on while no fault was set (each database round trip crosses it twice)."""

    def __init__(self, proxy: FaultProxy, conn: "_Conn | None"):
        self.proxy = proxy
        self.conn = conn
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        if self.conn is not None:  # the upstream side: _Conn.open attaches it
            return
        proxy = self.proxy
        if proxy.mode == "reset":
            proxy.refused += 1
            transport.abort()
            return
        proxy.accepted += 1
        self.conn = _Conn(proxy, self)
        proxy.conns.add(self.conn)
        if proxy.mode == "blackhole":
            self.conn.doomed = True  # accepted, never answered
        else:
            self.conn.opening = asyncio.ensure_future(self.conn.open())

    def data_received(self, data: bytes) -> None:
        conn = self.conn
        if conn is not None:
            (conn.up if self is conn.client else conn.down).send(data)

    def eof_received(self):
        if self.conn is not None:
            (self.conn.up if self is self.conn.client else self.conn.down).finish()
        return True  # keep the socket until the close above (maybe after delayed chunks)

    def connection_lost(self, exc) -> None:
        if self.conn is not None:
            self.conn.close()

    # flow control: a peer that cannot keep up pauses reading on this side's source
    def pause_writing(self) -> None:
        other = self.conn.other(self) if self.conn is not None else None
        if other is not None and other.transport is not None:
            other.transport.pause_reading()

    def resume_writing(self) -> None:
        other = self.conn.other(self) if self.conn is not None else None
        if other is not None and other.transport is not None and not self.conn.closed:
            other.transport.resume_reading()


class _Direction:
    """One direction of a connection: forwards chunks in order, now or at ``now + delay``.

    While no fault is set a chunk is written at once. With latency, chunks wait in a queue drained
    by one timer, so a chunk is never delivered before the one ahead of it. Black-holed chunks
    are held forever (dropped); the connection stays open until healed or closed."""

    def __init__(self, conn: "_Conn"):
        self.conn = conn
        self.dst: asyncio.Transport | None = None  # None until the upstream socket is open
        self.queue: collections.deque = collections.deque()
        self.last_due = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.ended = False  # the source sent EOF: close once the queue is delivered

    def send(self, data: bytes) -> None:
        conn, proxy = self.conn, self.conn.proxy
        if conn.closed:
            return
        if proxy.mode == "blackhole" or conn.doomed:
            conn.doomed = True
            return
        delay = proxy.delay()
        if delay <= 0 and not self.queue and self.dst is not None:
            self.dst.write(data)
            return
        due = max(time.monotonic() + delay, self.last_due)  # keep byte order
        self.last_due = due
        self.queue.append((due, data))
        self._arm()

    def _arm(self) -> None:
        if self.timer is None and self.queue and self.dst is not None:
            loop = asyncio.get_running_loop()
            wait = self.queue[0][0] - time.monotonic()
            self.timer = loop.call_later(max(wait, 0.0), self._deliver)

    def _deliver(self) -> None:
        self.timer = None
        conn, proxy = self.conn, self.conn.proxy
        if conn.closed:
            return
        now = time.monotonic()
        while self.queue and self.queue[0][0] <= now:
            if proxy.mode == "blackhole" or conn.doomed:  # hold, never deliver
                conn.doomed = True
                self.queue.clear()
                return
            self.dst.write(self.queue.popleft()[1])
        if self.queue:
            self._arm()
        elif self.ended:
            conn.close()

    def attach(self, dst: asyncio.Transport) -> None:
        self.dst = dst
        if self.queue:
            self._arm()

    def finish(self) -> None:
        self.ended = True
        if not self.queue:
            self.conn.close()

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.queue.clear()


class _Conn:
    def __init__(self, proxy: FaultProxy, client: _Side):
        self.proxy = proxy
        self.client = client
        self.upstream: _Side | None = None
        self.up = _Direction(self)    # client -> target
        self.down = _Direction(self)  # target -> client
        self.up.last_due = self.down.last_due = 0.0
        self.doomed = False
        self.closed = False
        self.opening: asyncio.Future | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, side = await loop.create_connection(lambda: _Side(self.proxy, self), "127.0.0.1",
                                                           self.proxy.target_port)
        except OSError:
            self.close(abort=True)
            return
        if self.closed:
            transport.abort()
            return
        self.upstream = side
        for t in (transport, self.client.transport):
            t.set_write_buffer_limits(high=4 * CHUNK)
        self.down.attach(self.client.transport)
        self.up.attach(transport)

    def other(self, side: _Side) -> _Side | None:
        return self.upstream if side is self.client else self.client

    def close(self, abort: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        self.proxy.conns.discard(self)
        if self.opening is not None and not self.opening.done():
            self.opening.cancel()
        self.up.cancel()
        self.down.cancel()
        for side in (self.client, self.upstream):
            if side is not None and side.transport is not None:
                side.transport.abort() if abort else side.transport.close()


# ---------------------------------------------------------------------- control API
class _Control:
    """A tiny HTTP/1.1 control server (one request per connection; no framework needed for 4 routes)."""

    def __init__(self, proxy: FaultProxy, token: str):
        self.proxy, self.token = proxy, token

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, body = await asyncio.wait_for(self._request(reader), timeout=5)
        except (asyncio.TimeoutError, ValueError, asyncio.IncompleteReadError, ConnectionError):
            status, body = 400, {"error": "bad_request"}
        payload = json.dumps(body).encode()
        reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
                  405: "Method Not Allowed", 413: "Payload Too Large", 422: "Unprocessable Entity"}[status]
        writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode() + payload)
        try:
            await writer.drain()
        finally:
            writer.close()

    async def _request(self, reader):
        head = await reader.readuntil(b"\r\n\r\n")
        if len(head) > 8192:
            return 413, {"error": "too_large"}
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for ln in lines[1:]:
            if ":" in ln:
                k, v = ln.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0") or 0)
        if n > MAX_CONTROL_BODY or n < 0:
            return 413, {"error": "too_large"}
        raw = await reader.readexactly(n) if n else b""
        if path == "/health" and method == "GET":
            return 200, {"ok": True}
        auth = headers.get("authorization", "")
        if not (self.token and hmac.compare_digest(auth.encode(), f"Bearer {self.token}".encode())):
            return 401, {"error": "unauthorized"}
        if path == "/state" and method == "GET":
            return 200, self.proxy.state()
        if path not in ("/latency", "/partition", "/heal"):
            return 404, {"error": "not_found"}
        if method != "POST":
            return 405, {"error": "method_not_allowed"}
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return 400, {"error": "malformed_json"}
        if not isinstance(body, dict):
            return 422, {"error": "invalid", "detail": "expected a JSON object"}
        if path == "/heal":
            self.proxy.heal()
        elif path == "/latency":
            lat, jit = body.get("latency_ms", 0), body.get("jitter_ms", 0)
            if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and 0 <= x <= 600_000
                       for x in (lat, jit)):
                return 422, {"error": "invalid", "detail": "latency_ms, jitter_ms: numbers in 0..600000"}
            self.proxy.set_latency(float(lat), float(jit))
        else:
            mode = body.get("mode", "reset")
            if mode not in ("reset", "blackhole"):
                return 422, {"error": "invalid", "detail": "mode: 'reset' or 'blackhole'"}
            self.proxy.partition(mode)
        return 200, self.proxy.state()


async def serve(listen: int, target: int, control: int, token: str, name: str) -> None:
    proxy = FaultProxy(target, name=name)
    data = await asyncio.get_running_loop().create_server(proxy.protocol, "127.0.0.1", listen, reuse_address=True)
    ctl = await asyncio.start_server(_Control(proxy, token).handle, "127.0.0.1", control, reuse_address=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with data, ctl:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--target", type=int, required=True)
    ap.add_argument("--control", type=int, required=True)
    ap.add_argument("--name", default="proxy")
    args = ap.parse_args(argv)
    token = os.environ.get("HIVESIM_ADMIN_TOKEN", "")
    if not token:
        ap.error("HIVESIM_ADMIN_TOKEN must be set (the control API needs a bearer token)")
    try:  # uvloop (a dependency of the live extra) roughly halves the cost of each forwarded chunk
        import uvloop
        runner = uvloop.run
    except ImportError:  # e.g. on Windows
        runner = asyncio.run
    runner(serve(args.listen, args.target, args.control, token, args.name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
