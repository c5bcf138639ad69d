"""Exact event timelines of each random failure family, one family switched on at a time.

Each test draws the expected times itself, from the keyed stream the family is documented to
use (``sim.engine.streams``: key = scope/cause), and asserts the engine's episodes equal them
exactly: the wiring (which stream, residual first life, failure/repair alternation, how long a
change or a window holds) is pinned, not only the statistics. No tolerance, no false alarms.
"""

from __future__ import annotations

import math

from sim.distributions import Sampler
from sim.engine import run_replication
from sim.engine.faults.changes import business_time_to_real
from sim.engine.streams import Streams
from sim.engine.timelines import key_ids, uniforms
from sim.scenario import load_scenario_text

HORIZON = 30 * 86400.0
BASE = """
name: fam
simulation: {{horizon: 30d, replications: 1, seed: 4, workers: 1}}
topology:
  regions: [{{name: r, idcs: [a, b, c]}}]
  gns: null
  bus: null
  cells:
    count: 2
    template:
      app: {{nodes: 2}}
      db: {{replicas: 3, failover: {{detection: 20s, election: 5s, promotion: 5s, coverage: 1}}}}
workload: {{mix: {{reads: 0.5, intra_cell: 0.5, cross_cell: 0.0}}, profile: {{peak_factor: 1}}}}
failures:
{failures}
{extra}
"""


def run(failures: str, extra: str = ""):
    sc = load_scenario_text(BASE.format(failures=failures, extra=extra))
    return sc, run_replication(sc, 0)


def episodes(r, effect):
    return [(e[1], e[2], e[4], e[5]) for e in r.events if e[6] == effect]


def test_component_failures_draw_residual_life_then_alternate_failure_and_repair():
    # crew-free exponential components draw counter-based keyed timelines (sim.engine.timelines):
    # draw j of the key's stream is -log(u_j), the first (residual) life then repair and failure
    # alternating, accumulated in that order; compared to 1e-12 (numpy's vectorised log may round
    # the last bit of a block's entries otherwise than for one row)
    sc, r = run("  components: {server: {mtbf: 5d, mttr: 6h}, server_roles: [db]}")
    fd = sc.failures.components.server
    mttf, mttr = Sampler.ttf(fd).mean, Sampler.ttr(fd).mean
    root = Streams(sc.simulation.seed, 0).root
    want = []
    for cell in range(2):
        for k in range(3):
            scope = f"cell[{cell}].db.replica[{k}]"
            # the cause of a server crash: role-server
            d = [-math.log(u) for u in uniforms(root, key_ids([f"{scope}/db-server"]), 0, 400)[0]]
            t, j = d[0] * mttf, 1
            while t < HORIZON:
                end = t + d[j] * mttr
                if end <= HORIZON:  # a repair after the horizon is never recorded
                    want.append((t, end, scope, "db-server"))
                t, j = end + d[j + 1] * mttf, j + 2
    got = sorted(episodes(r, "none"))
    assert want and len(got) == len(want)
    for g, w in zip(got, sorted(want)):
        assert g[2:] == w[2:] and math.isclose(g[0], w[0], rel_tol=1e-12) and math.isclose(g[1], w[1], rel_tol=1e-12)


def test_idc_outages_take_every_member_for_a_drawn_duration():
    sc, r = run("  components: {server: null}\n  correlated: {idc: {rate: 40/yr, duration: 3h}}")
    ev = sc.failures.correlated.idc
    dur = Sampler(ev.distribution, ev.duration, 1.0, ev.sigma)
    streams = Streams(sc.simulation.seed, 0)
    want = []
    for name in ("a", "b", "c"):
        rng = streams.stream(f"idc[{name}]/idc")
        t = 0.0
        while True:
            t += rng.expovariate(ev.rate)
            if t >= HORIZON:
                break
            end = t + dur.draw(rng)
            if end <= HORIZON:
                want.append((t, end, f"idc[{name}]", "idc"))
            t = end
    assert want and sorted(episodes(r, "group")) == sorted(want)
    # an IDC holding a primary costs that cell one failover of its writes (30 s) per outage
    primaries = [e for e in r.events if e[6] == "writes-down"]
    assert primaries and all(abs(e[3] - 30.0) < 1e-9 for e in primaries)


