"""The simulator against the closed forms of availability-math.md, inside its own 95 % CI.

Tolerance: each closed form must lie inside the simulator's own 95 % interval over
replications (``sim.metrics.intervals.loss_interval``), and that interval's half-width must be at
most 15 % of U (so the check has teeth). Seeds are fixed; run sizes are chosen so that ~150+ outage episodes are seen.
Failure rates are larger than in a real bank (lambda/mu ~ 1e-2) so naive Monte Carlo
resolves U in seconds; the rare-event estimator covers lambda/mu ~ 1e-3..1e-5.
"""

from __future__ import annotations

import pytest

from sim.runner import simulate
from sim.scenario import load_scenario_text
from tests import closed_forms as cf

H = 3600.0


def one_cell(db: str, failures: str, reps=20, horizon="365d", mix="{reads: 0, intra_cell: 1, cross_cell: 0}",
             profile="{peak_factor: 1}", extra="", gns="null", seed=7) -> str:
    return f"""
name: oracle
simulation: {{horizon: {horizon}, replications: {reps}, seed: {seed}, workers: 1}}
topology:
  gns: {gns}
  bus: null
  cells:
    count: 1
    template:
      db: {db}
workload: {{mix: {mix}, profile: {profile}}}
failures:
{failures}
{extra}
"""


def check(summary, u_true, key="request", max_rel_hw=0.15):
    blk = summary["availability"][key]
    lo, hi = blk["ci95"]
    u_lo, u_hi = 1 - hi, 1 - lo
    assert u_lo <= u_true <= u_hi, f"closed form U={u_true:.4g} outside simulated CI [{u_lo:.4g}, {u_hi:.4g}]"
    assert blk["half_width"] <= max_rel_hw * u_true, (
        f"CI half-width {blk['half_width']:.3g} > {max_rel_hw:.0%} of U={u_true:.3g}: test too weak")


NO_FAILOVER = "{detection: 0s, election: 0s, promotion: 0s}"


def test_single_component():
    sc = load_scenario_text(one_cell(
        f"{{replicas: 1, failover: {NO_FAILOVER}}}",
        "  components:\n    db_process: {mtbf: 1000h, mttr: 1h}", reps=80))
    # 40 until the few-event interval, 50 until components drew counter-based timelines
    # (~450 episodes put the half-width at 13-16 % of U, at the 15 % bar: 80 gives ~700, ~13 %)
    s = simulate(sc, workers=1)
    check(s, cf.single(1000 * H, 1 * H))
    check(s, cf.single(1000 * H, 1 * H), key="time")


@pytest.mark.parametrize("k,n,crews", [(2, 3, 1), (2, 3, 3), (3, 5, 1), (3, 5, 5)])
def test_k_of_n(k, n, crews):
    # lambda/mu = 0.05: enough quorum losses per simulated year for a tight CI
    mtbf, mttr = 20.0, 1.0
    sc = load_scenario_text(one_cell(
        f"{{replicas: {n}, write_quorum: {k}, repair_crews: {crews}, failover: {NO_FAILOVER}}}",
        f"  components:\n    db_process: {{mtbf: {mtbf}h, mttr: {mttr}h}}", reps=20))
    s = simulate(sc, workers=1)
    u = cf.k_of_n(k, n, 1 / mtbf, 1 / mttr, crews)
    check(s, u)
    if crews == n:  # with n crews the group is n independent components
        assert u == pytest.approx(cf.k_of_n_independent(k, n, 1 / mtbf, 1 / mttr), rel=1e-9)


@pytest.mark.parametrize("coverage,manual", [(1.0, 0.0), (0.9, 1.0)])
def test_primary_standby_failover(coverage, manual):
    mtbf, mttr, t_fo = 100.0, 1.0, 300.0
    db = (f"{{replicas: 2, write_quorum: 1, repair_crews: 1, failover: {{detection: {t_fo}s, election: 0s, "
          f"promotion: 0s, coverage: {coverage}, manual: {manual}h}}}}")
    sc = load_scenario_text(one_cell(db, f"  components:\n    db_process: {{mtbf: {mtbf}h, mttr: {mttr}h}}",
                                     reps=20, horizon="730d"))
    s = simulate(sc, workers=1)
    u = cf.primary_standby(1 / (mtbf * H), 1 / (mttr * H), t_fo, coverage, manual * H)
    check(s, u)


def test_series_router_and_cell():
    db = f"{{replicas: 1, failover: {NO_FAILOVER}}}"
    failures = ("  components:\n    db_process: {mtbf: 500h, mttr: 1h}\n"
                "    router_node: {mtbf: 1000h, mttr: 2h}")
    sc = load_scenario_text(one_cell(db, failures, reps=40, gns="{replicas: 1, quorum: 1}"))
    s = simulate(sc, workers=1)
    check(s, cf.series(cf.single(500 * H, 1 * H), cf.single(1000 * H, 2 * H)))


