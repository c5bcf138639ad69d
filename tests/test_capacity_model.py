"""Capacity arithmetic on tiny scenarios, checked by hand; shedding, latency and N-1."""

import math

import numpy as np
import pytest

from sim.capacity import (
    LATENCY_BINS_MS, CapacityModel, latency_summary, percentiles_from_hist, throughput_summary,
)
from sim.queueing import mmc_sojourn_percentile, usl_capacity
from sim.scenario import load_scenario_text

DAY = 86400.0

# 2 cells, 3 IDCs; per cell 6 app nodes of 100 tps (2 per IDC), a 1000-tps primary in IDC a.
TINY = """
name: tiny
topology:
  regions: [{name: r, idcs: [a, b, c]}]
  cells:
    count: 2
    template:
      app: {nodes: 6, capacity_tps: 100, placement: [a, b, c], min_nodes: 2}
      db: {replicas: 3, placement: [a, b, c], capacity_tps: 1000}
  gns: {replicas: 3, quorum: 1, placement: [a, b, c]}
  bus: {replicas: 3, quorum: 2, placement: [a, b, c]}
workload:
  transactions_per_day: TPD
  profile: {peak_factor: 1}
failures:
  gray: {rate: 1/yr, duration: 1h, capacity_factor: 0.3}
slo: {latency: 200ms}
capacity:
  app_node: {cores: 4}
  db_node: {cores: 8}
  standby_factor: 0.5
  base_latency: 0ms
"""


def tiny(tpd="17_280_000/day", **extra):
    text = TINY.replace("TPD", tpd)
    sets = [f"{k}={v}" for k, v in extra.items()]
    return load_scenario_text(text, "tiny.yaml", sets=sets)


def test_cell_capacity_by_hand():
    m = CapacityModel(tiny())
    assert m.nominal_capacity_tps(0) == 600          # min(6 x 100, 1000)
    assert m.cell_capacity_tps(0, 4) == 400          # two nodes down
    assert m.cell_capacity_tps(0, 5, 1) == pytest.approx(530)   # one gray node at 0.3
    assert m.cell_capacity_tps(0, 6, 0, db_factor=0.5) == 500   # primary on a weaker replica
    assert m.cell_capacity_tps(0, 6, 0, db_factor=0.0) == 0     # writes stopped
    assert m.cell_capacity_tps(0, 1) == 0            # below app.min_nodes = 2
    assert m.bottleneck(0) == "app"


def test_capacity_from_service_demand_and_usl():
    text = TINY.replace("TPD", "1000/day") + """  demand:
    reads: {app: 2ms, db: 0.5ms}
    intra_cell: {app: 5ms, db: 2ms}
    cross_cell: {app: 10ms, db: 4ms}
"""
    sc = load_scenario_text(text, "t.yaml", sets=["capacity.db_node.usl_sigma=0.1"])
    m = CapacityModel(sc)
    d_app = 0.6 * 2e-3 + 0.3 * 5e-3 + 0.1 * 10e-3      # default mix 60/30/10: 3.7 ms
    d_db = 0.6 * 0.5e-3 + 0.3 * 2e-3 + 0.1 * 4e-3      # 1.3 ms
    app_cell = 6 * 4 / d_app                            # 6 nodes x 4 cores, linear
    db_cell = (8 / (1 + 0.1 * 7)) / d_db                # USL(8, sigma 0.1) = 4.706 cores' worth
    assert db_cell == pytest.approx(usl_capacity(8, 0.1, 0) / d_db)
    assert m.nominal_capacity_tps(0) == pytest.approx(min(app_cell, db_cell))
    assert m.bottleneck(0) == "db"


def test_demand_and_shares():
    m = CapacityModel(tiny("17_280_000/day"))           # 200 tps mean, flat
    assert m.demand_tps(5 * 3600) == pytest.approx(200)
    assert m.cell_demand_tps(1, 5 * 3600) == pytest.approx(100)
    assert len(m.profile_tps()) == 24


def test_range_mapping_uses_weights():
    text = TINY.replace("TPD", "17_280_000/day")
    sc = load_scenario_text(text, "t.yaml", sets=[
        "workload.mapping=range",
        "topology.cells.overrides=[{cells: [1], set: {weight: 3}}]"])
    m = CapacityModel(sc)
    assert m.cell_demand_tps(0, 0) == pytest.approx(50)
    assert m.cell_demand_tps(1, 0) == pytest.approx(150)