def test_global_bad_changes_arrive_as_a_poisson_stream_and_hold_detection_plus_rollback():
    changes = ("  components: {server: null}\n  changes: {deploys: 3000/yr, bad_fraction: 0.01, rollout: global,"
               " detection: 5m, rollback: 10m, impact: 0.5, business_hours_only: false}")
    sc, r = run(changes)
    ch = sc.failures.changes
    rng = Streams(sc.simulation.seed, 0).stream("changes")
    want, t = [], 0.0
    while True:
        t += rng.expovariate(ch.deploys * ch.bad_fraction)
        if t >= HORIZON:
            break
        if t + 900.0 <= HORIZON:
            want.append((t, t + 900.0, "cell[*]", "bad-change-global"))
    assert want and episodes(r, "change") == want
    # impact 0.5 on every cell: half of all requests fail for 15 min per change
    assert abs(r.failed_time - 0.5 * 900.0 * len(want)) < 1e-6


def test_business_hours_map_business_time_to_the_open_hours_of_each_day():
    day = 86400.0
    assert business_time_to_real(0.0, 0.0, 9 * 3600.0, 18 * 3600.0) == 9 * 3600.0
    assert business_time_to_real(0.0, 9 * 3600.0, 9 * 3600.0, 18 * 3600.0) == day + 9 * 3600.0
    assert business_time_to_real(10 * 3600.0, 3600.0, 9 * 3600.0, 18 * 3600.0) == 11 * 3600.0
    assert business_time_to_real(20 * 3600.0, 60.0, 8 * 3600.0, 20 * 3600.0) == day + 8 * 3600.0 + 60.0


def test_changes_happen_only_inside_the_configured_business_hours():
    changes = ("  components: {server: null}\n  changes: {deploys: 20000/yr, bad_fraction: 0.01, rollout: global,"
               " detection: 1m, rollback: 1m, business_hours: [13, 15]}")
    sc, r = run(changes)
    starts = [e[0] for e in episodes(r, "change")]
    assert len(starts) > 5
    assert all(13 * 3600.0 <= s % 86400.0 <= 15 * 3600.0 for s in starts)


def test_maintenance_windows_are_staggered_by_cell_over_the_period():
    sc, r = run("  components: {server: null}\n  maintenance: {every: 7d, at_hour: 2, duration: 10m, impact: writes}")
    want = [(d * 86400.0 + c * 86400.0 + 7200.0, d * 86400.0 + c * 86400.0 + 7800.0, f"cell[{c}]", "maintenance")
            for c in range(2) for d in range(0, 30, 7) if d + c < 30]
    assert sorted(episodes(r, "writes-down")) == sorted(want)


def test_gray_failures_slow_a_node_for_a_drawn_time_and_only_with_a_capacity_model():
    gray = "  components: {server: null}\n  gray: {rate: 20/yr, duration: 2h, targets: [app]}"
    sc, r = run(gray, "capacity: {}")
    g = sc.failures.gray
    streams = Streams(sc.simulation.seed, 0)
    want = []
    for cell in range(2):
        for k in range(2):
            scope = f"cell[{cell}].app.node[{k}]"
            rng = streams.stream(f"{scope}/gray")
            t = 0.0
            while True:
                t += rng.expovariate(g.rate)
                if t >= HORIZON:
                    break
                end = t + rng.expovariate(1.0 / g.duration)
                if end <= HORIZON:
                    want.append((t, end, scope, "gray"))
                t = end
    assert want and sorted(episodes(r, "slow")) == sorted(want)
    _, without = run(gray)
    assert episodes(without, "slow") == []
