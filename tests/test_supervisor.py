"""The live bank's supervisor (loadtests.cluster.supervisor): prompt restarts, no crash-loop spin.

Real processes on this machine: the supervisor runs as its own process with a spec file, as
the live cluster starts it; the programs are coreutils ``sleep`` and ``false``, and
``tests/slow_start_program.py`` (1 s of "imports", then it listens on a port; honours
``HIVESIM_SPARE`` as the bank's services do) for the warm spare. Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadtests.cluster.supervisor import MAX_DELAY


def _start(tmp_path: Path, programs: list[dict], delay: float, spare_after: float = 1.0) -> subprocess.Popen:
    spec = {"pid_dir": str(tmp_path / "pids"), "restart_delay": delay, "spare_after": spare_after,
            "programs": [{**p, "log": str(tmp_path / f"{p['name']}.log")} for p in programs]}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    with open(tmp_path / "supervisor.log", "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "loadtests.cluster.supervisor", str(tmp_path / "spec.json")],
                                stdout=log, stderr=subprocess.STDOUT)


def _pidfile(tmp_path: Path, name: str) -> dict:
    try:
        return json.loads((tmp_path / "pids" / f"{name}.pid").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {"pid": None, "restarts": -1, "spare": None}


def _stop(sup: subprocess.Popen) -> None:
    sup.send_signal(signal.SIGTERM)
    sup.wait(timeout=10)


def test_a_killed_program_is_back_within_a_few_tenths_of_a_second(tmp_path):
    sup = _start(tmp_path, [{"name": "svc", "argv": ["sleep", "60"]}], delay=0.1)
    try:
        end = time.monotonic() + 10
        while _pidfile(tmp_path, "svc")["pid"] is None:
            assert time.monotonic() < end
            time.sleep(0.02)
        first = _pidfile(tmp_path, "svc")["pid"]
        killed = time.monotonic()
        os.kill(first, signal.SIGKILL)
        while _pidfile(tmp_path, "svc")["pid"] in (None, first):
            assert time.monotonic() - killed < 5, "not restarted"
            time.sleep(0.01)
        took = time.monotonic() - killed
        # base delay 0.1 s + the supervisor's 0.05 s poll; 0.6 s leaves room for a loaded machine
        assert took < 0.6, took
        assert _pidfile(tmp_path, "svc")["restarts"] == 1
    finally:
        _stop(sup)


@pytest.mark.parametrize("spare", [False, True])
def test_a_crash_loop_backs_off(tmp_path, spare):
    # `false` dies at once: without backoff 0.1 s apart (~13 starts in 2 s); with doubling
    # waits 0.1, 0.2, 0.4, 0.8, 1.6 s the 2 s watch sees at most 5 restarts; a program that dies
    # within spare_after of its start never gets a spare (a crash loop spawns no spares)
    sup = _start(tmp_path, [{"name": "bad", "argv": ["false"], "spare": spare}], delay=0.1, spare_after=0.3)
    try:
        time.sleep(2.0)
        restarts = _pidfile(tmp_path, "bad")["restarts"]
    finally:
        _stop(sup)
    assert 2 <= restarts <= 5, restarts
    assert MAX_DELAY <= 10
    assert "spare" not in (tmp_path / "supervisor.log").read_text()


# ---------------------------------------------------------------- warm spares
SLOW = str(Path(__file__).with_name("slow_start_program.py"))
START_S = 1.0  # the slow program's "imports"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int | None) -> bool:
    try:
        return bool(pid) and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX"
    except OSError:
        return False


def _serving(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def _wait(cond, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.01)


def _ready(tmp_path: Path, pid: int | None) -> bool:
    """The slow program ``pid`` has done its "imports" (its log says ``ready <pid>``)."""
    log = tmp_path / "svc.log"
    return bool(pid) and log.exists() and f"ready {pid}\n" in log.read_text()


def _svc(tmp_path: Path, spare: bool):
    """A supervised slow program, serving, and (with ``spare``) its warm spare done importing."""
    port = _free_port()
    sup = _start(tmp_path, [{"name": "svc", "argv": [sys.executable, SLOW, str(port), str(START_S)],
                             "spare": spare}], delay=0.1, spare_after=0.3)
    _wait(lambda: _pidfile(tmp_path, "svc")["pid"] and _serving(port), 20, "first start")
    if spare:
        _wait(lambda: _ready(tmp_path, _pidfile(tmp_path, "svc")["spare"]), 20, "the spare's imports")
    return sup, port


def _kill_until_serving(tmp_path: Path, port: int) -> tuple[float, int]:
    """SIGKILL the program; -> (seconds until a new process serves the port, its PID)."""
    old = _pidfile(tmp_path, "svc")["pid"]
    killed = time.monotonic()
    os.kill(old, signal.SIGKILL)
    _wait(lambda: _pidfile(tmp_path, "svc")["pid"] not in (None, old) and _serving(port), 10, "serving again")
    return time.monotonic() - killed, _pidfile(tmp_path, "svc")["pid"]


def test_a_warm_spare_serves_again_at_once_and_is_replaced(tmp_path):
    sup, port = _svc(tmp_path, spare=True)
    try:
        spare = _pidfile(tmp_path, "svc")["spare"]
        assert os.getsid(spare) == spare  # its own session, as the programs
        took, pid = _kill_until_serving(tmp_path, port)
        # 1 s of start-up, yet serving in the restart delay (0.1 s) + a poll (0.05 s) + the bind
        assert took < 0.5, took
        assert pid == spare and _pidfile(tmp_path, "svc")["restarts"] == 1
        # a new spare for the next time: the second kill is as fast
        _wait(lambda: _pidfile(tmp_path, "svc")["spare"] not in (None, spare), 10, "a new spare")
        second = _pidfile(tmp_path, "svc")["spare"]
        _wait(lambda: _ready(tmp_path, second), 20, "the new spare's imports")
        took, pid = _kill_until_serving(tmp_path, port)
        assert took < 0.5, took
        assert pid == second and _pidfile(tmp_path, "svc")["restarts"] == 2
    finally:
        _stop(sup)
    assert f"svc restarted as pid {spare}\n" in (tmp_path / "supervisor.log").read_text()


def _dead(pid: int) -> bool:
    """Gone or a zombie (killed, not yet reaped by its supervisor)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_a_held_port_queues_the_connections_of_the_restart_gap(tmp_path):
    """With ``listen`` the supervisor holds the port: a connection made after the process died and
    before its spare serves waits in the backlog and is answered by the spare, not refused."""
    port = _free_port()
    sup = _start(tmp_path, [{"name": "svc", "argv": [sys.executable, SLOW, str(port), str(START_S)],
                             "spare": True, "listen": port}], delay=0.5, spare_after=0.3)
    try:
        _wait(lambda: _pidfile(tmp_path, "svc")["pid"] and _ready(tmp_path, _pidfile(tmp_path, "svc")["pid"])
              and _ready(tmp_path, _pidfile(tmp_path, "svc")["spare"]), 20, "the program and its spare")
        old, spare = _pidfile(tmp_path, "svc")["pid"], _pidfile(tmp_path, "svc")["spare"]
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            assert c.makefile().readline() == f"{old}\n"
        os.kill(old, signal.SIGKILL)
        _wait(lambda: _dead(old), 5, "the kill")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:  # not refused
            # in the gap: the restart waits 0.5 s after the supervisor's next look
            assert _pidfile(tmp_path, "svc")["pid"] in (None, old)
            assert c.makefile().readline() == f"{spare}\n"
        # the supervisor names the spare in the PID file before telling it to go, so once the spare
        # has answered the file names it (until 20261204 it was written after the go: CI saw None)
        assert _pidfile(tmp_path, "svc")["pid"] == spare
    finally:
        _stop(sup)
    # the port is the supervisor's: closed with it
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)


