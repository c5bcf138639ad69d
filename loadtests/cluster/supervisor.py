"""A tiny process supervisor: keeps the gateway (and app servers, relay) running.

The chaos side kills the gateway on purpose ("kill the gateway: a supervisor restarts it"); this
process notices the exit and starts it again after ``restart_delay`` seconds (0.1 s by default,
systemd's ``RestartSec`` default: an app server's restart then fits inside the gateway's 1 s retry
deadline with room to spare; at 0.5 s it sat on that edge and the same crash failed 0 or 30
requests from run to run). A program that dies again within ``STABLE_SECONDS`` of its start waits
twice as long each time, up to ``MAX_DELAY`` (a crash loop must not spin). It writes each
program's current PID to ``<pid_dir>/<name>.pid`` (atomically), so whoever wants to signal the
gateway reads the file and signals exactly that PID. Each program runs in its own session.

On SIGTERM it stops every program (SIGTERM, then SIGKILL after 3 s) and exits.

Run: ``python -m loadtests.cluster.supervisor spec.json`` where the spec is
``{"pid_dir": ..., "restart_delay": 0.1, "programs": [{"name", "argv", "env", "log", "restart", "cwd"}]}``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["main", "write_pid"]

# a program that ran this long before dying is restarted after the base delay again
STABLE_SECONDS = 10.0
# the longest wait of a crash loop (systemd's RestartMaxDelaySec plays this part)
MAX_DELAY = 5.0


def write_pid(pid_dir: Path, name: str, pid: int | None, restarts: int) -> None:
    tmp = pid_dir / f".{name}.tmp"
    tmp.write_text(json.dumps({"pid": pid, "restarts": restarts, "t": time.time()}))
    os.replace(tmp, pid_dir / f"{name}.pid")


class Program:
    def __init__(self, spec: dict, pid_dir: Path):
        self.spec = spec
        self.name = spec["name"]
        self.pid_dir = pid_dir
        self.proc: subprocess.Popen | None = None
        self.restarts = -1
        self.died_at: float | None = None
        self.started_at = 0.0
        self.delay: float | None = None  # this restart's wait (None: the base delay)

    def start(self) -> None:
        env = {**os.environ, **self.spec.get("env", {})}
        with open(self.spec["log"], "ab") as out:
            self.proc = subprocess.Popen(self.spec["argv"], stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True, env=env,
                                         cwd=self.spec.get("cwd"))
        self.restarts += 1
        self.died_at = None
        self.started_at = time.monotonic()
        write_pid(self.pid_dir, self.name, self.proc.pid, self.restarts)

    def stop(self, sig: int) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass


def main(argv: list[str] | None = None) -> int:
    argv = argv if argv is not None else sys.argv[1:]
    spec = json.loads(Path(argv[0]).read_text())
    pid_dir = Path(spec["pid_dir"])
    pid_dir.mkdir(parents=True, exist_ok=True)
    delay = float(spec.get("restart_delay", 0.1))
    programs = [Program(p, pid_dir) for p in spec["programs"]]
    stopping = False

    def on_term(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    for p in programs:
        p.start()
    while not stopping:
        now = time.monotonic()
        for p in programs:
            if p.proc.poll() is None:
                continue
            if p.died_at is None:
                p.died_at = now
                print(f"{time.strftime('%H:%M:%S')} {p.name} (pid {p.proc.pid}) exited with {p.proc.returncode}",
                      flush=True)
                write_pid(pid_dir, p.name, None, p.restarts)
                quick = now - p.started_at < STABLE_SECONDS and p.delay is not None
                p.delay = min(max(p.delay * 2, delay, 0.1), MAX_DELAY) if quick else delay
            if p.spec.get("restart", True) and now - p.died_at >= p.delay:
                p.start()
                print(f"{time.strftime('%H:%M:%S')} {p.name} restarted as pid {p.proc.pid}", flush=True)
        time.sleep(0.05)
    for p in programs:
        p.stop(signal.SIGTERM)
    end = time.monotonic() + 3.0
    while time.monotonic() < end and any(p.proc.poll() is None for p in programs):
        time.sleep(0.05)
    for p in programs:
        p.stop(signal.SIGKILL)
        if p.proc:
            p.proc.wait()
        write_pid(pid_dir, p.name, None, p.restarts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
