"""The fault injector on a fake cluster made of real processes (``sleep``), so the signals are real.

Each fake member has a "patroni" and a "postmaster" process, each leading its own process group
as in the live cluster; the test checks process states in /proc, not the injector's own claims.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadtests.chaos.injector import Injector
from loadtests.chaos.targets import DbMember, Proc, TargetError, resolve
from sim.scenario.chaos import ChaosEntry


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


class FakeCluster:
    cells = 2
    admin_token = "t"
    fence_margin = None  # no watchdog unless a test arms one

    def __init__(self):
        self.procs: list[subprocess.Popen] = []
        self.restarts: list[str] = []
        self.keys: dict[int, tuple[str, float]] = {}  # cell -> (leader, expiry): the leader keys
        self.members = {c: [DbMember(c, k, f"c{c}-m{k}", f"idc-{'abc'[k]}", "leader" if k == 0 else
                                     ("sync_standby" if k == 1 else "replica"), self._spawn(), self._spawn())
                            for k in range(3)] for c in range(2)}
        self.apps = {c: [Proc(f"app-{c}", self._spawn(), "idc-a", "app")] for c in range(2)}
        self.etcd = [Proc(f"etcd-{k}", self._spawn(), f"idc-{'abc'[k]}", "etcd", role="leader" if k == 0 else "follower")
                     for k in range(3)]

    def _spawn(self) -> int:
        p = subprocess.Popen(["sleep", "120"], start_new_session=True)
        self.procs.append(p)
        return p.pid

    def add_child(self, parent_pid: int) -> int:
        """A child that, like a PostgreSQL backend, sits in a session of its own under its parent."""
        code = "import subprocess,time; c=subprocess.Popen(['sleep','120'],start_new_session=True); print(c.pid, flush=True); time.sleep(120)"
        p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True)
        self.procs.append(p)
        return p.pid, int(p.stdout.readline())

    def db_members(self, cell):
        return self.members[cell]

    def app_servers(self, cell):
        return self.apps[cell]

    def gateway(self):
        return None

    def relay(self):
        return None

    def etcd_members(self):
        return self.etcd

    def restart(self, what, part="all"):
        self.restarts.append(f"{what.name}:{part}")

    def leader_key(self, cell):
        return self.keys.get(cell)

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.kill(p.pid, 18)  # SIGCONT, in case a test left it stopped
                    p.kill()
                except ProcessLookupError:
                    pass
            p.wait(timeout=5)


@pytest.fixture
def cluster():
    c = FakeCluster()
    yield c
    c.close()


def _reap(cluster, pid):
    for p in cluster.procs:
        if p.pid == pid:
            p.wait(timeout=5)  # a killed child shows as a zombie until reaped


def test_resolve_targets(cluster):
    assert [m.name for m in resolve("cell[1].db.primary", cluster).members] == ["c1-m0"]
    assert [m.name for m in resolve("cell[0].db.sync_standby", cluster).members] == ["c0-m1"]
    assert [m.name for m in resolve("cell[0].db.replica[2]", cluster).members] == ["c0-m2"]
    r = resolve("idc[idc-b]", cluster)
    assert sorted(m.name for m in r.members) == ["c0-m1", "c1-m1"] and [p.name for p in r.procs] == ["etcd-1"]
    assert len(resolve("etcd[quorum]", cluster).procs) == 2
    assert len(resolve("cell[*].db", cluster).members) == 6
    with pytest.raises(TargetError):
        resolve("cell[0].db.replica[3]", cluster)


def test_schedule_kills_pauses_and_lifts(cluster):
    pm0 = cluster.members[0][0].postmaster_pid
    c1 = cluster.members[1][0]
    entries = [
        ChaosEntry(at=0.1, target="cell[0].db.primary", fault="kill-postmaster"),
        ChaosEntry(at=0.2, target="cell[1].db.primary", fault="pause", duration=0.8),
        ChaosEntry(at=0.3, target="etcd[quorum]", fault="crash", duration=0.5),
        ChaosEntry(at=0.3, target="gateway", fault="crash", duration=1),  # this cluster has none: error
    ]
    inj = Injector(cluster, entries, log=lambda s: None)
    inj.start()
    time.sleep(0.6)
    _reap(cluster, pm0)
    assert _state(pm0) == "gone"
    assert _state(cluster.members[0][0].patroni_pid) in ("S", "R")  # only the postmaster was killed
    assert _state(c1.patroni_pid) == "T" and _state(c1.postmaster_pid) == "T"
    time.sleep(0.8)
    assert _state(c1.patroni_pid) in ("S", "R") and _state(c1.postmaster_pid) in ("S", "R")
    eps = inj.finish()
    assert eps[0].end == eps[0].start and eps[0].error is None and "SIGKILL postmaster" in eps[0].detail
    assert eps[1].end - eps[1].start == pytest.approx(0.8, abs=0.3)
    # the record names the role each member had when hit (an IDC loss is modelled by it)
    assert eps[1].detail.startswith("c1-m0 [leader]: SIGSTOP")
    assert eps[1].hit == [{"name": "c1-m0", "kind": "db", "cell": 1, "role": "leader"}]
    assert {h["name"]: h["role"] for h in eps[2].hit} == {"etcd-0": "leader", "etcd-1": "follower"}
    assert "etcd-0 [leader]: SIGKILL" in eps[2].detail and "etcd-1 [follower]: SIGKILL" in eps[2].detail
    assert cluster.restarts == ["etcd-0:all", "etcd-1:all"]  # crash lifted after its duration
    assert eps[3].error and "has no gateway" in eps[3].error


def test_finish_lifts_faults_held_until_the_end(cluster):
    m = cluster.members[0][2]
    inj = Injector(cluster, [ChaosEntry(at=0.0, target="cell[0].db.replica[2]", fault="pause"),
                             ChaosEntry(at=60.0, target="gateway", fault="crash")], log=lambda s: None)
    inj.start()
    time.sleep(0.4)
    assert _state(m.patroni_pid) == "T"
    eps = inj.finish()
    assert _state(m.patroni_pid) in ("S", "R")
    assert eps[0].end > eps[0].start and eps[1].error == "not reached: the run ended first"


def test_pause_freezes_children_in_their_own_sessions(cluster):
    """PostgreSQL backends call setsid(): a group signal to the postmaster would miss them."""
    parent, child = cluster.add_child(0)
    m = cluster.members[1][0]
    m.postmaster_pid = parent  # the "postmaster" with a "backend" in its own session
    inj = Injector(cluster, [ChaosEntry(at=0.0, target="cell[1].db.primary", fault="pause", duration=0.6)],
                   log=lambda s: None)
    inj.start()
    time.sleep(0.3)
    assert _state(parent) == "T" and _state(child) == "T" and _state(m.patroni_pid) == "T"
    time.sleep(0.6)
    assert _state(parent) in ("S", "R") and _state(child) in ("S", "R")
    inj.finish()
    os.kill(child, 9)


@pytest.mark.parametrize("entry,msg", [
    ({"at": 1, "target": "cell[0].db.replica[3]", "fault": "crash"}, "replica[3] does not exist"),
    ({"at": 1, "target": "etcd[5]", "fault": "crash"}, "etcd[5] does not exist"),
    ({"at": 1, "target": "gateway", "fault": "kill-postmaster"}, "needs a database target"),
    ({"at": 1, "target": "cell[0].app", "fault": "partition"}, "needs a database target"),
    ({"at": 1, "target": "cell[0].db.primary", "fault": "latency"}, "latency > 0"),
    ({"at": 1, "target": "idc[idc-a]", "fault": "bad-change"}, "needs a cell's whole app tier"),
])
def test_schedule_refused_by_validation(entry, msg):
    """What the live cluster cannot carry out is refused when the scenario is validated."""
    from sim.errors import ScenarioError
    from sim.scenario import load_scenario
    smoke = os.path.join(os.path.dirname(os.path.dirname(__file__)), "scenarios", "live-smoke.yaml")
    flow = "{" + ", ".join(f"{k}: {v!r}" if isinstance(v, str) else f"{k}: {v}" for k, v in entry.items()) + "}"
    with pytest.raises(ScenarioError, match=re.escape(msg)):
        load_scenario(smoke, sets=[f"chaos=[{flow}]"])


def test_schedule_checked_against_the_live_cluster():
    """The live cluster runs live.app_servers_per_cell app servers, not topology's app nodes."""
    from loadtests.chaos.targets import check_schedule
    from sim.errors import ScenarioError
    from sim.scenario import load_scenario
    smoke = os.path.join(os.path.dirname(os.path.dirname(__file__)), "scenarios", "live-smoke.yaml")
    check_schedule(load_scenario(smoke))  # the smoke schedule itself is fine
    sc = load_scenario(smoke, sets=["chaos=[{at: 1, target: 'cell[0].app.node[1]', fault: crash}]",
                                    "live.app_servers_per_cell=1", "topology.cells.template.app.nodes=2"])
    with pytest.raises(ScenarioError, match=re.escape("node[1] does not exist: the live cluster has 1")):
        check_schedule(sc)


