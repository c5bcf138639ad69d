"""loadtests.cluster.etcd on a real etcd: ``etcd_is_leader`` (a fault's record names the etcd
member's role: an IDC loss that takes etcd's leader costs an election Patroni must ride out) and
``leader_key`` (the emulated watchdog fences a primary by its leader key's expiry)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time

import pytest

from loadtests.cluster.etcd import etcd_argv, etcd_binary, etcd_healthy, etcd_is_leader, leader_key
from tests.conftest import require_live

pytestmark = [pytest.mark.live]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _lone_etcd(tmp_path, token: str):
    """A one-member etcd on 127.0.0.1, healthy (waited for up to 20 s); yields its client port and
    kills it (by PID) on the way out."""
    require_live()
    assert etcd_binary()
    client, peer = _free_port(), _free_port()
    argv = etcd_argv("solo", str(tmp_path / "data"), client, peer, f"solo=http://127.0.0.1:{peer}", token, 100, 1000)
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while not etcd_healthy(client, 0.5) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert etcd_healthy(client, 0.5)
        yield client
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_a_lone_member_is_its_cluster_leader_and_a_dead_port_has_no_role(tmp_path):
    with _lone_etcd(tmp_path, "t-role") as client:
        assert etcd_is_leader(client) is True
    assert etcd_is_leader(client) is None  # nothing answers: no role rather than a guess


def test_leader_key_reads_a_v2_keys_value_and_expiry(tmp_path):
    """A key written with a 20 s ttl (as Patroni writes its leader key over the v2 API) reads back
    with its value and an expiry 20 s from the write (+- 1.5 s: etcd rounds, the machine is shared);
    a missing key and a dead port read None."""
    import httpx
    with _lone_etcd(tmp_path, "t-key") as client:
        written = time.time()
        r = httpx.put(f"http://127.0.0.1:{client}/v2/keys/hivesim/s-cell0/leader", data={"value": "c0-m1", "ttl": 20},
                      timeout=5)
        assert r.status_code in (200, 201)
        name, expiry = leader_key([_free_port(), client], "/hivesim/s-cell0/leader")  # the first port is dead
        assert name == "c0-m1" and abs(expiry - (written + 20)) < 1.5
        assert leader_key([client], "/hivesim/s-cell1/leader") is None
    assert leader_key([client], "/hivesim/s-cell0/leader") is None
