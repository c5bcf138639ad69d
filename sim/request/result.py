"""Per-request records of a request-level window, and the figures read from them.

All arrays are flat numpy arrays over the requests of every lane (replication); ``lane`` says
which. ``measured`` is False for requests that arrived during the warm-up (simulated, so they
load the queues, but left out of every figure).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.metrics.intervals import Interval, t_interval
from sim.request.spec import OUTCOMES, OK, RequestSpec

__all__ = ["RequestResult"]


@dataclass
class RequestResult:
    spec: RequestSpec
    replications: int
    method: str                 # "vector" or "events" (open arrivals), "closed" (sim.request.closed)
    lane: np.ndarray            # int32, replication index of each request
    arrival: np.ndarray         # s from the window start
    finish: np.ndarray          # s: when the client got its answer or gave up
    outcome: np.ndarray         # int8 codes, see sim.request.spec.OUTCOMES
    attempts: np.ndarray        # int16
    write: np.ndarray           # bool
    committed: np.ndarray       # bool: a write some attempt of which committed
    service: np.ndarray         # s of service of the answering attempt (nan unless ok)
    attempt_lane: np.ndarray    # every attempt (retries included): lane ...
    attempt_time: np.ndarray    # ... and when it entered the first tier (retry storms)

    @property
    def latency(self) -> np.ndarray:
        return self.finish - self.arrival

    @property
    def measured(self) -> np.ndarray:
        return self.arrival >= self.spec.warmup

    def counts(self) -> dict:
        """Measured requests by outcome, plus attempts, summed over lanes."""
        m = self.measured
        oc = self.outcome[m]
        out = {name: int(np.count_nonzero(oc == code)) for code, name in enumerate(OUTCOMES)}
        out["requests"] = int(np.count_nonzero(m))
        out["attempts"] = int(self.attempts[m].sum())
        return out

    def per_lane(self, what: str = "wait") -> np.ndarray:
        """One value per lane: mean ``wait``/``latency`` of ok requests, or ``failed`` etc. counts."""
        m = self.measured
        if what in ("wait", "latency"):
            # one selection of the measured ok requests, in record order (bincount sums in that
            # order): the figures do not depend on how the mask was built
            m &= self.outcome == OK
            x = self.latency
            if what == "wait":
                x -= self.service  # in place: latency is a fresh array
            lane = self.lane[m]
            s = np.bincount(lane, weights=x[m], minlength=self.replications)
            n = np.bincount(lane, minlength=self.replications)
            return s / np.maximum(n, 1)
        code = OUTCOMES.index(what)
        return np.bincount(self.lane[m & (self.outcome == code)], minlength=self.replications).astype(float)

    def mean_wait(self, batches: int = 20) -> Interval:
        """Mean queueing wait of ok requests and its 95 % CI: across lanes, or batch means of one lane
        (``sim.metrics.t_interval``: ``lo``/``hi`` are None with fewer than 2 values)."""
        if self.replications >= 2:
            return t_interval(self.per_lane("wait"))
        m = self.measured & (self.outcome == OK)
        w = (self.latency - self.service)[m]
        return t_interval([b.mean() for b in np.array_split(w, batches)])

    def per_second(self, lane: int = 0) -> dict:
        """Per-second aggregates of one lane, bucketed by arrival second (attempts by start)."""
        sel = self.lane == lane
        sec = np.floor(self.arrival[sel]).astype(np.int64)
        nsec = int(np.ceil(self.spec.horizon))
        sec = np.clip(sec, 0, nsec - 1)
        out = {"second": np.arange(nsec)}
        oc = self.outcome[sel]
        out["offered"] = np.bincount(sec, minlength=nsec)
        for code, name in enumerate(OUTCOMES):
            out[name] = np.bincount(sec[oc == code], minlength=nsec)
        asel = self.attempt_lane == lane
        asec = np.clip(np.floor(self.attempt_time[asel]).astype(np.int64), 0, None)
        out["attempts"] = np.bincount(asec, minlength=nsec)[:nsec]
        lat = self.latency[sel]
        ok = oc == OK
        mean = np.full(nsec, np.nan)
        p99 = np.full(nsec, np.nan)
        order = np.lexsort((lat[ok], sec[ok]))  # by second, then latency: p99 by slicing
        s_sorted, l_sorted = sec[ok][order], lat[ok][order]
        bounds = np.searchsorted(s_sorted, np.arange(nsec + 1))
        for i in range(nsec):
            a, b = bounds[i], bounds[i + 1]
            if b > a:
                mean[i] = l_sorted[a:b].mean()
                p99[i] = l_sorted[a + min(b - a - 1, int(np.ceil(0.99 * (b - a))) - 1)]
        out["latency_mean"] = mean
        out["latency_p99"] = p99
        return out
