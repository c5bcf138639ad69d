"""Rare-event estimators against exact Markov answers (availability-math.md sections 2 and 6).

Every statistical assertion uses a fixed seed and the estimator's own 95 % CI; the chance that
a correct estimator misses is 5 % per assertion and the seeds are fixed, so a failure means a
code change moved the result, not bad luck on the day.
"""

import numpy as np
import pytest

from sim.errors import HivesimError, ScenarioError
from sim.rare import (estimate_scenario, importance, k_of_n, k_of_n_unavailability, naive,
                      naive_cycle_variance, naive_years_needed, replicas_in_idcs, stationary,
                      unavailability)
from sim.scenario import load_scenario_text


@pytest.mark.parametrize("n,k,crews,ref", [(3, 2, 1, 5.988e-6), (3, 2, 3, 2.992e-6),
                                           (5, 3, 1, 5.98e-8), (5, 3, 5, 9.96e-9)])
def test_closed_form_reference_examples(n, k, crews, ref):
    # the worked examples of availability-math.md section 2 at lambda/mu = 1e-3 (4 digits given)
    assert k_of_n_unavailability(n, k, 1e-3, crews) == pytest.approx(ref, rel=1e-3)


@pytest.mark.parametrize("ratio", [1e-3, 1e-4, 1e-5])
def test_gth_matches_product_formula_at_tiny_probabilities(ratio):
    for n, k, crews in ((3, 2, 1), (5, 3, 1), (5, 3, 2)):
        exact = k_of_n_unavailability(n, k, ratio, crews)
        assert unavailability(k_of_n(n, k, ratio, 1.0, crews)) == pytest.approx(exact, rel=1e-9)
    # the replica-in-IDC chain without IDC outages lumps to the same birth-death chain
    c = replicas_in_idcs([0, 1, 2], 2, ratio, 1.0, 0.0, 1.0, crews=1)
    assert unavailability(c) == pytest.approx(k_of_n_unavailability(3, 2, ratio, 1), rel=1e-9)
    assert stationary(c).sum() == pytest.approx(1.0)


@pytest.mark.parametrize("n,k,seed", [(3, 2, 11), (5, 3, 12)])
def test_importance_sampling_agrees_with_closed_form_at_1e_3(n, k, seed):
    chain = k_of_n(n, k, 1e-3, 1.0, crews=1)
    est = importance(chain, np.random.default_rng(seed), cycles=4000)
    exact = k_of_n_unavailability(n, k, 1e-3, 1)
    lo, hi = est.ci95
    assert lo <= exact <= hi, (est, exact)
    assert est.rel_half_width < 0.1  # 4,000 cycles: ~3-5 % expected; bounded relative error
    assert est.events > 1000


def test_importance_sampling_keeps_its_precision_at_1e_5():
    # bounded relative error: the same number of cycles gives a similar relative CI at U ~ 6e-14
    chain = k_of_n(5, 3, 1e-5, 1.0, crews=1)
    est = importance(chain, np.random.default_rng(13), cycles=4000)
    exact = k_of_n_unavailability(5, 3, 1e-5, 1)
    assert est.ci95[0] <= exact <= est.ci95[1]
    assert est.rel_half_width < 0.1


def test_compound_idc_outage_plus_second_failure():
    # 3 replicas in 3 IDCs; servers 2/yr, 4 h repair, one crew; IDC outages 1/yr for 2 h each
    chain = replicas_in_idcs([0, 1, 2], 2, 2 / 8760, 1 / 4, 1 / 8760, 1 / 2, crews=1)
    est = importance(chain, np.random.default_rng(14), cycles=6000)
    exact = unavailability(chain)
    assert est.ci95[0] <= exact <= est.ci95[1], (est, exact)
    # IDC outages add a path (IDC down + a second failure): with these rates +28 % over servers alone
    assert exact > 1.2 * unavailability(replicas_in_idcs([0, 1, 2], 2, 2 / 8760, 1 / 4, 0.0, 1 / 2, crews=1))


