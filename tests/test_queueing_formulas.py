"""Queueing formulas against the worked values of shared/reference/availability-math.md §7.

Tolerances: the reference values are printed to 3 significant figures, so we compare at
half a unit of the last printed digit (rel ~ 0.5e-2 .. 2.5e-2 depending on the figure).
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from sim.queueing import (
    Station, allen_cunneen_wait_mean, erlang_b, erlang_c, mmc_sojourn_percentile, mmc_sojourn_tail,
    mmc_wait_mean, mmc_wait_tail, shed_fraction, tandem_percentile, tandem_tail, usl_capacity, usl_peak,
)


def test_erlang_b_reference_value():
    assert erlang_b(30, 25) == pytest.approx(0.0526, abs=0.00005)


def test_erlang_b_small_cases_by_hand():
    # B(1, a) = a / (1 + a); B(2, a) = a^2/2 / (1 + a + a^2/2)
    assert erlang_b(1, 3.0) == pytest.approx(0.75)
    assert erlang_b(2, 2.0) == pytest.approx(2.0 / 5.0)
    assert erlang_b(0, 2.0) == 1.0


@pytest.mark.parametrize("c", [171, 500, 5000])
def test_erlang_b_large_c_no_overflow(c):
    # math.factorial(c) overflows a float beyond 170: the recursion must not care.
    with pytest.raises(OverflowError):
        float(math.factorial(c))
    b = erlang_b(c, 0.96 * c)
    assert 0.0 < b < 0.1 and math.isfinite(b)
    # cross-check with the log-space closed form B = pois(c; a) / cdf(c; a)
    from scipy.stats import poisson
    a = 0.96 * c
    assert b == pytest.approx(poisson.pmf(c, a) / poisson.cdf(c, a), rel=1e-9)


def test_erlang_c_examples():
    # lambda = 800/s, 10 ms service
    assert mmc_wait_mean(800, 100, 10) * 1000 == pytest.approx(2.05, abs=0.005)
    assert mmc_wait_tail(800, 100, 10, 0.050) == pytest.approx(1.9e-5, abs=0.05e-5)
    assert mmc_wait_mean(800, 100, 9) * 1000 == pytest.approx(6.53, abs=0.005)
    assert mmc_wait_tail(800, 100, 9, 0.050) == pytest.approx(4.4e-3, abs=0.05e-3)


def test_erlang_c_unstable_and_idle():
    assert erlang_c(4, 4.0) == 1.0
    assert mmc_wait_mean(500, 100, 5) == math.inf
    assert erlang_c(4, 0.0) == 0.0


def test_mm1_sojourn_is_exponential():
    # M/M/1: T ~ Exp(mu - lambda)
    t = np.array([0.001, 0.02, 0.1])
    assert mmc_sojourn_tail(50, 100, 1, t) == pytest.approx(np.exp(-50 * t), rel=1e-10)
    assert mmc_sojourn_percentile(50, 100, 1, 99) == pytest.approx(math.log(100) / 50, rel=1e-6)


@pytest.mark.parametrize("cs2", [0.25, 1.0, 4.0])
def test_tandem_mean_matches_allen_cunneen(cs2):
    # the integral of the tail is the mean: service + Allen-Cunneen wait at each station
    stations = [Station(c=4, mu=100, lam=300), Station(c=8, mu=200, lam=300, cs2=cs2)]
    t = np.linspace(0, 3, 30001)
    mean = np.trapezoid(tandem_tail(stations, t), t)
    expect = 0.01 + mmc_wait_mean(300, 100, 4) + 0.005 + allen_cunneen_wait_mean(300, 200, 8, 1, cs2)
    assert mean == pytest.approx(expect, rel=1e-4)  # trapezoid error on a 0.1 ms grid


def test_tandem_offset_and_percentile():
    stations = [Station(c=2, mu=100, lam=100)]
    p = tandem_percentile(stations, 99)
    assert tandem_tail(stations, p) == pytest.approx(0.01, rel=1e-6)
    assert tandem_percentile(stations, 99, offset=0.005) == pytest.approx(p + 0.005, rel=1e-9)
    assert tandem_tail(stations, 0.004, offset=0.005) == 1.0


def test_unstable_station_rejected():
    with pytest.raises(ValueError, match="unstable"):
        Station(c=2, mu=100, lam=200)


def test_shed_fraction():
    assert shed_fraction(100, 80) == pytest.approx(0.2)
    assert shed_fraction(50, 80) == 0.0
    assert shed_fraction(10, 0) == 1.0


def test_usl():
    assert usl_capacity(32) == 32
    assert usl_capacity(1, 0.1, 0.01) == 1
    s, k = 0.05, 0.001
    n_star = usl_peak(s, k)
    assert n_star == pytest.approx(math.sqrt(0.95 / 0.001))
    assert usl_capacity(n_star, s, k) >= usl_capacity(n_star * 0.8, s, k)
    assert usl_capacity(n_star, s, k) >= usl_capacity(n_star * 1.25, s, k)
    assert usl_peak(0.1, 0.0) == math.inf


@settings(max_examples=40, deadline=None)
@given(c=st.integers(1, 60), rho=st.floats(0.01, 0.99))
def test_erlang_c_properties(c, rho):
    a = rho * c
    pc = erlang_c(c, a)
    pb = erlang_b(c, a)
    assert 0.0 <= pb <= pc <= 1.0  # waiting is at least as likely as blocking
    # one more server never makes waiting more likely
    assert erlang_c(c + 1, a) <= pc + 1e-12
