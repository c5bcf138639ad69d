"""One chaos entry, one meaning in both engines: etcd quorum loss, kill-patroni's ttl, short vs
long pause, the relay's credit delay (``sim.scenario.chaos_effects``).

Each case is a hand figure on a cell with detection 20 s, election 5 s, promotion 5 s
(failover.total 30 s, catch-up after a quorum loss 10 s). The fluid engine's episodes with an
effect (exact timeline) and request mode's fault windows must both equal it.
"""

from __future__ import annotations

import pytest

from sim.engine import run_replication
from sim.request.faults import credit_delay_events, fault_windows, unmodelled_chaos
from sim.scenario import load_scenario_text

BASE = """
name: kinds
simulation: {{horizon: 600s, replications: 1, seed: 1, workers: 1}}
topology:
  regions: [{{name: r, idcs: [a, b, c]}}]
  gns: null
  bus: {{replicas: 3, quorum: 2}}
  cells:
    count: 1
    template:
      app: {{nodes: 2, min_nodes: 1}}
      db: {{replicas: 3, reads_during_failover: true, failover: {{detection: 20s, election: 5s, promotion: 5s}}}}
workload: {{mix: {{reads: 0.5, intra_cell: 0.3, cross_cell: 0.2}}, profile: {{peak_factor: 1}}}}
chaos:
{chaos}
"""

CRASH_100 = "  - {at: 100s, target: 'cell[0].db.primary', fault: crash, duration: 300s}\n"

# entries -> the writes-refused/stalled spans (start, end) of cell 0, by hand
CASES = {
    # the primary dies while etcd has no quorum: it stays lost until 160 s, then election + promotion
    "quorum-lost-then-crash": ("  - {at: 100s, target: 'etcd[quorum]', fault: down, duration: 60s}\n"
                               "  - {at: 110s, target: 'cell[0].db.primary', fault: crash, duration: 300s}",
                               [(110.0, 170.0)]),
    # the failover is due at 130 s inside the loss (110-200 s): done at 200 + 10 s
    "crash-then-quorum-lost": (CRASH_100 + "  - {at: 110s, target: etcd, fault: crash, duration: 90s}",
                               [(100.0, 210.0)]),
    # one member of three: etcd keeps its quorum, the failover takes its 30 s
    "one-etcd-member": (CRASH_100 + "  - {at: 110s, target: 'etcd[1]', fault: crash, duration: 90s}",
                        [(100.0, 130.0)]),
    # a quorum loss alone: the healthy primary writes on
    "quorum-lost-alone": ("  - {at: 100s, target: 'etcd[quorum]', fault: pause, duration: 60s}", []),
    # kill-patroni: PostgreSQL serves for the ttl (detection 20 s), then election + promotion
    "kill-patroni-long": ("  - {at: 100s, target: 'cell[0].db.primary', fault: kill-patroni, duration: 60s}",
                          [(120.0, 130.0)]),
    "kill-patroni-until-end": ("  - {at: 100s, target: 'cell[0].db.primary', fault: kill-patroni}",
                               [(120.0, 130.0)]),
    "kill-patroni-short": ("  - {at: 100s, target: 'cell[0].db.primary', fault: kill-patroni, duration: 15s}", []),
    "kill-patroni-standby": ("  - {at: 100s, target: 'cell[0].db.sync_standby', fault: kill-patroni, duration: 60s}",
                             []),
    # pause below the ttl: ridden out, writes stall for the pause; beyond it: stall to 120 s, then
    # election + promotion
    "pause-short": ("  - {at: 100s, target: 'cell[0].db.primary', fault: pause, duration: 15s}", [(100.0, 115.0)]),
    "pause-long": ("  - {at: 100s, target: 'cell[0].db.primary', fault: pause, duration: 60s}", [(100.0, 130.0)]),
    # a long pause during a quorum loss: detected at 120 s, elected after the quorum is back at 180 s
    "pause-long-quorum-lost": ("  - {at: 100s, target: 'cell[0].db.primary', fault: pause, duration: 60s}\n"
                               "  - {at: 110s, target: 'etcd[quorum]', fault: crash, duration: 70s}",
                               [(100.0, 190.0)]),
    # the relay: credits delayed, nothing fails
    "relay-crash": ("  - {at: 100s, target: relay, fault: crash, duration: 30s}", []),
    "bus-pause": ("  - {at: 100s, target: bus, fault: pause, duration: 30s}", []),
}


