"""A small asyncio TCP fault proxy: the app -> database path of the live bank goes through it.

This kernel has no ``netem``, so latency, jitter and partitions between app servers and one
PostgreSQL member are made here, in user space. The cluster manager runs one proxy process per
database member; app servers and the relay ALWAYS connect to members through their proxies.

Data plane: ``--listen`` port -> ``--target`` port, both on 127.0.0.1. Each direction of a
connection is a reader task and a writer task joined by a queue, so a chunk can be held until
``now + latency + jitter`` without reordering bytes (a chunk is never delivered before the one
ahead of it).

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
    """One listener forwarding to one target, with the faults its control API switches on."""

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
    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "reset":
            self.refused += 1
            _abort(writer)
            return
        self.accepted += 1
        conn = _Conn(self, writer)
        self.conns.add(conn)
        try:
            if self.mode == "blackhole":
                conn.doomed = True
                await conn.closed.wait()  # accepted, never answered
                return
            try:
                up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
            except OSError:
                _abort(writer)
                return
            conn.upstream = up_w
            await asyncio.gather(self._pipe(conn, reader, up_w), self._pipe(conn, up_r, writer),
                                 return_exceptions=True)
        finally:
            conn.close()
            self.conns.discard(conn)

    def delay(self) -> float:
        if self.latency <= 0 and self.jitter <= 0:
            return 0.0
        return max(0.0, self.latency + self.rng.uniform(-self.jitter, self.jitter))

    async def _pipe(self, conn: "_Conn", src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        if self.mode == "ok" and self.latency <= 0 and self.jitter <= 0:
            # fast path while no fault is set: copy directly (no queue, no extra task switch);
            # it hands over to the delaying path below as soon as a fault is switched on
            while not conn.closed.is_set():
                if self.mode != "ok" or self.latency > 0 or self.jitter > 0:
                    break
                data = await src.read(CHUNK)
                if not data:
                    conn.close()
                    return
                if self.mode == "blackhole":
                    conn.doomed = True
                    break
                if self.latency > 0 or self.jitter > 0:  # switched on while we waited: delay this chunk too
                    await asyncio.sleep(self.delay())
                dst.write(data)
                if dst.transport.get_write_buffer_size() > 4 * CHUNK:
                    await dst.drain()
            if conn.doomed or conn.closed.is_set():
                await conn.closed.wait()
                return
        queue: asyncio.Queue = asyncio.Queue()

        async def writer_task():
            last = 0.0
            while True:
                item = await queue.get()
                if item is None:
                    break
                due, data = item
                due = max(due, last)  # keep byte order: never before the chunk ahead of it
                last = due
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if self.mode == "blackhole" or conn.doomed:  # hold, never deliver
                    conn.doomed = True
                    await conn.closed.wait()
                    return
                dst.write(data)
                await dst.drain()

        wt = asyncio.create_task(writer_task())
        try:
            while not conn.closed.is_set():
                data = await src.read(CHUNK)
                if not data:
                    break
                if self.mode == "blackhole":
                    conn.doomed = True
                queue.put_nowait((time.monotonic() + self.delay(), data))
            queue.put_nowait(None)
            await wt
        finally:
            if not wt.done():
                wt.cancel()
            conn.close()

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


class _Conn:
    def __init__(self, proxy: FaultProxy, client: asyncio.StreamWriter):
        self.proxy = proxy
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None
        self.doomed = False
        self.closed = asyncio.Event()

    def close(self, abort: bool = False) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for w in (self.client, self.upstream):
            if w is not None:
                _abort(w) if abort else w.close()


def _abort(writer: asyncio.StreamWriter) -> None:
    try:
        writer.transport.abort()
    except Exception:  # already gone
        pass


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
    data = await asyncio.start_server(proxy.handle, "127.0.0.1", listen, reuse_address=True)
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
    asyncio.run(serve(args.listen, args.target, args.control, token, args.name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
