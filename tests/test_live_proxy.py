"""The TCP fault proxy, in process: pass-through, latency, partitions, heal, control API auth."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from loadtests.chaos.proxy import FaultProxy, _Control

TOKEN = "t0ken-for-tests"


async def _echo(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def _setup():
    echo = await asyncio.start_server(_echo, "127.0.0.1", 0)
    proxy = FaultProxy(echo.sockets[0].getsockname()[1], name="t", seed=1)
    data = await asyncio.get_running_loop().create_server(proxy.protocol, "127.0.0.1", 0)
    ctl = await asyncio.start_server(_Control(proxy, TOKEN).handle, "127.0.0.1", 0)
    return echo, proxy, data, ctl


def _port(server) -> int:
    return server.sockets[0].getsockname()[1]


async def _roundtrip(port: int, payload: bytes = b"ping", timeout: float = 2.0) -> tuple[bytes, float]:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    t0 = time.perf_counter()
    w.write(payload)
    await w.drain()
    got = await asyncio.wait_for(r.readexactly(len(payload)), timeout)
    dt = time.perf_counter() - t0
    w.close()
    return got, dt


async def _control(port: int, method: str, path: str, body: dict | None = None, token: str | None = TOKEN):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    raw = json.dumps(body).encode() if body is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(raw)}\r\n"
    if token:
        head += f"Authorization: Bearer {token}\r\n"
    w.write(head.encode() + b"\r\n" + raw)
    await w.drain()
    resp = await r.read()
    w.close()
    status = int(resp.split(b" ", 2)[1])
    return status, json.loads(resp.split(b"\r\n\r\n", 1)[1])


def run(coro):
    return asyncio.run(coro)


def test_pass_through_latency_and_heal():
    async def main():
        echo, proxy, data, ctl = await _setup()
        async with echo, data, ctl:
            got, fast = await _roundtrip(_port(data), b"x" * 100_000)
            assert got == b"x" * 100_000
            assert (await _control(_port(ctl), "POST", "/latency", {"latency_ms": 150, "jitter_ms": 20}))[0] == 200
            got, slow = await _roundtrip(_port(data))
            # both directions are delayed by 150 +- 20 ms: the round trip takes at least 2 x 130 ms
            assert got == b"ping" and slow >= 0.26, slow
            status, state = await _control(_port(ctl), "POST", "/heal")
            assert status == 200 and state["latency_ms"] == 0 and state["mode"] == "ok"
            _, healed = await _roundtrip(_port(data))
            assert healed < 0.1
    run(main())


def test_partition_reset_refuses_and_closes():
    async def main():
        echo, proxy, data, ctl = await _setup()
        async with echo, data, ctl:
            r, w = await asyncio.open_connection("127.0.0.1", _port(data))
            w.write(b"hi")
            assert await r.readexactly(2) == b"hi"
            assert (await _control(_port(ctl), "POST", "/partition", {"mode": "reset"}))[0] == 200
            assert await asyncio.wait_for(r.read(), 2) == b""  # existing connection closed
            with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
                await _roundtrip(_port(data))  # new connections refused
            await _control(_port(ctl), "POST", "/heal")
            assert (await _roundtrip(_port(data)))[0] == b"ping"
    run(main())


def test_blackhole_forwards_nothing_until_heal_closes_it():
    async def main():
        echo, proxy, data, ctl = await _setup()
        async with echo, data, ctl:
            r, w = await asyncio.open_connection("127.0.0.1", _port(data))
            w.write(b"a")
            assert await r.readexactly(1) == b"a"
            await _control(_port(ctl), "POST", "/partition", {"mode": "blackhole"})
            w.write(b"b")
            await w.drain()
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(r.readexactly(1), 0.5)  # silently dropped
            with pytest.raises(asyncio.TimeoutError):
                await _roundtrip(_port(data), timeout=0.5)  # new connection accepted, never answered
            await _control(_port(ctl), "POST", "/heal")
            assert await asyncio.wait_for(r.read(), 2) == b""  # the black-holed stream is closed
            assert (await _roundtrip(_port(data)))[0] == b"ping"
    run(main())


def test_control_api_needs_token_and_valid_input():
    async def main():
        echo, proxy, data, ctl = await _setup()
        async with echo, data, ctl:
            p = _port(ctl)
            assert (await _control(p, "GET", "/health", token=None))[0] == 200
            assert (await _control(p, "POST", "/heal", token=None))[0] == 401
            assert (await _control(p, "POST", "/heal", token="wrong"))[0] == 401
            assert (await _control(p, "GET", "/state"))[0] == 200
            assert (await _control(p, "POST", "/latency", {"latency_ms": -1}))[0] == 422
            assert (await _control(p, "POST", "/latency", {"latency_ms": "5"}))[0] == 422
            assert (await _control(p, "POST", "/partition", {"mode": "bogus"}))[0] == 422
            assert (await _control(p, "POST", "/nope", {}))[0] == 404
            assert (await _control(p, "GET", "/latency"))[0] == 405
            assert proxy.mode == "ok" and proxy.latency == 0  # nothing invalid was applied
    run(main())


def test_children_of_finds_exactly_our_children():
    import subprocess
    import sys

    from loadtests.cluster import procs
    parent = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; "
                               "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); "
                               "print(p.pid, flush=True); time.sleep(30)"], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert procs.children_of(parent.pid) == [child]
        assert procs.alive(child)
    finally:
        for pid in (child, parent.pid):
            procs.signal_pid(pid, 9)
        parent.wait()
    assert procs.wait_dead([child], 5) == []


def test_bytes_keep_their_order_under_jitter_and_bulk():
    """Many small writes under jitter, then a bulk transfer past the write-buffer limit: every byte
    arrives, in order (a chunk is never delivered before the one ahead of it)."""
    async def main():
        echo, proxy, data, ctl = await _setup()
        async with echo, data, ctl:
            await _control(_port(ctl), "POST", "/latency", {"latency_ms": 20, "jitter_ms": 19})
            r, w = await asyncio.open_connection("127.0.0.1", _port(data))
            sent = b"".join(b"%05d" % i for i in range(400))
            for i in range(0, len(sent), 5):
                w.write(sent[i:i + 5])
                await w.drain()
                await asyncio.sleep(0)
            assert await asyncio.wait_for(r.readexactly(len(sent)), 5) == sent
            await _control(_port(ctl), "POST", "/heal")
            bulk = bytes(range(256)) * 20_000  # ~5 MB: the proxy must pause and resume reading
            w.write(bulk)
            assert await asyncio.wait_for(r.readexactly(len(bulk)), 10) == bulk
            w.close()
            assert proxy.state()["mode"] == "ok"
    run(main())
