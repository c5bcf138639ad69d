"""``simulation.estimator: importance``: the bank's availability with its rare causes sampled apart.

``bank_model(scenario)`` turns the scenario into ``sim.rare.bank``'s model: one replica group per
distinct cell spec (``topology.cells.overrides`` applied), the GNS and the bus, server failures
and IDC outages, the mix and the cells' shares. ``unsupported(scenario)`` names the first part of
a scenario it cannot model (``(field path, message)``); ``sim.preflight`` refuses it at
``hivesim validate`` time (exit 2), so nothing is silently dropped. What is refused, and why:

* non-exponential server failure/repair times or IDC outage durations (the chains are Markov);
* disk, database-process, router-node and bus-node failures (a second failure mode per replica
  with its own repair: not in the group chains), rack, power, region and partition events and
  ``common_cause_beta`` (correlations other than whole IDCs);
* ``chaos:`` schedules (deterministic faults break the steady state the chains assume);
* more than ``MAX_IDCS`` IDCs holding replicas (the exact sum over IDC states).

Gray failures, changes, maintenance, app-process crashes, capacity and GNS blips are frequent
causes: the naive replications count them.

The bank figure (``availability.bank``) is the sum of two independent estimates::

    U_bank = U_naive(quorum-1 bank) + R,   R = U_full - U_all_down   (sim.rare.bank)

``frequent_scenario`` is the quorum-1 bank the naive replications run: every cell's
``write_quorum``, the GNS's and the bus's ``quorum`` set to 1, so quorum is lost only when every
replica is down; everything else (failover times, changes, maintenance, blips, IDC outages'
failovers, all-replicas-down states) stays in it. R adds exactly what write quorum > 1 adds.
The two estimates use independent random streams, so their variances add: half-width
sqrt(hw_naive^2 + hw_R^2). Left out (second order, stated in ``estimator.notes``): a failover
running while the same set has lost quorum is counted by both parts, and the ledger's product
term between a frequent cause in one cell and quorum loss in another.
"""

from __future__ import annotations

import math

import numpy as np

from sim.errors import ScenarioError
from sim.metrics import MINUTES_PER_YEAR, block_from_estimate
from sim.rare.bank import MAX_IDCS, BankModel, Group, estimate_bank

__all__ = ["bank_model", "unsupported", "frequent_scenario", "estimate_scenario", "combine"]

HOUR = 3600.0
_REFUSED = [("failures.components.disk", "disk failures"),
            ("failures.components.db_process", "database-process failures"),
            ("failures.components.router_node", "router-node failures"),
            ("failures.components.bus_node", "bus-node failures"),
            ("failures.correlated.rack", "rack failures"),
            ("failures.correlated.power", "power-domain failures"),
            ("failures.correlated.region", "region failures"),
            ("failures.correlated.partition", "network partitions")]


def _get(sc, path):
    obj = sc
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def unsupported(sc) -> tuple[str, str] | None:
    """(field path, one-line reason) of the first part the estimator cannot model, or None."""
    what = "simulation.estimator: importance cannot model"
    srv = sc.failures.components.server
    if srv is None:
        return ("failures.components.server",
                "expected a server failure model for simulation.estimator: importance, got none")
    if srv.distribution != "exponential":
        return ("failures.components.server.distribution",
                f"{what} {srv.distribution} times to failure (exponential only)")
    if srv.repair_distribution != "exponential":
        return ("failures.components.server.repair_distribution",
                f"{what} {srv.repair_distribution} repair times (exponential only)")
    for path, name in _REFUSED:
        if _get(sc, path) is not None:
            return path, f"{what} {name} (a failure mode outside its replica-group chains)"
    if sc.failures.correlated.common_cause_beta > 0:
        return ("failures.correlated.common_cause_beta", f"{what} common-cause failures (beta > 0)")
    idc = sc.failures.correlated.idc
    if idc is not None and idc.distribution != "exponential":
        return ("failures.correlated.idc.distribution",
                f"{what} {idc.distribution} IDC outage durations (exponential only)")
    if sc.chaos:
        return ("chaos", f"{what} a chaos schedule (deterministic faults break its steady state)")
    used = _idcs_used(sc)
    if idc is not None and len(used) > MAX_IDCS:
        return ("topology.regions", f"{what} {len(used)} IDCs holding replicas (at most {MAX_IDCS})")
    return None


