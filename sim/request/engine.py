"""The request-level engine: ``simulate_window(spec, rng, replications)``.

Two exact paths share one random-number layout, so for a window without retries they give
identical records (a test checks it):

* ``vector``: when no attempt can be retried, every request makes exactly one attempt, so the
  arrivals at each tier are known once the previous tier is done. Each tier is one
  Kiefer-Wolfowitz pass (``sim.request.fifo``), vectorised across replications (lanes).
* ``events``: with retries, an attempt's fate feeds back into later arrivals, so a lean event
  loop (one ``heapq`` of ``(time, code)`` pairs) runs per lane; each tier still keeps
  only its servers' free times, so an event costs a heap operation, not a SimPy process.

Random numbers, in this order from ``rng``: arrival counts and positions (R, N), write flags
(R, N), first-attempt service times per tier (R, N); then the retries' service times and
jitter per lane.
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from sim.errors import HivesimError
from sim.request.fifo import LANES_MIN, fifo_lane, fifo_lanes
from sim.request.result import RequestResult
from sim.request.spec import FAILED, OK, TIMEOUT, UNKNOWN, RequestSpec

__all__ = ["simulate_window", "poisson_arrivals"]


def poisson_arrivals(spec: RequestSpec, rng, lanes: int) -> np.ndarray:
    """(lanes, N) sorted arrival times, rows padded with ``inf``; piecewise-constant rate.

    Given the count, Poisson points are i.i.d. with density proportional to the rate: uniform
    points of the cumulative rate mapped back through its inverse (exact for piecewise rates).
    """
    rates = np.atleast_1d(np.asarray(spec.rate, dtype=float))
    if rates.size == 1:
        edges = np.array([0.0, spec.horizon])
    else:
        edges = np.minimum(np.arange(rates.size + 1) * spec.rate_step, spec.horizon)
        if edges[-1] < spec.horizon:  # the last rate holds until the horizon
            edges[-1] = spec.horizon
    cum = np.concatenate([[0.0], np.cumsum(rates * np.diff(edges))])
    total = cum[-1]
    counts = rng.poisson(total, lanes)
    nmax = int(counts.max()) if lanes else 0
    u = rng.random((lanes, nmax))
    u *= total  # in place: the same floats as rng.random(...) * total
    _sort_rows(u, counts, total)
    if rates.size == 1:  # one piece: edges[0] + (u - cum[0]) / rate is u / rate, bit for bit
        u /= rates[0]  # in place: fresh arrays of a million requests cost page faults
        return u
    finite = np.isfinite(u)
    # piece j holds cumulative rate [cum[j], cum[j+1]); zero-rate pieces are empty and skipped
    # because side="right" lands on the last piece starting at or before u
    j = np.minimum(np.searchsorted(cum, u[finite], side="right") - 1, rates.size - 1)
    out = np.full_like(u, np.inf)
    out[finite] = edges[j] + (u[finite] - cum[j]) / rates[j]
    return out


# rows at least this long are sorted by buckets (below: one np.sort, fewer numpy calls)
_BUCKET_ROW = 256


def _sort_rows(u, counts, top):
    """Sort each row's first ``counts[i]`` values (in [0, top)) in place, padding the rest with inf.

    The result is what ``np.sort`` gives (a sorted row is unique), but cheaper for the uniform
    points drawn here: numpy's comparison sort costs ~25 ns a value on long rows. A stable
    argsort of 16-bit buckets of the value is a radix sort (linear), the gather leaves the row
    sorted up to order within a bucket, and timsort (``kind="stable"``) finishes such a nearly
    sorted row in about linear time. Row by row, so each row's work stays in cache.
    """
    if u.shape[1] < _BUCKET_ROW:
        u[np.arange(u.shape[1])[None, :] >= counts[:, None]] = np.inf
        u.sort(axis=1)
        return
    scale = 65535.0 / top  # a value below top maps below 65536: fits uint16 after truncation
    buf = np.empty(u.shape[1])
    for row, c in zip(u, counts.tolist()):
        head = row[:c]
        order = (head * scale).astype(np.uint16).argsort(kind="stable")
        np.take(head, order, out=buf[:c])
        buf[:c].sort(kind="stable")
        head[...] = buf[:c]
        row[c:] = np.inf


def _in_windows(t, windows):
    m = np.zeros(t.shape, dtype=bool)
    for ws, we in windows:
        m |= (t >= ws) & (t < we)
    return m


def _fifo(arrival, service, servers, flags, stalls):
    """One tier for all lanes: vectorised over lanes when there are many, else lane by lane."""
    r = arrival.shape[0]
    if r >= LANES_MIN:  # the callers read only the finishes
        return fifo_lanes(arrival, service, servers, flags, stalls, want_start=False)
    start = np.empty_like(arrival)
    finish = np.empty_like(arrival)
    for i in range(r):
        s, f = fifo_lane(arrival[i].tolist(), service[i].tolist(), servers,
                         flags[i].tolist() if flags is not None else None, stalls)
        start[i], finish[i] = s, f
    return start, finish


def _draw(spec, rng, lanes):
    arr = poisson_arrivals(spec, rng, lanes)
    valid = np.isfinite(arr)
    write = (rng.random(arr.shape) < spec.write_fraction) & valid
    svc = [t.sample(rng, arr.shape) for t in spec.tiers]
    invalid = ~valid
    for x in svc:  # padding holds no server (in place, as np.where(valid, x, 0.0) would give)
        x[invalid] = 0.0
    return arr, valid, write, svc


def simulate_window(spec: RequestSpec, rng, replications: int = 1, method: str = "auto") -> RequestResult:
    """Simulate ``replications`` independent copies of the window; see the module docstring."""
    if replications < 1:
        raise HivesimError(f"replications must be >= 1, got {replications}")
    if method == "auto":
        method = "events" if spec.retries_possible else "vector"
    if method == "vector" and spec.retries_possible:
        raise HivesimError("the vector path cannot retry: use method='events'")
    if method not in ("vector", "events"):
        raise HivesimError(f"method must be auto, vector or events, got {method!r}")
    arr, valid, write, svc = _draw(spec, rng, replications)
    if method == "vector":
        return _vector(spec, replications, arr, valid, write, svc)
    return _events(spec, rng, replications, arr, valid, write, svc)


# --------------------------------------------------------------------------- vector path
def _vector(spec, lanes, arr, valid, write, svc):
    t = arr
    last = len(spec.tiers) - 1
    # without reject windows nothing is refused: the masks below stay None (no full-size work)
    rejected = None
    served = None
    for k, tier in enumerate(spec.tiers):
        s = svc[k]
        flags, stalls = None, ()
        if k == last:
            if spec.rejects:
                rejected = write & _in_windows(t, spec.rejects)
                s = np.where(rejected, 0.0, s)  # refused at once: holds no server
            if spec.stalls:
                flags, stalls = (write & ~rejected if rejected is not None else write), spec.stalls
        if k == 0:
            _, fin = _fifo(t, s, tier.servers, flags, stalls)
        else:  # arrivals here are the previous tier's finishes: sort, run, unsort
            order = np.argsort(t, axis=1, kind="stable")
            tk = np.take_along_axis(t, order, 1)
            sk = np.take_along_axis(s, order, 1)
            fk = np.take_along_axis(flags, order, 1) if flags is not None else None
            _, fin_sorted = _fifo(tk, sk, tier.servers, fk, stalls)
            fin = np.empty_like(fin_sorted)
            np.put_along_axis(fin, order, fin_sorted, 1)
        if k == last and rejected is not None:
            fin = np.where(rejected, t, fin)
        if k == last and spec.slows:  # latency on the database path: answered later
            for ws, we, delay in spec.slows:
                slowed = write & (t >= ws) & (t < we)
                if rejected is not None:
                    slowed &= ~rejected
                fin = np.where(slowed, fin + delay, fin)
        served = s if served is None else served + s
        t = fin
    finish, outcome, committed, service = _answers(spec, arr, t, write, served, rejected)
    v = valid
    n = int(np.count_nonzero(v))
    # rows are filled from the left (arrivals padded with inf), so a lane's requests are the
    # first counts[lane] of its row: its lane number repeated that many times
    lane = np.repeat(np.arange(lanes, dtype=np.int32), np.count_nonzero(v, axis=1))
    arrival = arr[v]
    return RequestResult(
        spec=spec, replications=lanes, method="vector", lane=lane,
        arrival=arrival, finish=finish[v],
        outcome=outcome[v] if outcome is not None else np.full(n, OK, np.int8),
        attempts=np.ones(n, np.int16), write=write[v], committed=committed[v], service=service[v],
        # one attempt per request: the attempt arrays are the request arrays (shared, read-only;
        # copying millions of values into fresh memory costs page faults)
        attempt_lane=lane, attempt_time=arrival)


def _answers(spec, arr, t, write, served, rejected):
    """(finish, outcome, committed, service) per request slot from the last tier's finishes ``t``.

    ``outcome`` is None when every request is ok: with no deadline and nothing refused, each is
    answered at its finish (every mask below would be all true; skipping them saves passes over
    every request, and the records are the same).
    """
    timeout, att_to = spec.timeout, spec.retry.attempt_timeout
    if rejected is None and min(timeout, att_to) == math.inf:
        return t, None, write, served
    deadline = arr + min(timeout, att_to)
    ok = t <= deadline
    if rejected is not None:
        ok &= ~rejected
        fast_fail = rejected & (t < deadline)
        committed = write & ~rejected
    else:
        fast_fail = None
        committed = write
    outcome = np.full(arr.shape, TIMEOUT if timeout <= att_to else FAILED, dtype=np.int8)
    outcome[committed] = UNKNOWN
    if fast_fail is not None:
        outcome[fast_fail] = FAILED
    outcome[ok] = OK
    finish = deadline  # the deadline, except where an answer came first (in place)
    np.copyto(finish, t, where=ok | fast_fail if fast_fail is not None else ok)
    return finish, outcome, committed, _where_ok(served, ok)


def _where_ok(served, ok):
    """``np.where(ok, served, nan)``: in place when ``served`` is the engine's own (one tier)."""
    np.copyto(served, np.nan, where=~ok)
    return served


