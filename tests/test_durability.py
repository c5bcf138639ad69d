"""Durability (sim.rare.durability) against published closed forms and the fluid engine.

Statistical assertions use fixed seeds; each states its false-alarm rate.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.rare import bank_model, estimate_bank, evaluate, exact_probabilities
from sim.rare.durability import (backblaze_annual_loss, disk_estimate, durability_summary, loss_chain,
                                 mttdl_asymptotic, mttdl_exact)
from sim.scenario import load_scenario_text

Z995_OVER_Z95 = 2.807 / 1.96


def test_silberschatz_mirrored_pair():
    """MTTF 100,000 h, MTTR 10 h: MTTDL = MTTF^2 / (2 MTTR) = 5e8 h (the exact chain adds 3 MTTF/2)."""
    lam, mu = 1 / 100_000, 1 / 10
    exact = mttdl_exact(2, 1, lam, mu)
    assert exact == pytest.approx((3 * lam + mu) / (2 * lam ** 2), rel=1e-12)
    assert exact == pytest.approx(5e8, rel=5e-4)
    assert mttdl_asymptotic(2, 1, 100_000, 10) == pytest.approx(5e8, rel=1e-12)
    # the importance-sampling estimate of the loss rate holds it (99.5 % interval: 0.5 % false alarm)
    rate, hw, exact_rate, years = disk_estimate(2, 1, lam, mu, None, np.random.default_rng(5))
    assert exact_rate == pytest.approx(1 / exact)
    assert abs(rate - exact_rate) <= hw * Z995_OVER_Z95 and hw <= 0.1 * rate
    naive_years = 384 * exact / 8760  # ~384 losses for +-10 % (Poisson), one every MTTDL
    print(f"\nmirrored pair: MTTDL exact {exact:.6g} h, IS {1 / rate:.6g} h +-{hw / rate:.1%}; "
          f"IS years {years:.3g} vs naive ~{naive_years:.3g} for +-10 %")


@pytest.mark.parametrize("n,k", [(3, 1), (3, 2), (5, 3), (5, 1), (4, 2)])
def test_k_of_n_closed_forms(n, k):
    lam, mu = 1 / 100_000, 1 / 10
    exact = mttdl_exact(n, k, lam, mu)
    # the classic asymptotic form, error O(n lambda / mu)
    assert exact == pytest.approx(mttdl_asymptotic(n, k, 1 / lam, 1 / mu), rel=10 * n * lam / mu)
    # the first-passage sum against a plain linear solve where that is well conditioned
    lam2 = 0.05
    ch = loss_chain(n, k, lam2, 1.0)
    s = ch.states - 1
    a = np.diag(ch.total_rate[:s])
    for i in range(s):
        for r, t in zip(ch.rate[i], ch.target[i]):
            if r > 0 and t < s:
                a[i, t] -= r
    assert mttdl_exact(n, k, lam2, 1.0) == pytest.approx(np.linalg.solve(a, np.ones(s))[0], rel=1e-9)
    # Backblaze's window method (Poisson count in fixed rebuild windows) vs the chain: their ratio
    # is n! N! / ((n-k)! (k-1)! n^N), N = n - k + 1, to first order in lambda T
    afr, window_days = 8760 * lam, 10 / 24
    bb = backblaze_annual_loss(n, k, afr, window_days)
    chain = -math.expm1(-8760 / exact)
    N = n - k + 1
    ratio = math.factorial(n) * math.factorial(N) / (math.factorial(n - k) * math.factorial(k - 1) * n ** N)
    assert chain / bb == pytest.approx(ratio, rel=0.01)


DEGRADED = """
name: degraded
topology:
  regions: [{name: r, idcs: [a, b, c]}]
  gns: null
  bus: null
  cells:
    count: 4
    template:
      app: {nodes: 2}
      db: {replicas: 3, placement: [a, b, c], on_quorum_loss: degrade-async,
           failover: {detection: 0s, election: 0s, promotion: 0s}}
failures:
  components:
    server: {rate: 40/yr, mttr: 6h}
    server_roles: [db]
  correlated:
    idc: {rate: 2/yr, duration: 4h}
simulation: {replications: 30, seed: 4}
"""


def test_degraded_async_exposure_matches_the_engine_and_the_estimate_holds_the_exact():
    from sim.runner import simulate
    sc = load_scenario_text(DEGRADED)
    model = bank_model(sc)
    exact = evaluate(model, exact_probabilities(model))["async_exposed"]  # expected cells degraded
    s = simulate(sc, workers=1)
    per_rep = s["rpo"]["async_exposure_seconds_per_year"] / (365 * 86400)
    # the engine's exposure is a mean over 30 one-year replications: ~hundreds of episodes, so
    # +-15 % covers it (a tolerance, not an interval; the Markov figure is exact)
    assert per_rep == pytest.approx(exact, rel=0.15)
    est = estimate_bank(model, np.random.default_rng(9))
    d = durability_summary(sc, rng=np.random.default_rng(10), bank=(est, model))
    part = d["by_mechanism"]["degraded_async"]
    lo, hi = part["loss_probability_per_year_ci95"]
    ex = -math.expm1(-part["exact_markov_events_per_year"])
    mid = (lo + hi) / 2
    assert abs(ex - mid) <= (hi - lo) / 2 * Z995_OVER_Z95
    assert d["mttdl_years"] == pytest.approx(1 / d["loss_events_per_year"])


def test_durability_is_in_every_fluid_summary():
    from sim.runner import simulate
    sc = load_scenario_text(DEGRADED.replace("server_roles: [db]", "server_roles: [db]\n    disk: {rate: 5/yr}")
                            .replace("replications: 30", "replications: 2"))
    d = simulate(sc, workers=1)["durability"]
    assert set(d["by_mechanism"]) == {"disk", "degraded_async"}
    assert d["by_mechanism"]["degraded_async"]["method"] == "naive exposure x failure rate"
    disk = d["by_mechanism"]["disk"]
    lo, hi = disk["loss_probability_per_year_ci95"]
    assert lo <= disk["loss_probability_per_year"] <= hi
    assert 0 < d["loss_probability_per_year"] < 1 and d["mttdl_years"] > 0


def test_async_replication_loses_writes_at_every_primary_loss():
    """replication: async: each primary loss (2 crashes/yr + 0.5 IDC outages/yr) drops the
    unreplicated tail: 2.5 loss events per cell-year, exactly the closed form."""
    sc = load_scenario_text(DEGRADED.replace("on_quorum_loss: degrade-async", "replication: async")
                            .replace("rate: 40/yr", "rate: 2/yr").replace("rate: 2/yr, duration", "rate: 0.5/yr, duration"))
    d = durability_summary(sc, rng=np.random.default_rng(1))
    assert set(d["by_mechanism"]) == {"async_failover"}
    assert d["loss_events_per_year"] == pytest.approx(4 * 2.5)