def test_interval_effect_sheds_overload_by_hand():
    # each cell offered 300 tps (flat), capacity cut to 200 tps: a third is shed
    m = CapacityModel(tiny("51_840_000/day"))
    cap = m.cell_capacity_tps(0, 2)
    assert cap == 200
    e = m.interval_effect(0, cap, 0.0, 2.5 * DAY)
    assert e.offered == pytest.approx(300 * 2.5 * DAY)
    assert e.shed == pytest.approx(e.offered / 3)
    assert e.latency_hist.sum() == pytest.approx(e.offered - e.shed)
    nominal = m.interval_effect(0, m.nominal_capacity_tps(0), 0.0, 2.5 * DAY)
    assert nominal.shed == 0
    assert (e - nominal).offered == pytest.approx(0, abs=1e-6)


def test_interval_effect_additive_and_long_intervals():
    m = CapacityModel(load_scenario_text(TINY.replace("TPD", "17_280_000/day").replace(
        "profile: {peak_factor: 1}", "profile: {peak_factor: 3, peak_hour: 11}"), "t.yaml"))
    cap = m.cell_capacity_tps(0, 2)
    a = m.interval_effect(0, cap, 1000.0, 50_000.0)
    b = m.interval_effect(0, cap, 50_000.0, 300_000.0)
    ab = m.interval_effect(0, cap, 1000.0, 300_000.0)
    for f in ("offered", "shed", "slow"):
        assert getattr(a, f) + getattr(b, f) == pytest.approx(getattr(ab, f), rel=1e-9)
    one = m.interval_effect(0, cap, 0.0, DAY)
    many = m.interval_effect(0, cap, 0.0, 1000 * DAY)
    assert many.offered == pytest.approx(1000 * one.offered, rel=1e-12)
    assert many.shed == pytest.approx(1000 * one.shed, rel=1e-12)
    assert one.shed > 0          # peak hour: 3 x 100 tps per cell > 200 tps capacity
    # offered over a day is the day's mean demand, whatever the profile
    assert one.offered == pytest.approx(100 * DAY, rel=1e-9)


def test_latency_matches_mmc_percentile():
    # flat load, app tier only (no db capacity given), base latency 0: each node an M/M/4 queue
    m = CapacityModel(tiny("25_920_000/day", **{"topology.cells.template.db.capacity_tps": "null"}))
    e = m.interval_effect(0, m.nominal_capacity_tps(0), 0.0, DAY)
    p50, p99 = percentiles_from_hist(e.latency_hist, [50, 99])
    mu = 100 / 4                                         # 100 tps per 4-core node: 40 ms service
    exact50 = mmc_sojourn_percentile(25, mu, 4, 50) * 1000
    exact99 = mmc_sojourn_percentile(25, mu, 4, 99) * 1000
    # 150 tps per cell = 25 per node; log-linear interpolation inside a bin 10^0.1 wide is
    # good to ~1 % for these smooth densities: allow 3 %
    assert p50 == pytest.approx(exact50, rel=0.03)
    assert p99 == pytest.approx(exact99, rel=0.03)
    assert e.slow / e.offered == pytest.approx(0.0, abs=0.02)


def test_slow_fraction_consistent_with_histogram():
    m = CapacityModel(tiny("46_656_000/day"))            # 270 of 600 tps per cell
    cap = m.cell_capacity_tps(0, 3)                       # 300 tps: 90 % busy, queueing
    e = m.interval_effect(0, cap, 0.0, DAY)
    edges = LATENCY_BINS_MS
    i = np.searchsorted(edges, 200.0)                     # 200 ms lies between edges i-1, i
    above_hi = e.latency_hist[i:].sum()
    above_lo = e.latency_hist[i - 1:].sum()
    assert above_hi <= e.slow <= above_lo
    assert e.slow > 0


def test_n_minus_1_drops_by_the_lost_idc_share():
    s = throughput_summary(tiny())
    assert s["capacity_tps"] == 1200
    # losing any IDC takes 2 of 6 app nodes (a third); losing a also moves the primaries to
    # standbys at 0.5 x 1000 = 500 tps, still above the 400 tps app tier
    assert s["capacity_tps_n_minus_1_idc"] == pytest.approx(1200 * (1 - 1 / 3))
    assert s["peak_daily_transactions_n_minus_1_idc"] < s["peak_daily_transactions"]
    assert s["headroom"] == pytest.approx(1200 / 200)


