"""Load shapes: the scenario's day compressed into the run, constant, step."""

from __future__ import annotations

import pytest

from loadtests.load.loadrun import LoadSpec, locust_argv
from loadtests.load.profiles import ConstantProfile, DayShape, StepProfile
from sim.profile import DayProfile


def test_day_profile_from_hourly_weights_peaks_at_the_busiest_hour():
    hourly = [1.0] * 24
    hourly[12] = 4.0  # noon is four times any other hour
    day = DayShape(peak_users=40, duration=240.0, hourly=hourly)  # 10 s per simulated hour
    assert day.users(125.0) == 40  # 12:30, the middle of the peak hour
    assert day.users(5.0) == 10    # 00:30: weight 1 of a peak 4
    assert day.users(240.0) is None
    assert min(day.users(t) for t in range(240)) >= 1


@pytest.mark.parametrize("peak_factor,peak_hour", [(1.0, 14.0), (1.5, 14.0), (3.0, 9.5), (6.0, 20.0)])
def test_day_shape_plays_the_simulators_profile(peak_factor, peak_hour):
    """One day profile: the live shape's per-hour rates are the simulator's, hour by hour."""
    sim_day = DayProfile(peak_factor=peak_factor, peak_hour=peak_hour)
    day = DayShape(peak_users=30, duration=240.0, peak_factor=peak_factor, peak_hour=peak_hour)
    for h in range(24):
        for frac in (0.01, 0.5, 0.99):  # constant within each hour, as the simulator integrates it
            t = (h + frac) * 10.0  # 10 run seconds per hour of the day
            assert day.rate_factor(t) == pytest.approx(sim_day.rate_factor((h + frac) * 3600.0), rel=1e-9)
    assert max(day.users(t) for t in range(240)) == 30
    peak_h = int(sim_day.weights.argmax())
    assert day.users(peak_h * 10.0 + 5.0) == 30


def test_constant_and_step():
    assert [ConstantProfile(5, 3.0).users(t) for t in (0, 2.9, 3.0)] == [5, 5, None]
    step = StepProfile("10@0,30@20,5@40", 60.0)
    assert [step.users(t) for t in (0, 19.9, 20, 45, 60)] == [10, 10, 30, 5, None]
    with pytest.raises(ValueError):
        StepProfile("10@5", 60.0)  # must start at second 0
    with pytest.raises(ValueError):
        StepProfile("ten@0", 60.0)


def test_profiles_do_not_import_locust():
    import sys
    assert "locust" not in sys.modules  # gevent's monkey-patching would leak into every other test


def test_locust_command_line_carries_the_scenario_load():
    spec = LoadSpec(host="http://127.0.0.1:1", duration=90, users=20, rate=300, shape="day",
                    mix=(0.5, 0.35, 0.15), hourly=[1.0] * 24, workers=2)
    argv = locust_argv(spec, "master", 5557)
    assert argv[argv.index("--bank-rate") + 1] == "15"  # 300 req/s over 20 users
    assert argv[argv.index("--bank-mix") + 1] == "0.5,0.35,0.15"
    assert "--master" in argv and argv[argv.index("--expect-workers") + 1] == "2"
    assert argv[argv.index("--master-bind-host") + 1] == "127.0.0.1"
    worker = locust_argv(spec, "worker", 5557)
    assert "--worker" in worker and "--headless" not in worker
