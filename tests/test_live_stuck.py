"""Live test: the bank gets unstuck by itself after a gateway pause under load (issue 15, item 3).

A 2-cell bank (scenarios/live-smoke.yaml, few hot accounts so transfers contend for row locks)
runs cross-cell-heavy transfers from 24 threads for ~26 s while a synchronous standby of cell 0
is frozen for 10 s (commits wait), the relay is frozen (its destination locks are held) and then the
gateway is frozen for 3 s. Afterwards, within a bounded time, no database session may be left
idle in a transaction, the relay must have delivered every cross-cell credit, money is conserved,
and the bank's sessions per member stayed bounded (no pile-up behind a lock or a waiting COMMIT).
Skipped when etcd/Patroni/PostgreSQL are missing (unless HIVESIM_REQUIRE_LIVE=1).
"""

from __future__ import annotations

import random
import signal
import threading
import time
import uuid

import httpx
import pytest

from loadtests.bank.routing import account_id, cell_of
from loadtests.chaos.adapter import member_dsns
from loadtests.cluster import Cluster, procs
from loadtests.sessions import describe_sessions, sessions_report
from sim.scenario import load_scenario
from tests.conftest import require_live

pytestmark = pytest.mark.live

N_ACCOUNTS = 24  # few accounts: transfers queue for the same row locks
BALANCE = 1_000_000
THREADS = 24
LOAD_SECONDS = 26.0
SETTLE_SECONDS = 60.0
IDLE_TIMEOUT = 6  # live.idle_in_transaction_timeout for this module (s)



def _load(url: str, stop: threading.Event, counts: dict, lock: threading.Lock, seed: int) -> None:
    rng = random.Random(seed)
    by_cell: dict[int, list[str]] = {}
    for i in range(N_ACCOUNTS):
        by_cell.setdefault(cell_of(account_id(i), 2), []).append(account_id(i))
    with httpx.Client(base_url=url, timeout=15.0) as http:
        while not stop.is_set():
            src_cell = rng.randrange(2)
            dst_cell = 1 - src_cell if rng.random() < 0.7 else src_cell  # cross-cell heavy
            src = rng.choice(by_cell[src_cell])
            dst = rng.choice([a for a in by_cell[dst_cell] if a != src])
            try:
                r = http.post("/transfers", json={"key": uuid.uuid4().hex, "from": src, "to": dst,
                                                  "amount": rng.randint(1, 100)})
                k = str(r.status_code)
            except httpx.HTTPError as exc:
                k = type(exc).__name__
            with lock:
                counts[k] = counts.get(k, 0) + 1


@pytest.fixture(scope="module")
def cluster():
    require_live()
    sc = load_scenario("scenarios/live-smoke.yaml", sets=[f"live.accounts={N_ACCOUNTS}",
                                                          f"live.initial_balance={BALANCE}",
                                                          f"live.idle_in_transaction_timeout={IDLE_TIMEOUT}"])
    c = Cluster(sc, f"/tmp/hivesim-test-stuck-{uuid.uuid4().hex[:8]}")
    try:
        c.up()
        yield sc, c
    finally:
        if c.state:
            c.down()