def test_common_cause_pair():
    mtbf, mttr, beta = 99.0, 1.0, 0.1
    db = f"{{replicas: 2, write_quorum: 1, failover: {NO_FAILOVER}}}"
    failures = (f"  components:\n    server: {{mtbf: {mtbf}h, mttr: {mttr}h}}\n    server_roles: [db]\n"
                f"  correlated:\n    common_cause_beta: {beta}")
    sc = load_scenario_text(one_cell(db, failures, reps=80))
    s = simulate(sc, workers=1)
    u = cf.common_cause_pair(1 / mtbf, 1 / mttr, beta)
    check(s, u)
    # the beta term dominates: without it the pair would look ~10x better
    assert u > 5 * cf.k_of_n_independent(1, 2, 1 / mtbf, 1 / mttr)


def test_request_weighted_equals_time_based_for_uniform_outages():
    """§5: outages uniform in time -> E[U_req] = U_time, under a strongly diurnal profile."""
    sc = load_scenario_text(one_cell(
        f"{{replicas: 1, failover: {NO_FAILOVER}}}", "  components:\n    db_process: {mtbf: 1000h, mttr: 1h}",
        reps=100, profile="{peak_factor: 3, peak_hour: 14}"))
    s = simulate(sc, workers=1)
    u = cf.single(1000 * H, 1 * H)
    check(s, u, key="request")  # variance is larger by E[w^2] (§5), hence more replications
    check(s, u, key="time")


def test_load_correlated_failures_weigh_more_per_request():
    """§5: failures during business hours (bad changes) -> U_req > U_time, beyond the CIs."""
    text = one_cell(f"{{replicas: 1, failover: {NO_FAILOVER}}}", "  changes:\n"
                    "    deploys: 2000/yr\n    bad_fraction: 0.05\n    rollout: global\n"
                    "    detection: 30m\n    rollback: 30m\n    business_hours_only: true",
                    reps=20, profile="{peak_factor: 3, peak_hour: 13}")
    s = simulate(load_scenario_text(text), workers=1)
    req, tim = s["availability"]["request"], s["availability"]["time"]
    assert req["ci95"][1] < tim["ci95"][0], "request-weighted availability should be clearly lower"


def test_ci_coverage_over_seeds():
    """Over 60 seeds the 95 % CI covers the closed form in 85-100 % of runs (§6)."""
    u = cf.single(1000 * H, 1 * H)
    covered = 0
    seeds = range(1, 61)
    for seed in seeds:
        sc = load_scenario_text(one_cell(f"{{replicas: 1, failover: {NO_FAILOVER}}}",
                                         "  components:\n    db_process: {mtbf: 1000h, mttr: 1h}",
                                         reps=10, seed=seed))
        lo, hi = simulate(sc, workers=1)["availability"]["request"]["ci95"]
        covered += (1 - hi) <= u <= (1 - lo)
    assert 0.85 * len(seeds) <= covered <= len(seeds), f"coverage {covered}/{len(seeds)}"


@pytest.mark.parametrize("ttf,ttr", [("weibull", "lognormal"), ("lognormal", "fixed"), ("fixed", "weibull")])
def test_single_component_any_distribution(ttf, ttr):
    """Renewal-reward: A = MTBF / (MTBF + MTTR) whatever the distributions (§1), so the
    distributions must be parameterised by their means."""
    failures = (f"  components:\n    db_process: {{mtbf: 1000h, mttr: 1h, distribution: {ttf}, shape: 0.7, "
                f"sigma: 0.8, repair_distribution: {ttr}, repair_shape: 1.5, repair_sigma: 0.8}}")
    sc = load_scenario_text(one_cell(f"{{replicas: 1, failover: {NO_FAILOVER}}}", failures, reps=150))
    check(simulate(sc, workers=1), cf.single(1000 * H, 1 * H))


def test_importance_estimator_is_wired_and_agrees_with_the_closed_form():
    """`simulation.estimator: importance` adds the quorum-loss figure naive sampling cannot see.

    one-cell: 2-of-3 replicas, server crashes 2/yr, MTTR 2 h, unlimited crews: U ~ 6e-7, so a
    100-year naive run sees almost no quorum loss. Over three seeds the estimator's own 95 % CI
    must hold the closed form (§2) at least twice (false-alarm rate 0.7 %: two misses of three
    at 5 % each) and always be within +-20 % of it.
    """
    from sim.scenario import load_scenario
    lam, mu = 2 / (365 * 24), 1 / 2
    u = cf.k_of_n(2, 3, lam, mu, crews=3)
    covered = 0
    for seed in (1, 2, 3):
        sc = load_scenario("scenarios/examples/one-cell.yaml",
                           ["simulation.estimator=importance", "simulation.replications=4",
                            f"simulation.seed={seed}"])
        s = simulate(sc, workers=1)
        assert s["estimator"]["method"] == "importance"
        lo, hi = s["availability"]["quorum_loss"]["request"]["ci95"]
        covered += 1 - hi <= u <= 1 - lo
        assert s["availability"]["quorum_loss"]["request"]["half_width"] <= 0.2 * u
    assert covered >= 2
