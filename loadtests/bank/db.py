"""Database access of the bank: a failover-aware connection pool and the transaction runner (``run_tx``).

The transfer transaction itself, which ``run_tx`` runs, is ``loadtests.bank.transfers``.

Four rules from running Patroni cells (shared/reference/live-stack-notes.md) shape this module:

1. **Never cancel a query** that may be waiting for synchronous replication: PostgreSQL then reports the commit
   as done although no standby has it. A slow call is cut by shutting down the connection's socket
   (``Watchdog``); the server sees a dead client, the commit stays undecided until replication resolves it, and
   we report "unknown".
2. **A connection that broke during COMMIT has an unknown outcome** (``UnknownOutcome``), never "failed". Before
   COMMIT was sent, a broken connection means nothing happened (``Unavailable`` once the deadline passes) and
   the transaction is simply retried.
3. **Follow the leader Patroni's DCS names, and find it fast.** ``leader.LeaderFinder`` asks the members'
   Patroni REST APIs (``GET /cluster``, cached for a second) which member holds the leader lock and the pool
   connects to that member (through its fault proxy) only, dropping pooled connections to any other. Picking
   "any writable server" is not enough: a primary whose Patroni was killed stays writable after a standby was
   promoted (a zombie). When no Patroni answers at all, the pool falls back to the multi-host string with
   ``target_session_attrs=read-write``. psycopg_pool's reconnect backoff (1 s, doubling) would stretch a 3 s
   failover to 7 s or more, so this small pool connects on demand and retries within the caller's deadline.
4. **A connection never leaves with a transaction open.** Whatever ends a transaction early (an error, the
   watchdog, the caller's cancellation), the connection is either returned clean (``IDLE``) or discarded *now*,
   synchronously: its socket shut down and freed (``discard``), so the server sees the client gone and rolls
   back, releasing the row locks. (``conn.close()`` skips a connection psycopg already marked broken, and an
   awaited close can itself be cancelled; either left a session idle in transaction, holding locks, for as long
   as the process lived.) A cancelled caller does not cancel the query either (psycopg would send a cancel
   request, rule 1): ``run_tx`` runs each attempt in a task of its own and, when cancelled, shuts that attempt's
   socket down. A COMMIT still waiting for the synchronous standbys when the caller's time is up is not cut
   either: the caller gets ``UnknownOutcome`` and the connection stays with its commit (parked, up to
   ``commit_hold`` s, then cut), so a frozen standby cannot make every retry leave one more server session
   behind. The server side has its own bounds (``idle_in_transaction_session_timeout``, ``lock_timeout``,
   ``statement_timeout``: ``live.*`` settings, set for the bank's role); COMMIT is exempt from the statement
   timeout (a cancelled synchronous-replication wait would report a commit no standby has).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from contextlib import asynccontextmanager

import psycopg
from psycopg import errors as pgerr
from psycopg.conninfo import make_conninfo
from psycopg.pq import TransactionStatus

from loadtests.bank.leader import LeaderFinder

__all__ = ["Pool", "Unavailable", "UnknownOutcome", "Watchdog", "run_tx", "RETRYABLE", "shutdown_socket", "discard"]


class Unavailable(Exception):
    """No primary answered before the deadline; nothing was committed."""


class UnknownOutcome(Exception):
    """The connection broke while COMMIT was in flight: the transfer may or may not exist."""


# server-side errors after which the same transaction can safely run again elsewhere
# (LockNotAvailable: the role's lock_timeout; IdleInTransactionSessionTimeout: the server ended a
# session we left idle, e.g. while this process was frozen; QueryCanceled: statement_timeout,
# never on COMMIT, which is exempt)
RETRYABLE = (pgerr.ReadOnlySqlTransaction, pgerr.SerializationFailure, pgerr.DeadlockDetected,
             pgerr.AdminShutdown, pgerr.CannotConnectNow, pgerr.CrashShutdown, pgerr.LockNotAvailable,
             pgerr.IdleInTransactionSessionTimeout, pgerr.QueryCanceled)


# COMMIT exempt from the role's statement_timeout, sent as one message (``_attempt``)
EXEMPT_COMMIT = "SET LOCAL statement_timeout = 0; COMMIT"


def shutdown_socket(conn) -> None:
    """End ``conn``'s TCP connection now (both directions), without a cancel request.

    shutdown(2) on a duplicate of the descriptor ends the connection for every copy, so a psycopg
    call blocked on it returns at once with an OperationalError, and the server (through the
    fault proxy) sees the client gone: an open transaction is rolled back.
    """
    try:
        s = socket.socket(fileno=os.dup(conn.pgconn.socket))
        try:
            s.shutdown(socket.SHUT_RDWR)
        finally:
            s.close()
    except Exception:  # connection already gone: nothing to cut
        pass


def discard(conn) -> None:
    """Drop ``conn`` now, synchronously (nothing to await, so nothing a cancellation can skip):
    its socket shut down, then freed, also when psycopg already marked it broken."""
    shutdown_socket(conn)
    try:
        conn.pgconn.finish()
    except Exception:  # already finished
        pass


class Watchdog:
    """After ``timeout`` s, unless cancelled first, calls ``on_fire(conn)``: by default shuts the
    connection's socket down (``shutdown_socket``); no cancel request is ever sent to the server."""

    def __init__(self, conn: psycopg.AsyncConnection, timeout: float, on_fire=None):
        self.conn = conn
        self.fired = False
        self._on_fire = on_fire or shutdown_socket
        self._handle = asyncio.get_running_loop().call_later(max(timeout, 0.001), self._fire)

    def _fire(self) -> None:
        self.fired = True
        self._on_fire(self.conn)

    def cancel(self) -> None:
        self._handle.cancel()