def test_watchdog_fences_a_leader_whose_patroni_died(cluster):
    """kill-patroni with an emulated watchdog: the leader's PostgreSQL (postmaster and a backend in
    its own session) is SIGKILLed safety_margin before the leader key expires, not at the kill; a
    fault lifted before then cancels the reset; a standby's Patroni arms no watchdog."""
    cluster.fence_margin = 0.5
    lead, standby, early = cluster.members[0][0], cluster.members[0][1], cluster.members[1][0]
    lead.postmaster_pid, backend = cluster.add_child(0)  # a "postmaster" with a "backend" in its own session
    now = time.time()
    cluster.keys = {0: ("c0-m0", now + 1.2), 1: ("c1-m0", now + 2.2)}
    inj = Injector(cluster, [
        ChaosEntry(at=0.0, target="cell[0].db.primary", fault="kill-patroni", duration=5),
        ChaosEntry(at=0.0, target="cell[0].db.sync_standby", fault="kill-patroni", duration=5),
        ChaosEntry(at=0.0, target="cell[1].db.primary", fault="kill-patroni", duration=0.3)],  # lifted at 0.3 s
        log=lambda s: None)
    inj.start()
    time.sleep(0.4)
    _reap(cluster, lead.patroni_pid)
    assert _state(lead.patroni_pid) == "gone"
    assert _state(lead.postmaster_pid) in ("S", "R") and _state(backend) in ("S", "R")  # serving on
    time.sleep(1.0)  # past the fence (0.7 s), before the key's expiry (1.2 s)
    _reap(cluster, lead.postmaster_pid)
    assert _state(lead.postmaster_pid) == "gone" and _state(backend) in ("gone", "Z")
    time.sleep(1.0)  # cell 1's fence was due at 1.7 s: cancelled by the lift at 0.3 s
    assert _state(early.postmaster_pid) in ("S", "R") and _state(standby.postmaster_pid) in ("S", "R")
    eps = inj.finish()
    assert "watchdog resets its PostgreSQL in 0.7" in eps[0].detail or "in 0.6" in eps[0].detail
    assert "watchdog" not in eps[1].detail  # the key names another member: no fence
    assert "c1-m0:patroni" in cluster.restarts
    if _state(backend) not in ("gone", "Z"):
        os.kill(backend, 9)
