"""A latency fault in the closed loop: cut before COMMIT (503), and a pool of connections.

Live (kinds-b 20261204T103346Z, 120 ms added per round trip to cell 0's primary for 8 s): every
user ends up on the slowed cell, its writes fail at the gateway's 1 s deadline answering 503
(76 of 80: the app cut them before COMMIT), and the clients retry after their backoff without a
status lookup. The app server's pool of 8 connections is what makes them wait: a slowed
transaction holds its connection ~8 round trips long. Deterministic cases (sigma 0), exact or
with the bound stated.
"""

from __future__ import annotations

from sim.request.closed import ClosedFaults, ClosedLoopSpec, Slow, closed_rows, loop_rng

LIVE = {"min_service": 0.005, "in_db_seconds": 0.05, "error_seconds": 0.002}


def _spec(**kw) -> ClosedLoopSpec:
    svc = {k: (0.02, 0.0) for k in ("read", "intra", "cross")}
    base = dict(users=1, rate_per_user=20.0, mix=(0.0, 1.0, 0.0), cells=1, accounts=100, duration=40.0,
                deadline=1.0, op_deadline=30.0, service=svc, gateway_poll=0.2, client_backoff=0.1,
                client_max_backoff=0.4, processor_sharing=False, **LIVE)
    base.update(kw)
    return ClosedLoopSpec(**base)


def test_a_write_cut_at_the_deadline_is_retried_without_a_lookup():
    """One user, writes only, the cell slowed far past the 1 s deadline over [10, 30) s. Each
    attempt fails at exactly the deadline, and the next starts after the client's backoff
    (0.1 s doubling to 0.4 s, jitter x0.5-1.5: at most 0.6 s), not after a status lookup, which
    on the slowed cell would itself wait out the deadline (a gap >= 1 s)."""
    rows = closed_rows(_spec(), ClosedFaults({}, slows=[(None, 10.0, 30.0, 5.0)]), loop_rng(4))
    failed = [r for r in rows if 10.0 <= r[0] < 29.0 and not r[3]]
    assert len(failed) >= 15
    assert all(abs(r[1] - 1.0) < 1e-9 for r in failed)
    gaps = [b[0] - (a[0] + a[1]) for a, b in zip(failed, failed[1:])]
    assert max(gaps) <= 0.6 + 1e-9


def test_the_pool_makes_slowed_requests_queue():
    """10 users, pace 0.1 s, writes only; over [10, 30) s each request takes 0.3 s (below the 1 s
    deadline). Without a pool nothing fails. With 2 connections the cell completes at most one
    request per 0.15 s (2 / 0.3 s): counted over [12, 28) s, at most 16 / 0.15 + 2 = 108 ok, and
    the 10 users' queue (10 x 0.3 s / 2 = 1.5 s > the deadline) makes some fail. Exact bounds:
    the service is deterministic."""
    kw = dict(users=10, rate_per_user=10.0)
    slows = [(None, 10.0, 30.0, 0.28)]
    free = closed_rows(_spec(**kw), ClosedFaults({}, slows=list(slows)), loop_rng(5))
    assert all(r[3] for r in free)
    pooled = closed_rows(_spec(pool=2, **kw), ClosedFaults({}, slows=list(slows)), loop_rng(5))
    ok_done = [r for r in pooled if r[3] and 12.0 <= r[0] + r[1] < 28.0 and r[0] >= 10.0]
    assert len(ok_done) <= 16 / 0.15 + 2
    assert any(not r[3] for r in pooled if 10.0 <= r[0] < 30.0)
    assert all(r[3] for r in pooled if r[0] + r[1] < 10.0)  # no queue before the fault


def test_an_app_servers_own_latency_does_not_hold_a_connection():
    """The same fault as an unpooled ``Slow`` (latency@app: the app sleeps before it takes a
    connection) behaves as without a pool: the rows are identical."""
    kw = dict(users=10, rate_per_user=10.0)
    free = closed_rows(_spec(**kw), ClosedFaults({}, slows=[(None, 10.0, 30.0, 0.28)]), loop_rng(5))
    app = closed_rows(_spec(pool=2, **kw), ClosedFaults({}, slows=[Slow(None, 10.0, 30.0, 0.28, pooled=False)]),
                      loop_rng(5))
    assert app == free