def test_without_a_spare_the_same_kill_waits_for_the_start_up(tmp_path):
    # the control of the test above: the measurement sees the 1 s start-up when there is no spare
    sup, port = _svc(tmp_path, spare=False)
    try:
        time.sleep(0.5)  # past spare_after: no spare is started for a program without "spare"
        assert _pidfile(tmp_path, "svc")["spare"] is None
        took, _ = _kill_until_serving(tmp_path, port)
        assert took >= START_S, took
    finally:
        _stop(sup)


def test_a_dead_spare_means_a_cold_start_then_a_new_spare(tmp_path):
    sup, port = _svc(tmp_path, spare=True)
    try:
        spare = _pidfile(tmp_path, "svc")["spare"]
        os.kill(spare, signal.SIGKILL)
        _wait(lambda: _pidfile(tmp_path, "svc")["spare"] is None, 5, "the supervisor to notice the dead spare")
        time.sleep(0.5)  # a spare that died is not replaced before the program's next start
        assert _pidfile(tmp_path, "svc")["spare"] is None
        took, pid = _kill_until_serving(tmp_path, port)
        assert took >= START_S and pid != spare, took
        assert _pidfile(tmp_path, "svc")["restarts"] == 1
        _wait(lambda: _pidfile(tmp_path, "svc")["spare"] not in (None, spare), 10, "a new spare")
    finally:
        _stop(sup)