def _placement(plist, n, idcs):
    names = plist or idcs
    return [idcs.index(names[i % len(names)]) for i in range(n)]


def _idcs_used(sc) -> list[int]:
    topo = sc.topology
    idcs = topo.idc_names
    used = set()
    for spec in {id(s): s for s in topo.cells.specs()}.values():
        used.update(_placement(spec.db.placement, spec.db.replicas, idcs))
    for svc in (topo.gns, topo.bus):
        if svc is not None:
            used.update(_placement(svc.placement, svc.replicas, idcs))
    return sorted(used)


def bank_model(sc) -> BankModel:
    """The scenario as ``sim.rare.bank.BankModel`` (``ScenarioError`` with the path if unsupported)."""
    bad = unsupported(sc)
    if bad is not None:
        raise ScenarioError(bad[1], path=bad[0])
    topo, srv = sc.topology, sc.failures.components.server
    idcs = topo.idc_names
    used = _idcs_used(sc)
    lam_all, mu = HOUR / srv.mean_ttf, HOUR / srv.mttr

    def counts(plist, n):
        c = np.zeros(len(used), dtype=np.int64)
        for i in _placement(plist, n, idcs):
            c[used.index(i)] += 1
        return c

    def lam(role):
        return lam_all if role in sc.failures.components.server_roles else 0.0
    specs = topo.cells.specs()
    shares = ([s.weight for s in specs] if sc.workload.mapping == "range" else [1.0] * len(specs))
    tot = sum(shares)
    groups, by_spec = [], {}
    for spec, s in zip(specs, shares):
        g = by_spec.get(id(spec))
        if g is None:
            db = spec.db
            crews = None if db.repair_crews == "unlimited" else min(db.repair_crews, db.replicas)
            g = by_spec[id(spec)] = Group(f"cell spec {len(by_spec)}", counts(db.placement, db.replicas),
                                          db.quorum, lam("db"), mu, crews,
                                          async_writes=db.on_quorum_loss == "degrade-async")
            groups.append(g)
        g.share += s / tot
        g.share_sq += (s / tot) ** 2
        g.cells += 1
    for kind, svc in (("gns", topo.gns), ("bus", topo.bus)):
        if svc is not None:
            groups.append(Group(kind, counts(svc.placement, svc.replicas), svc.quorum, lam(kind), mu, None,
                                kind=kind))
    idc = sc.failures.correlated.idc
    mix = sc.workload.mix
    return BankModel(groups, [idcs[i] for i in used], idc.rate * HOUR if idc else 0.0,
                     HOUR / idc.duration if idc else 1.0, mix.reads, mix.intra_cell, mix.cross_cell)


def frequent_scenario(sc):
    """The quorum-1 bank the naive replications run (see the module docstring)."""
    from sim.scenario import Scenario
    data = sc.model_dump(mode="python")
    topo = data["topology"]
    topo["cells"]["template"]["db"]["write_quorum"] = 1
    for ov in topo["cells"]["overrides"]:
        db = ov["set"].setdefault("db", {})
        db["write_quorum"] = 1
    for svc in ("gns", "bus"):
        if topo[svc] is not None:
            topo[svc]["quorum"] = 1
    data["simulation"]["estimator"] = "naive"
    return Scenario.model_validate(data)


def combine(naive_u: float, naive_hw: float, rare_u: float, rare_hw: float) -> tuple[float, float]:
    """Sum of two independent estimates: means add, variances add."""
    return naive_u + rare_u, math.hypot(naive_hw, rare_hw)


