"""The confidence intervals of hivesim: a Student-t interval, and the few-event loss interval.

* ``t_interval(values)``: mean and Student-t interval of independent values (replications, lanes,
  batch means; ``availability-math.md`` §6). Valid when the mean is close to normal.
* ``loss_interval(losses, episodes)``: the interval of a mean *loss* (unavailability) over
  replications that stays valid when outages are rare. Every availability figure of the
  simulator (``sim.metrics.blocks.block_from_replications``) uses it.
* ``garwood(n)``: the exact (Garwood) interval of a Poisson count.

**Why not the t-interval alone.** A replication's unavailability is a compound-Poisson sum: a
random number of outage episodes, each with a random cost. When a run sees few episodes, most
replications are exactly 0 and a few are large; the sample variance then *under*-states the
spread whenever the rare episodes happen to be few or short, so the t-interval's pessimistic end
sits above the true availability far more often than 2.5 % (measured in tests/test_intervals_rare.py:
17-23 % with 2-6 episodes per run, 11 % with 17). Its skew error falls only like 1/sqrt(episodes).

**The compound-Poisson (renewal-reward) bound.** Unavailability per replication = (episodes per
replication) x (mean cost of an episode). With ``N`` episodes in ``R`` replications and total loss
``S``, each factor gets its own one-sided bound at level ``a``, and their product bounds the
unavailability at one end of the 95 % interval (miss alpha = 2.5 %). Two routes, and the wider is
taken, so the bound holds when either route's assumption does:

(a) *exponential-like costs*: the exact Poisson (Garwood) bound on the count,
    ``chi2.ppf(1 - a, 2N' + 2) / 2``, times the exact bound on the mean of exponential costs,
    ``2 S / chi2.ppf(a, 2N')`` (a sum of N' costs is Gamma(N', mean)). ``N'`` is ``N``, lowered to
    the number of exponential-cost episodes with the same total and the same variance as the data
    (``2 S^2 / (R s^2)``, s^2 the sample variance over replications) when the costs vary more than
    exponential ones (a few long repairs among many short failovers: then only the long ones
    count). Exact for exponential costs, conservative for less variable ones (fixed failover times);
(b) *many episodes, any cost distribution*: Garwood on ``N`` times a Student-t bound on the ratio
    estimator ``S / N`` over the replications that saw an episode (delta method; >= 2 of them).

The lower end is built the same way from the lower bounds.

**The switch: how alpha is split over the two factors**, on the effective count ``N'``:

* ``N' < FEW_EVENTS`` (30): *Bonferroni*, ``a = alpha / 2`` = 1.25 %: the product misses only if a
  factor does, whatever their dependence. With few episodes the cost variance cannot be estimated
  (``N'`` is noise), so the bound must hold without it: computed exactly (tests/test_intervals.py),
  route (a) with ``N' = N`` misses at most 0.14 % for exponential costs, 0.7 % for gamma costs with
  a coefficient of variation (CV) of 1.2 and 2.1 % with 1.41, over every expected episode count.
* ``N' >= 30``: *quadrature*, ``a = Phi(-z / sqrt(2))`` = 8.3 % (z = 1.96): the count and the
  costs of a compound-Poisson process are independent, so as episodes grow their log errors add
  in quadrature; for exponential costs the product then misses at most 2.45 % at every expected
  count (computed exactly in the same test), and the variance correction ``N'`` is now estimated
  well enough to carry costs more variable than exponential. Bonferroni here would be needlessly
  wide (its bound is ~1.6x the estimate at 100 episodes where the quadrature one is 1.3x).

Measured on Markov chains with exact answers (tests/test_intervals_rare.py): 0 over-claims in
400 runs with 2-17 episodes per run (the Student-t interval: 11-23 %), 2.5 % in 1,500 runs with
70 episodes (Student-t: 5.5 %).

**What no interval can do.** Episodes far costlier than any seen, and too rare to have been seen
(quorum loss behind thousands of failovers), are invisible to every method that reads the data;
the bound covers what the run could observe. For those, use the rare-event estimator
(``simulation.estimator: importance``).

**The rule.** The reported interval is the *union* of the compound-Poisson interval and the
t-interval: it covers whenever either method does, so one rule serves the few-event regime (where
only the compound-Poisson bound is valid, and it is wide: with 3 episodes its pessimistic end is
about 20x the estimated unavailability, 1.3 nines below it) and the many-event regime (where both
are valid and close; the t-interval's skew error there still costs it ~1 point of coverage at
100-300 episodes). Two conventions at the edges:

* the episode count of a replication is at least 1 when it lost anything (losses outside counted
  episodes, such as capacity shedding or slow requests, still form at least one episode); with no
  counts given, the replications with a loss are counted. Counting fewer episodes than there were
  only widens the bound (``garwood(N) / N`` and the gamma factor both fall with N);
* **no episode at all**: nothing bounds the cost of an episode never seen, so the pessimistic end
  is unbounded: the loss interval is ``[0, inf]`` (the availability block reports ``ci95 = [0, 1]``
  and no nines).

**Reliability.** With fewer than ``FEW_EVENTS`` (30) episodes, or fewer than 30 effective ones
(``N'``: when a few long episodes carry most of the loss), a figure is flagged ``few-events``: below
that the count alone is uncertain by more than +-36 % (1.96 / sqrt(30)), the bound is dominated by
it and uses the robust (wide) split; hivesim still reports it, wide and honest.

Edges of ``t_interval``: fewer than 2 values give ``lo = hi = None`` (JSON null, never NaN); zero
variance gives a zero-width interval (whether nines may be claimed is the block's rule).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np


def _special():
    """scipy.special, imported on first use: most commands (``--help``, ``validate``, ``check``, the
    live ones) never compute an interval. Not scipy.stats: its import (~0.9 s, most of it modules
    no interval uses) was the largest part of ``hivesim run``'s serial tail, and the four quantile
    functions below are what its ``t``, ``chi2`` and ``norm`` compute for these arguments."""
    from scipy import special
    return special


def warm_up() -> None:
    """Import scipy.special now: ``sim.runner`` calls this while its workers simulate and this
    process only waits, so the summary at the end does not pay for the import."""
    _special()


# scipy.stats' t.ppf, chi2.ppf, norm.ppf and norm.cdf, bit for bit (scipy 1.17: each is the special
# function below once the arguments are checked; tests/test_intervals.py compares them): a
# probability outside [0, 1] or a df <= 0 is NaN, the ends of [0, 1] the ends of the support
def _t_ppf(q: float, df: float) -> float:
    if not (df > 0 and 0.0 <= q <= 1.0):
        return math.nan
    return -math.inf if q == 0.0 else math.inf if q == 1.0 else float(_special().stdtrit(df, q))


def _chi2_ppf(q: float, df: float) -> float:
    if not (df > 0 and 0.0 <= q <= 1.0):
        return math.nan
    return 0.0 if q == 0.0 else math.inf if q == 1.0 else float(2 * _special().gammaincinv(df / 2, q))


def _norm_ppf(q: float) -> float:
    return float(_special().ndtri(q))


def _norm_cdf(x: float) -> float:
    return float(_special().ndtr(x))

__all__ = ["Interval", "LossInterval", "t_interval", "loss_interval", "garwood", "warm_up", "FEW_EVENTS", "METHOD"]

FEW_EVENTS = 30                 # fewer episodes than this: reliability "few-events"
METHOD = "compound-poisson"     # ci_method of the availability blocks built on loss_interval


class Interval(NamedTuple):
    """A mean and its confidence interval (unpacks as ``mean, lo, hi``)."""

    mean: float         # arithmetic mean of the values (NaN when there are none)
    lo: float | None    # lower end of the interval; None with fewer than 2 values
    hi: float | None    # upper end of the interval; None with fewer than 2 values


class LossInterval(NamedTuple):
    """A mean loss per replication, its interval, and the episodes the interval rests on."""

    mean: float
    lo: float | None
    hi: float | None    # the pessimistic end; math.inf when no episode was seen
    episodes: int       # episodes counted (module docstring: at least 1 per replication with a loss)
    effective: float    # N' of the module docstring (<= episodes): the episodes that carry the loss


def t_interval(values, level: float = 0.95) -> Interval:
    """Mean and two-sided Student-t interval at ``level`` of independent values (see module docstring)."""
    x = np.asarray(values, dtype=float)
    m = float(x.mean()) if x.size else float("nan")
    if x.size < 2:
        return Interval(m, None, None)
    s = float(x.std(ddof=1))
    h = _t_ppf(0.5 + level / 2, x.size - 1) * s / math.sqrt(x.size)
    return Interval(m, m - h, m + h)


def garwood(n: float, level: float = 0.95) -> tuple[float, float]:
    """Exact two-sided Poisson interval of a mean count, ``n`` observed (lower end 0 when n = 0);
    a non-integer ``n`` interpolates through the gamma function (an effective count)."""
    a = (1.0 - level) / 2.0
    lo = 0.0 if n <= 0 else _chi2_ppf(a, 2 * n) / 2.0
    return lo, _chi2_ppf(1.0 - a, 2 * n + 2) / 2.0


def _split(level: float, effective: float) -> float:
    """The one-sided level of each factor: Bonferroni with few (effective) episodes, quadrature
    with many (module docstring, "the switch")."""
    alpha = (1.0 - level) / 2.0                           # one end of the two-sided interval
    if effective < FEW_EVENTS:
        return alpha / 2.0
    return _norm_cdf(_norm_ppf(alpha) / math.sqrt(2.0))


def _bounds(x: np.ndarray, counts: np.ndarray, n: int, level: float) -> tuple[float, float, float]:
    """Compound-Poisson bounds (lower, upper) on the mean loss per replication, products of two
    one-sided bounds (module docstring, routes (a) and (b)), and the effective count N'."""
    r = x.size
    s = float(x.sum())
    ss = float(((x - s / r) ** 2).sum()) * r / (r - 1)   # R s^2: the estimated variance of S
    # (a): as many exponential-cost episodes as give the same total and variance, at most n
    ne = min(float(n), 2.0 * s * s / ss) if ss > 0 else float(n)
    a = _split(level, ne)
    g_lo, g_hi = garwood(ne, 1.0 - 2.0 * a)
    lo = g_lo * 2.0 * s / _chi2_ppf(1.0 - a, 2 * ne) / r
    hi = g_hi * 2.0 * s / _chi2_ppf(a, 2 * ne) / r
    m = int((counts > 0).sum())
    if m >= 2:  # (b): Garwood on the n episodes x a t bound on the ratio estimator s / n
        c = s / n
        e = x - c * counts
        h = _t_ppf(1.0 - a, m - 1) * math.sqrt(r / (r - 1) * float(e @ e)) / n
        g_lo, g_hi = garwood(n, 1.0 - 2.0 * a)
        lo, hi = min(lo, g_lo * max(0.0, c - h) / r), max(hi, g_hi * (c + h) / r)
    return lo, hi, ne


def loss_interval(losses, episodes=None, level: float = 0.95) -> LossInterval:
    """Mean loss per replication with an interval valid for few episodes (module docstring).

    ``losses``: per-replication loss (unavailability), >= 0; ``episodes``: per-replication episode
    counts (None: count the replications with a loss).
    """
    x = np.asarray(losses, dtype=float)
    k = (x > 0).astype(np.int64)
    counts = k if episodes is None else np.maximum(np.asarray(episodes, dtype=np.int64), k)
    n = int(counts.sum())
    m, t_lo, t_hi = t_interval(x, level)
    if t_lo is None:
        return LossInterval(m, None, None, n, float(n))
    if n == 0:
        return LossInterval(m, 0.0, math.inf, 0, 0.0)
    lo, hi, ne = _bounds(x, counts, n, level)
    return LossInterval(m, max(0.0, min(t_lo, lo)), max(t_hi, hi), n, ne)
