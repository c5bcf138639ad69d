"""Process plumbing of the cluster manager: start in a new session, signal by PID, verify gone.

Every process the manager starts gets its own session (``setsid``), so a signal to its process
group reaches it and its children and nothing else. We never look processes up by name: other
people run PostgreSQL and Python on this machine too.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["spawn", "alive", "signal_pid", "kill_group", "wait_dead", "listening_ports",
           "free_ports", "running_as_root", "POSTGRES_USER", "read_postmaster_pid", "proc_start_time",
           "children_of"]

POSTGRES_USER = "postgres"


def running_as_root() -> bool:
    return os.geteuid() == 0


def spawn(argv: list[str], log: Path, *, as_postgres: bool = False, env: dict | None = None,
          cwd: str | None = None) -> subprocess.Popen:
    """Start ``argv`` in its own session with stdout+stderr appended to ``log``.

    ``as_postgres``: when we are root, drop to the postgres user with ``setpriv``, which execs
    (``runuser`` would fork and hand us the wrong PID).
    """
    if as_postgres and running_as_root():
        argv = [shutil.which("setpriv") or "setpriv", f"--reuid={POSTGRES_USER}",
                f"--regid={POSTGRES_USER}", "--init-groups", *argv]
    with open(log, "ab") as out:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, env=env, cwd=cwd, close_fds=True)


def proc_start_time(pid: int) -> int | None:
    """Kernel start time of ``pid`` (jiffies since boot), to tell a PID from a reused one."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def alive(pid: int | None) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    if not pid:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def signal_pid(pid: int | None, sig: int) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False


def kill_group(pgid: int | None, sig: int = signal.SIGKILL) -> bool:
    if not pgid:
        return False
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def wait_dead(pids: list[int], timeout: float) -> list[int]:
    """Wait until none of ``pids`` is alive; return those still alive at the timeout."""
    end = time.monotonic() + timeout
    left = [p for p in pids if p]
    while True:
        for p in left:  # reap our own children so they do not linger as zombies
            try:
                os.waitpid(p, os.WNOHANG)
            except ChildProcessError:
                pass
        left = [p for p in left if alive(p)]
        if not left or time.monotonic() >= end:
            return left
        time.sleep(0.05)


def listening_ports(ports: set[int] | None = None) -> set[int]:
    """Which of ``ports`` (default: any) have a TCP socket in LISTEN state on this host (from /proc/net/tcp*)."""
    found = set()
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(f).read_text().splitlines()[1:]
        except OSError:
            continue
        for ln in lines:
            parts = ln.split()
            if len(parts) > 3 and parts[3] == "0A":  # TCP_LISTEN
                port = int(parts[1].rsplit(":", 1)[1], 16)
                if ports is None or port in ports:
                    found.add(port)
    return found


def _port_free(port: int, listening: set[int]) -> bool:
    """Bindable on 127.0.0.1 now, and not listening on any address (``listening``: read once per
    ``free_ports`` call, not once per candidate)."""
    if port in listening:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(n: int, base: int | None = None) -> list[int]:
    """``n`` distinct free TCP ports on 127.0.0.1: from ``base`` upwards, or random ones below the
    kernel's ephemeral range.

    Not ephemeral ones: the kernel hands those out as the local ports of outgoing connections, so
    one picked now could be taken by any client's connect before PostgreSQL binds it (a bring-up
    beside a busy test session once failed so). Below the range only another listener can race
    us, and a random pick makes two bring-ups on the same machine unlikely to collide; the caller
    still detects a failed bind.
    """
    out: list[int] = []
    listening = listening_ports()
    if base is not None:
        p = base
        while len(out) < n:
            if p > 65535:
                raise OSError(f"not enough free ports above {base}")
            if _port_free(p, listening):
                out.append(p)
            p += 1
        return out
    candidates = list(range(LOW_PORT, _ephemeral_low()))
    random.Random(time.time_ns() ^ os.getpid()).shuffle(candidates)
    for port in candidates:
        # keep clear of the etcd/Patroni/PostgreSQL default ports, so a stray system daemon cannot clash
        if port not in (2379, 2380, 5432, 8008) and _port_free(port, listening):
            out.append(port)
            if len(out) == n:
                return out
    raise OSError(f"not enough free ports between {LOW_PORT} and the ephemeral range")


# the lowest port free_ports picks (clear of the well-known and most registered services' ports)
LOW_PORT = 20000


def _ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (Linux default 32768)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as f:
            return max(LOW_PORT + 1000, int(f.read().split()[0]))
    except (OSError, ValueError, IndexError):
        return 32768
    socks = []
    try:
        while len(out) < n:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            port = s.getsockname()[1]
            # keep clear of the etcd/Patroni default ports, so a stray system daemon cannot clash
            if port not in out and port not in (2379, 2380, 5432, 8008):
                out.append(port)
    finally:
        for s in socks:
            s.close()
    return out


def children_of(pid: int) -> list[int]:
    """PIDs whose parent is ``pid`` (from /proc)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(d))
    return out


def read_postmaster_pid(data_dir: Path) -> int | None:
    """The postmaster's PID from ``postmaster.pid`` (first line), if that process is alive."""
    try:
        first = (Path(data_dir) / "postmaster.pid").read_text().split("\n", 1)[0].strip()
        pid = int(first)
    except (OSError, ValueError):
        return None
    return pid if alive(pid) else None
