"""Request-level mode vs fluid mode: same scenario, same window, same chaos faults, retries off.

The fluid engine integrates the failed fraction exactly (expected counts, no noise). The request
engine draws Poisson arrivals, so its counts are random: with R lanes the failed count of a fault
window is ~Poisson(R x rate x writes x duration). The figures below have >= 8,000 expected
failed requests over the lanes, so one standard deviation is <= 1.1 % and the 5 % tolerance
(the issue's) is > 4 standard deviations away: the test fails only if the two modes really
disagree. Fixed seeds make it deterministic. The request engine's client timeout (0.5 s) is far
shorter than the faults, so a stalled write counts as failed, as the fluid engine counts it;
requests already in service at the fault's start add < 1 s x rate, well inside the tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.engine import Replication
from sim.request.faults import fault_windows
from sim.request.mode import window_specs
from sim.request import RetryPolicy, simulate_window
from sim.request.spec import OK
from sim.scenario import load_scenario_text

TOL = 0.05
LANES = 10

BASE = """
name: agree
simulation: {{horizon: 300s, replications: 1, seed: 7}}
topology:
  gns: null
  bus: null
  cells:
    count: 1
    template:
      app: {{nodes: 2, capacity_tps: 1000}}
      db:
        reads_during_failover: {reads}
        failover: {{detection: 10s, election: 5s, promotion: 5s}}
workload:
  transactions_per_day: 100/s
  profile: {{peak_factor: 1}}
  mix: {{reads: 0.6, intra_cell: 0.3, cross_cell: 0.1}}
chaos:
{chaos}
"""


def _both(text):
    sc = load_scenario_text(text)
    fl = Replication(sc, 0).run()
    rate = sc.workload.transactions_per_day
    fluid_failed = fl.failed_req * rate
    fluid_served = fl.offered * rate - fluid_failed
    spec = window_specs(sc, (0.0, sc.simulation.horizon), retries=False, timeout=0.5)[0]
    assert spec.retry.max_attempts == 1
    res = simulate_window(spec, np.random.default_rng(20261128), LANES)
    c = res.counts()
    req_served = c["ok"] / LANES
    req_failed = (c["requests"] - c["ok"]) / LANES
    return sc, (fluid_served, fluid_failed), (req_served, req_failed)


@pytest.mark.parametrize("reads,chaos", [
    ("true", '  - {at: 100s, target: "cell[0].db.primary", fault: crash, duration: 60s}'),
    ("false", '  - {at: 60s, target: "cell[0].db.primary", fault: kill-postmaster}\n'
              '  - {at: 200s, target: "cell[0].db.primary", fault: pause, duration: 8s}'),
    # kill-patroni: refused 70-80 s (ttl = detection 10 s); the pause is detected at 170 s inside the
    # quorum loss (150-210 s): refused until 220 s. Reads on the primary: request mode's stall
    # also holds reads queued behind stalled writes, which the fluid engine does not model
    ("false", '  - {at: 60s, target: "cell[0].db.primary", fault: kill-patroni, duration: 40s}\n'
             '  - {at: 150s, target: "etcd[quorum]", fault: down, duration: 60s}\n'
             '  - {at: 160s, target: "cell[0].db.primary", fault: pause, duration: 30s}'),
], ids=["crash-reads-on-standbys", "kill-and-short-pause-reads-on-primary",
        "kill-patroni-and-long-pause-in-quorum-loss"])
def test_request_mode_agrees_with_fluid_without_retries(reads, chaos):
    sc, (f_served, f_failed), (r_served, r_failed) = _both(BASE.format(reads=reads, chaos=chaos))
    assert f_failed > 500  # the faults do cost something in the fluid view
    assert abs(r_failed - f_failed) / f_failed < TOL, (r_failed, f_failed)
    assert abs(r_served - f_served) / f_served < TOL, (r_served, f_served)


def test_fault_windows_follow_the_fluid_failover_rules():
    sc = load_scenario_text(BASE.format(reads="true", chaos=(
        '  - {at: 50s, target: "cell[0].db.primary", fault: crash}\n'
        '  - {at: 100s, target: "cell[0].db.primary", fault: pause, duration: 5s}\n'
        '  - {at: 200s, target: "cell[0].db.primary", fault: pause, duration: 30s}\n'
        '  - {at: 290s, target: "cell[0].app", fault: crash}')))
    ws = [(w.start, w.end, w.kind) for w in fault_windows(sc, 0, 0.0, 300.0)]
    # crash: failover.total (20 s); short pause: a stall; long pause: stall to detection, then refused
    # until the failover completes 20 s after the pause began; app crashes are not a DB window
    assert ws == [(50, 70, "reject"), (100, 105, "stall"), (200, 210, "stall"), (210, 220, "reject")]
    cal = {"outage_seconds": {"crash": 3.0, "pause": 22.0}}
    ws = [(w.start, w.end, w.kind) for w in fault_windows(sc, 0, 0.0, 300.0, cal)]
    assert ws == [(50, 53, "reject"), (100, 105, "stall"), (200, 210, "stall"), (210, 222, "reject")]


def test_with_retries_the_gateway_hides_a_short_failover():
    """The point of request mode: retries within the deadline turn failures into slow successes."""
    sc = load_scenario_text(BASE.format(reads="true", chaos=(
        '  - {at: 100s, target: "cell[0].db.primary", fault: crash}')))
    sc.topology.cells.template.db.failover.detection = 1.0  # a 11 s failover, inside a 16 s deadline
    gateway = RetryPolicy(max_attempts=200, backoff=0.05, max_backoff=0.5, deadline=16.0, attempt_timeout=30.0)
    spec = window_specs(sc, (0.0, 200.0), retry=gateway, timeout=30.0)[0]
    off = simulate_window(window_specs(sc, (0.0, 200.0), retries=False, timeout=30.0)[0],
                          np.random.default_rng(1), 2).counts()
    on = simulate_window(spec, np.random.default_rng(1), 2).counts()
    assert off["failed"] > 700  # ~0.4 x 100/s x 11 s x 2 lanes = 880 refused without retries
    assert on["failed"] + on["timeout"] < 0.05 * off["failed"]
    assert on["attempts"] > on["requests"]  # the retries did happen
    assert on["ok"] > off["ok"]
    assert OK == 0