def _union(spans):
    from sim.scenario.chaos_effects import merge_spans
    return merge_spans(spans)


def _fluid(sc):
    r = run_replication(sc, 0)
    return r, _union((e[1], e[2]) for e in r.events
                     if e[4] == "cell[0]" and e[6] not in ("chaos", "none", "credit-delay"))


@pytest.mark.parametrize("name", CASES)
def test_fluid_and_request_mode_agree_with_the_hand_figure(name):
    chaos, expected = CASES[name]
    sc = load_scenario_text(BASE.format(chaos=chaos))
    _, fluid = _fluid(sc)
    request = _union((w.start, w.end) for w in fault_windows(sc, 0, 0.0, 600.0))
    assert fluid == expected, ("fluid", fluid)
    assert request == expected, ("request", request)
    # modelled (no outage is a model too), so request mode does not report them as missing
    assert unmodelled_chaos(sc) == []


FENCE = "live: {patroni: {watchdog: emulated, safety_margin: 5}}\n"
# kill-patroni with a fencing watchdog: PostgreSQL reset 5 s before the ttl (20 s): writes stop at
# 115 s, election + promotion from the key's expiry at 120 s; held past the fence only: the same
FENCED = {
    "kill-patroni-long": [(115.0, 130.0)],
    "kill-patroni-until-end": [(115.0, 130.0)],
    "kill-patroni-past-the-fence": [(115.0, 130.0)],
    "kill-patroni-short": [],  # 15 s: back exactly at the fence, which it cancels
    "kill-patroni-standby": [],  # a standby's Patroni arms no watchdog
}


@pytest.mark.parametrize("name", FENCED)
def test_a_fencing_watchdog_stops_writes_safety_margin_before_the_ttl_in_both_engines(name):
    chaos = CASES[name][0] if name in CASES else (
        "  - {at: 100s, target: 'cell[0].db.primary', fault: kill-patroni, duration: 17s}")
    sc = load_scenario_text(BASE.format(chaos=chaos) + FENCE)
    _, fluid = _fluid(sc)
    request = _union((w.start, w.end) for w in fault_windows(sc, 0, 0.0, 600.0))
    assert fluid == FENCED[name], ("fluid", fluid)
    assert request == FENCED[name], ("request", request)


def test_pause_short_stalls_and_long_pause_refuses_after_detection_in_request_mode():
    sc = load_scenario_text(BASE.format(chaos=CASES["pause-long"][0]))
    assert [(w.start, w.end, w.kind) for w in fault_windows(sc, 0, 0.0, 600.0)] == [
        (100.0, 120.0, "stall"), (120.0, 130.0, "reject")]
    sc = load_scenario_text(BASE.format(chaos=CASES["pause-short"][0]))
    assert [(w.start, w.end, w.kind) for w in fault_windows(sc, 0, 0.0, 600.0)] == [(100.0, 115.0, "stall")]


@pytest.mark.parametrize("live,delay", [("", 30.0), ("live: {relay_interval: 250ms}\n", 30.25)])
def test_relay_fault_records_the_credit_delay_in_both_engines(live, delay):
    sc = load_scenario_text(BASE.format(chaos=CASES["relay-crash"][0]) + live)
    r, _ = _fluid(sc)
    rows = [e for e in r.events if e[6] == "credit-delay"]
    assert [(e[1], e[2], e[3], e[4]) for e in rows] == [(100.0, 100.0 + delay, delay, "relay")]
    assert r.failed_req == 0.0  # cross-cell transfers wait, none fails
    req = credit_delay_events(sc, 2)
    assert [(e[0], e[1], e[2], e[3], e[6]) for e in req] == [
        (lane, 100.0, 100.0 + delay, delay, "credit-delay") for lane in (0, 1)]


LAT = """
name: lat
simulation: {{horizon: 120s, replications: 1, seed: 3}}
topology:
  gns: null
  bus: null
  cells:
    count: 1
    template:
      app: {{nodes: 2, capacity_tps: 1000}}
      db: {{failover: {{detection: 10s, election: 5s, promotion: 5s}}}}
workload:
  transactions_per_day: 100/s
  profile: {{peak_factor: 1}}
  mix: {{reads: 0.6, intra_cell: 0.3, cross_cell: 0.1}}
chaos:
  - {{at: 60s, target: 'cell[0].db.primary', fault: latency, latency: {lat}, duration: 20s}}
"""


