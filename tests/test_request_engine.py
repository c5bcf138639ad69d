"""The request-level engine against queueing theory and its own rules (issue 7/8).

Statistical tests use fixed seeds; each tolerance is stated where it is asserted.
"""

import math

import numpy as np
import pytest

from sim.errors import HivesimError
from sim.request import (FAILED, OK, TIMEOUT, UNKNOWN, FaultWindow, RequestSpec, RetryPolicy, Tier,
                         simulate_window)
from sim.request.fifo import fifo_lane, fifo_lanes


def erlang_c_wait(lam, mu, c):
    """Mean queueing wait of M/M/c (availability-math.md section 7), Erlang B by recursion."""
    a = lam / mu
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    rho = a / c
    pw = b / (1 - rho * (1 - b))
    return pw / (c * mu - lam)


def test_erlang_c_helper_matches_reference_example():
    # availability-math.md: lambda 800/s, 10 ms service, c = 10 -> Wq 2.05 ms; c = 9 -> 6.53 ms
    assert erlang_c_wait(800, 100, 10) == pytest.approx(2.05e-3, rel=5e-3)
    assert erlang_c_wait(800, 100, 9) == pytest.approx(6.53e-3, rel=5e-3)


def test_mmc_mean_wait_inside_engine_ci():
    # c = 8, rho = 0.8; 64 independent lanes, warm-up 200 s discarded (relaxation time of this
    # queue is ~11 s). The t-interval over lanes must contain Erlang C, and be tight (< 6 %).
    spec = RequestSpec(rate=6.4, tiers=(Tier("s", 8, 1.0),), horizon=1800.0, warmup=200.0)
    res = simulate_window(spec, np.random.default_rng(8), replications=64)
    mean, lo, hi = res.mean_wait()
    wq = erlang_c_wait(6.4, 1.0, 8)
    assert lo <= wq <= hi, (wq, mean, lo, hi)
    assert (hi - lo) / 2 < 0.06 * wq


def test_tandem_littles_law_and_jackson_sojourn():
    # two tiers, exponential: by Jackson's theorem the mean sojourn is the sum of two Erlang C
    # waits plus the services. Little's law L = lambda W is checked on the time average of the
    # number in system over [warmup, horizon]; boundary effects are O(W / T) ~ 1e-3, so 3 %.
    lam = 700.0
    spec = RequestSpec(rate=lam, tiers=(Tier("app", 10, 0.012), Tier("db", 4, 0.005)),
                       horizon=400.0, warmup=50.0)
    res = simulate_window(spec, np.random.default_rng(11), replications=1)
    t0, t1 = spec.warmup, spec.horizon
    a, f = res.arrival, res.finish
    overlap = np.clip(np.minimum(f, t1) - np.maximum(a, t0), 0, None).sum()
    L = overlap / (t1 - t0)
    m = res.measured
    lam_hat = np.count_nonzero(m) / (t1 - t0)
    W = res.latency[m].mean()
    assert L == pytest.approx(lam_hat * W, rel=0.03)
    expect = erlang_c_wait(lam, 1 / 0.012, 10) + 0.012 + erlang_c_wait(lam, 1 / 0.005, 4) + 0.005
    lo, hi = np.quantile([b.mean() for b in np.array_split(res.latency[m], 20)], [0, 1])
    assert W == pytest.approx(expect, rel=0.05)  # 20 batch means span +-3 % here; 5 % is safe
    assert lo < expect < hi


def test_vector_and_event_paths_give_identical_records():
    spec = RequestSpec(rate=500.0, horizon=40.0, timeout=1.0, write_fraction=0.6,
                       faults=(FaultWindow(10, 18, "reject"), FaultWindow(25, 27, "stall")))
    v = simulate_window(spec, np.random.default_rng(5), replications=2, method="vector")
    e = simulate_window(spec, np.random.default_rng(5), replications=2, method="events")
    for key in ("lane", "arrival", "finish", "outcome", "committed", "write", "attempts"):
        assert np.array_equal(getattr(v, key), getattr(e, key)), key
    assert np.array_equal(v.service, e.service, equal_nan=True)
    assert v.counts()["failed"] > 0 and v.counts()["unknown"] > 0


