"""etcd members of the live cluster: command lines and health checks.

Three members on 127.0.0.1 form the DCS every cell's Patroni uses. Raft timing is raised from
etcd's defaults (heartbeat 100 ms, election 1 s) because 2 shared cores under load can starve a
member long enough to trigger needless elections.
"""

from __future__ import annotations

import shutil

import httpx

__all__ = ["etcd_binary", "etcd_argv", "etcd_healthy", "etcd_is_leader"]


def etcd_binary() -> str | None:
    return shutil.which("etcd")


def etcd_argv(name: str, data_dir: str, client_port: int, peer_port: int, initial_cluster: str, token: str,
              heartbeat_ms: int, election_ms: int) -> list[str]:
    client = f"http://127.0.0.1:{client_port}"
    peer = f"http://127.0.0.1:{peer_port}"
    return [etcd_binary() or "etcd", "--name", name, "--data-dir", data_dir,
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", initial_cluster, "--initial-cluster-state", "new",
            "--initial-cluster-token", token,
            "--heartbeat-interval", str(heartbeat_ms), "--election-timeout", str(election_ms),
            "--quota-backend-bytes", str(256 * 1024 * 1024), "--snapshot-count", "10000",
            "--log-level", "warn", "--logger", "zap",
            "--enable-v2=true"]  # Patroni uses the v2 API (see patroni.py: why not etcd3)


def etcd_healthy(client_port: int, timeout: float = 1.0) -> bool:
    try:
        r = httpx.get(f"http://127.0.0.1:{client_port}/health", timeout=timeout)
        return r.status_code == 200 and r.json().get("health") == "true"
    except (httpx.HTTPError, ValueError):
        return False


def etcd_is_leader(client_port: int, timeout: float = 0.5) -> bool | None:
    """Whether the member on ``client_port`` leads the etcd cluster now (None: it did not answer).

    Read from etcd's v3 gRPC gateway (``/v3/maintenance/status``: this member's id and the
    leader's), so a fault's record can say whether a crash also cost etcd an election."""
    try:
        r = httpx.post(f"http://127.0.0.1:{client_port}/v3/maintenance/status", json={}, timeout=timeout)
        d = r.json()
        return str(d["header"]["member_id"]) == str(d["leader"])
    except (httpx.HTTPError, ValueError, KeyError):
        return None


def leader_key(client_ports: list[int], key: str, timeout: float = 0.5) -> tuple[str, float] | None:
    """``(value, expiry as unix time)`` of the v2 key ``key`` (Patroni's leader key:
    ``/hivesim/<scope>/leader``), from the first member that answers; None: no such key or no answer.

    A fencing watchdog armed by the leader fires ``safety_margin`` before this expiry
    (``loadtests.chaos.fence``)."""
    import datetime as dt
    import re
    for port in client_ports:
        try:
            r = httpx.get(f"http://127.0.0.1:{port}/v2/keys{key}", timeout=timeout)
            if r.status_code == 404:
                return None
            node = r.json()["node"]
            # RFC 3339 with nanoseconds ("...:01.123456789Z"): keep microseconds for datetime
            m = re.fullmatch(r"(.+T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", node["expiration"])
            if not m:
                return None
            stamp = m.group(1) + "." + (m.group(2) or "0").ljust(6, "0")[:6] + m.group(3).replace("Z", "+00:00")
            return str(node["value"]), dt.datetime.fromisoformat(stamp).timestamp()
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            continue
    return None