class Pool:
    """At most ``size`` connections to the current primary, opened on demand.

    Bounded on both sides: at most ``size`` connections are in use (a caller waits for one at
    most until its deadline, then gets ``Unavailable``), at most ``size`` more are parked with a
    COMMIT that outlived its caller (``park``), at most ``size`` are kept idle, and a connection
    that is not clean when released is discarded at once (``discard``), never left open. So the
    server never holds more than 2 x ``size`` sessions of one pool. ``statement_timeout``
    (seconds, 0 = none): the role's server-side statement timeout; when set, each COMMIT is
    exempted from it (``SET LOCAL statement_timeout = 0`` sent with it, ``EXEMPT_COMMIT``). ``commit_hold``: how long a
    parked COMMIT may still wait before its socket is cut (default: the statement timeout, or 30 s).
    """

    def __init__(self, dsn: str, size: int = 8, op_timeout: float = 5.0, connect_timeout: float = 3.0,
                 members: list[dict] | None = None, statement_timeout: float = 0.0,
                 commit_hold: float | None = None):
        self.dsn = dsn
        self.finder = LeaderFinder(members) if members else None
        self.size = size
        self.op_timeout = op_timeout
        self.connect_timeout = connect_timeout
        self.statement_timeout = statement_timeout
        self.commit_hold = commit_hold if commit_hold is not None else (statement_timeout or 30.0)
        self._idle: list[psycopg.AsyncConnection] = []
        self._sem = asyncio.Semaphore(size)
        self.primary_port: int | None = None  # port (of the member's proxy) we last reached
        self.failovers_seen = 0
        self.connects = 0
        self.in_use = 0
        # connections handed to callers now (not parked). in_use also counts callers still waiting
        # for their connection (a leader refresh, a connect): bounding idle by in_use closed good
        # connections whenever one waited, ~2 reconnects a second under load (issue 17 item 4)
        self.held = 0
        self.discarded = 0   # connections dropped because they were not clean when released
        self.busy_timeouts = 0  # callers that found every connection in use until their deadline
        self.parked = 0         # connections whose COMMIT outlived its caller, still waiting
        self._parked: set[int] = set()

    def stats(self) -> dict:
        """Pool figures for /health (a stuck bank shows them: in use, idle, discarded)."""
        return {"size": self.size, "in_use": self.in_use, "held": self.held, "parked": self.parked,
                "idle": len(self._idle),
                "connects": self.connects, "discarded": self.discarded, "busy_timeouts": self.busy_timeouts}

    def park(self, conn) -> bool:
        """Move ``conn`` (in use, its COMMIT still waiting) out of the ``size`` in-use slots, if
        fewer than ``size`` are parked: its slot serves the next caller while the commit finishes.
        Otherwise it keeps its slot (the pool then fills up: callers get 503, never a pile-up)."""
        if self.parked >= self.size or id(conn) in self._parked:
            return False
        self._parked.add(id(conn))
        self.parked += 1
        self.in_use -= 1
        self.held -= 1
        self._sem.release()
        return True

    async def _connect(self, timeout: float) -> psycopg.AsyncConnection:
        dsn = self.dsn
        if self.finder is not None:
            port, answered = await self.finder.port()
            if port is not None:
                dsn = make_conninfo(self.dsn, host="127.0.0.1", port=str(port))
            elif answered:
                raise psycopg.OperationalError("no leader in the DCS right now (failover in progress)")
            # no Patroni answered: fall back to any writable member (multi-host string)
        # No query runs during connect, so cutting it short is harmless; but a connect that
        # completes as the timeout (or a cancellation) hits must not leak: it is discarded.
        task = asyncio.ensure_future(psycopg.AsyncConnection.connect(
            dsn, autocommit=False, connect_timeout=max(1, int(min(timeout, self.connect_timeout)))))
        try:
            async with asyncio.timeout(timeout):
                conn = await asyncio.shield(task)
        except BaseException:
            task.add_done_callback(_discard_result)
            task.cancel()
            raise
        self.connects += 1
        port = conn.info.port
        if self.primary_port is not None and port != self.primary_port:
            self.failovers_seen += 1
        self.primary_port = port
        return conn

    @asynccontextmanager
    async def connection(self, timeout: float):
        """A connection in a fresh transaction; one not clean on release is discarded, not reused."""
        end = time.monotonic() + timeout
        if self._sem.locked():  # every connection in use: wait for one until the deadline
            try:
                # asyncio.timeout, not wait_for: Semaphore.acquire itself handles being cancelled
                # after it was woken up, so no permit is ever lost
                async with asyncio.timeout(max(timeout, 0.001)):
                    await self._sem.acquire()
            except TimeoutError:
                self.busy_timeouts += 1
                raise Unavailable("all database connections busy") from None
        else:  # a free permit is taken without suspending: no timer to arm and cancel per call
            await self._sem.acquire()
        self.in_use += 1
        conn = None
        try:
            leader = (await self.finder.port())[0] if self.finder is not None else None
            while self._idle:
                c = self._idle.pop()
                if (not c.closed and c.info.transaction_status == TransactionStatus.IDLE
                        and (leader is None or c.info.port == leader)):
                    conn = c
                    break
                discard(c)  # broken, or connected to a member that is no longer the leader
            if conn is None:
                conn = await self._connect(max(end - time.monotonic(), MIN_CALL_SECONDS))
            self.held += 1
            ok = False
            try:
                yield conn
                ok = True
            finally:
                if id(conn) not in self._parked:  # a parked one left ``held`` when it was parked
                    self.held -= 1
                # idle only as a spare for the connections held (idle + held <= size): <= 2 x size on the server
                if (ok and not conn.closed and conn.info.transaction_status == TransactionStatus.IDLE
                        and len(self._idle) + self.held < self.size):
                    self._idle.append(conn)
                else:
                    # an error, a cancellation or a transaction left open: the server must roll
                    # it back now, so the socket goes, synchronously (no await can be skipped)
                    if not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
                        self.discarded += 1
                    discard(conn)
        finally:
            if conn is not None and id(conn) in self._parked:
                self._parked.discard(id(conn))
                self.parked -= 1
            else:
                self.in_use -= 1
                self._sem.release()

    def drop_idle(self) -> None:
        """Forget idle connections (after a failover they point at the old primary)."""
        if self.finder is not None:
            self.finder.invalidate()
        idle, self._idle = self._idle, []
        for c in idle:
            discard(c)

    async def close(self) -> None:
        self.drop_idle()
        if self.finder is not None:
            await self.finder.close()