def test_fifo_lanes_equal_fifo_lane():
    rng = np.random.default_rng(2)
    arr = np.cumsum(rng.exponential(0.2, (30, 400)), axis=1)
    svc = rng.exponential(1.0, (30, 400))
    flag = rng.random((30, 400)) < 0.5
    s, f = fifo_lanes(arr, svc, 4, flag, ((10, 20), (40, 41)))
    for i in (0, 17, 29):
        s1, f1 = fifo_lane(arr[i].tolist(), svc[i].tolist(), 4, flag[i].tolist(), ((10, 20), (40, 41)))
        assert np.array_equal(s[i], s1) and np.array_equal(f[i], f1)


def test_same_seed_same_bytes():
    spec = RequestSpec(rate=300.0, horizon=20.0, timeout=2.0, faults=(FaultWindow(5, 9),),
                       retry=RetryPolicy(max_attempts=4, backoff=0.2, deadline=8.0))
    a = simulate_window(spec, np.random.default_rng(3), 2)
    b = simulate_window(spec, np.random.default_rng(3), 2)
    assert a.finish.tobytes() == b.finish.tobytes() and a.outcome.tobytes() == b.outcome.tobytes()


REJECT = FaultWindow(20.0, 30.0, "reject")
BASE = dict(rate=800.0, horizon=60.0, timeout=5.0, write_fraction=0.5,
            tiers=(Tier("app", 16, 0.010), Tier("db", 8, 0.002)))


def test_failover_window_fails_only_writes_inside_the_window():
    res = simulate_window(RequestSpec(faults=(REJECT,), **BASE), np.random.default_rng(1), 1)
    failed = res.outcome == FAILED
    assert failed.sum() > 3000  # ~ 10 s x 800/s x 0.5 writes = 4000
    # refused on reaching the database: the answer comes inside the window, and every failed
    # request is a write that arrived at most a few app service times before the window
    assert np.all((res.finish[failed] >= 20.0) & (res.finish[failed] < 30.0))
    assert np.all(res.write[failed])
    assert np.all(res.arrival[failed] > 19.5)
    outside = (res.arrival < 19.5) | (res.arrival >= 30.0)
    assert np.all(res.outcome[outside] == OK)
    # every write arriving well inside the window fails (no retries); reads are untouched
    inside = (res.arrival > 20.5) & (res.arrival < 29.5)
    assert np.all(res.outcome[inside & res.write] == FAILED)
    assert np.all(res.outcome[inside & ~res.write] == OK)


def test_retries_ride_through_a_failover_within_the_deadline():
    # enough attempts that the gateway's 15 s deadline, not the attempt count, ends the retries
    retry = RetryPolicy(max_attempts=60, backoff=0.1, multiplier=2.0, max_backoff=2.0, deadline=15.0)
    off = simulate_window(RequestSpec(faults=(REJECT,), **BASE), np.random.default_rng(1), 1)
    on = simulate_window(RequestSpec(faults=(REJECT,), retry=retry, **{**BASE, "timeout": 20.0}),
                         np.random.default_rng(1), 1)
    c_off, c_on = off.counts(), on.counts()
    assert c_on["attempts"] > c_on["requests"]          # retries happened
    assert c_on["ok"] > c_off["ok"]
    # a write that arrives more than `deadline` before the window ends runs out of deadline
    gave_up = on.outcome == FAILED
    assert np.all(on.arrival[gave_up] < 30.0 - 15.0 + 0.5) and np.all(on.attempts[gave_up] >= 2)
    # writes arriving in the last seconds of the window wait through it and succeed
    late = on.write & (on.arrival > 25.0) & (on.arrival < 30.0)
    assert np.all(on.outcome[late] == OK)
    assert np.all(on.latency[late] >= 30.0 - on.arrival[late] - 1e-9)