def test_gateway_pause_under_load_leaves_no_open_transaction_and_relay_drains(cluster):
    sc, c = cluster
    members = member_dsns(c)
    stop, lock, counts = threading.Event(), threading.Lock(), {}
    threads = [threading.Thread(target=_load, args=(c.gateway_url, stop, counts, lock, i), daemon=True)
               for i in range(THREADS)]
    # "held": a member's sessions in two samples in a row (~1 s apart), the count a pile-up keeps;
    # "sessions": any one sample, which may catch backends of connections the pool has just cut
    # (they end within client_connection_check_interval, 1 s: loadtests.cluster.patroni)
    peak = {"sessions": 0, "held": 0, "idle_tx_seconds": 0.0, "at": None}
    last_seen: dict[str, int] = {}

    def sample():
        rep = sessions_report(members)
        for name, r in rep.items():
            n = r.get("sessions", 0)
            held = min(n, last_seen.get(name, 0))
            last_seen[name] = n
            if held > peak["held"]:  # which clients, in which states, at the peak
                peak["at"] = (round(time.monotonic() - t0, 1), name, r.get("by_client_state"))
            peak["held"] = max(peak["held"], held)
            peak["sessions"] = max(peak["sessions"], n)
            for s in r.get("idle_in_transaction", []):
                peak["idle_tx_seconds"] = max(peak["idle_tx_seconds"], s["state_seconds"])
        return rep

    t0 = time.monotonic()
    for t in threads:
        t.start()
    standby = next(m["name"] for m in c.members(0) if m["role"] == "sync_standby")
    schedule = [(3.0, lambda: c.pause_member(standby)), (13.0, lambda: c.resume_member(standby)),
                (6.0, lambda: c.pause(c.relay_pid)), (12.0, lambda: c.resume(c.relay_pid)),
                (16.0, lambda: c.pause(c.gateway_pid)), (19.0, lambda: c.resume(c.gateway_pid))]
    schedule.sort(key=lambda x: x[0])
    try:
        last = 0.0
        for at, act in schedule + [(LOAD_SECONDS, lambda: None)]:
            while time.monotonic() - t0 < at:
                if time.monotonic() - last >= 1.0:  # sessions sampled about every second
                    last = time.monotonic()
                    sample()
                time.sleep(0.1)
            act()
    finally:
        for pid in (c.gateway_pid, c.relay_pid):  # never leave a frozen process behind
            if pid:
                procs.signal_pid(pid, signal.SIGCONT)
        c.resume_member(standby)
        stop.set()
        for t in threads:
            t.join(30)
    load_end = time.monotonic()

    # the bank must settle by itself: no open transaction left, every credit delivered
    audit, rep, idle = None, {}, ["?"]
    while time.monotonic() - load_end < SETTLE_SECONDS:
        rep = sample()
        idle = [(n, s["pid"], s["client"], s["state_seconds"]) for n, r in rep.items()
                for s in r.get("idle_in_transaction", [])]
        try:
            r = httpx.get(c.gateway_url + "/audit", timeout=10)
            audit = r.json() if r.status_code == 200 else None
        except httpx.HTTPError:
            audit = None
        if not idle and audit and audit["pending_transfers"] == 0 and not any("error" in x for x in rep.values()):
            break
        time.sleep(1.0)
    settled = time.monotonic() - load_end
    print(f"\nstuck-test: requests {dict(sorted(counts.items()))}; peak sessions per member "
          f"{peak['sessions']} (held over two samples {peak['held']}); longest idle-in-transaction seen {peak['idle_tx_seconds']:.1f}s; "
          f"settled after {settled:.1f}s; audit pending {audit and audit['pending_transfers']}, "
          f"in flight {audit and audit['in_flight']}")
    for line in describe_sessions(rep):
        print("  " + line)
    assert not idle, f"sessions left idle in transaction: {idle}"
    assert audit is not None, "audit unreadable after the load"
    assert audit["pending_transfers"] == 0, f"relay not drained: {audit['pending_transfers']} credits pending"
    assert audit["total"] == N_ACCOUNTS * BALANCE
    assert not any("error" in x for x in rep.values()), rep
    # bounded: each pool holds at most 2 x its size on the server (in use + parked COMMITs):
    # app servers (pool_size each) and the relay (2 per cell), never a pile-up behind a lock.
    # A connection the pool cut leaves its backend for up to a second (a CI run once sampled 21
    # against 20 right as the frozen standby resumed): the bound is on sessions held, two
    # samples in a row. A pile-up grows and stays; that one-sample excess did not.
    bound = 2 * sc.live.pool_size * sc.live.app_servers_per_cell + 2 * 2
    assert peak["held"] <= bound, f"{peak['held']} sessions held on one member (bound {bound}): {peak['at']}"


def test_server_ends_a_transaction_left_idle_and_checker_reports_a_stuck_relay(cluster):
    """Defence in depth: a session left idle in a transaction holding a row lock is ended by
    PostgreSQL (live.idle_in_transaction_timeout); a relay that does not deliver makes the
    checker end by its deadline with exit-1 material: the credits undelivered and the session."""
    import psycopg

    from loadtests.checker import run_checker
    sc, c = cluster
    acct = account_id(0)
    cell = cell_of(acct, 2)
    other = next(account_id(i) for i in range(N_ACCOUNTS) if cell_of(account_id(i), 2) != cell)
    auth = {"Authorization": f"Bearer {c.admin_token}"}
    assert httpx.post(c.relay_url + "/admin/pause", headers=auth).status_code == 200
    held = psycopg.connect(c.app_dsn(cell, app="app-c9-lost"))  # an app-like client that goes silent
    try:
        r = httpx.post(c.gateway_url + "/transfers", json={"key": uuid.uuid4().hex, "from": acct, "to": other,
                                                            "amount": 5}, timeout=15)
        assert r.status_code == 200 and r.json()["status"] == "pending"
        held.execute("SELECT balance FROM accounts WHERE id = %s FOR UPDATE", (acct,))  # then silent
        seeded = c.state["seeded"]
        initial = {account_id(i): seeded["initial_balance"] for i in range(seeded["accounts"])}
        t0 = time.monotonic()
        res = run_checker(c.gateway_url, None, initial, member_dsns(c), settle=2.0, replica_wait=2.0, timeout=30.0)
        took = time.monotonic() - t0
        stuck = [v.message for v in res.violations if v.kind == "stuck"]
        print(f"\nstuck-test: checker ended in {took:.1f}s, valid={res.valid}: {stuck}")
        assert not res.valid and took < 40
        assert stuck and "1 cross-cell credits undelivered" in stuck[0] and "app-c9-lost" in stuck[0], stuck
        # the server ends the silent transaction by itself, its lock released
        time.sleep(IDLE_TIMEOUT + 2)
        with pytest.raises(psycopg.Error) as ended:
            held.execute("SELECT 1")
        assert isinstance(ended.value, (psycopg.errors.IdleInTransactionSessionTimeout, psycopg.OperationalError))
    finally:
        held.close()
        assert httpx.post(c.relay_url + "/admin/resume", headers=auth).status_code == 200
    end = time.monotonic() + 30
    while httpx.get(c.gateway_url + "/audit", timeout=10).json()["pending_transfers"]:
        assert time.monotonic() < end, "relay did not drain after resume"
        time.sleep(0.5)


