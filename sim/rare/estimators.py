"""Regenerative estimators of a replica group's unavailability: naive and importance sampling.

Both estimate U = E[Y] / E[tau] over independent cycles that start when all replicas are up
(``Y`` = time without quorum in the cycle, ``tau`` = cycle length; availability-math.md s6).
Cycles are simulated many at a time: every step moves all unfinished cycles with numpy.

* ``naive``: plain simulation, exponential holding times drawn; what a year-by-year Monte Carlo
  of the model does. Quorum losses at lambda/mu = 1e-5 are ~1e-14: it sees none.
* ``importance``: *balanced failure biasing* (Shahabuddin 1994; Goyal et al. 1992). Until the
  cycle first loses quorum, every state that can both fail and repair fails with probability
  ``bias`` (shared equally among its failure transitions), repairs share ``1 - bias``; in the
  all-up state all failure modes are equally likely. Each cycle carries the likelihood ratio of
  its path, so E[Y] stays unbiased; after quorum is lost the original probabilities return. Its
  relative error stays bounded as lambda -> 0. Holding times are replaced by their means
  (conditional Monte Carlo). E[tau] is not rare: it comes from separate unbiased cycles (also
  with mean holding times), and the CI of the ratio combines both (delta method).

* ``importance_cmc``: the same biasing up to the first quorum loss, then *conditional Monte
  Carlo*: the cycle's expected remaining down time from the state it lost quorum in (under the
  original law, ``remaining_down_time``: a first-step linear solve) replaces simulating the rest,
  and E[tau] is the chain's exact mean cycle time. For the small group chains of ``sim.rare.bank``
  this removes the one weakness of ``importance``: when quorum loss is *not* rare (a group left
  with exactly its quorum live), every cycle hits and the deeper down states it rarely visits
  afterwards left a near-zero sample variance and a biased mean. Unbiased, and exact when every
  cycle hits the same state with likelihood ratio 1.

``run_until`` adds cycles in batches until the 95 % CI's relative half-width reaches a target;
the simulated years reported are the model time the simulated cycles cover.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sim.rare.chain import Chain
from sim.rare.exact import embedded

__all__ = ["Estimate", "naive", "importance", "importance_cmc", "remaining_down_time", "biased_probabilities", "Z95"]

Z95 = 1.959963984540054
YEAR = 365 * 86400.0


@dataclass
class Estimate:
    method: str
    u: float                 # unavailability estimate
    half_width: float        # of the 95 % CI
    cycles: int
    simulated_years: float
    events: int = 0          # cycles that lost quorum
    details: dict = field(default_factory=dict)

    @property
    def ci95(self) -> tuple[float, float]:
        return self.u - self.half_width, self.u + self.half_width

    @property
    def rel_half_width(self) -> float:
        return self.half_width / self.u if self.u > 0 else math.inf


def _cum(p):
    """Row-wise cumulative probabilities, made robust: unused columns never get chosen."""
    c = np.cumsum(p, axis=1)
    last = (p > 0).cumsum(axis=1) == (p > 0).sum(axis=1, keepdims=True)
    c[last] = 2.0  # u < 1 never reaches past the last real transition
    return c


def biased_probabilities(chain: Chain, bias: float = 0.5):
    """(original, biased) transition probabilities per state, both (S, K)."""
    rate, fail = chain.rate, chain.failure & (chain.rate > 0)
    rep = ~chain.failure & (rate > 0)
    p = rate / rate.sum(axis=1, keepdims=True)
    nf = fail.sum(axis=1, keepdims=True)
    rep_rate = np.where(rep, rate, 0.0).sum(axis=1, keepdims=True)
    has_both = (nf > 0) & (rep_rate > 0)
    b = np.where(has_both,
                 np.where(fail, bias / np.maximum(nf, 1), (1 - bias) * np.where(rep, rate, 0.0) / np.where(rep_rate > 0, rep_rate, 1.0)),
                 np.where(nf > 0, np.where(fail, 1.0 / np.maximum(nf, 1), 0.0), p))
    return p, b


def _cycles(chain: Chain, rng, m: int, probs, bias_probs=None, exact_times: bool = False):
    """Simulate ``m`` cycles; returns Y (weighted down time), tau, hit flags (arrays of m)."""
    q = chain.total_rate
    cum = _cum(probs)
    cum_b = _cum(bias_probs) if bias_probs is not None else None
    ratio = np.divide(probs, bias_probs, out=np.zeros_like(probs), where=bias_probs > 0) \
        if bias_probs is not None else None
    down = chain.down
    state = np.zeros(m, dtype=np.int64)
    lr = np.ones(m)
    y = np.zeros(m)
    tau = np.zeros(m)
    hit = np.zeros(m, dtype=bool)
    idx = np.arange(m)
    first = True
    while idx.size:
        s = state[idx]
        hold = rng.exponential(1.0 / q[s]) if exact_times else 1.0 / q[s]
        tau[idx] += hold
        dn = down[s]
        y[idx] += np.where(dn, lr[idx] * hold, 0.0)
        u = rng.random(idx.size)
        if cum_b is None:
            k = (u[:, None] >= cum[s]).sum(axis=1)
        else:
            biased = ~hit[idx]
            k = np.where(biased, (u[:, None] >= cum_b[s]).sum(axis=1), (u[:, None] >= cum[s]).sum(axis=1))
            lr[idx] *= np.where(biased, ratio[s, k], 1.0)
        nxt = chain.target[s, k]
        state[idx] = nxt
        hit[idx] |= down[nxt]
        first = False
        idx = idx[nxt != 0]
    del first
    return y, tau, hit


def _ratio_ci(y, tau_y, tau):
    """U = mean(y) / mean(tau) with a delta-method 95 % half-width.

    ``tau_y`` are the cycle lengths paired with ``y`` (same cycles, naive) or None (separate).
    """
    n1, n2 = y.size, tau.size
    my, mt = y.mean(), tau.mean()
    u = my / mt
    if tau_y is not None:  # one set of cycles: regenerative CLT on Z = Y - U tau
        z = y - u * tau_y
        var = z.var(ddof=1) / n1 / mt ** 2
    else:
        var = u ** 2 * (y.var(ddof=1) / n1 / my ** 2 + tau.var(ddof=1) / n2 / mt ** 2) if my > 0 else math.inf
    return u, Z95 * math.sqrt(var)


def naive(chain: Chain, rng, cycles: int = 0, *, rel: float | None = None, batch: int = 20_000,
          max_years: float = math.inf, min_events: int = 30) -> Estimate:
    """Plain regenerative simulation: ``cycles`` of them, or until the CI reaches ``rel``."""
    p, _ = biased_probabilities(chain)
    ys, ts, hits = [], [], 0
    while True:
        todo = cycles - sum(a.size for a in ys) if cycles else batch
        if todo <= 0:
            break
        y, t, h = _cycles(chain, rng, min(todo, batch), p, exact_times=True)
        ys.append(y)
        ts.append(t)
        hits += int(h.sum())
        yy, tt = np.concatenate(ys), np.concatenate(ts)
        years = tt.sum() * chain.time_unit / YEAR
        if not cycles and hits >= min_events:
            u, hw = _ratio_ci(yy, tt, tt)
            if hw <= rel * u:
                break
        if years >= max_years:
            break
    yy, tt = np.concatenate(ys), np.concatenate(ts)
    u, hw = _ratio_ci(yy, tt, tt) if yy.size > 1 else (float(yy.sum() / tt.sum()), math.inf)
    return Estimate("naive", float(u), float(hw), int(yy.size), float(tt.sum() * chain.time_unit / YEAR), hits)


def importance(chain: Chain, rng, cycles: int = 0, *, rel: float | None = None, bias: float = 0.7,
               batch: int = 100, tau_cycles: int = 100, max_cycles: int = 10_000_000) -> Estimate:
    """Balanced failure biasing for E[Y]; unbiased cycles for E[tau]; see the module docstring.

    With ``rel``, batches are sized from the variance seen so far (never more than doubling the
    cycles), so the run stops close to the smallest number of cycles that reaches ``rel``.
    """
    p, b = biased_probabilities(chain, bias)
    _, tau, _ = _cycles(chain, rng, tau_cycles, p)
    ys, ts, hits = [], [], 0
    todo = cycles if cycles else batch
    while todo > 0:
        y, t, h = _cycles(chain, rng, todo, p, bias_probs=b)
        ys.append(y)
        ts.append(t)
        hits += int(h.sum())
        done = sum(a.size for a in ys)
        if cycles or done >= max_cycles:
            break
        u, hw = _ratio_ci(np.concatenate(ys), None, tau) if hits >= 2 else (0.0, math.inf)
        if hits >= 30 and hw <= rel * u:
            break
        need = done * (hw / (rel * u)) ** 2 if hits >= 30 else 2 * done
        todo = int(min(max(need - done, batch), done))
    yy, tt = np.concatenate(ys), np.concatenate(ts)
    u, hw = _ratio_ci(yy, None, tau)
    years = (tt.sum() + tau.sum()) * chain.time_unit / YEAR
    return Estimate("importance", float(u), float(hw), int(yy.size + tau.size), float(years), hits,
                    {"bias": bias, "is_cycles": int(yy.size), "tau_cycles": int(tau.size)})


def remaining_down_time(chain: Chain) -> np.ndarray:
    """h(s): expected time spent down from state s until the cycle returns to state 0 (h(0) = 0)."""
    s = chain.states
    P, q = embedded(chain)
    a = np.eye(s - 1) - P[1:, 1:]
    h = np.zeros(s)
    h[1:] = np.linalg.solve(a, chain.down[1:] / q[1:])
    return h


def importance_cmc(chain: Chain, rng, *, rel: float = 0.1, bias: float = 0.7, batch: int = 200,
                   max_cycles: int = 2_000_000, cycles: int = 0) -> Estimate:
    """Balanced failure biasing until the first quorum loss, conditional Monte Carlo after it;
    ``cycles`` > 0: exactly that many cycles (no stopping rule)."""
    from sim.rare.exact import mean_cycle_time
    p, b = biased_probabilities(chain, bias)
    cum_b = _cum(b)
    ratio = np.divide(p, b, out=np.zeros_like(p), where=b > 0)
    h = remaining_down_time(chain)
    tau = mean_cycle_time(chain)
    q = chain.total_rate
    ys, path_time, hits, todo = [], 0.0, 0, (cycles or batch)
    while todo > 0:
        state = np.zeros(todo, dtype=np.int64)
        lr = np.ones(todo)
        y = np.zeros(todo)
        idx = np.arange(todo)
        while idx.size:
            s = state[idx]
            path_time += float((1.0 / q[s]).sum())
            k = (rng.random(idx.size)[:, None] >= cum_b[s]).sum(axis=1)
            lr[idx] *= ratio[s, k]
            nxt = chain.target[s, k]
            state[idx] = nxt
            hit = chain.down[nxt]
            y[idx[hit]] = lr[idx[hit]] * h[nxt[hit]]
            hits += int(hit.sum())
            idx = idx[~hit & (nxt != 0)]
        ys.append(y)
        yy = np.concatenate(ys)
        done = yy.size
        if cycles:
            break
        sd = yy.std(ddof=1)
        my = yy.mean()
        if done >= max_cycles or (hits >= 30 and (sd == 0 or Z95 * sd / np.sqrt(done) <= rel * my)):
            break
        need = done * (Z95 * sd / np.sqrt(done) / (rel * my)) ** 2 if hits >= 30 and my > 0 else 2 * done
        todo = int(min(max(need - done, batch), done))
    yy = np.concatenate(ys)
    u = float(yy.mean() / tau)
    hw = float(Z95 * yy.std(ddof=1) / np.sqrt(yy.size) / tau)
    return Estimate("importance-cmc", u, hw, int(yy.size), float(path_time * chain.time_unit / YEAR), hits,
                    {"bias": bias, "mean_cycle_time": tau})