def test_n_minus_1_with_weak_standby_is_db_bound():
    s = throughput_summary(tiny(**{"capacity.standby_factor": 0.2}))
    # losing a: primaries on 200-tps standbys; losing b or c: 400 tps app; worst is a
    assert s["worst_idc"] == "a"
    assert s["capacity_tps_n_minus_1_idc"] == pytest.approx(2 * 200)


def test_peak_daily_transactions_hits_the_slo():
    sc = tiny()
    m = CapacityModel(sc)
    pdt = m.peak_daily_transactions()
    lam = pdt / DAY / 2                                   # per cell, flat profile
    n = 6.0
    tail = m.latency_tail(0, n, 1.0, lam, 0.2)
    assert tail == pytest.approx(0.01, rel=1e-3)          # p99 == slo.latency at that volume
    assert pdt < 1200 * DAY                               # below raw capacity


def test_percentiles_from_hist():
    h = np.zeros(len(LATENCY_BINS_MS) - 1)
    k = int(np.searchsorted(LATENCY_BINS_MS, 10.0))       # the bin starting at 10 ms
    h[k] = 100
    p0, p50, p100 = percentiles_from_hist(h, [0, 50, 100])
    lo, hi = LATENCY_BINS_MS[k], LATENCY_BINS_MS[k + 1]
    assert p0 == pytest.approx(lo)
    assert p50 == pytest.approx(math.sqrt(lo * hi))       # geometric midpoint
    assert p100 == pytest.approx(hi)
    assert math.isnan(latency_summary(np.zeros_like(h))["p50"])
    with pytest.raises(ValueError):
        percentiles_from_hist([1, 2, 3], [50])


def test_nominal_latency_hist_counts_every_request():
    sc = tiny(**{"simulation.horizon": "10d", "simulation.replications": 2})
    m = CapacityModel(sc)
    h = m.nominal_latency_hist()
    assert h.sum() == pytest.approx(200 * 10 * DAY)


def test_db_factor_for_primary_and_peak_demand():
    sc = tiny(**{"capacity.standby_factor": 0.4})
    m = CapacityModel(sc)
    first, second = m.plan.cells[1].db[0], m.plan.cells[1].db[1]
    assert m.db_factor_for(1, first) == 1.0
    assert m.db_factor_for(1, second) == 0.4
    assert m.db_factor_for(1, None) == 0.0
    assert m.peak_cell_demand_tps(1) == pytest.approx(100)   # flat profile, half of 200 tps


def test_engine_adds_only_degraded_intervals_to_the_nominal_effect():
    """The engine's capacity overlay: four of cell 1's six app nodes down for day 2 (200 tps
    against 300 offered) sheds 100 tps for one day; slow requests and latency are the nominal
    effect plus (degraded - nominal) over that day, computed here straight from the model."""
    from sim.engine import run_replication
    chaos = ["chaos=[" + ",".join(f"{{at: 2d, target: 'cell[1].app.node[{k}]', fault: crash, duration: 1d}}"
                                   for k in range(4)) + "]"]
    sc = load_scenario_text(TINY.replace("TPD", "51_840_000/day"), "tiny.yaml",
                            sets=["simulation.horizon=10d", "failures.gray=null"] + chaos)
    m = CapacityModel(sc)
    assert m.cell_capacity_tps(1, 2) == 200
    r = run_replication(sc, 0, capacity=m)
    mean_tps = 600.0
    assert r.failed_req == pytest.approx(100 * DAY / mean_tps, rel=1e-9)
    assert r.cause_failed == {"capacity": pytest.approx(100 * DAY / mean_tps, rel=1e-9)}
    direct = (m.nominal_effect(0, 10 * DAY) + m.interval_effect(1, 200, 2 * DAY, 3 * DAY)
              - m.interval_effect(1, 600, 2 * DAY, 3 * DAY))
    assert r.slow_req == pytest.approx(direct.slow / mean_tps, rel=1e-9)
    assert np.allclose(r.latency_hist, direct.latency_hist, rtol=1e-9, atol=1e-3)
    assert sum(r.latency_hist) == pytest.approx(600 * 10 * DAY - 100 * DAY, rel=1e-9)