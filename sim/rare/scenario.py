"""``simulation.estimator: importance``: a scenario's quorum-loss unavailability by rare-event simulation.

``estimate_scenario(scenario)`` builds the Markov chain of one cell's database replica set
from the scenario (``topology.cells.template.db``: replicas, write quorum, placement over IDCs,
repair crews; ``failures.components.server``: failure rate and mttr; ``failures.correlated.idc``:
IDC outages as a second, correlated failure mode), estimates the unavailability from quorum
loss with importance sampling until the 95 % CI is +-``rel``, and returns a ``summary.json``
fragment (nested dicts; dotted keys of the results contract).

Scope, stated in the fragment: quorum loss of one replica set (writes stop); failover time,
changes, the GNS and other causes are the fluid engine's business (its naive replications). The
chain uses exponential times with the scenario's means; a non-exponential distribution is noted.
With equal cells the bank's request-weighted figure from this cause equals one cell's.
"""

from __future__ import annotations

import numpy as np

from sim.errors import ScenarioError
from sim.metrics import MINUTES_PER_YEAR, block_from_estimate
from sim.rare.chain import k_of_n, replicas_in_idcs
from sim.rare.estimators import importance
from sim.rare.exact import unavailability

__all__ = ["estimate_scenario", "chain_from_scenario"]

HOUR = 3600.0


def chain_from_scenario(scenario):
    """(chain, description) of one cell's replica set; rates per hour."""
    db = scenario.topology.cells.template.db
    srv = scenario.failures.components.server
    if srv is None:
        raise ScenarioError("expected a server failure model for simulation.estimator: importance, got none",
                            path="failures.components.server")
    n, k = db.replicas, db.quorum
    crews = n if db.repair_crews == "unlimited" else min(db.repair_crews, n)
    lam = HOUR / srv.mean_ttf
    mu = HOUR / srv.mttr
    notes = []
    if srv.distribution != "exponential" or srv.repair_distribution != "exponential":
        notes.append("server failure/repair distributions taken as exponential with the same means")
    comp, corr = scenario.failures.components, scenario.failures.correlated
    left_out = [f"components.{k}" for k in ("disk", "db_process") if getattr(comp, k) is not None]
    left_out += [f"correlated.{k}" for k in ("rack", "power", "region", "partition") if getattr(corr, k) is not None]
    if corr.common_cause_beta > 0:
        left_out.append("correlated.common_cause_beta")
    if left_out:
        notes.append("not in the quorum-loss chain (the fluid engine's naive replications count them): "
                     + ", ".join(left_out))
    idc = scenario.failures.correlated.idc
    desc = {"replicas": n, "write_quorum": k, "repair_crews": crews, "server_failures_per_year": lam * 8760,
            "server_mttr_hours": 1 / mu}
    if idc is None:
        return k_of_n(n, k, lam, mu, crews), desc, notes
    names = scenario.topology.idc_names
    places = db.placement or names
    placement_names = [places[i % len(places)] for i in range(n)]
    used = sorted(set(placement_names), key=names.index)
    placement = [used.index(p) for p in placement_names]
    if idc.distribution != "exponential":
        notes.append("IDC outage durations taken as exponential with the same mean")
    desc.update({"placement": placement_names, "idc_outages_per_year": idc.rate * 365 * 86400,
                 "idc_outage_hours": idc.duration / HOUR})
    chain = replicas_in_idcs(placement, k, lam, mu, idc.rate * HOUR, HOUR / idc.duration, crews)
    return chain, desc, notes


def estimate_scenario(scenario, rng=None, rel: float = 0.1, bias: float = 0.7) -> dict:
    """summary.json fragment for the quorum-loss unavailability of the scenario's replica sets."""
    chain, desc, notes = chain_from_scenario(scenario)
    if rng is None:
        rng = np.random.default_rng(np.random.SeedSequence(scenario.simulation.seed))
    est = importance(chain, rng, rel=rel, bias=bias)
    db = scenario.topology.cells.template.db
    mix = scenario.workload.mix
    if db.on_quorum_loss == "degrade-async":
        share = 0.0  # writes go on without synchronous replicas: durability, not availability, suffers
        notes.append("on_quorum_loss: degrade-async: quorum loss costs no availability")
    else:
        share = (mix.intra_cell + mix.cross_cell) if db.reads_during_failover else 1.0
    exact = unavailability(chain)
    return {
        "availability": {"time": block_from_estimate(est.u, est.half_width),
                         "request": block_from_estimate(est.u * share, est.half_width * share)},
        "downtime_minutes_per_year": {"mean": est.u * share * MINUTES_PER_YEAR,
                                      "ci95": [max(est.u - est.half_width, 0) * share * MINUTES_PER_YEAR,
                                               (est.u + est.half_width) * share * MINUTES_PER_YEAR]},
        "estimator": {
            "method": "importance",
            "technique": "balanced failure biasing, regenerative ratio estimator, likelihood ratios",
            "scope": "quorum loss of one cell's database replica set (writes stop)",
            "unavailability": {"mean": est.u, "ci95": list(est.ci95), "rel_half_width": est.rel_half_width},
            "simulated_years": est.simulated_years,
            "cycles": est.cycles,
            "quorum_losses_sampled": est.events,
            "bias": bias,
            "target_rel_half_width": rel,
            "request_share": share,
            "exact_markov": exact,
            "model": desc,
            "states": chain.states,
            "notes": notes,
        },
    }
