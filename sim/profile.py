"""The 24-hour traffic profile: hourly rate factors with mean 1, and their exact integral.

The fluid engine never simulates requests one by one: the requests offered in [t0, t1) are
``mean_rate * (cumulative(t1) - cumulative(t0))``. The profile is piecewise constant per hour,
so the integral is exact and O(1) to evaluate.

Either 24 explicit hourly weights, or a peak factor (peak hour / mean) from which a smooth
von Mises-shaped day is derived, peaking at ``peak_hour``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["DayProfile"]

DAY = 86400.0
HOUR = 3600.0


# Solving max/mean = peak_factor for the concentration b: beyond _MAX_CONCENTRATION the day is
# one hour's spike (max/mean -> 24), so a larger peak_factor cannot be reached; _BISECTIONS
# halvings take [0, b_max] below float resolution; a peak_factor within _FLAT of 1 is a flat day.
_MAX_CONCENTRATION = 1e4
_BISECTIONS = 100
_FLAT = 1e-12


def _von_mises_weights(peak_factor: float, peak_hour: float) -> np.ndarray:
    """Hourly weights exp(b cos(2 pi (h + 0.5 - peak)/24)), mean 1, with max/mean = peak_factor."""
    hours = np.arange(24) + 0.5
    phase = np.cos(2 * math.pi * (hours - peak_hour) / 24.0)

    def ratio(b):
        w = np.exp(b * (phase - 1.0))  # shifted for numerical safety
        return w.max() / w.mean()

    if peak_factor <= 1.0 + _FLAT:
        return np.ones(24)
    hi = 1.0
    while ratio(hi) < peak_factor:
        hi *= 2.0
        if hi > _MAX_CONCENTRATION:
            raise ValueError(f"peak_factor {peak_factor} is not reachable with 24 hourly steps (max ~24)")
    lo = 0.0
    for _ in range(_BISECTIONS):
        mid = (lo + hi) / 2
        if ratio(mid) < peak_factor:
            lo = mid
        else:
            hi = mid
    w = np.exp(hi * (phase - 1.0))
    return w / w.mean()


class DayProfile:
    """Hourly rate factors (mean 1) with O(1) exact cumulative integral.

    ``rate_factor(t)``: factor at time t (seconds since the start, hour 0 = midnight).
    ``cumulative(t)``: integral of the factor from 0 to t, in seconds (= t on average).
    """

    def __init__(self, hourly=None, peak_factor: float = 1.0, peak_hour: float = 14.0):
        if hourly is not None:
            w = np.asarray(hourly, dtype=float)
            if w.shape != (24,) or (w < 0).any() or w.sum() <= 0:
                raise ValueError("expected 24 non-negative hourly weights with a positive sum")
            w = w / w.mean()
        else:
            w = _von_mises_weights(float(peak_factor), float(peak_hour))
        self.weights = w
        self._w = [float(x) for x in w]
        cum = [0.0]
        for x in self._w:
            cum.append(cum[-1] + x * HOUR)
        self._cum = cum  # cumulative at the start of each hour, seconds

    @classmethod
    def from_spec(cls, spec) -> "DayProfile":
        """From a ``sim.scenario.model.Profile``."""
        return cls(spec.hourly, spec.peak_factor, spec.peak_hour)

    @property
    def peak_factor(self) -> float:
        return float(self.weights.max())

    def rate_factor(self, t: float) -> float:
        return self._w[int((t % DAY) // HOUR)]

    def cumulative(self, t: float) -> float:
        days, rem = divmod(t, DAY)
        h = int(rem // HOUR)
        if h > 23:  # float edge at the very end of a day
            h = 23
        return days * DAY + self._cum[h] + self._w[h] * (rem - h * HOUR)

    def integral(self, t0: float, t1: float) -> float:
        # ``cumulative(t1) - cumulative(t0)``, both written out: the same float operations without
        # two calls (the fluid engine integrates at nearly every state change)
        cum, w = self._cum, self._w
        days, rem = divmod(t1, DAY)
        h = int(rem // HOUR)
        if h > 23:
            h = 23
        c1 = days * DAY + cum[h] + w[h] * (rem - h * HOUR)
        days, rem = divmod(t0, DAY)
        h = int(rem // HOUR)
        if h > 23:
            h = 23
        return c1 - (days * DAY + cum[h] + w[h] * (rem - h * HOUR))
