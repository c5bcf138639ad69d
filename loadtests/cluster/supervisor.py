"""A tiny process supervisor: keeps the gateway (and app servers, relay) running.

The chaos side kills the gateway on purpose ("kill the gateway: a supervisor restarts it"); this
process notices the exit and starts it again after ``restart_delay`` seconds (0.1 s by default,
systemd's ``RestartSec`` default: an app server's restart then fits inside the gateway's 1 s retry
deadline with room to spare; at 0.5 s it sat on that edge and the same crash failed 0 or 30
requests from run to run). A program that dies again within ``STABLE_SECONDS`` of its start waits
twice as long each time, up to ``MAX_DELAY`` (a crash loop must not spin). It writes each
program's current PID to ``<pid_dir>/<name>.pid`` (atomically), so whoever wants to signal the
gateway reads the file and signals exactly that PID. Each program runs in its own session.

Warm spares (program key ``"spare": true``; the live cluster sets it for app servers, relay and
gateway). A restarted Python service spends ~0.35-0.9 s importing (starlette, pydantic, psycopg,
uvicorn) before it listens, more on a loaded machine; the gateway retries an app server only
inside its 1 s deadline, so an app server's crash failed 0 or 8-30 requests from run to run, and
a gateway crash ~65 requests per run. So, as real supervisors do, a spare is started beside the
live process once that has run ``spare_after`` seconds (1 s: its imports then do not compete with
the live one's start-up or recovery): same argv, env, cwd and log, plus ``HIVESIM_SPARE=1`` and
a pipe on stdin; it does its imports and reads its config, then waits for one line
(``loadtests.bank.api.serve``; it exits quietly if stdin closes first, e.g. when this supervisor
dies). When the live process dies, the wait and the backoff are as above; then the spare, if
alive, is sent ``go`` and becomes the program's process (same PID file, ``restarts`` and log
lines as a cold start; a spare still importing serves when done, still sooner than a cold start);
otherwise a fresh process is started. Each live process gets one spare (none if it dies within
``spare_after``: a program failing at once spawns no spares), and a spare that dies on its own is
not replaced until the program's next start (no spin). The PID file records the spare's PID as
``"spare"`` so teardown can stop it by PID.

Listening sockets held here (program key ``"listen": PORT``; the live cluster sets it for the
gateway, app servers and relay). With a warm spare a restarted service served again ~0.15 s
after its crash, but a socket that died with the process refused every connection in that gap:
a gateway crash still failed 10-27 requests per run at 100 req/s (kinds-b, ten runs), the
spread coming from how soon the spare served on the busy cores. So, as systemd's socket
activation and nginx's binary upgrade do, this supervisor binds the port once (127.0.0.1, or
the program's ``"host"``) before the first start and keeps it open; each process (live or
spare) inherits it as fd ``$HIVESIM_LISTEN_FD`` and serves on it (``loadtests.bank.api.serve``).
A connection that arrives while no process serves waits in the kernel's backlog and is
accepted by the next one: only the requests the dead process had already accepted fail.

On SIGTERM it stops every program and spare (SIGTERM, then SIGKILL after 3 s) and exits.

Run: ``python -m loadtests.cluster.supervisor spec.json`` where the spec is
``{"pid_dir": ..., "restart_delay": 0.1, "spare_after": 1.0,
"programs": [{"name", "argv", "env", "log", "restart", "cwd", "spare", "listen", "host"}]}``.
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

__all__ = ["main", "write_pid", "SPARE_ENV", "LISTEN_FD_ENV"]

# a program that ran this long before dying is restarted after the base delay again
STABLE_SECONDS = 10.0
# the longest wait of a crash loop (systemd's RestartMaxDelaySec plays this part)
MAX_DELAY = 5.0
# how long a live process runs before its warm spare is started (spec key "spare_after")
SPARE_AFTER = 1.0
# set in a spare's environment; loadtests.bank.api.serve waits for the go line when it is set
SPARE_ENV = "HIVESIM_SPARE"
# set in every process of a program with "listen": the fd number of the inherited listening socket
LISTEN_FD_ENV = "HIVESIM_LISTEN_FD"
# connections a held socket queues while no process serves it (100 req/s x a 0.2 s gap is 20)
BACKLOG = 1024


def write_pid(pid_dir: Path, name: str, pid: int | None, restarts: int, spare: int | None = None) -> None:
    tmp = pid_dir / f".{name}.tmp"
    tmp.write_text(json.dumps({"pid": pid, "restarts": restarts, "t": time.time(), "spare": spare}))
    os.replace(tmp, pid_dir / f"{name}.pid")


def _log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)


def _signal_group(proc: subprocess.Popen | None, sig: int) -> None:
    if proc and proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


class Program:
    def __init__(self, spec: dict, pid_dir: Path, spare_after: float = SPARE_AFTER):
        self.spec = spec
        self.name = spec["name"]
        self.pid_dir = pid_dir
        self.proc: subprocess.Popen | None = None
        self.spare: subprocess.Popen | None = None
        self.spare_after = spare_after
        self.wants_spare = bool(spec.get("spare")) and spec.get("restart", True)
        self.restarts = -1
        self.died_at: float | None = None
        self.started_at = 0.0
        self.spared = False  # a spare was started during this live process's life
        self.delay: float | None = None  # this restart's wait (None: the base delay)
        self.sock: socket.socket | None = None  # the held listening socket (spec key "listen")

    def bind(self) -> None:
        """Bind and hold the program's listening socket, inheritable by its processes."""
        if self.spec.get("listen"):
            self.sock = socket.create_server((self.spec.get("host", "127.0.0.1"), int(self.spec["listen"])),
                                             backlog=BACKLOG)
            self.sock.set_inheritable(True)

    def _popen(self, spare: bool) -> subprocess.Popen:
        env = {**os.environ, **self.spec.get("env", {}), **({SPARE_ENV: "1"} if spare else {})}
        fds: tuple[int, ...] = ()
        if self.sock is not None:
            fds = (self.sock.fileno(),)
            env[LISTEN_FD_ENV] = str(fds[0])
        with open(self.spec["log"], "ab") as out:
            return subprocess.Popen(self.spec["argv"], stdin=subprocess.PIPE if spare else subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env,
                                    cwd=self.spec.get("cwd"), pass_fds=fds)

    def record(self) -> None:
        live = self.proc.pid if self.proc and self.died_at is None else None
        write_pid(self.pid_dir, self.name, live, self.restarts, self.spare.pid if self.spare else None)

    def _go(self, spare: subprocess.Popen) -> bool:
        """Tell the warm spare to go; False if it died since the last look (then reaped)."""
        try:
            spare.stdin.write(b"go\n")
            spare.stdin.close()  # flushes; the spare never reads stdin again
            return True
        except OSError:
            _signal_group(spare, signal.SIGKILL)
            spare.wait(timeout=5)
            return False

    def start(self) -> None:
        self.restarts += 1
        self.died_at = None
        self.spared = False
        spare, self.spare = self.spare, None
        if spare is not None:
            # the PID file names the spare before it is told to go: it may serve at once, and
            # whoever reads the file then (the chaos injector finds processes by it) finds it
            self.proc, self.started_at = spare, time.monotonic()
            self.record()
            if self._go(spare):
                return
        self.proc, self.started_at = self._popen(spare=False), time.monotonic()
        self.record()

    def tend_spare(self, now: float) -> None:
        """Notice a spare that died; start one beside a live process that has run ``spare_after``."""
        if self.spare is not None and self.spare.poll() is not None:
            _log(f"{self.name} spare (pid {self.spare.pid}) exited with {self.spare.returncode}")
            self.spare = None
            self.record()
        if self.wants_spare and not self.spared and now - self.started_at >= self.spare_after:
            self.spared = True
            if self.spare is None:
                self.spare = self._popen(spare=True)
                _log(f"{self.name} warm spare started as pid {self.spare.pid}")
                self.record()

    def stop(self, sig: int) -> None:
        _signal_group(self.proc, sig)
        _signal_group(self.spare, sig)

    def running(self) -> bool:
        return any(p is not None and p.poll() is None for p in (self.proc, self.spare))


