"""Closed forms from shared/reference/availability-math.md, written independently of sim/.

They are the oracles of tests/test_oracles.py: the simulator must agree inside its own CI.
"""

from __future__ import annotations

from math import comb


def single(mtbf: float, mttr: float) -> float:
    """Unavailability of one repairable component (§1)."""
    return mttr / (mtbf + mttr)


def birth_death(n: int, lam: float, mu: float, crews: int) -> list[float]:
    """Stationary distribution of j = number failed, j = 0..n (§2)."""
    w = [1.0]
    for i in range(n):
        w.append(w[-1] * (n - i) * lam / (min(i + 1, crews) * mu))
    tot = sum(w)
    return [x / tot for x in w]


def k_of_n(k: int, n: int, lam: float, mu: float, crews: int) -> float:
    """Unavailability of a k-out-of-n group (§2): fewer than k up."""
    pi = birth_death(n, lam, mu, crews)
    return sum(pi[j] for j in range(n - k + 1, n + 1))


def k_of_n_independent(k: int, n: int, lam: float, mu: float) -> float:
    a = mu / (lam + mu)
    return 1.0 - sum(comb(n, i) * a**i * (1 - a) ** (n - i) for i in range(k, n + 1))


def primary_standby(lam: float, mu: float, t_fo: float, coverage: float = 1.0,
                    t_manual: float = 0.0) -> float:
    """Primary + one standby, one repair crew, failover time (§3).

    U = pi_2 (both down, birth-death with one crew) + lambda pi_0 [c t_fo + (1-c) t_manual]:
    every loss of the primary while both are up costs one failover.
    """
    pi = birth_death(2, lam, mu, 1)
    return pi[2] + lam * pi[0] * (coverage * t_fo + (1 - coverage) * t_manual)


def series(*us: float) -> float:
    a = 1.0
    for u in us:
        a *= 1.0 - u
    return 1.0 - a


def common_cause_pair(lam: float, mu: float, beta: float) -> float:
    """1-of-2 pair whose failures are a fraction beta common-cause (§4), exact for independent
    alternating processes: U = 1 - (1 - U_cc)(1 - U_i^2)."""
    u_cc = beta * lam / (beta * lam + mu)
    li = (1 - beta) * lam
    u_i = li / (li + mu)
    return 1.0 - (1.0 - u_cc) * (1.0 - u_i * u_i)


def with_fallback(u_service: float, *u_fallbacks: float) -> float:
    """A service with a fallback chain serves unless it and every fallback are down (independent)."""
    u = u_service
    for f in u_fallbacks:
        u *= f
    return u


def path_mix(shares: dict[str, float], paths: dict[str, list[float]]) -> float:
    """Request-weighted unavailability: each type fails when any service on its path is down.

    ``paths[t]`` lists the unavailability of each service on type t's path. Valid when the
    services are independent; a service shared by two paths enters both (the mean is linear).
    """
    return sum(shares[t] * series(*paths[t]) for t in shares)


def cross_cell_two_cells(u_db: float, u_path: float) -> float:
    """Cross-cell transfers over two equal cells (hash mapping), destination drawn by share
    (itself included): a transfer needs its source's db and path, and its destination's db.
    Same cell (prob 1/2): both need one db, so A = (1-u_db)(1-u_path); other cell: independent,
    A = (1-u_db)^2 (1-u_path)."""
    a_same = (1 - u_db) * (1 - u_path)
    a_other = (1 - u_db) ** 2 * (1 - u_path)
    return 1 - 0.5 * (a_same + a_other)
