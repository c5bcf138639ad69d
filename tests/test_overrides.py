"""Per-component overrides, repair crews per tier and failover times as distributions (issue 14.2).

Oracles as tests/test_oracles.py: the closed form must lie inside the simulator's own 95 %
t-interval (a ~5 % false-alarm rate per seed; seeds are fixed) and the half-width must be at most
15 % of U. Each crews case is built so that the alternative (unlimited crews) is about twice
as large, outside the interval. Validation: an override that names nothing is refused with
file:line and field path.
"""

from __future__ import annotations

import math

import pytest

from sim.errors import ScenarioError
from sim.runner import simulate
from sim.scenario import load_scenario_text
from tests import closed_forms as cf
from tests.test_oracles import NO_FAILOVER, check, one_cell

H = 3600.0


def test_lognormal_failover_time_enters_through_its_mean():
    # primary + standby; detection lognormal with median 200 s and p95 600 s: mean 200 exp(s^2/2)
    mtbf, mttr = 100.0, 1.0
    s = math.log(3.0) / 1.6448536269514722
    mean = 200.0 * math.exp(s * s / 2.0)
    db = ("{replicas: 2, write_quorum: 1, repair_crews: 1, failover: {detection: {dist: lognormal, "
          "median: 200s, p95: 600s}, election: 0s, promotion: 0s}}")
    sc = load_scenario_text(one_cell(db, f"  components:\n    db_process: {{mtbf: {mtbf}h, mttr: {mttr}h}}",
                                     reps=20, horizon="730d"))
    assert sc.topology.cells.template.db.failover.total == pytest.approx(mean, rel=1e-12)
    check(simulate(sc, workers=1), cf.primary_standby(1 / (mtbf * H), 1 / (mttr * H), mean))


def test_per_replica_failure_models():
    # writes need both replicas; replica 1 (on older hardware) fails 5x as often as replica 0
    db = (f"{{replicas: 2, write_quorum: 2, repair_crews: 2, failover: {NO_FAILOVER}, "
          "members: [{replica: 1, failures: {db_process: {mtbf: 20h, mttr: 1h}}}]}")
    sc = load_scenario_text(one_cell(db, "  components:\n    db_process: {mtbf: 100h, mttr: 1h}", reps=16))
    check(simulate(sc, workers=1), cf.series(cf.single(100, 1), cf.single(20, 1)))


APP_PAIR = """
topology:
  gns: null
  bus: null
  cells:
    count: 1
    template:
      app: {{nodes: 2, min_nodes: 1, placement: [idc-a, idc-b]}}
      db: {{replicas: 1}}
workload: {{mix: {{reads: 1, intra_cell: 0, cross_cell: 0}}, profile: {{peak_factor: 1}}}}
simulation: {{horizon: 365d, replications: 24, seed: 5, workers: 1}}
failures:
  components: {{app_process: {{mtbf: 10h, mttr: 1h}}}}
  crews: {{app: 1, per: {per}}}
"""


@pytest.mark.parametrize("per", ["bank", "idc"])
def test_app_repair_crews_for_the_bank_or_per_idc(per):
    lam, mu = 1 / 10, 1.0
    s = simulate(load_scenario_text(APP_PAIR.format(per=per)), workers=1)
    if per == "bank":   # one crew for both nodes: the birth-death chain with one repairer
        u = cf.k_of_n(1, 2, lam, mu, 1)
        assert u > 1.8 * cf.k_of_n_independent(1, 2, lam, mu)
    else:               # the nodes sit in two IDCs, one crew each: independent
        u = cf.k_of_n_independent(1, 2, lam, mu)
    check(s, u)


BASE = """name: ovr
topology:
  cells:
    count: 2
    template:
      services:
        - {name: ledger, nodes: 2}
"""


@pytest.mark.parametrize("text,line,path", [
    (BASE + "      db:\n        members:\n          - {replica: 5}\n", 10,
     "topology.cells.template.db.members[0].replica"),
    (BASE + "    overrides:\n      - cells: [1]\n        services:\n          ledgr: {nodes: 4}\n", 11,
     "topology.cells.overrides[0].services.ledgr"),
    (BASE + "      failures:\n        hardware: gold\ncost:\n  server_classes: {box: {capex: 1}}\n", 9,
     "topology.cells.template.failures.hardware"),
    (BASE + "    overrides:\n      - cells: [7]\n        set: {weight: 2}\n", 9,
     "topology.cells.overrides[0].cells"),
])
def test_an_override_that_names_nothing_is_refused_with_file_line_and_path(text, line, path):
    with pytest.raises(ScenarioError) as exc:
        load_scenario_text(text, name="ovr.yaml")
    msg = str(exc.value)
    assert msg.startswith(f"ovr.yaml:{line}: {path}:"), msg


