"""loadtests.cluster.etcd.etcd_is_leader on a real etcd: a fault's record names the etcd member's
role (an IDC loss that takes etcd's leader costs an election Patroni must ride out)."""

from __future__ import annotations

import socket
import subprocess
import time

import pytest

from loadtests.cluster.etcd import etcd_argv, etcd_binary, etcd_healthy, etcd_is_leader
from tests.conftest import require_live

pytestmark = [pytest.mark.live]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_lone_member_is_its_cluster_leader_and_a_dead_port_has_no_role(tmp_path):
    require_live()
    assert etcd_binary()
    client, peer = _free_port(), _free_port()
    argv = etcd_argv("solo", str(tmp_path / "data"), client, peer, f"solo=http://127.0.0.1:{peer}", "t-role", 100, 1000)
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while not etcd_healthy(client, 0.5) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert etcd_healthy(client, 0.5)
        assert etcd_is_leader(client) is True
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert etcd_is_leader(client) is None  # nothing answers: no role rather than a guess
