"""sim.calibration.effects: every live fault kind of the committed kinds runs gets one model class
and effect, from its kind, its target as written and the run's echoed live constants."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.calibration.effects import fault_effect, run_constants
from sim.calibration.replay import ReplayFaults, outages_of
from sim.results.reader import load_live_run
from sim.scenario.chaos import parse_target

BASE = Path(__file__).resolve().parents[1] / "results" / "baselines"
KINDS_A = BASE / "kinds-a-20261203T043918Z-1325"
KINDS_B = BASE / "kinds-b-20261203T044600Z-c38f"
CHAOS_KINDS = BASE / "live-chaos-kinds-20261203T045229Z-e4ea"


@pytest.fixture(scope="module")
def runs():
    return {p.name: load_live_run(p) for p in (KINDS_A, KINDS_B, CHAOS_KINDS)}


def _effects(run):
    return [fault_effect(run, f) for f in run.faults]


def test_kinds_b_covers_ten_fault_by_target_class_pairs(runs):
    run = runs[KINDS_B.name]
    pairs = {(f["kind"], parse_target(f["target"]).form
              + (f".{parse_target(f['target']).member}" if parse_target(f["target"]).member else "")
              + ("-quorum" if parse_target(f["target"]).quorum else ""))
             for f in run.faults}
    assert len(pairs) >= 10, sorted(pairs)
    assert run.scenario.topology.cells.count == 3
    mix = run.scenario.workload.mix
    assert mix.cross_cell > mix.intra_cell and mix.cross_cell > 0.3


def test_every_kind_is_in_both_designs(runs):
    """Every live fault kind of issue 18 (and every model class) appears in kinds-a and kinds-b."""
    want = {"kill-postmaster", "kill-patroni", "pause", "pause-short", "latency", "partition", "crash@gns",
            "pause@gns", "crash@app", "crash@bus", "pause@bus", "crash@etcd", "crash@etcd-quorum", "down@idc",
            "bad-change@app", "crash"}
    for name in (KINDS_A.name, KINDS_B.name):
        got = {e.cls for e in _effects(runs[name])}
        assert want <= got, (name, sorted(want - got))
    # and what live-chaos-kinds holds is all calibrated by kinds-a (or needs no figure)
    a = {e.cls for e in _effects(runs[KINDS_A.name])}
    assert {e.cls for e in _effects(runs[CHAOS_KINDS.name])} <= a


def test_a_pause_below_the_ttl_is_ridden_out(runs):
    run = runs[KINDS_A.name]
    ttl = run_constants(run)["ttl"]
    pauses = [(fault_effect(run, f), f) for f in run.faults
              if f["kind"] == "pause" and f["target"].startswith("cell[")]
    assert {e.cls for e, _ in pauses} == {"pause", "pause-short"}
    for e, f in pauses:
        assert (e.cls == "pause-short") == (e.hold < ttl)
        assert e.held_base == (e.cls == "pause-short")  # a short pause lasts its hold; a long one fails over


def test_kill_patroni_waits_for_the_leader_key(runs):
    """PostgreSQL serves on after Patroni dies: the modelled outage starts a ttl later."""
    run = runs[KINDS_A.name]
    f = next(f for f in run.faults if f["kind"] == "kill-patroni")
    e = fault_effect(run, f)
    assert e.delay == run.scenario.live.patroni.ttl and e.effect == "outage"
    a, b = e.window({"kill-patroni": 3.0})
    assert a == pytest.approx(float(f["start"]) + 20.0) and b - a == pytest.approx(3.0)


def test_kill_patroni_with_a_watchdog_stops_writes_at_the_fence():
    """A run whose Patroni had a fencing watchdog (live.patroni.watchdog): its PostgreSQL was reset
    safety_margin before the leader key expired, so the modelled outage starts there; the record
    says when the injector scheduled the reset (measured from the key's expiry in etcd)."""
    run = load_live_run(BASE / "kinds-a-20261203T180437Z-62ce")
    patroni = run.scenario.live.patroni
    assert patroni.watchdog == "emulated" and run_constants(run)["fence"] == patroni.safety_margin
    f = next(f for f in run.faults if f["kind"] == "kill-patroni")
    e = fault_effect(run, f)
    assert e.effect == "outage" and e.delay == patroni.ttl - patroni.safety_margin
    assert "watchdog resets its PostgreSQL in" in f["detail"]


def test_relay_faults_delay_credits_and_fail_nothing(runs):
    run = runs[KINDS_B.name]
    live = run.scenario.live
    for f in run.faults:
        if parse_target(f["target"]).form != "bus":
            continue
        e = fault_effect(run, f)
        assert e.effect == "none" and not e.fitted
        stopped = e.hold if f["kind"] == "pause" else live.restart_delay
        assert e.credit_delay == pytest.approx(stopped + live.relay_interval, abs=1e-3)


def test_each_effect_reaches_the_replay(runs):
    """The gateway crash refuses everyone, the bad change errors its cell only, the paused
    gateway holds everyone, the latency fault slows its cell, etcd's quorum loss and an IDC's
    loss stall every cell."""
    run = runs[KINDS_B.name]
    params = {e.cls: 1.0 for e in _effects(run) if e.fitted}
    rf = outages_of(run, params)
    assert isinstance(rf, ReplayFaults)
    cells = set(range(3))
    assert any(c is None for c, _, _ in rf.errors)                # gateway crash: every cell
    assert any(c == (2,) for c, _, _ in rf.errors)                # bad change of cell[2].app
    assert len(rf.holds) == 1                                     # the paused gateway
    assert {c for c, *_ in rf.slows} == {(0,), (1,)}              # db latency on cell 0, app latency on cell 1
    quorum = next(f for f in run.faults if f["target"] == "etcd[quorum]")
    for c in cells:
        assert any(a == pytest.approx(float(quorum["start"])) for a, _ in rf.outages[c])


def test_an_uncalibrated_class_is_a_clear_error(runs):
    from sim.errors import HivesimError
    run = runs[KINDS_B.name]
    with pytest.raises(HivesimError, match="no outage time for fault kind 'pause-short'"):
        outages_of(run, {"kill-postmaster": 3.0})


def _idc(run, detail: str):
    return fault_effect(run, {"kind": "down", "target": "idc[idc-c]", "start": 10.0, "end": 22.0, "detail": detail})


def test_an_idc_loss_stops_the_cells_whose_leader_or_app_server_died_there(runs):
    """The injector records each member's role (``c1-m2 [sync_standby]:``): a cell stops where its
    leader or app server died; where only standbys died, the class is ``down@idc-standby`` (the
    cells' commits wait for Patroni to drop the dead synchronous standby; fitted whole, apart from a
    standby's crash, ``standby-loss``); a record without roles (older runs) stops every cell it names."""
    run = runs[KINDS_B.name]
    mixed = _idc(run, "c0-m2 [leader]: SIGKILL 19 processes (patroni 1, postmaster 2 and its children); "
                      "c1-m2 [sync_standby]: SIGKILL 7 processes (...); c2-m2 [replica]: SIGKILL 7 processes (...); "
                      "app-c2-1: SIGKILL pid 5 with its group 5; etcd2 [leader]: SIGKILL pid 9 with its group 9")
    assert (mixed.cls, mixed.effect, mixed.cells) == ("down@idc", "outage", (0, 2))
    standbys = _idc(run, "c0-m2 [sync_standby]: SIGKILL 7 processes (...); c1-m2 [replica]: SIGKILL 7 "
                         "processes (...); etcd2 [follower]: SIGKILL pid 9 with its group 9")
    assert (standbys.cls, standbys.effect, standbys.cells) == ("down@idc-standby", "outage", (0, 1))
    assert standbys.fitted and not standbys.held_base  # the stall is fitted whole: not the hold
    # etcd's leader died there too: a class of its own (kinds-a 20261203T233943Z: 4.6 s, 73 failed;
    # with a follower, 20261203T233041Z: 0.19 s, 0 failed)
    with_leader = _idc(run, "c0-m2 [sync_standby]: SIGKILL 7 processes (...); etcd2 [leader]: SIGKILL pid 9 with its group 9")
    assert (with_leader.cls, with_leader.cells) == ("down@idc-standby+etcd-leader", (0,))
    crashed = fault_effect(run, {"kind": "crash", "target": "cell[*].db.sync_standby", "start": 5.0, "end": 15.0})
    assert (crashed.cls, crashed.cells) == ("standby-loss", (0, 1, 2))
    old = _idc(run, "c0-m2: SIGKILL 7 processes (...); c1-m2: SIGKILL 7 processes (...)")
    assert (old.cls, old.effect, old.cells) == ("down@idc", "outage", (0, 1))
    unknown = _idc(run, "c1-m0 [unknown]: SIGKILL 7 processes (...)")  # Patroni did not answer: stopped
    assert (unknown.cls, unknown.cells) == ("down@idc", (1,))


def test_an_idc_record_with_hit_data_is_read_from_it_not_from_the_text(runs):
    """Records since 20261203T14 carry what was hit as data (``hit``: name, kind, cell, role); the
    text is then for people only: a ``detail`` that says otherwise does not change the effect."""
    run = runs[KINDS_B.name]

    def idc(hit, detail="(text not read)"):
        return fault_effect(run, {"kind": "down", "target": "idc[idc-c]", "start": 10.0, "end": 22.0,
                                  "detail": detail, "hit": hit})
    mixed = idc([{"name": "c0-m2", "kind": "db", "cell": 0, "role": "leader"},
                 {"name": "c1-m2", "kind": "db", "cell": 1, "role": "sync_standby"},
                 {"name": "c2-m2", "kind": "db", "cell": 2, "role": "replica"},
                 {"name": "app-c2-1", "kind": "app", "cell": 2, "role": None},
                 {"name": "etcd2", "kind": "etcd", "cell": None, "role": "leader"}],
                detail="c1-m2 [leader]: SIGKILL")
    assert (mixed.cls, mixed.effect, mixed.cells) == ("down@idc", "outage", (0, 2))
    standbys = idc([{"name": "c0-m2", "kind": "db", "cell": 0, "role": "sync_standby"},
                    {"name": "etcd2", "kind": "etcd", "cell": None, "role": "follower"}])
    assert (standbys.cls, standbys.cells) == ("down@idc-standby", (0,))
    with_leader = idc([{"name": "c0-m2", "kind": "db", "cell": 0, "role": "sync_standby"},
                       {"name": "etcd2", "kind": "etcd", "cell": None, "role": "leader"}],
                      detail="etcd2 [follower]: SIGKILL")
    assert with_leader.cls == "down@idc-standby+etcd-leader"
    unknown = idc([{"name": "c1-m0", "kind": "db", "cell": 1, "role": None}])  # Patroni did not answer
    assert (unknown.cls, unknown.cells) == ("down@idc", (1,))


def test_a_gateway_crash_with_its_port_held_is_a_hold_after_failing_what_was_in_flight(runs):
    """Since its supervisor holds the gateway's port (the fault record's hit says ``port_held``),
    a crash refuses nothing: the in-flight requests fail (reset) and the connections made until
    the spare serves wait (a hold of the fitted length); the same record without the flag keeps
    the refusing model of the runs recorded before (an error window)."""
    run = runs[KINDS_A.name]
    f = next(f for f in run.faults if f["kind"] == "crash" and f["target"] == "gateway")
    before = fault_effect(run, f)
    assert (before.cls, before.effect, before.resets) == ("crash@gns", "error", True)
    held = dict(f, hit=[{"name": "gateway", "kind": "gateway", "cell": None, "role": None, "port_held": True}])
    e = fault_effect(run, held)
    assert (e.cls, e.effect, e.resets, e.fixed) == ("crash@gns+held-port", "hold", True, False)
    a, b = e.window({e.cls: 0.18})
    assert a == pytest.approx(float(f["start"])) and b - a == pytest.approx(0.18)


def test_in_the_replay_a_held_crash_fails_only_what_was_in_flight():
    """The closed loop with a reset at 20 s then a 0.2 s hold fails only requests in flight at
    20 s, and serves those sent in the hold at its end; refused (an error window) they fail.
    Exact for these seeds."""
    from sim.request.closed import ClosedFaults, closed_rows, loop_rng
    from tests.test_replay_scope import _spec
    for seed in (1, 2, 3):
        held = closed_rows(_spec(), ClosedFaults({}, holds=[(20.0, 20.2)], resets=[(None, 20.0)]), loop_rng(seed))
        refused = closed_rows(_spec(), ClosedFaults({}, errors=[(None, 20.0, 20.2)], resets=[(None, 20.0)]),
                              loop_rng(seed))
        failed = [r for r in held if not r[3]]
        assert all(r[0] < 20.0 <= r[0] + r[1] for r in failed), failed  # in flight at the crash
        sent_in_hold = [r for r in held if 20.0 <= r[0] < 20.2]
        assert sent_in_hold and all(r[3] and r[0] + r[1] >= 20.2 for r in sent_in_hold)
        assert sum(1 for r in refused if not r[3]) > len(failed)