def main(argv: list[str] | None = None) -> int:
    argv = argv if argv is not None else sys.argv[1:]
    spec = json.loads(Path(argv[0]).read_text())
    pid_dir = Path(spec["pid_dir"])
    pid_dir.mkdir(parents=True, exist_ok=True)
    delay = float(spec.get("restart_delay", 0.1))
    programs = [Program(p, pid_dir, float(spec.get("spare_after", SPARE_AFTER))) for p in spec["programs"]]
    stopping = False

    def on_term(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    for p in programs:  # every port first: a program that cannot have its port fails before any starts
        p.bind()
    for p in programs:
        p.start()
    while not stopping:
        now = time.monotonic()
        for p in programs:
            if p.proc.poll() is None:
                p.tend_spare(now)
                continue
            if p.died_at is None:
                p.died_at = now
                _log(f"{p.name} (pid {p.proc.pid}) exited with {p.proc.returncode}")
                p.record()
                quick = now - p.started_at < STABLE_SECONDS and p.delay is not None
                p.delay = min(max(p.delay * 2, delay, 0.1), MAX_DELAY) if quick else delay
            if p.spec.get("restart", True) and now - p.died_at >= p.delay:
                p.start()
                _log(f"{p.name} restarted as pid {p.proc.pid}")
        time.sleep(0.05)
    for p in programs:
        p.stop(signal.SIGTERM)
    end = time.monotonic() + 3.0
    while time.monotonic() < end and any(p.running() for p in programs):
        time.sleep(0.05)
    for p in programs:
        p.stop(signal.SIGKILL)
        for proc in (p.proc, p.spare):
            if proc:
                proc.wait()
        p.spare = None
        write_pid(pid_dir, p.name, None, p.restarts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