def _discard_result(task: asyncio.Future) -> None:
    """Done-callback of an abandoned connect: close the connection it made, if any."""
    if not task.cancelled() and task.exception() is None:
        discard(task.result())


class _Attempt:
    """One transaction attempt of ``run_tx`` as its own task: the connection it holds, whether
    its caller gave up (then it must not start its body), whether COMMIT was sent, and
    ``released``: set when the attempt's task is done or, before that, when the caller's time
    ran out during COMMIT (the caller then gets ``UnknownOutcome``). The caller waits on this one
    future (``release``), not on ``asyncio.wait`` over two: the same wake-up, without a waiter,
    two callbacks and two sets made and undone on every database call (issue 17 item 4)."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.conn: psycopg.AsyncConnection | None = None
        self.abandoned = False
        self.committing = False
        self.released = loop.create_future()

    def release(self, _task=None) -> None:
        """Wake the caller (once; a cancelled caller has cancelled ``released``: nothing to wake)."""
        if not self.released.done():
            self.released.set_result(None)


async def _attempt(pool: Pool, deadline: float, body, att: _Attempt):
    async with pool.connection(deadline - time.monotonic()) as conn:
        if att.abandoned:
            raise Unavailable("caller gave up")
        att.conn = conn
        hold: list[Watchdog] = []

        def times_up(conn) -> None:
            # before COMMIT: cut the socket (the server rolls back). During COMMIT: never cut
            # at once (the server would keep the session waiting for its standbys anyway, and
            # the next attempt would add one more): release the caller, park the connection
            # and cut it only after commit_hold
            if att.committing:
                pool.park(conn)
                att.release()
                hold.append(Watchdog(conn, pool.commit_hold))
            else:
                shutdown_socket(conn)

        wd = Watchdog(conn, max(min(pool.op_timeout, deadline - time.monotonic()), MIN_CALL_SECONDS), times_up)
        try:
            result, commit = await body(conn)
            if commit:
                if pool.statement_timeout > 0 and conn.info.transaction_status == TransactionStatus.INTRANS:
                    # a statement timeout on COMMIT would cancel a synchronous-replication wait:
                    # PostgreSQL then makes the commit visible although no standby has it. Both in
                    # one round trip (one simple-query message, which PostgreSQL >= 13 times per
                    # statement: COMMIT starts with no timeout); COMMIT is on the wire with it
                    att.committing = True
                    await conn.execute(EXEMPT_COMMIT, prepare=False)
                else:
                    if pool.statement_timeout > 0:  # not a clean open transaction: as it was
                        await conn.execute("SET LOCAL statement_timeout = 0")
                    att.committing = True
                    await conn.commit()
            else:
                await conn.rollback()
        finally:
            wd.cancel()
            for h in hold:
                h.cancel()
        return result


def _consume(task: asyncio.Future) -> None:
    if not task.cancelled():
        task.exception()  # an abandoned attempt's error is expected: retrieve it, log nothing


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
    connection (the old primary may be gone); a failure during COMMIT, or a COMMIT not answered
    within ``pool.op_timeout``, raises ``UnknownOutcome``. Cancelling the caller shuts the
    attempt's socket down before COMMIT (the server rolls back); a COMMIT in flight is left to
    finish on its parked connection (rule 4 of the module docstring).
    """
    backoff = DB_RETRY_BACKOFF
    last_err: Exception | None = None
    loop = asyncio.get_running_loop()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Unavailable(str(last_err) if last_err else "deadline passed")
        att = _Attempt(loop)
        task = loop.create_task(_attempt(pool, deadline, body, att))
        task.add_done_callback(att.release)
        try:
            # a cancelled caller cancels ``released`` only, never the attempt: handled below
            await att.released
        except asyncio.CancelledError:
            if not task.done():
                att.abandoned = True
                if att.conn is not None and not att.committing:
                    shutdown_socket(att.conn)
                task.add_done_callback(_consume)
            raise
        if not task.done():  # the caller's time is up while COMMIT waits for the standbys
            task.add_done_callback(_consume)
            raise UnknownOutcome(f"COMMIT not answered within {pool.op_timeout:g}s (waiting for the synchronous "
                                 "standbys; its connection is kept until it completes)")
        try:
            return task.result()
        except (Unavailable, TimeoutError) as exc:
            last_err = exc
        except (psycopg.OperationalError, psycopg.InterfaceError, *RETRYABLE) as exc:
            if att.committing:
                raise UnknownOutcome(str(exc).strip() or type(exc).__name__) from None
            last_err = exc
            pool.drop_idle()
        except OSError as exc:  # connect failures surfacing as OS errors
            last_err = exc
        await asyncio.sleep(min(backoff, max(deadline - time.monotonic(), 0)))
        backoff = min(backoff * 2, DB_RETRY_MAX_BACKOFF)
