"""Hypothesis properties of the capacity model: more resources are never worse.

Few examples each (every new capacity value builds a 24-hour latency table, ~0.1 s).
"""

import pytest
from hypothesis import given, settings, strategies as st

from sim.capacity import CapacityModel
from sim.scenario import load_scenario_text

TEXT = """
name: prop
topology:
  regions: [{name: r, idcs: [a, b, c]}]
  cells:
    count: 2
    template:
      app: {nodes: 6, capacity_tps: 100, placement: [a, b, c]}
      db: {replicas: 3, placement: [a, b, c], capacity_tps: 500}
workload:
  transactions_per_day: 34_560_000/day
  profile: {peak_factor: 3, peak_hour: 12}
capacity:
  app_node: {cores: 4}
  db_node: {cores: 8}
"""

MODEL = CapacityModel(load_scenario_text(TEXT, "prop.yaml"))
DAY = 86400.0


@settings(max_examples=15, deadline=None)
@given(up=st.integers(0, 5), gray=st.integers(0, 1), dbf=st.sampled_from([0.25, 0.5, 1.0]))
def test_more_capacity_never_sheds_or_slows_more(up, gray, dbf):
    m = MODEL
    low = m.cell_capacity_tps(0, up, gray, dbf)
    e_low = m.interval_effect(0, low, 0.0, DAY)
    high = m.cell_capacity_tps(0, up + 1, gray, dbf)
    e_high = m.interval_effect(0, high, 0.0, DAY)
    assert high >= low
    assert e_high.offered == pytest.approx(e_low.offered)
    assert e_high.shed <= e_low.shed + 1e-6
    # slow or shed: a request that does not meet the SLO either way
    assert e_high.shed + e_high.slow <= e_low.shed + e_low.slow + 1e-6 * e_low.offered
    assert 0.0 <= e_low.shed <= e_low.offered


@settings(max_examples=10, deadline=None)
@given(t0=st.floats(0, 30 * DAY), span=st.floats(0, 400 * DAY))
def test_offered_is_the_profile_integral(t0, span):
    m = MODEL
    e = m.interval_effect(1, m.nominal_capacity_tps(1), t0, t0 + span)
    expect = m.mean_tps * 0.5 * m.profile.integral(t0, t0 + span)
    assert e.offered == pytest.approx(expect, rel=1e-9, abs=1e-6)
    assert e.latency_hist.sum() == pytest.approx(e.offered - e.shed, rel=1e-9, abs=1e-6)