def test_a_service_override_applies_to_the_cells_it_names_only():
    sc = load_scenario_text(BASE + "    overrides:\n      - cells: [1]\n        services:\n"
                            "          ledger: {nodes: 4, failures: {app_process: null}}\n")
    a, b = sc.topology.cells.specs()
    assert a.services[0].nodes == 2 and a.services[0].failures is None
    assert b.services[0].nodes == 4 and b.services[0].failures.model_fields_set == {"app_process"}
    # the echoed scenario keeps "switched off" apart from "not written"
    again = type(sc).model_validate(sc.model_dump(mode="json"))
    assert again.topology.cells.specs()[1].services[0].failures.model_fields_set == {"app_process"}


def test_the_innermost_hardware_class_applies():
    from sim.model import build_bank
    sc = load_scenario_text(BASE + "      failures: {hardware: old}\n      db:\n        members:\n"
                            "          - {replica: 0, failures: {hardware: gold}}\n"
                            "cost:\n  server_classes: {default: {capex: 1}, old: {capex: 1}, gold: {capex: 2}}\n")
    hw = {s.scope: s.hardware for s in build_bank(sc).servers}
    assert hw["cell[1].db.replica[0]"] == "gold" and hw["cell[1].db.replica[1]"] == "old"
    assert hw["cell[0].svc[ledger].node[1]"] == "old" and hw["gns.replica[0]"] is None


def test_the_cost_prices_each_server_on_its_own_hardware_class():
    from sim.cost import cost_summary, fleet_groups
    classes = ("cost:\n  server_classes: {default: {capex: 1000, amortization_years: 1}, "
               "old: {capex: 1000, amortization_years: 1}, gold: {capex: 4000, amortization_years: 1}}\n"
               "  spares: 0\n")
    plain = load_scenario_text(BASE + classes)
    gold = load_scenario_text(BASE + "      db:\n        members:\n"
                              "          - {replica: 0, failures: {hardware: gold}}\n" + classes)
    by_class = {}
    for g in fleet_groups(gold):
        by_class[g.server_class] = by_class.get(g.server_class, 0) + g.servers
    assert by_class["gold"] == 2   # replica 0 of each of the 2 cells
    # two replicas move from a 1,000 to a 4,000 server: +6,000 a year of server capex, nothing else
    a, b = (cost_summary(x)["breakdown"]["by_category"] for x in (plain, gold))
    assert b["servers"] - a["servers"] == pytest.approx(6000.0)


def test_services_refuse_the_engines_that_do_not_model_them():
    with pytest.raises(ScenarioError, match="fluid engine"):
        load_scenario_text(BASE + "simulation: {mode: request}\n", name="ovr.yaml")


def test_router_blip_as_a_distribution_enters_through_its_mean():
    # 3 router replicas, quorum 1: each replica failure (one per 101 h cycle) costs one blip, whose
    # length is lognormal (median 20 s, p95 60 s); U = 3 x mean / 101 h, up to the ~1e-6 chance
    # that all three are down (0.5 % of U, far inside the interval)
    text = """
name: blip
simulation: {horizon: 365d, replications: 8, seed: 3, workers: 1}
topology:
  gns: {replicas: 3, quorum: 1, failover: {dist: lognormal, median: 20s, p95: 60s}}
  bus: null
workload: {profile: {peak_factor: 1}}
failures:
  components: {router_node: {mtbf: 100h, mttr: 1h}}
"""
    s = math.log(3.0) / 1.6448536269514722
    mean = 20.0 * math.exp(s * s / 2.0)
    check(simulate(load_scenario_text(text), workers=1), 3 * mean / (101 * H))


@pytest.mark.parametrize("text,line,path,words", [
    (BASE + "workload:\n  paths:\n    reads: [ledger, ledgr]\n", 10, "workload.paths.reads[1]", "unknown service 'ledgr'"),
    (BASE + "        - {name: a, nodes: 1, fallback: b}\n        - {name: b, nodes: 1, fallback: a}\n", 7,
     "topology.cells.template.services", "fallback cycle a -> b -> a"),
    (BASE + "        - {name: x, nodes: 2, needs: 3}\n", 8, "topology.cells.template.services[1]",
     "needs (3) cannot exceed nodes (2)"),
    (BASE + "workload:\n  paths:\n    statement: {like: reads, share: 120%, path: [ledger]}\n", 10,
     "workload.paths.statement.share", "fraction"),
])
def test_bad_services_and_paths_are_refused_where_written(text, line, path, words):
    with pytest.raises(ScenarioError) as exc:
        load_scenario_text(text, name="svc.yaml")
    msg = str(exc.value)
    assert msg.startswith(f"svc.yaml:{line}: {path}"), msg
    assert words in msg, msg


def test_a_cell_override_of_failure_models_applies_to_its_cells_only():
    # cell 1 runs on hardware whose processes never crash: its customers see no failure at all
    text = one_cell("{replicas: 1, failover: {detection: 0s, election: 0s, promotion: 0s}}",
                    "  components:\n    db_process: {mtbf: 50h, mttr: 1h}", reps=2)
    text = text.replace("count: 1", "count: 2\n    overrides:\n      - cells: [1]\n"
                        "        set: {failures: {db_process: null}}")
    cells = simulate(load_scenario_text(text), workers=1)["cells"]
    assert cells[1]["availability"] == 1.0 and cells[0]["availability"] < 0.999
