"""The live bank's supervisor (loadtests.cluster.supervisor): prompt restarts, no crash-loop spin.

Real processes on this machine: the supervisor runs as its own process with a spec file, as
the live cluster starts it; the programs are coreutils ``sleep`` and ``false``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from loadtests.cluster.supervisor import MAX_DELAY


def _start(tmp_path: Path, programs: list[dict], delay: float) -> subprocess.Popen:
    spec = {"pid_dir": str(tmp_path / "pids"), "restart_delay": delay,
            "programs": [{**p, "log": str(tmp_path / f"{p['name']}.log")} for p in programs]}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    return subprocess.Popen([sys.executable, "-m", "loadtests.cluster.supervisor", str(tmp_path / "spec.json")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _pidfile(tmp_path: Path, name: str) -> dict:
    try:
        return json.loads((tmp_path / "pids" / f"{name}.pid").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {"pid": None, "restarts": -1}


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


def test_a_crash_loop_backs_off(tmp_path):
    # `false` dies at once: without backoff 0.1 s apart (~13 starts in 2 s); with doubling
    # waits 0.1, 0.2, 0.4, 0.8, 1.6 s the 2 s watch sees at most 5 restarts
    sup = _start(tmp_path, [{"name": "bad", "argv": ["false"]}], delay=0.1)
    try:
        time.sleep(2.0)
        restarts = _pidfile(tmp_path, "bad")["restarts"]
    finally:
        _stop(sup)
    assert 2 <= restarts <= 5, restarts
    assert MAX_DELAY <= 10