@pytest.mark.parametrize("method", ["vector", "events"])
def test_latency_on_the_primary_slows_its_writes_in_request_mode(method):
    import numpy as np
    from sim.request import simulate_window
    from sim.request.mode import window_specs
    from sim.request.spec import OK
    sc = load_scenario_text(LAT.format(lat="200ms"))
    assert [(w.start, w.end, w.kind, w.delay) for w in fault_windows(sc, 0, 0.0, 120.0)] == [
        (60.0, 80.0, "slow", 0.2)]  # one round trip without a calibration
    assert [(w.delay) for w in fault_windows(sc, 0, 0.0, 120.0, {"latency_factor": {"latency": 5.0}})] == [1.0]
    assert unmodelled_chaos(sc) == []
    spec = window_specs(sc, (0.0, 120.0), retries=False, timeout=0.5)[0]
    res = simulate_window(spec, np.random.default_rng(5), 2, method=method)
    inside = (res.arrival >= 60.5) & (res.arrival < 79.5) & (res.outcome == OK)
    lat = res.finish - res.arrival
    assert lat[inside & res.write].min() >= 0.2            # every write in the window pays it
    assert lat[inside & ~res.write].max() < 0.2            # reads do not
    outside = (res.arrival < 59.5) | (res.arrival >= 80.0)  # reaching the database outside the window
    assert lat[outside & res.write & (res.outcome == OK)].max() < 0.2
    # 1 s > the 0.5 s timeout: every write in the window fails, ~100/s x 0.4 x 20 s = 800 a lane
    slow = load_scenario_text(LAT.format(lat="1s"))
    res = simulate_window(window_specs(slow, (0.0, 120.0), retries=False, timeout=0.5)[0],
                          np.random.default_rng(5), 2, method=method)
    failed = (res.outcome != OK).sum() / 2
    assert 700 < failed < 900, failed
    assert ((res.outcome != OK) & ~((res.arrival >= 59.9) & (res.arrival < 80.0))).sum() == 0


def test_the_credit_delay_is_a_summary_figure_of_both_engines_and_in_the_report(tmp_path):
    """summary.json ``chaos.credit_delay_seconds`` {max, total} and ``chaos.credit_delays`` from the
    ``credit-delay`` rows: a relay crash held 30 s and a bus pause held 45 s, relay interval 0.25 s."""
    from sim.executors import LocalPool
    from sim.report import write_report
    from sim.results.formatting import format_value
    from sim.runner import run_to_dir, simulate_full, simulate_many

    chaos = CASES["relay-crash"][0] + "\n  - {at: 300s, target: bus, fault: pause, duration: 45s}"
    text = BASE.format(chaos=chaos) + "live: {relay_interval: 250ms}\n"
    want = [("relay", "chaos:crash", 100.0, 30.25), ("bus", "chaos:pause", 300.0, 45.25)]
    for mode in ("fluid", "request"):
        sc = load_scenario_text(text, sets=[f"simulation.mode={mode}", "simulation.replications=2"])
        summary, results = simulate_full(sc, workers=1)
        ch = summary["chaos"]
        assert [(f["target"], f["cause"], f["start_s"], f["seconds"]) for f in ch["credit_delays"]] == want, mode
        assert ch["credit_delay_seconds"] == {"max": 45.25, "total": 75.5}, mode
        assert summary["availability"]["request"]["mean"] == 1.0  # credits wait: no request fails
    sc = load_scenario_text(text, sets=["simulation.replications=2"])
    swept, _ = simulate_many([sc], LocalPool(1), keep_events=False)[0]  # a sweep drops the events, not this figure
    assert swept["chaos"] == summary["chaos"]
    run_dir, _ = run_to_dir(sc, tmp_path / "run", workers=1, progress=False)
    page = write_report(run_dir).read_text()
    assert "credit delay of cross-cell transfers (relay/bus faults): max / total over 2 faults" in page
    k = "chaos.credit_delay_seconds"
    assert f"{format_value(k + '.max', 45.25)} / {format_value(k + '.total', 75.5)}" in page
    no_relay = load_scenario_text(BASE.format(chaos=CASES["pause-short"][0]))
    assert "chaos" not in simulate_full(no_relay, workers=1)[0]  # absent without a relay/bus fault
