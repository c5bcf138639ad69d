"""Closed-form queueing used between events: latency and loss of a cell's tiers under load.

The simulator's engine keeps a cell's state constant between two events, so the requests it
serves, sheds or serves slowly in that interval follow from queueing formulas, not from
simulating requests (see ``shared/DESIGN.md``). This module holds those formulas; the models
in ``sim.capacity`` put them together per cell.

* Erlang B by the recursion ``B_0 = 1, B_c = A B_{c-1} / (c + A B_{c-1})`` (no factorials, so
  c in the thousands is fine), Erlang C from it, M/M/c waiting-time mean, tail and percentiles.
* Allen-Cunneen for G/G/c: ``Wq ~= Wq(M/M/c) (ca^2 + cs^2) / 2``.
* Overload: ``shed ~= 1 - c mu / lambda`` (what does not fit is refused).
* Universal Scalability Law: ``C(N) = N / (1 + sigma (N-1) + kappa N (N-1))``.
* ``Station`` / ``tandem_tail``: the response time of a request crossing several stations (app
  tier then database), each an M/M/c or G/G/c queue, as a phase-type distribution. Its tail
  ``P(T > t)`` is ``alpha exp(S t) 1``, evaluated for many ``t`` at once with a batched
  matrix exponential, so it stays exact for equal rates where sums of exponentials break down.
  (scipy.linalg.expm takes ~30 ms per triangular 5x5 matrix here, it special-cases
  triangular input; ``_expm_batch`` is a plain scaling-and-squaring Taylor series, ~1000x faster
  for these small, well-conditioned generators.)

Units: rates per second, times in seconds. Formulas and worked values are in
``shared/reference/availability-math.md`` §7; the tests check them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "erlang_b", "erlang_c", "mmc_wait_mean", "mmc_wait_tail", "mmc_sojourn_tail",
    "mmc_sojourn_percentile", "allen_cunneen_wait_mean", "shed_fraction", "usl_capacity",
    "usl_peak", "Station", "tandem_tail", "tandem_percentile",
]


# --------------------------------------------------------------------------- Erlang
def erlang_b(c: int, a: float) -> float:
    """Blocking probability of an M/M/c/c system with offered load ``a`` Erlangs.

    Uses the recursion in the inverse form ``1/B_c = 1 + (c/a) / B_{c-1}`` which never
    overflows (no factorials or powers), so ``c`` may be any size.
    """
    if c < 0 or int(c) != c:
        raise ValueError(f"c must be an integer >= 0, got {c!r}")
    if a < 0 or not math.isfinite(a):
        raise ValueError(f"offered load must be finite and >= 0, got {a!r}")
    if a == 0:
        return 0.0 if c > 0 else 1.0
    inv = 1.0
    for k in range(1, int(c) + 1):
        inv = 1.0 + inv * k / a
    return 1.0 / inv


def erlang_c(c: int, a: float) -> float:
    """Probability that an arrival waits in an M/M/c queue with load ``a = lambda/mu`` Erlangs.

    ``C = B / (1 - rho (1 - B))`` with ``rho = a / c``; an unstable queue (``a >= c``) waits
    with probability 1.
    """
    if c < 1:
        raise ValueError(f"c must be >= 1, got {c!r}")
    if a >= c:
        return 1.0
    b = erlang_b(c, a)
    rho = a / c
    return b / (1.0 - rho * (1.0 - b))


def mmc_wait_mean(lam: float, mu: float, c: int) -> float:
    """Mean waiting time in queue ``Wq = C / (c mu - lambda)`` (seconds); inf if unstable."""
    if lam >= c * mu:
        return math.inf
    return erlang_c(c, lam / mu) / (c * mu - lam)


def mmc_wait_tail(lam: float, mu: float, c: int, t: float) -> float:
    """``P(Wq > t) = C exp(-(c mu - lambda) t)``."""
    if lam >= c * mu:
        return 1.0
    return erlang_c(c, lam / mu) * math.exp(-(c * mu - lam) * t)


def mmc_sojourn_tail(lam: float, mu: float, c: int, t) -> np.ndarray | float:
    """``P(Wq + S > t)`` for M/M/c (FCFS), exact: see ``tandem_tail`` with one station."""
    return tandem_tail([Station(c=c, mu=mu, lam=lam)], t)


def mmc_sojourn_percentile(lam: float, mu: float, c: int, q: float) -> float:
    """The ``q``-th percentile (0-100) of the M/M/c response time, in seconds."""
    return tandem_percentile([Station(c=c, mu=mu, lam=lam)], q)


def allen_cunneen_wait_mean(lam: float, mu: float, c: int, ca2: float = 1.0, cs2: float = 1.0) -> float:
    """Allen-Cunneen G/G/c mean wait: the M/M/c wait times ``(ca^2 + cs^2) / 2``."""
    return mmc_wait_mean(lam, mu, c) * (ca2 + cs2) / 2.0


def shed_fraction(offered: float, capacity: float) -> float:
    """Share of offered requests refused when ``offered > capacity`` (``1 - capacity/offered``)."""
    if offered <= 0 or offered <= capacity:
        return 0.0
    if capacity <= 0:
        return 1.0
    return 1.0 - capacity / offered


# --------------------------------------------------------------------------- USL
def usl_capacity(n: float, sigma: float = 0.0, kappa: float = 0.0) -> float:
    """Relative throughput of ``n`` workers: ``n / (1 + sigma (n-1) + kappa n (n-1))``.

    ``sigma`` (contention) and ``kappa`` (coherency) are Gunther's parameters; with both 0
    the curve is linear. Result is in units of one worker's throughput.
    """
    if n <= 0:
        return 0.0
    return n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0))


def usl_peak(sigma: float, kappa: float) -> float:
    """Worker count of maximum throughput, ``sqrt((1 - sigma) / kappa)`` (inf if kappa = 0)."""
    if kappa <= 0:
        return math.inf
    return math.sqrt((1.0 - sigma) / kappa)


# --------------------------------------------------------------------------- tandem of stations
@dataclass(frozen=True)
class Station:
    """One queueing station a request crosses: ``c`` servers of rate ``mu`` each, load ``lam``.

    ``ca2``/``cs2`` are the squared coefficients of variation of inter-arrival and service
    times (1 and 1 = M/M/c). The waiting time is modelled as "no wait" with probability
    ``1 - C`` and otherwise exponential with the Allen-Cunneen mean (so M/M/c is exact);
    the service time as Erlang-k (``cs2 < 1``), exponential (``cs2 = 1``) or a balanced
    two-phase hyperexponential (``cs2 > 1``). ``lam`` must be below ``c * mu`` (the caller
    sheds what does not fit before asking for latency).
    """

    c: int
    mu: float
    lam: float
    ca2: float = 1.0
    cs2: float = 1.0

    def __post_init__(self):
        if self.c < 1 or self.mu <= 0 or self.lam < 0:
            raise ValueError(f"invalid station c={self.c} mu={self.mu} lam={self.lam}")
        if self.lam >= self.c * self.mu:
            raise ValueError(f"unstable station: lambda {self.lam:g} >= c mu {self.c * self.mu:g}")

    @property
    def p_wait(self) -> float:
        return erlang_c(self.c, self.lam / self.mu) if self.lam > 0 else 0.0

    @property
    def wait_rate(self) -> float:
        """Rate of the exponential wait given that the request waits."""
        return (self.c * self.mu - self.lam) * 2.0 / (self.ca2 + self.cs2)

    def service_phases(self) -> tuple[np.ndarray, np.ndarray]:
        """(entry probabilities, rates) of the service-time phases (series for Erlang)."""
        s = 1.0 / self.mu
        if self.cs2 > 1.0 + 1e-9:
            p = 0.5 * (1.0 + math.sqrt((self.cs2 - 1.0) / (self.cs2 + 1.0)))
            return np.array([p, 1.0 - p]), np.array([2.0 * p / s, 2.0 * (1.0 - p) / s])
        k = max(1, min(20, round(1.0 / max(self.cs2, 0.05))))
        return np.array([1.0] + [0.0] * (k - 1)), np.full(k, k / s)

    def is_erlang(self) -> bool:
        return not self.cs2 > 1.0 + 1e-9


def _expm_batch(mats: np.ndarray) -> np.ndarray:
    """``exp(A)`` for a stack of small matrices (m, n, n) by scaling and squaring.

    Each matrix is scaled by ``2^-s`` to norm <= 0.5, a degree-16 Taylor series is summed
    (truncation error < 0.5^17/17! ~ 1e-20), then squared ``s`` times. Sub-generators of
    phase-type distributions are well-conditioned for this (entries of exp(S t) lie in [0, 1]).
    """
    m, n, _ = mats.shape
    norms = np.abs(mats).sum(axis=1).max(axis=1)
    s = np.maximum(0, np.ceil(np.log2(np.maximum(norms, 1e-300) / 0.5))).astype(int)
    a = mats / (2.0 ** s)[:, None, None]
    eye = np.broadcast_to(np.eye(n), (m, n, n))
    out = eye.copy()
    for k in range(16, 0, -1):  # Horner: I + A/1 (I + A/2 (I + ...))
        out = eye + (a @ out) / k
    for step in range(int(s.max(initial=0))):
        sel = s > step
        out[sel] = out[sel] @ out[sel]
    return out


def _phase_type(stations: list[Station]) -> tuple[np.ndarray, np.ndarray]:
    """Initial vector ``alpha`` and sub-generator ``S`` of the response time of the tandem."""
    blocks = []  # per station: (index of wait phase, service entry vector, service rates, erlang?)
    n = 0
    for st in stations:
        entry, rates = st.service_phases()
        blocks.append((n, entry, rates, st.is_erlang(), st))
        n += 1 + len(rates)
    S = np.zeros((n, n))
    alpha = np.zeros(n)

    def enter(b, weight, row=None):
        """Route probability ``weight`` into station block ``b`` (into alpha or row of S)."""
        w_idx, entry, rates, _, st = blocks[b]
        pw = st.p_wait
        target = alpha if row is None else S[row]
        target[w_idx] += weight * pw
        target[w_idx + 1: w_idx + 1 + len(rates)] += weight * (1.0 - pw) * entry

    enter(0, 1.0)
    for b, (w_idx, entry, rates, erlang, st) in enumerate(blocks):
        theta = st.wait_rate
        S[w_idx, w_idx] = -theta
        first = w_idx + 1
        S[w_idx, first: first + len(rates)] += theta * entry
        last_b = b == len(blocks) - 1
        for j, r in enumerate(rates):
            i = first + j
            S[i, i] = -r
            if erlang and j < len(rates) - 1:
                S[i, i + 1] += r
                continue
            # leaving the station: into the next one, or absorbed (done)
            if not last_b:
                enter(b + 1, r, row=i)
    return alpha, S


def tandem_tail(stations: list[Station], t, offset: float = 0.0):
    """``P(T > t)`` of the response time ``T = offset + sum of station sojourns``.

    ``t`` may be a scalar or an array (seconds); ``offset`` is a constant added delay
    (network, fixed processing). Exact for the phase-type model described in ``Station``.
    """
    alpha, S = _phase_type(stations)
    ts = np.atleast_1d(np.asarray(t, dtype=float))
    out = np.ones_like(ts)
    x = ts - offset
    mask = x > 0
    if mask.any():
        mats = _expm_batch(S[None, :, :] * x[mask][:, None, None])
        out[mask] = np.clip(mats.sum(axis=2) @ alpha, 0.0, 1.0)
    return out if np.ndim(t) else float(out[0])


def tandem_percentile(stations: list[Station], q: float, offset: float = 0.0) -> float:
    """The ``q``-th percentile (0 < q < 100) of the tandem response time, seconds.

    Bracket on a log grid, then bisect; the tail is monotone so this cannot miss.
    """
    if not 0.0 < q < 100.0:
        raise ValueError(f"percentile must be in (0, 100), got {q!r}")
    target = 1.0 - q / 100.0
    mean = sum(1.0 / s.mu + s.p_wait / s.wait_rate for s in stations)
    grid = mean * np.logspace(-4, 3, 71)
    tails = tandem_tail(stations, grid)
    k = int(np.searchsorted(-tails, -target))  # first grid point with tail <= target
    if k >= len(grid):
        raise ValueError("percentile beyond 1000 x the mean response time")
    lo = grid[k - 1] if k > 0 else 0.0
    hi = grid[k]
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if tandem_tail(stations, mid) > target:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-9 * hi:
            break
    return offset + 0.5 * (lo + hi)