def test_naive_monte_carlo_agrees_at_large_ratio():
    chain = k_of_n(3, 2, 0.05, 1.0, crews=1)
    est = naive(chain, np.random.default_rng(15), cycles=60_000)
    exact = k_of_n_unavailability(3, 2, 0.05, 1)
    assert est.ci95[0] <= exact <= est.ci95[1], (est, exact)


def test_naive_variance_formula_matches_simulation():
    # the exact cycle variance (which prices naive MC at 1e-5 without running it) against the
    # sample variance of 200,000 naive cycles: the sampling error of a variance of this skewed
    # quantity is ~3 % here, so 10 %
    chain = k_of_n(3, 2, 0.05, 1.0, crews=1)
    from sim.rare.estimators import _cycles, biased_probabilities
    p, _ = biased_probabilities(chain)
    y, tau, _ = _cycles(chain, np.random.default_rng(16), 200_000, p, exact_times=True)
    u = unavailability(chain)
    assert np.var(y - u * tau) == pytest.approx(naive_cycle_variance(chain, u), rel=0.10)


def test_importance_needs_far_fewer_years_than_naive():
    chain = k_of_n(3, 2, 1e-3, 1.0, crews=1)
    est = importance(chain, np.random.default_rng(17), rel=0.1)
    assert est.rel_half_width <= 0.1
    assert naive_years_needed(chain, 0.1) / est.simulated_years > 100


def test_bad_groups_are_errors():
    with pytest.raises(HivesimError):
        k_of_n(3, 4, 1e-3, 1.0)
    with pytest.raises(HivesimError):
        replicas_in_idcs([0, 1, 2], 2, 0.0, 1.0, 0.0, 1.0)


SCENARIO = """
name: rare
topology:
  cells:
    template:
      db: {replicas: 3, repair_crews: 1}
failures:
  components:
    server: {rate: 2/yr, mttr: 4h}
  correlated:
    idc: {rate: 1/yr, duration: 2h}
"""


def test_estimate_scenario_fragment():
    """The whole-bank fragment (sim.rare.scenario): one cell with crews 1 and IDC outages, the
    default GNS (1 of 3) and bus (2 of 3). The derivation itself is checked against a brute-force
    joint chain in tests/test_rare_bank.py; here the wiring: the interval holds the exact Markov
    figure (5 % false-alarm rate, fixed seed), the cell's conditional probability with no IDC down
    is the birth-death closed form, and the blocks agree with the estimator's figures."""
    sc = load_scenario_text(SCENARIO)
    out = estimate_scenario(sc, np.random.default_rng(18))
    e = out["estimator"]
    assert e["method"] == "importance" and e["cycles"] > 0 and e["simulated_years"] > 0
    u = e["unavailability"]
    assert u["rel_half_width"] <= 0.1
    assert u["ci95"][0] <= e["exact_markov"] <= u["ci95"][1]
    cell = [p for p in e["parameters"] if p["group"] == "cell spec 0" and p["dead_replicas"] == 0
            and p["which"] == "ql"][0]
    assert cell["exact"] == pytest.approx(k_of_n_unavailability(3, 2, (2 / 8760) / (1 / 4), 1), rel=1e-9)
    req, tim = out["availability"]["quorum_loss"]["request"], out["availability"]["quorum_loss"]["time"]
    assert req["failed_per_million"] == pytest.approx(1e6 * u["mean"])
    assert tim["ci95"][0] <= tim["mean"] <= tim["ci95"][1] and tim["nines"] == pytest.approx(-np.log10(1 - tim["ci95"][0]))
    # reads continue while a replica is up, and the bus stops only cross-cell transfers: the
    # request-weighted figure is below the share of time anything has lost quorum
    assert req["failed_per_million"] < tim["failed_per_million"]


def test_estimate_scenario_needs_a_server_failure_model():
    with pytest.raises(ScenarioError, match="failures.components.server"):
        estimate_scenario(load_scenario_text("name: x\n"))
