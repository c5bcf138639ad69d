"""Rare-event estimation for quorum loss: five nines and far beyond.

Naive Monte Carlo needs ~10^6 simulated years to see enough quorum losses at U ~ 1e-8; this
package estimates them with importance sampling (balanced failure biasing, likelihood ratios,
regenerative cycles) in seconds, and checks itself against exact Markov answers.

Public API::

    from sim.rare import k_of_n, replicas_in_idcs, importance, naive, estimate_scenario
    chain = k_of_n(3, 2, lam=1e-3, mu=1.0, crews=1)           # rates per hour
    est = importance(chain, np.random.default_rng(1), rel=0.1)  # est.u, est.ci95, est.simulated_years
    unavailability(chain)                                       # exact (GTH) for comparison
    estimate_scenario(scenario)                                 # summary.json fragment (whole bank)
"""

from sim.rare.chain import Chain, k_of_n, replicas_in_idcs
from sim.rare.estimators import Estimate, importance, naive
from sim.rare.exact import (k_of_n_unavailability, mean_cycle_time, naive_cycle_variance,
                            naive_years_needed, stationary, unavailability)
from sim.rare.bank import BankModel, Group, estimate_bank, evaluate, exact_probabilities
from sim.rare.scenario import bank_model, estimate_scenario, frequent_scenario, unsupported

__all__ = ["Chain", "k_of_n", "replicas_in_idcs", "Estimate", "importance", "naive", "k_of_n_unavailability",
           "stationary", "unavailability", "mean_cycle_time", "naive_cycle_variance", "naive_years_needed",
           "estimate_scenario", "bank_model", "frequent_scenario", "unsupported", "BankModel", "Group",
           "estimate_bank", "evaluate", "exact_probabilities"]