def _downtime(u, hw):
    return {"mean": u * MINUTES_PER_YEAR,
            "ci95": [max(u - hw, 0.0) * MINUTES_PER_YEAR, (u + hw) * MINUTES_PER_YEAR]}


def estimate_scenario(scenario, rng=None, rel: float = 0.1, bias: float = 0.7, frequent=None) -> dict:
    """summary.json fragment: the bank's quorum-loss figures and, given ``frequent`` (the quorum-1
    bank's naive request-weighted U, its 95 % half-width, replications), the combined bank figure."""
    model = bank_model(scenario)
    if rng is None:
        rng = np.random.default_rng(np.random.SeedSequence(scenario.simulation.seed))
    est = estimate_bank(model, rng, rel=rel, bias=bias)
    v, h = est.value, est.half_width
    frag = {
        "availability": {"quorum_loss": {"time": block_from_estimate(v["time"], h["time"]),
                                         "request": block_from_estimate(v["full"], h["full"])}},
        "downtime_minutes_per_year": {"quorum_loss": _downtime(v["full"], h["full"])},
    }
    years_is = est.simulated_years * (h["full"] / (0.1 * v["full"])) ** 2 if v["full"] > 0 else None
    notes = ["a failover running while the same set has lost quorum is counted by both parts "
             "(second order), as is the product term between a frequent cause in one cell and "
             "quorum loss in another"]
    e = {
        "method": "importance",
        "technique": "balanced failure biasing per replica group, conditioned on the IDC state; "
                     "regenerative ratio estimator; delta method",
        "scope": "quorum loss of every cell's replica set (overrides applied), the GNS and the bus, "
                 "server failures and IDC outages; the bank's request weighting",
        "unavailability": {"mean": v["full"], "ci95": [v["full"] - h["full"], v["full"] + h["full"]],
                           "rel_half_width": h["full"] / v["full"] if v["full"] > 0 else None},
        "rare_part": {"mean": v["rare"], "half_width": h["rare"], "exact_markov": est.exact["rare"]},
        "all_down_exact_markov": est.exact["all_down"],
        "exact_markov": est.exact["full"],
        "simulated_years": est.simulated_years,
        "simulated_years_for_10pct": years_is,
        "naive_years_for_10pct": est.naive_years_10pct,
        "variance_reduction": (est.naive_years_10pct / years_is
                               if est.naive_years_10pct and years_is else None),
        "cycles": est.cycles,
        "quorum_losses_sampled": est.events,
        "bias": bias,
        "target_rel_half_width": rel,
        "groups": [{"name": g.name, "replicas": g.n, "quorum": g.k, "cells": g.cells,
                    "share": g.share, "failures_per_year": g.lam * 8760, "mttr_hours": 1 / g.mu,
                    "repair_crews": g.crews or g.n, "async_writes": g.async_writes}
                   for g in model.groups],
        "idcs": model.idc_names,
        "idc_outage_probability": float(model.idc_down[0]) if len(model.idc_names) else 0.0,
        "parameters": est.parameters,
        "notes": notes,
    }
    frag["estimator"] = e
    from sim.rare.durability import durability_summary
    frag["durability"] = durability_summary(scenario, rng=rng, rel=rel, bank=(est, model))
    if frequent is not None:
        nu, nhw, reps = frequent
        u, hw = combine(nu, nhw, v["rare"], h["rare"])
        frag["availability"]["bank"] = block_from_estimate(u, hw)
        frag["downtime_minutes_per_year"]["bank"] = _downtime(u, hw)
        e["frequent"] = {"unavailability": nu, "half_width": nhw, "replications": reps,
                         "scenario": "write_quorum, gns.quorum and bus.quorum set to 1"}
        if est.exact["all_down"] > 0.1 * hw:
            notes.append(f"all-replicas-down states (exact Markov U {est.exact['all_down']:.3g}) are left to the "
                         f"naive replications and exceed 10 % of the bank's half-width ({hw:.3g}): "
                         "their naive interval may be too narrow")
    return frag
