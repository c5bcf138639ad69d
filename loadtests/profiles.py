"""Load profiles: how many users run at each second of a live run (plain Python, no Locust).

Kept apart from ``loadtests/shapes.py`` (the Locust side) because importing Locust
monkey-patches the standard library with gevent: hivesim and its tests use these without it.
See ``loadtests/shapes.py`` for how a profile drives Locust.
"""

from __future__ import annotations

import math

__all__ = ["DayProfile", "ConstantProfile", "StepProfile", "profile_from_options"]


class DayProfile:
    """Users over a run that compresses one day into ``duration`` seconds.

    ``hourly``: 24 relative weights (hour 0-23), interpolated linearly between hour midpoints so the
    load has no jumps; without it a cosine peaking at ``peak_hour`` whose peak is ``peak_factor``
    times its mean (clipped at zero, as the scenario's profile). The busiest moment gets
    ``peak_users``; no moment gets fewer than ``min_users`` (a run with no traffic can't see a fault).
    """

    def __init__(self, peak_users: int, duration: float, hourly: list[float] | None = None,
                 peak_factor: float = 3.0, peak_hour: float = 14.0, min_users: int = 1):
        if duration <= 0 or peak_users < 1:
            raise ValueError("expected duration > 0 and peak_users >= 1")
        if hourly is not None and (len(hourly) != 24 or min(hourly) < 0 or max(hourly) <= 0):
            raise ValueError("expected 24 non-negative hourly weights with a positive maximum")
        self.peak_users, self.duration = int(peak_users), float(duration)
        self.hourly, self.peak_factor, self.peak_hour = hourly, float(peak_factor), float(peak_hour)
        self.min_users = max(1, min(int(min_users), self.peak_users))
        self._peak = max(self.weight(h / 10.0) for h in range(240))

    def weight(self, hour: float) -> float:
        """Relative load at an hour of the day (unnormalised)."""
        hour %= 24.0
        if self.hourly is not None:
            x = hour - 0.5  # hour i's weight sits at its midpoint
            i = math.floor(x)
            f = x - i
            return (1 - f) * self.hourly[i % 24] + f * self.hourly[(i + 1) % 24]
        return max(0.0, 1.0 + (self.peak_factor - 1.0) * math.cos(2 * math.pi * (hour - self.peak_hour) / 24.0))

    def users(self, t: float) -> int | None:
        """Users at run second ``t``; None when the run is over."""
        if t >= self.duration:
            return None
        w = self.weight(24.0 * t / self.duration) / self._peak
        return max(self.min_users, round(self.peak_users * w))


class ConstantProfile:
    def __init__(self, users: int, duration: float):
        if duration <= 0 or users < 1:
            raise ValueError("expected duration > 0 and users >= 1")
        self.users_n, self.duration = int(users), float(duration)

    def users(self, t: float) -> int | None:
        return self.users_n if t < self.duration else None


class StepProfile:
    """``steps``: (start second, users) pairs, or the text form ``"10@0,30@20"`` (users@second)."""

    def __init__(self, steps: list[tuple[float, int]] | str, duration: float):
        if isinstance(steps, str):
            try:
                steps = [(float(s.split("@")[1]), int(s.split("@")[0])) for s in steps.split(",") if s.strip()]
            except (IndexError, ValueError):
                raise ValueError(f"expected steps like '10@0,30@20' (users@second), got {steps!r}") from None
        steps = sorted(steps)
        if not steps or steps[0][0] > 0 or any(u < 0 for _, u in steps) or duration <= 0:
            raise ValueError("expected steps starting at second 0 with users >= 0, and duration > 0")
        self.steps, self.duration = steps, float(duration)

    def users(self, t: float) -> int | None:
        if t >= self.duration:
            return None
        n = self.steps[0][1]
        for start, users in self.steps:
            if t >= start:
                n = users
        return n


def profile_from_options(opts):
    """Build the profile the locustfile's ``--shape*`` options ask for (day profile from the
    scenario file when ``--scenario`` is given and no hourly weights are)."""
    kind = getattr(opts, "shape", "constant") or "constant"
    users, duration = int(opts.shape_users), float(opts.shape_duration)
    if kind == "constant":
        return ConstantProfile(users, duration)
    if kind == "step":
        return StepProfile(opts.shape_steps, duration)
    if kind == "day":
        hourly = [float(x) for x in opts.shape_hourly.split(",")] if getattr(opts, "shape_hourly", "") else None
        pf, ph = float(opts.shape_peak_factor), float(opts.shape_peak_hour)
        if hourly is None and getattr(opts, "scenario", ""):
            from sim.scenario import load_scenario
            prof = load_scenario(opts.scenario).workload.profile
            hourly, pf, ph = prof.hourly, prof.peak_factor, prof.peak_hour
        return DayProfile(users, duration, hourly, pf, ph, min_users=int(opts.shape_min_users))
    raise ValueError(f"unknown --shape {kind!r}: expected day, constant or step")
