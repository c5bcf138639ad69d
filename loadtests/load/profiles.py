"""Load profiles: how many users run at each second of a live run (plain Python, no Locust).

Kept apart from ``loadtests/load/shapes.py`` (the Locust side) because importing Locust
monkey-patches the standard library with gevent: hivesim and its tests use these without it.
See ``loadtests/load/shapes.py`` for how a profile drives Locust. The day shape is the simulator's
day profile (``sim.profile.DayProfile``) played faster, never a second formula.
"""

from __future__ import annotations

from sim.profile import HOUR, DayProfile

__all__ = ["DayShape", "ConstantProfile", "StepProfile", "profile_from_options"]


class DayShape:
    """Users over a run that compresses one day into ``duration`` seconds.

    The day is the simulator's: ``sim.profile.DayProfile`` (24 hourly weights, or the von Mises
    day with ``peak_factor`` and ``peak_hour``), the one definition both engines use. Run second
    ``t`` plays hour ``24 t / duration`` of the day, and each hour's relative rate is exactly the
    simulator's factor for that hour (constant within the hour, as the simulator integrates it).
    The busiest hour gets ``peak_users``; no moment gets fewer than ``min_users`` (a run with no
    traffic cannot see a fault), which is the one place the live load leaves the profile.
    """

    def __init__(self, peak_users: int, duration: float, hourly: list[float] | None = None,
                 peak_factor: float = 3.0, peak_hour: float = 14.0, min_users: int = 1):
        if duration <= 0 or peak_users < 1:
            raise ValueError("expected duration > 0 and peak_users >= 1")
        self.profile = DayProfile(hourly, peak_factor, peak_hour)
        self.peak_users, self.duration = int(peak_users), float(duration)
        self.min_users = max(1, min(int(min_users), self.peak_users))

    def hour_of(self, t: float) -> float:
        """The hour of the day (0-24) that run second ``t`` plays."""
        return 24.0 * (t % self.duration) / self.duration

    def rate_factor(self, t: float) -> float:
        """Relative rate (mean 1 over the day) at run second ``t``: the simulator's factor."""
        return self.profile.rate_factor(self.hour_of(t) * HOUR)

    def users(self, t: float) -> int | None:
        """Users at run second ``t``; None when the run is over."""
        if t >= self.duration:
            return None
        w = self.rate_factor(t) / self.profile.peak_factor
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
        return DayShape(users, duration, hourly, pf, ph, min_users=int(opts.shape_min_users))
    raise ValueError(f"unknown --shape {kind!r}: expected day, constant or step")
