"""Exact answers the estimators are checked against (availability-math.md section 2).

* ``k_of_n_unavailability``: the closed form, the birth-death product formula (no cancellation,
  so accurate at 1e-15 and below);
* ``stationary``: the stationary distribution of any ``Chain`` by the GTH state-reduction
  algorithm (Grassmann-Taksar-Heyman), which uses no subtractions and so keeps full relative
  accuracy for tiny probabilities, where a plain linear solve of pi Q = 0 would not;
* ``naive_cycle_variance``: the exact variance of one regenerative cycle's contribution under
  *naive* simulation, from first-step analysis; it gives the simulated years naive Monte Carlo
  needs for a given precision without simulating 10^12 years.
"""

from __future__ import annotations

import numpy as np

from sim.rare.chain import Chain

__all__ = ["k_of_n_unavailability", "embedded", "stationary", "unavailability", "naive_cycle_variance",
           "naive_years_needed", "mean_cycle_time"]


def k_of_n_unavailability(n: int, k: int, ratio: float, crews: int | None = None) -> float:
    """U of a k-of-n group with lambda/mu = ``ratio`` and ``crews`` repair crews."""
    r = n if crews is None else crews
    w = [1.0]
    for j in range(n):  # pi_{j+1} / pi_j = (n - j) lambda / (min(j + 1, r) mu)
        w.append(w[-1] * (n - j) * ratio / min(j + 1, r))
    return sum(w[n - k + 1:]) / sum(w)


def stationary(chain: Chain) -> np.ndarray:
    """Stationary distribution by GTH (rates may span many orders of magnitude)."""
    p = chain.generator()
    np.fill_diagonal(p, 0.0)
    s = p.shape[0]
    for n in range(s - 1, 0, -1):
        tot = p[n, :n].sum()
        p[:n, n] /= tot
        p[:n, :n] += np.outer(p[:n, n], p[n, :n])
    pi = np.zeros(s)
    pi[0] = 1.0
    for n in range(1, s):
        pi[n] = pi[:n] @ p[:n, n]
    return pi / pi.sum()


def unavailability(chain: Chain) -> float:
    pi = stationary(chain)
    return float(pi[chain.down].sum())


def mean_cycle_time(chain: Chain) -> float:
    """E[tau] of a cycle from state 0 back to 0: 1 / (q_0 pi_0) by regenerative theory."""
    return float(1.0 / (chain.total_rate[0] * stationary(chain)[0]))


def embedded(chain: Chain):
    """(P, q): the chain's jump matrix (embedded discrete chain) and each state's total rate."""
    s = chain.states
    q = chain.total_rate
    P = np.zeros((s, s))
    for i in range(s):
        for r, t in zip(chain.rate[i], chain.target[i]):
            if r > 0:
                P[i, t] += r / q[i]
    return P, q


def naive_cycle_variance(chain: Chain, u: float | None = None) -> float:
    """Var of Z = integral over one cycle of (1{down} - U) dt, holding times exponential."""
    if u is None:
        u = unavailability(chain)
    P, q = embedded(chain)
    g = chain.down.astype(float) - u
    sub = P.copy()
    sub[:, 0] = 0.0  # absorb on return to state 0
    a = np.eye(chain.states) - sub
    a[0] = 0.0
    a[0, 0] = 1.0  # row 0 solved separately below
    rhs1 = g / q
    rhs1[0] = 0.0
    m1 = np.linalg.solve(a, rhs1)
    rhs2 = 2 * g ** 2 / q ** 2 + 2 * (g / q) * (sub @ m1)
    rhs2[0] = 0.0
    m2 = np.linalg.solve(a, rhs2)
    # the cycle: holding in 0 (reward g0 per unit time), then a path from the first state
    e1 = P[0] @ m1
    return float(2 * g[0] ** 2 / q[0] ** 2 + 2 * (g[0] / q[0]) * e1 + P[0] @ m2)


def naive_years_needed(chain: Chain, rel_half_width: float = 0.1, z: float = 1.959964) -> float:
    """Simulated years naive Monte Carlo needs for a 95 % CI of +-rel_half_width on U."""
    u = unavailability(chain)
    tau = mean_cycle_time(chain)
    var = naive_cycle_variance(chain, u)
    cycles = (z / rel_half_width) ** 2 * var / (u * tau) ** 2
    return float(cycles * tau * chain.time_unit / (365 * 86400.0))
