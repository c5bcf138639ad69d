"""Which database member holds a cell's leader lock, per Patroni (rule 3 of ``loadtests.bank.db``).

The pool connects to that member (through its fault proxy) only: a primary whose Patroni was
killed stays writable after a standby was promoted, so "any writable server" is not enough.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp

__all__ = ["LeaderFinder"]


class LeaderFinder:
    """Which member holds the cell's leader lock, per Patroni (cached for ``ttl`` seconds).

    ``members``: ``[{"name", "port" (the member's proxy port), "rest" (Patroni REST URL)}]``.
    ``port()`` returns ``(proxy port of the leader or None, whether any Patroni answered)``.
    """

    def __init__(self, members: list[dict], ttl: float = 1.0, timeout: float = 0.5):
        self.members = members
        self.ttl = ttl
        self.timeout = timeout
        self._at = -1e9
        self._value: tuple[int | None, bool] = (None, False)
        self._lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None
        self._order = list(range(len(members)))

    def invalidate(self) -> None:
        self._at = -1e9

    async def port(self) -> tuple[int | None, bool]:
        if time.monotonic() - self._at < self.ttl:
            return self._value
        async with self._lock:
            if time.monotonic() - self._at < self.ttl:
                return self._value
            self._value = await self._ask()
            self._at = time.monotonic()
            return self._value

    async def _ask(self) -> tuple[int | None, bool]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        answered = False
        for i in list(self._order):
            m = self.members[i]
            try:
                async with self._session.get(m["rest"] + "/cluster") as r:
                    if r.status != 200:
                        continue
                    view = await r.json()
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                continue
            answered = True
            # ask this member first next time: it answered
            self._order.remove(i)
            self._order.insert(0, i)
            for v in view.get("members", []):
                if v.get("role") == "leader":
                    for mm in self.members:
                        if mm["name"] == v.get("name"):
                            return mm["port"], True
            return None, True  # the DCS names no leader right now (election in progress)
        return None, answered

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
