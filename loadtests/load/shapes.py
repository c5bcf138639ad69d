"""Load shapes for the live benchmark: the scenario's day compressed into the run, constant, step.

A shape says how many users run at each second; with ``constant_throughput`` users
(see ``loadtests/load/locustfile.py``) the offered rate is users x per-user rate, so shaping users
shapes the load. Three profiles, plain and unit-testable:

The profiles live in ``loadtests/load/profiles.py`` (no Locust import):

* :class:`DayShape` -- the scenario's 24-hour profile (``workload.profile``: 24 hourly weights,
  or the simulator's von Mises day with ``peak_factor`` and ``peak_hour``, ``sim.profile``)
  played over ``duration`` seconds, so a 90 s run sees night, morning ramp, peak and evening;
* :class:`ConstantProfile` -- the same number of users throughout;
* :class:`StepProfile` -- user counts that change at given seconds (``"10@0,30@20,10@40"``).

:class:`HivesimShape` is the Locust ``LoadTestShape`` that plays one of them, chosen by the
options the locustfile registers (``--shape``, ``--shape-users``, ``--shape-duration`` ...).
Use it by naming this file after the locustfile::

    locust -f loadtests/load/locustfile.py,loadtests/load/shapes.py --shape day --shape-users 30 \\
           --shape-duration 90 --headless --host http://127.0.0.1:8000

Without this file Locust's own ``-u/-r/-t`` apply.
"""

from __future__ import annotations

import os
import sys

from locust import LoadTestShape

# Locust loads this file by path: make the repository importable
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from loadtests.load.profiles import ConstantProfile, DayShape, StepProfile, profile_from_options  # noqa: E402

__all__ = ["DayShape", "ConstantProfile", "StepProfile", "profile_from_options", "HivesimShape"]


class HivesimShape(LoadTestShape):
    """Locust shape playing the profile chosen by ``--shape`` (see module docstring)."""

    def __init__(self):
        super().__init__()
        self._profile = None

    def tick(self):
        if self._profile is None:
            self._profile = profile_from_options(self.runner.environment.parsed_options)
        n = self._profile.users(self.get_run_time())
        if n is None:
            return None
        # spawn fast enough that a step is reached within ~1 s
        return n, float(max(1, getattr(self.runner.environment.parsed_options, "shape_spawn_rate", 0) or n))
