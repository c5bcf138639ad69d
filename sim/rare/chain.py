"""Replica groups as small continuous-time Markov chains (the models the rare-event estimators run).

A ``Chain`` is a padded transition table: from each state up to ``K`` transitions with their
rates, targets and a flag saying whether the transition is a *failure* (what failure biasing
accelerates). State 0 is "all up", the regeneration state of every cycle.

Two builders:

* ``k_of_n(n, k, lam, mu, crews)``: the birth-death chain of availability-math.md section 2
  (state j = replicas failed; failure rate (n-j) lam, repair min(j, crews) mu; down when
  j > n - k);
* ``replicas_in_idcs(...)``: each replica also lives in an IDC, and an IDC outage takes every
  replica it holds (correlated failure); state = (failed servers, IDCs down), down when fewer
  than ``k`` replicas are both healthy and in a live IDC. Repairs of servers share ``crews``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.errors import HivesimError

__all__ = ["Chain", "k_of_n", "replicas_in_idcs"]


@dataclass
class Chain:
    rate: np.ndarray      # (S, K) transition rates, 0 = no transition
    target: np.ndarray    # (S, K) int target states
    failure: np.ndarray   # (S, K) bool: a failure (biased) rather than a repair
    down: np.ndarray      # (S,) bool: the group has lost its quorum
    labels: list          # (S,) human-readable state names
    time_unit: float = 3600.0  # seconds per unit of the rates (hours by default)

    @property
    def states(self) -> int:
        return self.rate.shape[0]

    @property
    def total_rate(self) -> np.ndarray:
        return self.rate.sum(axis=1)

    def generator(self) -> np.ndarray:
        """Dense generator matrix Q (rows sum to 0)."""
        s = self.states
        q = np.zeros((s, s))
        for i in range(s):
            for r, t in zip(self.rate[i], self.target[i]):
                if r > 0:
                    q[i, t] += r
            q[i, i] -= self.rate[i].sum()
        return q


def _table(states, trans, down, labels, time_unit):
    k = max(len(t) for t in trans)
    s = len(states)
    rate = np.zeros((s, k))
    target = np.zeros((s, k), dtype=np.int64)
    failure = np.zeros((s, k), dtype=bool)
    for i, tr in enumerate(trans):
        for j, (r, t, f) in enumerate(tr):
            rate[i, j], target[i, j], failure[i, j] = r, t, f
    return Chain(rate, target, failure, np.asarray(down, dtype=bool), labels, time_unit)


def k_of_n(n: int, k: int, lam: float, mu: float, crews: int | None = None, time_unit: float = 3600.0) -> Chain:
    """Birth-death chain of a k-out-of-n group; ``crews=None`` means one crew per replica."""
    if not 1 <= k <= n:
        raise HivesimError(f"k-of-n group: need 1 <= k <= n, got k={k}, n={n}")
    if not (lam > 0 and mu > 0):
        raise HivesimError(f"k-of-n group: rates must be > 0, got lambda={lam}, mu={mu}")
    r = n if crews is None else crews
    trans, down = [], []
    for j in range(n + 1):
        tr = []
        if j < n:
            tr.append(((n - j) * lam, j + 1, True))
        if j > 0:
            tr.append((min(j, r) * mu, j - 1, False))
        trans.append(tr)
        down.append(j > n - k)
    return _table(list(range(n + 1)), trans, down, [f"{j} failed" for j in range(n + 1)], time_unit)


def replicas_in_idcs(placement: list[int], k: int, lam: float, mu: float, idc_rate: float,
                     idc_repair: float, crews: int | None = None, time_unit: float = 3600.0) -> Chain:
    """Replica i in IDC ``placement[i]``; servers fail (lam) and are repaired (mu, shared crews);
    IDCs go down (idc_rate each) and come back (idc_repair)."""
    n = len(placement)
    m = max(placement) + 1 if placement else 0
    if not 1 <= k <= n:
        raise HivesimError(f"replica group: need 1 <= quorum <= replicas, got {k} of {n}")
    if n + m > 12:
        raise HivesimError(f"replica group: {n} replicas over {m} IDCs is too large an exact state space")
    if not (lam > 0 and mu > 0 and idc_rate >= 0 and idc_repair > 0):
        raise HivesimError("replica group: failure and repair rates must be > 0")
    r = n if crews is None else crews
    index, order, trans, down, labels = {(0, 0): 0}, [(0, 0)], [], [], []
    i = 0
    while i < len(order):  # breadth-first from all-up: only reachable states
        fs, ds = order[i]
        tr = []
        nf = bin(fs).count("1")

        def ups(f, d):
            return sum(1 for rep in range(n) if not f & (1 << rep) and not d & (1 << placement[rep]))
        up = ups(fs, ds)

        def add(rate, st, is_fail):
            if st not in index:
                index[st] = len(order)
                order.append(st)
            # only a failure that takes a replica out brings quorum loss nearer: that is what
            # failure biasing accelerates (a server failing inside a down IDC is not)
            tr.append((rate, index[st], is_fail and ups(*st) < up))
        for rep in range(n):
            bit = 1 << rep
            if not fs & bit:
                add(lam, (fs | bit, ds), True)
            else:  # min(nf, r) crews share the failed servers equally
                add(min(nf, r) * mu / nf, (fs & ~bit, ds), False)
        for d in range(m):
            bit = 1 << d
            if idc_rate > 0 and not ds & bit:
                add(idc_rate, (fs, ds | bit), True)
            elif ds & bit:
                add(idc_repair, (fs, ds & ~bit), False)
        trans.append(tr)
        down.append(up < k)
        labels.append(f"servers failed {fs:0{n}b}, IDCs down {ds:0{max(m, 1)}b}")
        i += 1
    return _table(order, trans, down, labels, time_unit)
