"""Hypothesis properties of the fluid engine (STYLE.md rule 10)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sim.engine import run_replication
from sim.scenario import load_scenario_text


def _scenario(replicas, quorum, mtbf_h, mttr_h, cells, seed, fo_s=0, mix=(0.6, 0.3, 0.1)):
    r, i, x = mix
    return load_scenario_text(f"""
name: prop
simulation: {{horizon: 120d, replications: 1, seed: {seed}, workers: 1}}
topology:
  cells:
    count: {cells}
    template:
      db: {{replicas: {replicas}, write_quorum: {quorum}, failover: {{detection: {fo_s}s, election: 0s, promotion: 0s}}}}
      app: {{nodes: 2}}
workload: {{mix: {{reads: {r}, intra_cell: {i}, cross_cell: {x}}}, profile: {{peak_factor: 2.5}}}}
failures:
  components:
    server: {{mtbf: {mtbf_h}h, mttr: {mttr_h}h}}
  correlated:
    idc: {{rate: 2/yr, duration: 2h}}
  changes: {{deploys: 500/yr, bad_fraction: 0.05}}
""")


@settings(max_examples=25, deadline=None)
@given(replicas=st.integers(1, 5), mtbf=st.floats(5, 2000), mttr=st.floats(0.1, 48),
       cells=st.integers(1, 6), seed=st.integers(0, 2**32 - 1), fo=st.integers(0, 120),
       mix=st.sampled_from([(1, 0, 0), (0, 1, 0), (0, 0, 1), (0.6, 0.3, 0.1)]))
def test_availability_in_unit_interval(replicas, mtbf, mttr, cells, seed, fo, mix):
    r = run_replication(_scenario(replicas, 1, mtbf, mttr, cells, seed, fo, mix), 0)
    for a in (r.availability_request, r.availability_time):
        assert 0.0 <= a <= 1.0
    for v in r.cell_failed:
        assert -1e-9 <= v <= r.offered * (1 + 1e-9)
    # the bank figure is the share-weighted mean of the cell figures (exact accounting)
    share = 1.0 / cells
    assert abs(sum(v * share for v in r.cell_failed) - r.failed_req) <= 1e-6 * max(r.offered, 1.0)


@settings(max_examples=25, deadline=None)
@given(replicas=st.integers(1, 4), mtbf=st.floats(5, 500), mttr=st.floats(0.1, 24),
       seed=st.integers(0, 2**32 - 1))
def test_more_replicas_never_lower_availability(replicas, mtbf, mttr, seed):
    """Independent failures, quorum 1, instant failover: adding a replica cannot hurt.

    Keyed random streams give common random numbers, so this holds path by path, not only
    on average: replica k fails at the same times in both variants.
    """
    def avail(n):
        sc = load_scenario_text(f"""
name: prop
simulation: {{horizon: 120d, replications: 1, seed: {seed}, workers: 1}}
topology:
  gns: null
  bus: null
  cells: {{count: 2, template: {{db: {{replicas: {n}, write_quorum: 1, failover: {{detection: 0s, election: 0s, promotion: 0s}}}}}}}}
failures:
  components:
    db_process: {{mtbf: {mtbf}h, mttr: {mttr}h}}
""")
        return run_replication(sc, 0).availability_request
    assert avail(replicas + 1) >= avail(replicas) - 1e-12