def test_sigterm_stops_programs_and_spares(tmp_path):
    sup, port = _svc(tmp_path, spare=True)
    pf = _pidfile(tmp_path, "svc")
    pids = [pf["pid"], pf["spare"]]
    assert all(_alive(p) for p in pids)
    _stop(sup)
    _wait(lambda: not any(_alive(p) for p in pids), 5, "program and spare gone")
    assert _pidfile(tmp_path, "svc")["pid"] is None and _pidfile(tmp_path, "svc")["spare"] is None


def test_a_spare_exits_by_itself_when_its_supervisor_is_killed(tmp_path):
    # teardown SIGKILLs the supervisor: the spare's stdin closes and it leaves without binding
    sup, port = _svc(tmp_path, spare=True)
    pf = _pidfile(tmp_path, "svc")
    try:
        sup.kill()
        sup.wait(timeout=10)
        _wait(lambda: not _alive(pf["spare"]), 5, "the spare to exit")
        assert _alive(pf["pid"])  # the program is left to teardown, which signals it by PID
        assert f"serving {pf['spare']}" not in (tmp_path / "svc.log").read_text()
    finally:
        try:
            os.killpg(pf["pid"], signal.SIGKILL)  # the program's own session, started by this test
        except ProcessLookupError:
            pass
        _wait(lambda: not _alive(pf["pid"]), 5, "the program to be gone")


def test_cluster_teardown_stops_programs_and_spares_by_pid(tmp_path):
    # the live cluster's down() without a database: a recorded supervisor whose programs are the
    # slow stand-in under the bank's names; all_pids() lists the spares, down() leaves none alive.
    # Their "imports" last 30 s: a spare does not read stdin yet, so its supervisor's death alone
    # would not end it: down() signals it by PID at once
    from loadtests.cluster.manager import Cluster
    names = ["app-c0-0", "relay", "gateway"]
    ports = {n: _free_port() for n in names}
    spec = {"pid_dir": str(tmp_path / "pids"), "restart_delay": 0.1, "spare_after": 0.3,
            "programs": [{"name": n, "argv": [sys.executable, SLOW, str(ports[n]), "30"], "spare": True,
                          "log": str(tmp_path / f"{n}.log")} for n in names]}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    with open(tmp_path / "supervisor.log", "ab") as log:
        sup = subprocess.Popen([sys.executable, "-m", "loadtests.cluster.supervisor", str(tmp_path / "spec.json")],
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    state = {"run_dir": str(tmp_path), "pid_dir": spec["pid_dir"], "supervisor": {"pid": sup.pid},
             "apps": [{"name": "app-c0-0", "cell": 0, "index": 0, "port": ports["app-c0-0"]}],
             "relay": {"port": ports["relay"]}, "gateway": {"port": ports["gateway"]}}
    c = Cluster(state=state)
    try:
        _wait(lambda: all(_pidfile(tmp_path, n)["pid"] and _pidfile(tmp_path, n)["spare"] for n in names), 20,
              "programs and spares")
        pids = c.all_pids()
        spares = [_pidfile(tmp_path, n)["spare"] for n in names]
        assert set(spares) <= set(pids) and len(pids) == 7  # the supervisor, 3 programs, 3 spares
        took = c.down(timeout=10)["seconds"]
        sup.wait(timeout=10)
        assert took < 5, took  # signalled at once, not left to down()'s 10 s leftover sweep
        assert [p for p in pids if _alive(p)] == []
    finally:
        for p in [sup.pid] + [x for n in names for x in (_pidfile(tmp_path, n)["pid"], _pidfile(tmp_path, n)["spare"])]:
            if _alive(p):
                os.killpg(p, signal.SIGKILL)  # each in its own session, started by this test
        sup.wait(timeout=10)
