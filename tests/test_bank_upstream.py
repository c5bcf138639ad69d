"""The gateway's HTTP client (loadtests.bank.upstream) and uvicorn's one-write protocol
(loadtests.bank.onewrite), against local servers: no cluster.

The client's two failure kinds decide a transfer's outcome at the gateway (NotSent: retry is
safe; Lost: the outcome is unknown), so each is provoked here, and every wait must end."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest

pytest.importorskip("httptools")
uvicorn = pytest.importorskip("uvicorn")

from loadtests.bank.onewrite import OneWriteProtocol  # noqa: E402
from loadtests.bank.upstream import Lost, NotSent, Upstream  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _echo(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        m = await receive()
        body += m.get("body", b"")
        if not m.get("more_body"):
            break
    out = b"%s %s %s" % (scope["method"].encode(), scope["path"].encode(), body)
    await send({"type": "http.response.start", "status": 201,
                "headers": [(b"content-length", str(len(out)).encode()), (b"x-client", str(scope["client"][1]).encode())]})
    await send({"type": "http.response.body", "body": out})


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(_echo, host="127.0.0.1", port=port, log_level="warning",
                                        http=OneWriteProtocol, lifespan="off"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    end = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < end, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", port
    srv.should_exit = True
    th.join(5)


def test_answers_and_keeps_the_connection(server):
    base, _ = server

    async def go():
        up = Upstream()
        got = [await up.request("POST", base, "/transfers", body=b'{"a":1}', timeout=2) for _ in range(3)]
        got.append(await up.request("GET", base, "/accounts/x", params={"from": "y"}, timeout=2))
        idle = [len(v) for v in up._idle.values()]
        await up.close()
        return got, idle

    got, idle = asyncio.run(go())
    assert idle == [1]  # the four requests went over one kept connection
    assert got[:3] == [(201, b'POST /transfers {"a":1}')] * 3
    assert got[3] == (201, b"GET /accounts/x ")


def test_answer_complete_when_the_server_closes(server):
    # the collected response is written before a Connection: close / HTTP/1.0 close
    _, port = server
    for req in (b"GET /a HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n", b"GET /b HTTP/1.0\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(req)
            first = s.recv(65536)
            rest = b""
            while chunk := s.recv(65536):
                rest += chunk
        assert first.startswith(b"HTTP/1.1 201") and first.endswith(b"GET /" + req[5:6] + b" ")  # headers + body
        assert rest == b""


def test_refused_connection_is_not_sent():
    async def go():
        return await Upstream().request("POST", f"http://127.0.0.1:{_free_port()}", "/transfers", body=b"{}",
                                        timeout=2)
    with pytest.raises(NotSent):
        asyncio.run(go())


@pytest.mark.parametrize("behaviour", ["close", "silent"])
def test_sent_without_answer_is_lost_within_the_timeout(behaviour):
    async def go():
        async def handle(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            if behaviour == "close":
                writer.close()
            else:
                await asyncio.sleep(5)
        srv = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        t0 = time.monotonic()
        try:
            with pytest.raises(Lost):
                await Upstream().request("POST", f"http://127.0.0.1:{port}", "/transfers", body=b"{}", timeout=0.3)
        finally:
            srv.close()
        return time.monotonic() - t0

    assert asyncio.run(go()) < 2


def test_unsafe_paths_are_refused():
    with pytest.raises(ValueError):
        asyncio.run(Upstream().request("GET", "http://127.0.0.1:9", "/a\r\nx: y", timeout=1))