# --------------------------------------------------------------------------- event path
class _Pool:
    """Random numbers drawn in blocks (a per-draw numpy call would dominate the loop)."""

    def __init__(self, draw, block):
        self.draw, self.block = draw, block
        self.buf, self.i = draw(block).tolist(), 0

    def __call__(self):
        if self.i == len(self.buf):
            self.buf, self.i = self.draw(self.block).tolist(), 0
        self.i += 1
        return self.buf[self.i - 1]


def _events(spec, rng, lanes, arr, valid, write, svc):
    cols = {k: [] for k in ("lane", "arrival", "finish", "outcome", "attempts", "write", "committed",
                            "service", "attempt_lane", "attempt_time")}
    for ln in range(lanes):
        v = valid[ln]
        rec = _event_lane(spec, rng, arr[ln][v].tolist(), write[ln][v].tolist(),
                          [s[ln][v].tolist() for s in svc])
        n = len(rec["arrival"])
        cols["lane"].append(np.full(n, ln, np.int32))
        cols["attempt_lane"].append(np.full(len(rec["attempt_time"]), ln, np.int32))
        for key, val in rec.items():
            cols[key].append(np.asarray(val))
    dtypes = {"outcome": np.int8, "attempts": np.int16, "write": bool, "committed": bool}
    out = {k: np.concatenate(v).astype(dtypes.get(k, v[0].dtype)) if v else np.array([]) for k, v in cols.items()}
    return RequestResult(spec=spec, replications=lanes, method="events", **out)


