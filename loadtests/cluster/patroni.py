"""Patroni members of the live cluster: their configuration and how to read their state.

One Patroni per PostgreSQL member; one Patroni "scope" per cell. The settings that make a cell
a bank's replica set (shared/reference/live-stack-notes.md): synchronous mode, strict (never
acknowledge a commit no standby has), ``primary_start_timeout: 0`` (fail over instead of
restarting a crashed primary in place), a short ttl, pg_rewind so an old primary rejoins.
Each member carries the IDC the scenario places it in as the tag ``idc``.
"""

from __future__ import annotations

import glob
import shutil
from pathlib import Path

import httpx

__all__ = ["patroni_binary", "pg_bin_dir", "patroni_config", "cluster_view"]


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


def patroni_config(*, scope: str, name: str, idc: str, member_dir: Path, pg_port: int, rest_port: int,
                   etcd_ports: list[int], bin_dir: str, passwords: dict, ttl: int, loop_wait: int,
                   retry_timeout: int, sync_count: int, max_lag: int) -> dict:
    sync = sync_count > 0
    return {
        "scope": scope,
        "namespace": "/hivesim/",
        "name": name,
        "log": {"level": "INFO", "format": "%(asctime)s %(levelname)s: %(message)s"},
        "restapi": {"listen": f"127.0.0.1:{rest_port}", "connect_address": f"127.0.0.1:{rest_port}",
                    "authentication": {"username": "admin", "password": passwords["rest"]}},
        "etcd3": {"hosts": [f"127.0.0.1:{p}" for p in etcd_ports]},
        "bootstrap": {
            "dcs": {
                "ttl": ttl, "loop_wait": loop_wait, "retry_timeout": retry_timeout,
                "maximum_lag_on_failover": max_lag,
                "primary_start_timeout": 0,
                "synchronous_mode": sync, "synchronous_mode_strict": sync,
                "synchronous_node_count": max(sync_count, 1),
                "postgresql": {
                    "use_pg_rewind": True, "use_slots": True,
                    "parameters": {
                        "max_connections": 80, "shared_buffers": "32MB", "wal_level": "replica",
                        "hot_standby": "on", "max_wal_senders": 10, "max_replication_slots": 10,
                        "wal_keep_size": "128MB", "wal_log_hints": "on", "synchronous_commit": "on",
                        "max_worker_processes": 4, "max_parallel_workers": 0,
                        "max_parallel_workers_per_gather": 0,
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
