"""The request engine's fast paths give the very floats of the plain computations they replace.

Exact equality throughout (no tolerance): the fast paths reorder work, never arithmetic, so any
difference is a bug. Ties (equal free times, equal arrival values) are included on purpose.
"""

import heapq

import numpy as np
import pytest

from sim.request.engine import _sort_rows
from sim.request.fifo import fifo_lane, fifo_lanes


def _plain_sorted(u, counts):
    v = u.copy()
    v[np.arange(v.shape[1])[None, :] >= counts[:, None]] = np.inf
    v.sort(axis=1)
    return v


@pytest.mark.parametrize("lanes,n", [(5, 300), (3, 40), (1, 200_000), (0, 0), (4, 256)])
def test_sort_rows_equals_np_sort(lanes, n):
    rng = np.random.default_rng(n)
    top = 37.5
    u = rng.random((lanes, n)) * top
    if lanes:
        u[0, : n // 3] = np.round(u[0, : n // 3], 1)  # many equal values
        u[-1, 0] = np.nextafter(top, 0)  # the largest value below top
    counts = rng.integers(0, n + 1, lanes)
    if lanes > 1:
        counts[1] = 0
    want = _plain_sorted(u, counts)
    _sort_rows(u, counts, top)
    assert u.tobytes() == want.tobytes()


def _heap_fifo(arrival, service, servers):
    """The textbook recursion with a heap of free times (one lane)."""
    heap = [0.0] * servers
    finish = []
    for a, s in zip(arrival, service):
        e = max(a, heap[0]) + s
        heapq.heapreplace(heap, e)
        finish.append(e)
    return finish


@pytest.mark.parametrize("servers", [1, 3, 8])
def test_fifo_lanes_equal_the_heap_recursion_with_ties_and_padding(servers):
    rng = np.random.default_rng(servers)
    r, n = 30, 300  # n > the block length: the recursion carries over blocks
    arr = np.sort(np.round(rng.random((r, n)) * 60.0), axis=1)  # whole seconds: equal arrivals
    svc = np.where(rng.random((r, n)) < 0.5, 2.0, rng.exponential(2.0, (r, n)))  # equal finishes
    arr[:, -7:], svc[:, -7:] = np.inf, 0.0  # padding, as the engine passes it
    start, finish = fifo_lanes(arr, svc, servers)
    for i in range(r):
        assert finish[i].tolist() == _heap_fifo(arr[i].tolist(), svc[i].tolist(), servers)
        s1, f1 = fifo_lane(arr[i].tolist(), svc[i].tolist(), servers)
        assert start[i].tolist() == s1 and finish[i].tolist() == f1


@pytest.mark.parametrize("mean", [1.0, 0.010, 0.002, 0.0123456789, 3.7])
def test_exponential_service_times_are_numpys_exponential_draws(mean):
    """Tier.sample scales standard draws in place: the floats and the generator's state after
    them are those of ``rng.exponential(mean, size)``."""
    from sim.request.spec import Tier
    want_rng, got_rng = np.random.default_rng(5), np.random.default_rng(5)
    for size in ((3, 1000), 4096):
        want = want_rng.exponential(mean, size)
        got = Tier("t", 1, mean).sample(got_rng, size)
        assert got.tobytes() == want.tobytes()
    assert got_rng.random(5).tolist() == want_rng.random(5).tolist()
