"""Run Locust as a subprocess (headless; single process, or master + local workers).

Locust runs on gevent and monkey-patches the standard library when imported, so hivesim never
imports it: the orchestrator (threads, psycopg, subprocess management) stays unpatched and the
load runs in its own process(es). :func:`locust_argv` builds the command line from
:class:`LoadSpec`; :func:`run_locust` runs it (bounded in time) and returns what happened.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from sim.scenario.live import Live, LiveRetry
from sim.scenario.mix import Mix

__all__ = ["LoadSpec", "locust_argv", "run_locust", "LocustResult", "LOCUSTFILES"]

HERE = os.path.dirname(os.path.abspath(__file__))
LOCUSTFILES = f"{os.path.join(HERE, 'locustfile.py')},{os.path.join(HERE, 'shapes.py')}"


@dataclass
class LoadSpec:
    host: str
    duration: float
    users: int
    rate: float                               # requests/s over all users at the peak
    shape: str = "constant"                   # day | constant | step
    mix: tuple[float, ...] = field(default_factory=lambda: tuple(Mix().shares().values()))  # TRANSACTION_KINDS order
    hourly: list[float] | None = None
    peak_factor: float = 3.0
    peak_hour: float = 14.0
    steps: str = ""
    accounts_file: str = ""
    record_dir: str = ""
    csv_prefix: str = ""
    html: str = ""
    op_deadline: float = field(default_factory=lambda: LiveRetry().client_deadline_for(Live().gateway_deadline))
    retry: LiveRetry = field(default_factory=LiveRetry)  # the client's backoff (live.retry)
    timeout: float = 15.0
    max_amount: int = 100
    seed: int = 0
    workers: int = 0                          # 0 = one local process; N = master + N workers
    extra: list[str] = field(default_factory=list)


def locust_argv(spec: LoadSpec, role: str = "local", master_port: int | None = None) -> list[str]:
    """The command line of one Locust process (``role``: local, master or worker)."""
    argv = [sys.executable, "-m", "locust", "-f", LOCUSTFILES, "--loglevel", "WARNING"]
    if role == "worker":
        return argv + ["--worker", "--master-host", "127.0.0.1", "--master-port", str(master_port)]
    argv += ["--headless", "--host", spec.host, "--exit-code-on-error", "0", "--stop-timeout", "10",
             "--shape", spec.shape, "--shape-users", str(spec.users), "--shape-duration", str(spec.duration),
             "--bank-rate", f"{spec.rate / spec.users:.6g}", "--bank-mix", ",".join(f"{w:g}" for w in spec.mix),
             "--bank-op-deadline", str(spec.op_deadline), "--bank-timeout", str(spec.timeout),
             "--bank-backoff", str(spec.retry.client_backoff), "--bank-max-backoff", str(spec.retry.client_max_backoff),
             "--bank-max-amount", str(spec.max_amount), "--shape-peak-factor", str(spec.peak_factor),
             "--shape-peak-hour", str(spec.peak_hour)]
    if spec.hourly:
        argv += ["--shape-hourly", ",".join(f"{w:g}" for w in spec.hourly)]
    if spec.steps:
        argv += ["--shape-steps", spec.steps]
    if spec.seed:
        argv += ["--bank-seed", str(spec.seed)]
    for opt, val in (("--bank-accounts-file", spec.accounts_file), ("--bank-record-dir", spec.record_dir),
                     ("--html", spec.html)):
        if val:
            argv += [opt, val]
    if spec.csv_prefix:
        argv += ["--csv", spec.csv_prefix, "--csv-full-history"]
    if role == "master":
        argv += ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(master_port),
                 "--expect-workers", str(spec.workers), "--expect-workers-max-wait", "30"]
    return argv + list(spec.extra)


@dataclass
class LocustResult:
    returncode: int
    wall_seconds: float
    log_path: str
    workers: int


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_locust(spec: LoadSpec, log_path: str, cwd: str | None = None, grace: float = 60.0) -> LocustResult:
    """Run the load to completion (the shape stops it), killing it if it overruns by ``grace`` s."""
    t0 = time.monotonic()
    procs: list[subprocess.Popen] = []
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(log_path, "ab") as log:
        try:
            if spec.workers > 0:
                port = _free_port()
                main = subprocess.Popen(locust_argv(spec, "master", port), stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, cwd=cwd, env=env)
                procs.append(main)
                for _ in range(spec.workers):
                    procs.append(subprocess.Popen(locust_argv(spec, "worker", port), stdout=log,
                                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd, env=env))
            else:
                main = subprocess.Popen(locust_argv(spec), stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, cwd=cwd, env=env)
                procs.append(main)
            try:
                rc = main.wait(timeout=spec.duration + grace + (30 if spec.workers else 0))
            except subprocess.TimeoutExpired:
                main.send_signal(signal.SIGTERM)  # Locust stops gracefully and writes its CSVs
                try:
                    rc = main.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    main.kill()
                    rc = main.wait()
            for w in procs[1:]:  # workers quit when the master does
                try:
                    w.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    w.kill()
                    w.wait()
        finally:
            for p in procs:  # never leave a load process behind
                if p.poll() is None:
                    p.kill()
                    p.wait()
    return LocustResult(rc, time.monotonic() - t0, log_path, spec.workers)