def test_a_frozen_relay_holds_destination_rows_only_briefly(cluster):
    """A relay frozen inside its credit transaction (SIGSTOP in a pause@bus) holds the destination
    rows it locked; its sessions' own idle_in_transaction_session_timeout
    (live.relay_idle_in_transaction_timeout, 0.5 s by default, far below the role's 6 s here) ends
    it, so a user's write to those rows waits at most about that long, not the whole pause (kinds-b,
    before: 43 transfers failed at the 1 s deadline in a 10 s relay pause)."""
    import psycopg

    sc, c = cluster
    limit = float(sc.live.relay_idle_in_transaction_timeout)
    assert 0 < limit < IDLE_TIMEOUT
    acct = account_id(1)
    cell = cell_of(acct, 2)
    relay = psycopg.connect(c.relay_dsn(cell, limit))  # the relay's connection, then frozen
    try:
        relay.execute("SELECT balance FROM accounts WHERE id = %s FOR UPDATE", (acct,))
        t0 = time.monotonic()
        with psycopg.connect(c.app_dsn(cell, app="user-write")) as user:
            user.execute("UPDATE accounts SET balance = balance WHERE id = %s", (acct,))
            user.commit()
        waited = time.monotonic() - t0
        print(f"\nfrozen-relay test: the user's write waited {waited:.2f} s (relay limit {limit} s)")
        # bound: the limit plus the server's timeout check and a loaded machine's scheduling
        assert waited < limit + 2.0 < IDLE_TIMEOUT
        with pytest.raises(psycopg.Error):
            relay.execute("SELECT 1")
    finally:
        relay.close()


def test_a_cut_clients_backend_ends_within_the_client_check_not_the_lock_timeout(cluster):
    """A backend waiting for a row lock whose client the pool cut (``db.discard``: socket shut
    down, through the fault proxy) ends within ``client_connection_check_interval`` (1 s, set
    for the bank's role), not when the lock is granted or ``live.lock_timeout`` (4 s) passes:
    the pool's bound on server sessions (2 x pool_size) holds within that second."""
    import psycopg

    from loadtests.bank.db import discard
    from loadtests.cluster.patroni import CLIENT_CHECK_SECONDS

    sc, c = cluster
    lock_timeout = float(sc.live.lock_timeout)
    assert CLIENT_CHECK_SECONDS + 1.5 < lock_timeout  # else the check below could not tell them apart
    acct = account_id(2)
    cell = cell_of(acct, 2)
    holder = psycopg.connect(c.app_dsn(cell, app="lock-holder"))
    waiter = psycopg.connect(c.app_dsn(cell, app="lock-waiter"))
    watcher = psycopg.connect(c.app_dsn(cell, app="watcher"), autocommit=True)
    try:
        assert watcher.execute("SHOW client_connection_check_interval").fetchone()[0] == "1s"
        holder.execute("SELECT balance FROM accounts WHERE id = %s FOR UPDATE", (acct,))
        pid = waiter.info.backend_pid
        errors: list[Exception] = []

        def wait_for_lock():
            try:
                waiter.execute("UPDATE accounts SET balance = balance WHERE id = %s", (acct,))
            except psycopg.Error as exc:
                errors.append(exc)

        t = threading.Thread(target=wait_for_lock, daemon=True)
        t.start()
        q = "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s"
        end = time.monotonic() + 3
        while (row := watcher.execute(q, (pid,)).fetchone()) is None or row[0] != "Lock":
            assert time.monotonic() < end, f"the waiter never waited for the lock: {row}"
            time.sleep(0.05)
        discard(waiter)
        t0 = time.monotonic()
        while watcher.execute(q, (pid,)).fetchone() is not None:
            assert time.monotonic() - t0 < lock_timeout, "the cut client's backend outlived lock_timeout"
            time.sleep(0.05)
        gone = time.monotonic() - t0
        t.join(5)
        print(f"\ncut-client test: backend {pid} ended {gone:.2f} s after its socket was cut "
              f"(client check {CLIENT_CHECK_SECONDS} s, lock_timeout {lock_timeout} s)")
        # bound: the check interval plus the proxy's close and a loaded machine's scheduling
        assert gone < CLIENT_CHECK_SECONDS + 1.5
        assert errors, "the waiter's call did not fail when its socket was cut"
    finally:
        for conn in (holder, watcher):
            conn.close()
