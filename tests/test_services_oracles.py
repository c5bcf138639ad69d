"""Services inside a cell against closed forms (sim/engine/service_ledger.py's formulas).

Tolerance as tests/test_oracles.py: the closed form must lie inside the simulator's own 95 %
t-interval over replications (a false alarm in ~5 % of seeds; seeds are fixed, so a test
either passes or fails for good), and the half-width must be at most 15 % of U (teeth).
Only service nodes fail (per-service ``failures``), each node with its own repair, so a
service's nodes are independent and a k-of-n service has the binomial closed form.
One test shows that services which never fail leave a bank's figures exactly as they are
without services: the service ledger's formulas reduce to the ledger's. The cross-cell case
tells the documented rule (the path in the source cell, a writable destination) from the
alternative (the path in both cells): U 0.093 vs 0.114, beyond the 15 % interval.
"""

from __future__ import annotations

from sim.runner import simulate
from sim.scenario import load_scenario_text
from tests import closed_forms as cf
from tests.test_oracles import check

H = 3600.0


def bank(services: str, paths: str, mix: str, reps: int = 16, extra_failures: str = "{}",
         cells: int = 1, bus: str = "null", seed: int = 11) -> str:
    return f"""
name: services-oracle
simulation: {{horizon: 365d, replications: {reps}, seed: {seed}, workers: 1}}
topology:
  gns: null
  bus: {bus}
  cells:
    count: {cells}
    template:
      services: {services}
workload: {{mix: {mix}, profile: {{peak_factor: 1}}, paths: {paths}}}
failures:
  components: {extra_failures}
"""


def svc(name, nodes, needs, mtbf_h, mttr_h=1.0, more=""):
    return (f"{{name: {name}, nodes: {nodes}, needs: {needs}, database: none{more},"
            f" failures: {{app_process: {{mtbf: {mtbf_h}h, mttr: {mttr_h}h}}}}}}")


def u_kn(k, n, mtbf_h, mttr_h=1.0):
    return cf.k_of_n_independent(k, n, 1 / mtbf_h, 1 / mttr_h)


def test_series_of_services_with_k_of_n():
    services = f"[{svc('a', 1, 1, 50)}, {svc('b', 3, 2, 10)}, {svc('c', 2, 1, 5)}]"
    sc = load_scenario_text(bank(services, "{reads: [a, b, c]}", "{reads: 1, intra_cell: 0, cross_cell: 0}"))
    u = cf.path_mix({"reads": 1.0}, {"reads": [u_kn(1, 1, 50), u_kn(2, 3, 10), u_kn(1, 2, 5)]})
    s = simulate(sc, workers=1)
    check(s, u)
    check(s, u, key="time")


def test_a_service_shared_by_two_paths():
    # reads call s and a, transfers s and b: s's outages fail both types, a's and b's only theirs
    services = f"[{svc('s', 1, 1, 40)}, {svc('a', 1, 1, 20)}, {svc('b', 2, 2, 30)}]"
    sc = load_scenario_text(bank(services, "{reads: [s, a], intra_cell: [s, {service: b, calls: 3}]}",
                                 "{reads: 0.5, intra_cell: 0.5, cross_cell: 0}"))
    us, ua, ub = u_kn(1, 1, 40), u_kn(1, 1, 20), u_kn(2, 2, 30)
    u = cf.path_mix({"reads": 0.5, "intra_cell": 0.5}, {"reads": [us, ua], "intra_cell": [us, ub]})
    check(simulate(sc, workers=1), u)


def test_a_fallback_serves_while_its_service_is_down():
    services = f"[{svc('p', 1, 1, 10, more=', fallback: q')}, {svc('q', 1, 1, 20)}]"
    sc = load_scenario_text(bank(services, "{intra_cell: [p]}", "{reads: 0, intra_cell: 1, cross_cell: 0}"))
    u = cf.path_mix({"intra_cell": 1.0}, {"intra_cell": [cf.with_fallback(u_kn(1, 1, 10), u_kn(1, 1, 20))]})
    check(simulate(sc, workers=1), u)


def test_a_service_with_its_own_database_fails_writes_on_quorum_loss():
    # its own set: 3 replicas, write quorum 2, one crew each (independent), failover instant;
    # reads need one replica, transfers the quorum
    own = ("{name: core, nodes: 1, database: own, db: {replicas: 3, repair_crews: 3, "
           "failover: {detection: 0s, election: 0s, promotion: 0s}, "
           "members: [{replica: 0, failures: {db_process: {mtbf: 10h, mttr: 1h}}}, "
           "{replica: 1, failures: {db_process: {mtbf: 10h, mttr: 1h}}}, "
           "{replica: 2, failures: {db_process: {mtbf: 10h, mttr: 1h}}}]}}")
    sc = load_scenario_text(bank(f"[{own}]", "{reads: [core], intra_cell: [core]}",
                                 "{reads: 0.5, intra_cell: 0.5, cross_cell: 0}"))
    u = cf.path_mix({"reads": 0.5, "intra_cell": 0.5},
                    {"reads": [u_kn(1, 3, 10)], "intra_cell": [u_kn(2, 3, 10)]})
    check(simulate(sc, workers=1), u)


def test_services_that_never_fail_change_nothing():
    # cross-cell traffic over two cells and a bus: the service ledger's x_c = d_c = w_c case
    failures = ("{db_process: {mtbf: 30h, mttr: 1h}, app_process: {mtbf: 40h, mttr: 1h}, "
                "bus_node: {mtbf: 50h, mttr: 1h}}")
    never = "failures: {app_process: null, server: null}"
    mix = "{reads: 0.5, intra_cell: 0.3, cross_cell: 0.2}"
    plain = bank("[]", "null", mix, reps=4, extra_failures=failures, cells=2, bus="{replicas: 3, quorum: 2}")
    with_svc = bank(f"[{{name: api, nodes: 2, {never}}}, {{name: core, nodes: 2, database: none, {never}}}]",
                    "null", mix, reps=4, extra_failures=failures, cells=2, bus="{replicas: 3, quorum: 2}")
    sa = simulate(load_scenario_text(plain), workers=1)
    sb = simulate(load_scenario_text(with_svc), workers=1)
    a, b = sa["availability"], sb["availability"]
    for kind in ("request", "time"):
        assert abs(a[kind]["mean"] - b[kind]["mean"]) <= 1e-12, (kind, a[kind]["mean"], b[kind]["mean"])
    for ca, cb in zip(sa["cells"], sb["cells"]):   # each cell's own figure too
        assert abs(ca["availability"] - cb["availability"]) <= 1e-12, (ca, cb)
    assert a["request"]["mean"] < 1.0  # something failed, so the comparison has teeth


def test_cross_cell_transfers_need_the_source_path_and_a_writable_destination():
    # two cells, each a one-replica db (failing) and a one-node service p on the cross path
    db_fail = "{db_process: {mtbf: 30h, mttr: 1h}}"
    text = bank(f"[{svc('p', 1, 1, 20)}]", "{cross_cell: [p]}", "{reads: 0, intra_cell: 0, cross_cell: 1}",
                reps=16, extra_failures=db_fail, cells=2, bus="null")
    text = text.replace("    template:\n", "    template:\n      db: {replicas: 1, failover: {detection: 0s, election: 0s, promotion: 0s}}\n")
    u = cf.cross_cell_two_cells(u_kn(1, 1, 30), u_kn(1, 1, 20))
    check(simulate(load_scenario_text(text), workers=1), u)
