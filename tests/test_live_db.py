"""Commit-outcome classification of loadtests.bank.db, without a database.

The rules under test: a failure before COMMIT is retried and, at the deadline, reported as
"unavailable" (nothing happened); a failure during COMMIT is "unknown", never retried blindly
and never "failed"; the watchdog ends a hung call by shutting the socket down (no cancel).
"""

from __future__ import annotations

import asyncio
import socket
import time
from contextlib import asynccontextmanager

import psycopg
import pytest

from loadtests.bank.db import Unavailable, UnknownOutcome, Watchdog, run_tx


class FakeConn:
    def __init__(self, fail_commit: bool):
        self.fail_commit = fail_commit
        self.rolled_back = 0

    async def commit(self):
        if self.fail_commit:
            raise psycopg.OperationalError("server closed the connection unexpectedly")

    async def rollback(self):
        self.rolled_back += 1


class FakePool:
    op_timeout = 5.0
    statement_timeout = 0.0
    commit_hold = 30.0

    def park(self, conn):
        return False

    def __init__(self, fail_commit=False):
        self.conn = FakeConn(fail_commit)
        self.dropped = 0

    @asynccontextmanager
    async def connection(self, timeout):
        yield self.conn

    def drop_idle(self):
        self.dropped += 1


def test_failure_before_commit_is_retried_then_unavailable():
    calls = []

    async def body(conn):
        calls.append(time.monotonic())
        raise psycopg.OperationalError("connection refused")

    pool = FakePool()
    with pytest.raises(Unavailable):
        asyncio.run(run_tx(pool, time.monotonic() + 0.5, body))
    assert len(calls) >= 3 and pool.dropped == len(calls)


def test_retry_succeeds_after_transient_failures():
    calls = []

    async def body(conn):
        calls.append(1)
        if len(calls) < 3:
            raise psycopg.errors.ReadOnlySqlTransaction("cannot execute UPDATE in a read-only transaction")
        return "done", True

    assert asyncio.run(run_tx(FakePool(), time.monotonic() + 5, body)) == "done"
    assert len(calls) == 3


def test_failure_during_commit_is_unknown_and_not_retried():
    calls = []

    async def body(conn):
        calls.append(1)
        return "x", True

    with pytest.raises(UnknownOutcome):
        asyncio.run(run_tx(FakePool(fail_commit=True), time.monotonic() + 5, body))
    assert len(calls) == 1


def test_no_commit_means_rollback():
    async def body(conn):
        return "read", False

    pool = FakePool(fail_commit=True)
    assert asyncio.run(run_tx(pool, time.monotonic() + 5, body)) == "read"
    assert pool.conn.rolled_back == 1


def test_watchdog_shuts_the_socket_down():
    a, b = socket.socketpair()

    class PgConn:
        socket = a.fileno()

    class Conn:
        pgconn = PgConn()

    async def main():
        wd = Watchdog(Conn(), 0.05)
        await asyncio.sleep(0.2)
        return wd.fired

    assert asyncio.run(main())
    b.settimeout(1)
    assert b.recv(10) == b""  # the peer sees the connection end: no cancel request involved
    a.close()
    b.close()


def test_cancelled_watchdog_leaves_socket_alone():
    a, b = socket.socketpair()

    class Conn:
        class pgconn:
            socket = a.fileno()

    async def main():
        wd = Watchdog(Conn(), 0.05)
        wd.cancel()
        await asyncio.sleep(0.15)
        return wd.fired

    assert not asyncio.run(main())
    a.send(b"ok")
    assert b.recv(10) == b"ok"
    a.close()
    b.close()