def _event_lane(spec, rng, arrival, write, svc0):
    """One lane of the event loop. Returns per-request lists and the attempt start times."""
    n = len(arrival)
    tiers = spec.tiers
    last = len(tiers) - 1
    frees = [[0.0] * t.servers for t in tiers]
    pools = [_Pool(lambda size, t=t: t.sample(rng, size), 4096) for t in tiers]
    unif = _Pool(lambda size: rng.random(size), 4096)
    rejects, stalls, slows = spec.rejects, spec.stalls, spec.slows
    timeout = spec.timeout
    rp = spec.retry
    att_to, max_att, rdead = rp.attempt_timeout, rp.max_attempts, rp.deadline
    jitter = rp.jitter

    outcome = [-1] * n
    finish = [math.nan] * n
    attempts = [1] * n
    committed = [False] * n
    served = [math.nan] * n
    attempt_time = []
    # attempt state, indexed by attempt id
    a_req, a_no, a_dead, a_zombie, a_svc = [], [], [], [], []

    heap = []
    push, pop, replace = heapq.heappush, heapq.heappop, heapq.heapreplace

    def end_attempt(i, m, when):
        """Attempt ``m`` of request ``i`` failed at ``when``: retry it or give the final answer."""
        a0 = arrival[i]
        if when >= a0 + timeout:
            outcome[i], finish[i] = TIMEOUT, a0 + timeout
            return
        if m < max_att:
            b = min(rp.max_backoff, rp.backoff * rp.multiplier ** (m - 1))
            if jitter == "full":
                b *= unif()
            elif jitter == "equal":
                b = b / 2 + b / 2 * unif()
            nt = when + b
            if nt < a0 + rdead:
                if nt >= a0 + timeout:  # the client gives up before the retry would start
                    outcome[i], finish[i] = TIMEOUT, a0 + timeout
                    return
                attempts[i] = m + 1
                push(heap, (nt, -1 - i))  # a negative code: a new attempt of request i
                return
        outcome[i], finish[i] = FAILED, when

    nxt = 0  # next original arrival: merged with the heap rather than pushed (saves n pushes)
    while nxt < n or heap:
        if nxt < n and (not heap or arrival[nxt] <= heap[0][0]):
            t, k, x = arrival[nxt], -1, nxt
            nxt += 1
        else:
            t, code = pop(heap)  # code = attempt * 8 + tier, or -1 - request for a new attempt
            if code < 0:
                k, x = -1, -1 - code
            else:
                x, k = code >> 3, code & 7
        if k == -1:  # a new attempt of request x enters the first tier
            i = x
            m = attempts[i]
            x = len(a_req)
            a_req.append(i)
            a_no.append(m)
            a_dead.append(min(t + att_to, arrival[i] + timeout))
            a_zombie.append(False)
            a_svc.append(0.0)
            attempt_time.append(t)
            k = 0
        i = a_req[x]
        sv = svc0[k][i] if a_no[x] == 1 else pools[k]()
        if k == last:
            if write[i] and rejects and any(ws <= t < we for ws, we in rejects):
                if not a_zombie[x]:
                    end_attempt(i, a_no[x], t)
                continue
        heap_k = frees[k]
        f = heap_k[0]
        s = t if t > f else f
        e = s + sv
        if k == last and stalls and write[i]:
            for ws, we in stalls:
                if ws <= s < we:
                    e = we + sv
                elif s < ws < e:
                    e += we - ws
        replace(heap_k, e)
        if k == last and slows and write[i]:  # latency on the path: answered later, server freed at e
            e += sum(d for ws, we, d in slows if ws <= t < we)
        a_svc[x] += sv
        if k < last:
            push(heap, (e, (x << 3) | (k + 1)))
            if e >= a_dead[x] and not a_zombie[x]:  # abandoned before reaching the next tier
                a_zombie[x] = True
                end_attempt(i, a_no[x], a_dead[x])
            continue
        if write[i]:
            committed[i] = True
        if a_zombie[x]:
            continue
        if e <= a_dead[x]:
            if outcome[i] == -1:
                outcome[i], finish[i], served[i] = OK, e, a_svc[x]
        else:
            a_zombie[x] = True
            end_attempt(i, a_no[x], a_dead[x])
    for i in range(n):  # a write that committed without an answer is an unknown outcome
        if outcome[i] != OK and write[i] and committed[i]:
            outcome[i] = UNKNOWN
    return {"arrival": arrival, "finish": finish, "outcome": outcome, "attempts": attempts,
            "write": write, "committed": committed, "service": served, "attempt_time": attempt_time}
