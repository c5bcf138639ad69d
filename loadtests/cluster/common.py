"""Shared pieces of the cluster manager: paths, the error type, the prerequisite check."""

from __future__ import annotations

import pwd
import shutil
from pathlib import Path

from loadtests.cluster import procs
from loadtests.cluster.etcd import etcd_binary
from loadtests.cluster.patroni import patroni_binary, pg_bin_dir
from sim.errors import HivesimError

__all__ = ["ClusterError", "check_prerequisites", "REPO_ROOT", "STATE", "MARKER"]

REPO_ROOT = Path(__file__).resolve().parents[2]
STATE = "cluster.json"
MARKER = ".hivesim-cluster"


class ClusterError(HivesimError):
    """The live cluster could not be started, found or stopped (one-line message, exit 2)."""


def check_prerequisites() -> list[str]:
    """What is missing to run a live cluster on this machine (empty list = ready)."""
    missing = []
    if not etcd_binary():
        missing.append("etcd (Debian: apt-get install -y etcd-server etcd-client)")
    if not patroni_binary():
        missing.append("patroni (Debian: apt-get install -y patroni)")
    if not pg_bin_dir():
        missing.append("PostgreSQL server binaries (Debian: apt-get install -y postgresql)")
    if procs.running_as_root():
        try:
            pwd.getpwnam(procs.POSTGRES_USER)
        except KeyError:
            missing.append("a 'postgres' user (PostgreSQL refuses to run as root)")
        if not shutil.which("setpriv"):
            missing.append("setpriv (Debian: util-linux)")
    return missing


