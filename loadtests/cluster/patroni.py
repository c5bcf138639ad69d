"""Patroni members of the live cluster: their configuration and how to read their state.

One Patroni per PostgreSQL member; one Patroni "scope" per cell. The settings that make a cell
a bank's replica set (shared/reference/live-stack-notes.md): synchronous mode, strict (never
acknowledge a commit no standby has), ``primary_start_timeout: 0`` (fail over instead of
restarting a crashed primary in place), a short ttl, pg_rewind so an old primary rejoins.
Each member carries the IDC the scenario places it in as the tag ``idc``.
"""

from __future__ import annotations

import fcntl
import glob
import os
import pwd
import shutil
import subprocess
from pathlib import Path

import httpx

__all__ = ["patroni_binary", "pg_bin_dir", "patroni_config", "role_timeouts", "cluster_view", "ensure_template",
           "bootstrap_script"]


def patroni_binary() -> str | None:
    """Debian's /usr/bin/patroni first: it runs on /usr/bin/python3, which the postgres user can read."""
    for cand in ("/usr/bin/patroni", shutil.which("patroni")):
        if cand and Path(cand).exists():
            return cand
    return None


def pg_bin_dir() -> str | None:
    """Directory holding ``postgres``/``initdb`` (newest Debian version, else ``pg_ctl`` on PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return str(Path(found[-1]).parent)
    pg_ctl = shutil.which("pg_ctl")
    return str(Path(pg_ctl).resolve().parent) if pg_ctl else None


def ensure_template(bin_dir: str) -> Path:
    """A freshly initdb'd data directory, made once per PostgreSQL version and owner and reused.

    initdb is most of a cell's bootstrap time (20 s and more on 2 busy cores); a cell's first
    member instead copies this directory (Patroni's custom bootstrap, ``bootstrap_script``) and
    Patroni then sets the superuser password and creates the replication role as usual. The
    template holds no secrets (trust auth, no password) and is built under a lock, then renamed
    into place, so concurrent bring-ups never see half of it.
    """
    root = os.geteuid() == 0
    owner = pwd.getpwnam("postgres") if root else pwd.getpwuid(os.geteuid())
    version = Path(bin_dir).parent.name
    base = Path(f"/tmp/hivesim-pgtemplate-{version}-{owner.pw_name}-1mwal")
    data = base / "data"
    if (data / "PG_VERSION").exists():
        return data
    base.mkdir(mode=0o755, exist_ok=True)
    if root:
        os.chown(base, owner.pw_uid, owner.pw_gid)
    with open(base / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (data / "PG_VERSION").exists():
            return data
        tmp = base / f"data.tmp{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        argv = [str(Path(bin_dir) / "initdb"), "-D", str(tmp), "--username=postgres", "--encoding=UTF8",
                "--locale=C", "--auth=trust", "--no-sync",
                # 1 MB WAL segments: a small bank writes little WAL, and teardown deletes less
                "--wal-segsize=1"]
        if root:
            argv = ["setpriv", f"--reuid={owner.pw_uid}", f"--regid={owner.pw_gid}", "--init-groups", *argv]
        res = subprocess.run(argv, capture_output=True, text=True, cwd="/tmp")
        if res.returncode != 0:
            raise RuntimeError(f"initdb of the template failed: {res.stderr.strip()[-500:]}")
        os.rename(tmp, data)
    return data


def bootstrap_script(member_dir: Path, template: Path) -> Path:
    """Patroni's custom bootstrap command: copy the template into the ``--datadir`` it names."""
    script = member_dir / "bootstrap-from-template.sh"
    script.write_text('#!/bin/sh\nset -e\nfor a in "$@"; do case "$a" in --datadir=*) d="${a#--datadir=}";; esac; done\n'
                      f'mkdir -p "$d"\nchmod 700 "$d"\ncp -a {template}/. "$d"/\n')
    os.chmod(script, 0o755)
    return script


# seconds a primary's stop may take before Patroni kills it (``primary_stop_timeout``): PostgreSQL
# itself SIGKILLs the children of an immediate shutdown after 5 s, so 10 s is that and a margin
PRIMARY_STOP_SECONDS = 10


def patroni_config(*, scope: str, name: str, idc: str, member_dir: Path, pg_port: int, rest_port: int,
                   etcd_ports: list[int], bin_dir: str, passwords: dict, ttl: int, loop_wait: int,
                   retry_timeout: int, sync_count: int, max_lag: int, bootstrap_command: str | None = None,
                   failsafe: bool = False, use_slots: bool = True) -> dict:
    sync = sync_count > 0
    cfg = {
        "scope": scope,
        "namespace": "/hivesim/",
        "name": name,
        "log": {"level": "INFO", "format": "%(asctime)s %(levelname)s: %(message)s"},
        "restapi": {"listen": f"127.0.0.1:{rest_port}", "connect_address": f"127.0.0.1:{rest_port}",
                    "authentication": {"username": "admin", "password": passwords["rest"]}},
        # etcd's v2 API, not etcd3: Debian 12's Patroni 3.0.2 etcd3 client re-creates the leader
        # key unconditionally when its lease expired (patroni/patroni#2689, fixed in 3.0.3), so a
        # primary frozen past the ttl took the lock back from the promoted standby when thawed:
        # split brain, and acknowledged commits of the new primary rewound away (docs/calibration.md).
        # The v2 client renews with compare-and-swap (prevValue = own name) and demotes on failure.
        "etcd": {"hosts": [f"127.0.0.1:{p}" for p in etcd_ports]},
        "bootstrap": {
            "dcs": {
                "ttl": ttl, "loop_wait": loop_wait, "retry_timeout": retry_timeout,
                "failsafe_mode": failsafe,
                "maximum_lag_on_failover": max_lag,
                "primary_start_timeout": 0,
                # a primary's stop (a thawed ex-primary demoting itself) is bounded: past this,
                # Patroni SIGKILLs the postmaster and its children (synchronous mode only, which
                # is what keeps acknowledged commits on a standby). Unbounded, one demotion after
                # the `pause` fault waited 60 s for the postmaster to finish an immediate
                # shutdown (its children had been SIGKILLed 5 s in), and the cell was still
                # without its synchronous standby 60 s after the load (CI, 2026-12-05)
                "primary_stop_timeout": PRIMARY_STOP_SECONDS,
                "synchronous_mode": sync, "synchronous_mode_strict": sync,
                "synchronous_node_count": max(sync_count, 1),
                "postgresql": {
                    "use_pg_rewind": True, "use_slots": use_slots,
                    "parameters": {
                        "max_connections": 80, "shared_buffers": "32MB", "wal_level": "replica",
                        "hot_standby": "on", "max_wal_senders": 10, "max_replication_slots": 10,
                        "wal_keep_size": "128MB", "wal_log_hints": "on", "synchronous_commit": "on",
                        "max_worker_processes": 4, "max_parallel_workers": 0,
                        "max_parallel_workers_per_gather": 0,
                        # after a failover the remaining standby's WAL receiver loses its primary
                        # and, by default, waits 5 s before it tries the new one; under strict
                        # synchronous mode every commit waits for that standby, so the default
                        # stretched a postmaster kill's write outage from ~4.5 s to 5.5-8 s in
                        # about half the kills (docs/calibration.md). Retry every 0.5 s instead.
                        "wal_retrieve_retry_interval": "500ms",
                        # dynamic shared memory as files in the data directory, not /dev/shm:
                        # a SIGKILLed postmaster (the kill-postmaster and crash faults) leaves its
                        # POSIX segments behind, ~0.5 MB each, and 40 live runs left 980 of them
                        # (tmpfs memory). In the data directory they go with the run directory.
                        "dynamic_shared_memory_type": "mmap",
                    },
                },
            },
            "initdb": [{"encoding": "UTF8"}, {"locale": "C"}],
        },
        "postgresql": {
            "listen": f"127.0.0.1:{pg_port}",
            "connect_address": f"127.0.0.1:{pg_port}",
            "data_dir": str(member_dir / "data"),
            "bin_dir": bin_dir,
            "pgpass": str(member_dir / "pgpass"),
            # a fresh, disposable cluster: don't wait for a spread checkpoint or fsync a clone
            "basebackup": [{"checkpoint": "fast"}, "no-sync"],
            "authentication": {
                "superuser": {"username": "postgres", "password": passwords["superuser"]},
                "replication": {"username": "replicator", "password": passwords["replication"]},
            },
            "parameters": {"unix_socket_directories": str(member_dir)},
            "pg_hba": [
                "local all all trust",
                "host replication replicator 127.0.0.1/32 scram-sha-256",
                "host all all 127.0.0.1/32 scram-sha-256",
            ],
        },
        "tags": {"idc": idc, "nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
    }
    if bootstrap_command:
        cfg["bootstrap"]["method"] = "hivesim_template"
        cfg["bootstrap"]["hivesim_template"] = {"command": bootstrap_command, "keep_existing_recovery_conf": False}
    return cfg


# how often a busy backend of the bank's role checks that its client is still there (role_timeouts)
CLIENT_CHECK_SECONDS = 1.0


def role_timeouts(live) -> dict[str, str]:
    """PostgreSQL settings bounding every session of the bank's role (``ALTER ROLE ... SET``),
    from ``live.idle_in_transaction_timeout``, ``live.lock_timeout``, ``live.statement_timeout``.

    Set for the role, not the server: Patroni's own sessions, pg_rewind and base backups must
    never be cut. A session idle in a transaction is ended (its locks released) whatever left it
    there; a lock wait fails while its client still waits for it (lock_timeout < db_timeout) and
    is retried; a runaway statement is cancelled (the bank exempts COMMIT: ``db.Pool``).

    ``client_connection_check_interval`` (a constant, not a scenario field: it changes no figure):
    a backend whose client is gone (the pool cut its socket, ``db.discard``) notices it within a
    second even while it waits for a row lock, instead of lingering until the lock is granted or
    ``lock_timeout``; the pool's bound on server sessions then holds within that second."""
    ms = lambda seconds: f"{int(round(float(seconds) * 1000))}ms"  # noqa: E731
    return {"idle_in_transaction_session_timeout": ms(live.idle_in_transaction_timeout),
            "lock_timeout": ms(live.lock_timeout), "statement_timeout": ms(live.statement_timeout),
            "client_connection_check_interval": ms(CLIENT_CHECK_SECONDS)}


def cluster_view(rest_ports: list[int], timeout: float = 1.0) -> dict | None:
    """Patroni's ``GET /cluster`` from the first member that answers (None if none does)."""
    for port in rest_ports:
        try:
            r = httpx.get(f"http://127.0.0.1:{port}/cluster", timeout=timeout)
            if r.status_code == 200:
                return r.json()
        except (httpx.HTTPError, ValueError):
            continue
    return None