def test_retries_without_faults_never_retry():
    retry = RetryPolicy(max_attempts=5, deadline=10.0)
    res = simulate_window(RequestSpec(retry=retry, **BASE), np.random.default_rng(4), 1)
    c = res.counts()
    assert c["attempts"] == c["requests"] == c["ok"]


def test_retry_storm_saturates_the_app_tier_during_failover():
    # constant 50 ms backoff without jitter: refused writes come straight back; the app tier
    # (1,600/s) saturates, so reads (never refused) slow down 100-fold during the window
    storm = RetryPolicy(max_attempts=50, backoff=0.05, multiplier=1.0, jitter="none", deadline=30.0)
    calm = simulate_window(RequestSpec(faults=(REJECT,), **BASE), np.random.default_rng(6), 1)
    res = simulate_window(RequestSpec(faults=(REJECT,), retry=storm, **BASE), np.random.default_rng(6), 1)
    ps = res.per_second(0)
    assert ps["attempts"][22:29].mean() > 2 * ps["offered"][22:29].mean()
    assert ps["attempts"][45:55].mean() == pytest.approx(ps["offered"][45:55].mean(), rel=0.01)
    reads = lambda r: ~r.write & (r.arrival > 22) & (r.arrival < 29)  # noqa: E731
    assert res.latency[reads(res)].mean() > 20 * calm.latency[reads(calm)].mean()


def test_stall_makes_timeouts_and_unknown_outcomes():
    spec = RequestSpec(faults=(FaultWindow(20.0, 28.0, "stall"),), **{**BASE, "timeout": 2.0})
    res = simulate_window(spec, np.random.default_rng(7), 1)
    c = res.counts()
    # stalled writes commit after the stall: the client gave up after 2 s, so they are unknown
    assert c["unknown"] > 1000 and c["failed"] == 0
    unk = res.outcome == UNKNOWN
    assert np.all(res.committed[unk]) and np.all(res.write[unk])
    assert np.all(res.latency[unk] == pytest.approx(2.0))
    # reads queue behind the writes that hold the database slots: they time out too
    assert np.any((res.outcome == TIMEOUT) & ~res.write)
    assert np.all(res.outcome[res.arrival < 19.0] == OK)


def test_bad_specs_are_one_line_errors():
    with pytest.raises(HivesimError, match="servers"):
        Tier("db", 0, 0.1)
    with pytest.raises(HivesimError, match="overlap"):
        RequestSpec(faults=(FaultWindow(1, 5), FaultWindow(4, 6)))
    with pytest.raises(HivesimError, match="vector"):
        simulate_window(RequestSpec(faults=(FaultWindow(1, 5),), retry=RetryPolicy(max_attempts=2)),
                        np.random.default_rng(0), method="vector")
    with pytest.raises(HivesimError, match="kind"):
        FaultWindow(1, 2, "explode")
    with pytest.raises(HivesimError, match="tiers"):
        RequestSpec(tiers=tuple(Tier(f"t{i}", 1, 0.1) for i in range(8)))


def test_piecewise_rate_follows_the_profile():
    spec = RequestSpec(rate=(100.0, 0.0, 300.0), rate_step=10.0, horizon=30.0, tiers=(Tier("s", 50, 0.01),))
    res = simulate_window(spec, np.random.default_rng(9), 20)
    per_lane = [np.histogram(res.arrival[res.lane == i], bins=[0, 10, 20, 30])[0] for i in range(20)]
    means = np.mean(per_lane, axis=0)
    assert means[1] == 0
    # 20 lanes x Poisson(1000) in bin 1: sd of the mean ~7; Poisson(3000) in bin 3: ~12; 5 sd
    assert abs(means[0] - 1000) < 35 and abs(means[2] - 3000) < 60
    assert not math.isnan(res.mean_wait()[0])
