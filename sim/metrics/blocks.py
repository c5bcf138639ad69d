"""The one availability block of the results contract (``availability.<kind>.*`` in summary.json).

Every engine reports an availability figure in the same shape: ``mean``, ``ci95`` (clipped to
[0, 1]), ``half_width``, ``failed_per_million``, ``nines`` and ``nines_ci95``, and a ``note`` when
nines are not claimed. ``availability_block`` builds that shape and applies the one nines rule;
three thin constructors turn each engine's natural input into its arguments:

* ``block_from_replications(values, episodes)``: per-replication availabilities (the simulator)
  and their outage episode counts: the few-event interval (``sim.metrics.intervals.loss_interval``,
  compound-Poisson bound united with the t-interval), adding ``episodes`` (the count the interval
  rests on), ``episodes_effective`` (how many of them carry the loss, ``N'`` there),
  ``reliability`` (``few-events`` below ``FEW_EVENTS`` = 30 of either, else ``ok``) and
  ``ci_method: compound-poisson``;
* ``block_from_estimate(u, half_width)``: an unavailability estimate and its 95 % half-width
  (the rare-event estimator);
* ``block_from_counts(ok, n)``: succeeded / total counts of one run (live runs), Wilson interval.

**The nines rule.** Nines are ``-log10(1 - lo)``, from the pessimistic end of the interval, so
hivesim never claims more nines than its data support. Nines are ``null`` (with a ``note`` saying
why) when

* there is no interval (one replication), or
* **no failure was seen**. With zero failures nothing bounds the cost of an outage never seen
  (the replications' ``ci95`` is ``[0, 1]``), an estimate of zero with a zero half-width says
  nothing, and a Wilson lower bound depends only on the number of requests (about 3.84 / n): the
  figure would measure the run's length, not the bank. So a perfect run gives ``nines: null`` in
  every engine, never infinity and never a length-dependent number; its ``ci95`` is still reported.
"""

from __future__ import annotations

import math

import numpy as np

from sim.metrics.intervals import FEW_EVENTS, METHOD, loss_interval
from sim.units import YEAR

__all__ = ["MINUTES_PER_YEAR", "Z95", "nines", "wilson", "availability_block", "block_from_replications",
           "block_from_estimate", "block_from_counts", "NOTE_ONE_REPLICATION", "NOTE_NO_FAILURE", "reliability"]

MINUTES_PER_YEAR = YEAR / 60.0  # 525,600: downtime minutes per year = (1 - A) x this
Z95 = 1.959963984540054         # two-sided 95 % normal quantile (Wilson interval)

NOTE_ONE_REPLICATION = "one replication: no confidence interval, so no nines are claimed"
# the simulator's wording, pinned by the golden figures; a live run is one replication
NOTE_NO_FAILURE = "no failure seen in any replication: the interval cannot bound unavailability"


def nines(availability: float | None) -> float | None:
    """-log10(1 - A); None when A is None or >= 1 (nothing can be claimed, never infinity)."""
    if availability is None:
        return None
    u = 1.0 - availability
    if u <= 0.0:
        return None
    return -math.log10(u)


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (well behaved near 1, unlike the normal one)."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


def availability_block(mean: float | None, lo: float | None, hi: float | None, *,
                       half_width: float | None, failed_per_million: float | None,
                       failures_seen: bool) -> dict:
    """The contract's block for one availability figure, with the one nines rule (module docstring).

    ``lo``/``hi`` are the interval's ends before clipping (``None``: no interval);
    ``failures_seen`` says whether the data hold at least one failure.
    """
    out = {"mean": mean, "ci95": None if lo is None else [max(lo, 0.0), min(hi, 1.0)],
           "half_width": half_width, "failed_per_million": failed_per_million}
    if lo is None:
        out.update(nines=None, nines_ci95=None, note=NOTE_ONE_REPLICATION)
    elif not failures_seen:
        out.update(nines=None, nines_ci95=None, note=NOTE_NO_FAILURE)
    else:
        lo_c, hi_c = out["ci95"]
        out.update(nines=nines(lo_c), nines_ci95=[nines(lo_c), nines(hi_c)])
    return out


def reliability(episodes: float) -> str:
    """``few-events`` below ``FEW_EVENTS`` (effective) episodes (the interval is then wide and rests
    on few), else ``ok``."""
    return "few-events" if episodes < FEW_EVENTS else "ok"


def block_from_replications(values, episodes=None) -> dict:
    """Per-replication availabilities (and their outage episode counts; None: one per replication
    with a loss) -> the block, with the few-event interval (module docstring)."""
    li = loss_interval([1.0 - v for v in values], episodes)
    m = float(np.mean(values)) if len(values) else float("nan")   # the mean of the values themselves
    lo = None if li.hi is None else 1.0 - li.hi       # the pessimistic end: the loss's upper end
    hi = None if li.lo is None else 1.0 - li.lo
    out = availability_block(m, lo, hi, half_width=None if lo is None else (hi - max(lo, 0.0)) / 2.0,
                             failed_per_million=(1.0 - m) * 1e6, failures_seen=li.episodes > 0)
    out.update(episodes=li.episodes, episodes_effective=li.effective,
               reliability=reliability(min(li.episodes, li.effective)), ci_method=METHOD)
    return out


def block_from_estimate(u: float, half_width: float) -> dict:
    """An unavailability estimate ``u`` with its 95 % half-width -> the block."""
    lo, hi = 1.0 - (u + half_width), 1.0 - max(u - half_width, 0.0)
    return availability_block(1.0 - u, lo, hi, half_width=half_width, failed_per_million=1e6 * u,
                              failures_seen=u > 0.0)


def block_from_counts(ok: int, n: int) -> dict:
    """``ok`` successes out of ``n`` trials (one run) -> the block, with a Wilson interval.

    Adds ``ci_method: wilson``, ``requests`` (n) and ``failed`` (n - ok). With ``n == 0`` the mean
    is ``None`` and there is no interval.
    """
    if n <= 0:
        out = availability_block(None, None, None, half_width=None, failed_per_million=None,
                                 failures_seen=False)
        out["note"] = "no requests: no figure"
    else:
        lo, hi = wilson(ok, n)
        out = availability_block(ok / n, lo, hi, half_width=(hi - lo) / 2, failed_per_million=1e6 * (1 - ok / n),
                                 failures_seen=ok < n)
    out.update(ci_method="wilson", requests=n, failed=n - ok)
    return out
