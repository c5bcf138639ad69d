"""Database access of the bank: a failover-aware connection pool and the transfer transactions.

Three rules from running Patroni cells (shared/reference/live-stack-notes.md) shape this module:

1. **Never cancel a query** that may be waiting for synchronous replication: PostgreSQL then
   reports the commit as done although no standby has it. A slow call is cut by shutting down
   the connection's socket (``Watchdog``); the server sees a dead client, the commit stays
   undecided until replication resolves it, and we report "unknown".
2. **A connection that broke during COMMIT has an unknown outcome** (``UnknownOutcome``), never
   "failed". Before COMMIT was sent, a broken connection means nothing happened
   (``Unavailable`` once the deadline passes) and the transaction is simply retried.
3. **Follow the leader Patroni's DCS names, and find it fast.** ``LeaderFinder`` asks the
   members' Patroni REST APIs (``GET /cluster``, cached for a second) which member holds the
   leader lock and the pool connects to that member (through its fault proxy) only, dropping
   pooled connections to any other. Picking "any writable server" is not enough: a primary whose
   Patroni was killed stays writable after a standby was promoted (a zombie). When no Patroni
   answers at all, the pool falls back to the multi-host string with
   ``target_session_attrs=read-write``. psycopg_pool's reconnect backoff (1 s, doubling) would
   stretch a 3 s failover to 7 s or more, so this small pool connects on demand and retries
   within the caller's deadline.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
import psycopg
from psycopg import errors as pgerr
from psycopg.conninfo import make_conninfo
from psycopg.pq import TransactionStatus

__all__ = ["Pool", "LeaderFinder", "Unavailable", "UnknownOutcome", "Watchdog", "run_tx", "transfer_tx",
           "TransferResult", "RETRYABLE"]


class Unavailable(Exception):
    """No primary answered before the deadline; nothing was committed."""


class UnknownOutcome(Exception):
    """The connection broke while COMMIT was in flight: the transfer may or may not exist."""


# server-side errors after which the same transaction can safely run again elsewhere
RETRYABLE = (pgerr.ReadOnlySqlTransaction, pgerr.SerializationFailure, pgerr.DeadlockDetected,
             pgerr.AdminShutdown, pgerr.CannotConnectNow, pgerr.CrashShutdown)


class Watchdog:
    """Shuts a connection's socket down after ``timeout`` s unless cancelled first.

    shutdown(2) on a duplicate of the descriptor ends the TCP connection for every copy, so the
    psycopg call blocked on it returns at once with an OperationalError; no cancel request is
    ever sent to the server.
    """

    def __init__(self, conn: psycopg.AsyncConnection, timeout: float):
        self.conn = conn
        self.fired = False
        self._handle = asyncio.get_running_loop().call_later(max(timeout, 0.001), self._fire)

    def _fire(self) -> None:
        self.fired = True
        try:
            fd = self.conn.pgconn.socket
            s = socket.socket(fileno=os.dup(fd))
            try:
                s.shutdown(socket.SHUT_RDWR)
            finally:
                s.close()
        except Exception:  # connection already gone: nothing to cut
            pass

    def cancel(self) -> None:
        self._handle.cancel()


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


class Pool:
    """At most ``size`` connections to the current primary, opened on demand."""

    def __init__(self, dsn: str, size: int = 8, op_timeout: float = 5.0, connect_timeout: float = 3.0,
                 members: list[dict] | None = None):
        self.dsn = dsn
        self.finder = LeaderFinder(members) if members else None
        self.size = size
        self.op_timeout = op_timeout
        self.connect_timeout = connect_timeout
        self._idle: list[psycopg.AsyncConnection] = []
        self._sem = asyncio.Semaphore(size)
        self.primary_port: int | None = None  # port (of the member's proxy) we last reached
        self.failovers_seen = 0
        self.connects = 0

    async def _connect(self, timeout: float) -> psycopg.AsyncConnection:
        dsn = self.dsn
        if self.finder is not None:
            port, answered = await self.finder.port()
            if port is not None:
                dsn = make_conninfo(self.dsn, host="127.0.0.1", port=str(port))
            elif answered:
                raise psycopg.OperationalError("no leader in the DCS right now (failover in progress)")
            # no Patroni answered: fall back to any writable member (multi-host string)
        # No query runs during connect, so a wait_for cancel here is harmless.
        conn = await asyncio.wait_for(
            psycopg.AsyncConnection.connect(dsn, autocommit=False,
                                            connect_timeout=max(1, int(min(timeout, self.connect_timeout)))),
            timeout)
        self.connects += 1
        port = conn.info.port
        if self.primary_port is not None and port != self.primary_port:
            self.failovers_seen += 1
        self.primary_port = port
        return conn

    @asynccontextmanager
    async def connection(self, timeout: float):
        """A connection in a fresh transaction; a broken or busy one is closed, not reused."""
        end = time.monotonic() + timeout
        try:
            await asyncio.wait_for(self._sem.acquire(), timeout)
        except asyncio.TimeoutError:
            raise Unavailable("all database connections busy") from None
        conn = None
        try:
            leader = (await self.finder.port())[0] if self.finder is not None else None
            while self._idle:
                c = self._idle.pop()
                if (not c.closed and c.info.transaction_status == TransactionStatus.IDLE
                        and (leader is None or c.info.port == leader)):
                    conn = c
                    break
                await _close(c)  # broken, or connected to a member that is no longer the leader
            if conn is None:
                conn = await self._connect(max(end - time.monotonic(), MIN_CALL_SECONDS))
            ok = False
            try:
                yield conn
                ok = True
            finally:
                if ok and not conn.closed and conn.info.transaction_status == TransactionStatus.IDLE:
                    self._idle.append(conn)
                else:
                    await _close(conn)
        finally:
            self._sem.release()

    def drop_idle(self) -> None:
        """Forget idle connections (after a failover they point at the old primary)."""
        if self.finder is not None:
            self.finder.invalidate()
        idle, self._idle = self._idle, []
        for c in idle:
            asyncio.ensure_future(_close(c))

    async def close(self) -> None:
        for c in self._idle:
            await _close(c)
        self._idle = []
        if self.finder is not None:
            await self.finder.close()


async def _close(conn) -> None:
    try:
        await asyncio.wait_for(conn.close(), 1.0)
    except Exception:
        pass


# The app server's retries towards its cell's database (inside the gateway's deadline): a first
# wait short against a failover's seconds, doubling to a cap that still retries a few times a
# second, so the first attempt after the new primary is up comes within a quarter second.
DB_RETRY_BACKOFF = 0.02
DB_RETRY_MAX_BACKOFF = 0.25
# the least time a database call is given, even when the deadline is (nearly) spent
MIN_CALL_SECONDS = 0.05


async def run_tx(pool: Pool, deadline: float, body):
    """Run ``await body(conn) -> (result, commit: bool)`` until it commits or the deadline passes.

    ``deadline`` is a ``time.monotonic()`` instant. Failures before COMMIT are retried on a new
    connection (the old primary may be gone); a failure during COMMIT raises ``UnknownOutcome``.
    """
    backoff = DB_RETRY_BACKOFF
    last_err: Exception | None = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Unavailable(str(last_err) if last_err else "deadline passed")
        committing = False
        try:
            async with pool.connection(remaining) as conn:
                wd = Watchdog(conn, min(pool.op_timeout, max(deadline - time.monotonic(), MIN_CALL_SECONDS)))
                try:
                    result, commit = await body(conn)
                    if commit:
                        committing = True
                        await conn.commit()
                    else:
                        await conn.rollback()
                finally:
                    wd.cancel()
                return result
        except (Unavailable, asyncio.TimeoutError) as exc:
            last_err = exc
        except (psycopg.OperationalError, psycopg.InterfaceError, *RETRYABLE) as exc:
            if committing:
                raise UnknownOutcome(str(exc).strip() or type(exc).__name__) from None
            last_err = exc
            pool.drop_idle()
        except OSError as exc:  # connect failures surfacing as OS errors
            last_err = exc
        await asyncio.sleep(min(backoff, max(deadline - time.monotonic(), 0)))
        backoff = min(backoff * 2, DB_RETRY_MAX_BACKOFF)


@dataclass
class TransferResult:
    """What a transfer attempt found: ``outcome`` is one of applied, pending, rejected,
    unknown_account, key_conflict (same key, other body)."""

    outcome: str
    key: str
    src: str
    dst: str
    amount: int
    cross_cell: bool
    missing: list[str] | None = None


async def transfer_tx(conn: psycopg.AsyncConnection, key: str, src: str, dst: str, amount: int,
                      dst_cell: int | None):
    """The transfer transaction body for ``run_tx`` (also used by the raw benchmark).

    Same cell (``dst_cell is None``): lock both accounts in id order, record the transfer, move
    the money. Cross cell: lock the source, record the transfer as pending, debit and write the
    outbox row. An insufficient balance records the key as rejected (a retry answers the same).
    The key's INSERT ... ON CONFLICT waits for a concurrent transaction holding the same key, so
    two racing retries can never both apply.
    """
    cross = dst_cell is not None
    ids = [src] if cross else sorted((src, dst))
    cur = await conn.execute("SELECT id, balance FROM accounts WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
                             (ids,))
    balances = dict(await cur.fetchall())
    missing = [a for a in ids if a not in balances]
    if missing:
        return TransferResult("unknown_account", key, src, dst, amount, cross, missing), False
    status = ("pending" if cross else "applied") if balances[src] >= amount else "rejected"
    cur = await conn.execute(
        "INSERT INTO transfers (key, src, dst, amount, status, dst_cell, reason) VALUES (%s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (key) DO NOTHING RETURNING 1",
        (key, src, dst, amount, status, dst_cell, "insufficient_funds" if status == "rejected" else None))
    if cur.rowcount == 0:  # key seen before: answer with the original outcome, change nothing
        await conn.rollback()
        cur = await conn.execute("SELECT src, dst, amount, status, dst_cell FROM transfers WHERE key = %s", (key,))
        row = await cur.fetchone()
        if row is None:  # cannot happen (rows are never deleted), but never guess
            raise psycopg.OperationalError("transfer key vanished")
        if (row[0], row[1], row[2]) != (src, dst, amount):
            return TransferResult("key_conflict", key, row[0], row[1], row[2], row[4] is not None), False
        return TransferResult(row[3], key, src, dst, amount, row[4] is not None), False
    if status == "rejected":
        return TransferResult("rejected", key, src, dst, amount, cross), True
    if cross:
        await conn.execute(
            "WITH d AS (UPDATE accounts SET balance = balance - %(a)s WHERE id = %(s)s) "
            "INSERT INTO outbox (key, src, dst_cell, dst, amount) VALUES (%(k)s, %(s)s, %(c)s, %(d)s, %(a)s)",
            {"a": amount, "s": src, "k": key, "c": dst_cell, "d": dst})
    else:
        await conn.execute(
            "UPDATE accounts SET balance = balance + CASE WHEN id = %(s)s THEN -%(a)s::bigint ELSE %(a)s::bigint END "
            "WHERE id IN (%(s)s, %(d)s)", {"a": amount, "s": src, "d": dst})
    return TransferResult(status, key, src, dst, amount, cross), True
