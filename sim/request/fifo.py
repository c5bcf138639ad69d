"""FIFO multi-server stations by the Kiefer-Wolfowitz recursion, one lane or many at once.

For a FIFO queue with ``c`` servers, customers taken in arrival order start at
``max(arrival, earliest free server)`` and that server is then busy until the finish. Keeping
only the ``c`` free times gives each customer's start and finish without events or processes.
Which of several equally early servers is taken does not matter: only the multiset of free
times feeds later customers, so every representation below gives the same floats.

Two implementations with identical results (tested):

* ``fifo_lane``: a tight pure-Python loop over one lane with a heap of free times (best for
  one or a few lanes);
* ``fifo_lanes``: the same recursion stepped for ``R`` independent lanes (replications) at once
  with numpy, so the Python overhead is paid once per customer *index*, not per customer. Each
  lane's free times are kept *sorted* (one column of a (c + 1, R) array, an ``inf`` sentinel
  last): the earliest is row 0 (a view, no argmin), and putting the finish ``e`` in its place
  is an insertion into the sorted rows 1..c, which two elementwise calls over all lanes do
  (``new[i] = max(old[i], min(old[i + 1], e))``: ``e`` is never below the row-0 time it
  replaces). That is 4 numpy calls per step instead of an argmin, a gather and a scatter.

``stalls`` implement a database pause for flagged (write) jobs: a job that would start inside
a stall window holds its server until the window ends and then needs its full service time; a
job in service when a window opens is prolonged by the window's length.
"""

from __future__ import annotations

import heapq

import numpy as np

__all__ = ["fifo_lane", "fifo_lanes", "LANES_MIN"]

# below this many lanes the per-step numpy overhead costs more than a Python loop per lane
LANES_MIN = 24
# fifo_lanes steps through customer indices in blocks of this many: each block of the (R, N)
# inputs is copied into small (block, R) buffers so that a step reads contiguous rows, and the
# buffers stay in cache (whole-array transposes cost more than the loop saved by them)
BLOCK = 64


def fifo_lane(arrival, service, servers, stall_flag=None, stalls=()):
    """Start and finish times (lists) for sorted ``arrival`` with ``service`` at ``servers``."""
    heap = [0.0] * servers
    replace = heapq.heapreplace
    n = len(arrival)
    start = [0.0] * n
    finish = [0.0] * n
    if not stalls or stall_flag is None:
        for i in range(n):
            a = arrival[i]
            f = heap[0]
            s = a if a > f else f
            e = s + service[i]
            start[i] = s
            finish[i] = e
            replace(heap, e)
        return start, finish
    for i in range(n):
        a = arrival[i]
        f = heap[0]
        s = a if a > f else f
        sv = service[i]
        e = s + sv
        if stall_flag[i]:
            for ws, we in stalls:
                if ws <= s < we:
                    e = we + sv
                elif s < ws < e:
                    e += we - ws
        start[i] = s
        finish[i] = e
        replace(heap, e)
    return start, finish


def fifo_lanes(arrival, service, servers, stall_flag=None, stalls=(), want_start=True):
    """Vectorised over lanes: ``arrival`` (R, N) sorted per row; returns (start, finish) (R, N).

    Rows may be padded with ``inf`` arrivals and zero service (they stay at the end).
    ``want_start=False``: start is None (not kept: saves writing an array as large as the input).
    """
    A = np.asarray(arrival, dtype=float)
    S = np.asarray(service, dtype=float)
    r, n = A.shape
    F = np.asarray(stall_flag, dtype=bool) if (stalls and stall_flag is not None) else None
    # free[:c] holds each lane's free times in ascending order, free[c] = inf (see the module
    # docstring): low/high are the rows an insertion reads, first the earliest free time
    free = np.zeros((servers + 1, r))
    free[servers] = np.inf
    low, high, first = free[:servers], free[1:], free[0]
    tmp = np.empty((servers, r))
    start = np.empty((r, n)) if want_start else None
    finish = np.empty((r, n))
    a_buf, s_buf, st_buf, e_buf = (np.empty((BLOCK, r)) for _ in range(4))
    f_buf = np.empty((BLOCK, r), dtype=bool) if F is not None else None
    maximum, minimum, add, where = np.maximum, np.minimum, np.add, np.where
    for k0 in range(0, n, BLOCK):
        k1 = min(n, k0 + BLOCK)
        m = k1 - k0
        a_blk, s_blk, st_blk, e_blk = a_buf[:m], s_buf[:m], st_buf[:m], e_buf[:m]
        np.copyto(a_blk, A[:, k0:k1].T)
        np.copyto(s_blk, S[:, k0:k1].T)
        if F is None:
            # the hot loop: 4 numpy calls per customer index, all writing in place (out=)
            for a, sv, s, e in zip(a_blk, s_blk, st_blk, e_blk):
                maximum(a, first, out=s)
                add(s, sv, out=e)
                minimum(high, e, out=tmp)
                maximum(low, tmp, out=low)
        else:
            f_blk = f_buf[:m]
            np.copyto(f_blk, F[:, k0:k1].T)
            for a, sv, s, e, flag in zip(a_blk, s_blk, st_blk, e_blk, f_blk):
                maximum(a, first, out=s)
                x = s + sv
                for ws, we in stalls:
                    x = where(flag & (s >= ws) & (s < we), we + sv,
                              where(flag & (s < ws) & (x > ws), x + (we - ws), x))
                e[...] = x
                minimum(high, e, out=tmp)
                maximum(low, tmp, out=low)
        finish[:, k0:k1] = e_blk.T
        if want_start:
            start[:, k0:k1] = st_blk.T
    return start, finish
