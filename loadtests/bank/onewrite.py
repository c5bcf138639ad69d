"""uvicorn's httptools protocol with one socket write per response instead of two.

uvicorn writes a response's status line and headers (``http.response.start``) and its body
(``http.response.body``) with two ``transport.write`` calls, so every answer of the gateway and
of the app servers left as two TCP segments: two send(2) calls in the server, and often two
wake-ups of the reader (the load client, or the gateway reading an app server's answer). Under
bench_bank load the two writes were about a fifth of the gateway's busy time in a py-spy profile
(issue 17 item 4).

``OneWriteProtocol`` hands uvicorn a transport whose ``write`` only collects the bytes; they
go out as one write at the end of the current event-loop iteration (``call_soon``), when both
halves of the response are there. Everything else is the real transport's: ``close`` sends what
is collected first (so a ``Connection: close`` answer is never cut), ``abort`` drops it (as the
real abort would), and flow control still works on the real transport, which calls the protocol
itself. Nothing is held past the iteration that wrote it, so no latency is added.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["OneWriteProtocol"]


class _Collecting:
    """A transport whose writes within one loop iteration leave as one write of the real one."""

    __slots__ = ("_transport", "_loop", "_buf")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop):
        self._transport = transport
        self._loop = loop
        self._buf: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._buf:
            self._loop.call_soon(self._flush)
        self._buf.append(data)

    def _flush(self) -> None:
        if self._buf:
            data = b"".join(self._buf)
            self._buf = []
            self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._buf = []
        self._transport.abort()

    def __getattr__(self, name):  # is_closing, get_extra_info, pause/resume_reading, ...
        return getattr(self._transport, name)


class OneWriteProtocol(HttpToolsProtocol):
    """``uvicorn.Config(http=OneWriteProtocol)``: HttpToolsProtocol writing each response once."""

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(_Collecting(transport, self.loop))
