"""Fault helpers of the live cluster (signals to exact PIDs, restarts) and the fault proxy client.

Mixed into ``Cluster``; the chaos side (issue 6) calls these. Each helper returns the PID it
signalled or started (None if there was nothing to signal)."""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path

import httpx

from loadtests.cluster import procs
from loadtests.cluster.common import ClusterError

__all__ = ["FaultHelpers", "ProxyControl"]


@dataclass
class ProxyControl:
    """Client of one member's fault proxy control API (see loadtests/chaos/proxy.py)."""

    name: str
    url: str
    token: str

    def _post(self, path: str, body: dict | None = None) -> dict:
        r = httpx.post(self.url + path, json=body or {}, timeout=5,
                       headers={"Authorization": f"Bearer {self.token}"})
        r.raise_for_status()
        return r.json()

    def latency(self, latency_ms: float, jitter_ms: float = 0.0) -> dict:
        return self._post("/latency", {"latency_ms": latency_ms, "jitter_ms": jitter_ms})

    def partition(self, mode: str = "reset") -> dict:
        """``reset``: close and refuse connections; ``blackhole``: keep them, forward nothing."""
        return self._post("/partition", {"mode": mode})

    def heal(self) -> dict:
        return self._post("/heal")

    def state(self) -> dict:
        r = httpx.get(self.url + "/state", timeout=5, headers={"Authorization": f"Bearer {self.token}"})
        r.raise_for_status()
        return r.json()



class FaultHelpers:
    """Signals and restarts by PID (mixin of ``Cluster``)."""

    # ------------------------------------------------------------------ fault helpers
    @staticmethod
    def signal(pid: int | None, sig: int) -> bool:
        """Send ``sig`` to exactly ``pid``; False if it is not running."""
        return procs.signal_pid(pid, sig)

    def kill_postmaster(self, cell: int) -> int | None:
        """SIGKILL the postmaster of ``cell``'s primary; returns its PID."""
        p = self.primary(cell)
        if p and p["postmaster_pid"] and self.signal(p["postmaster_pid"], signal.SIGKILL):
            return p["postmaster_pid"]
        return None

    def kill_patroni(self, cell: int) -> int | None:
        """SIGKILL the Patroni of ``cell``'s primary (PostgreSQL keeps running); returns its PID."""
        p = self.primary(cell)
        if p and p["patroni_pid"] and self.signal(p["patroni_pid"], signal.SIGKILL):
            return p["patroni_pid"]
        return None

    def _member(self, name: str) -> dict:
        for m in self.state["members"]:
            if m["name"] == name:
                return m
        raise ClusterError(f"no member {name!r}")

    def member_pids(self, name: str) -> list[int]:
        """Every PostgreSQL process of member ``name``: the postmaster first, then its children.

        PostgreSQL puts each child (backend, WAL sender/receiver, checkpointer...) in its own
        process group, so a group signal to the postmaster would reach the postmaster only.
        """
        pm = procs.read_postmaster_pid(Path(self._member(name)["member_dir"]) / "data")
        return [pm, *procs.children_of(pm)] if pm else []

    def pause_member(self, name: str, patroni: bool = True) -> list[int]:
        """SIGSTOP every PostgreSQL process of member ``name`` (and its Patroni): a frozen host.

        Pausing only the postmaster PID freezes nothing that matters: open connections are
        served by backends, which keep running. Returns the PIDs stopped.
        """
        done = []
        pids = self.member_pids(name)  # postmaster first: it forks no new child once stopped
        for pid in pids + [p for p in procs.children_of(pids[0]) if p not in pids] if pids else []:
            if procs.signal_pid(pid, signal.SIGSTOP):
                done.append(pid)
        pid = self._member(name)["pid"]
        if patroni and procs.signal_pid(pid, signal.SIGSTOP):
            done.append(pid)
        return done

    def resume_member(self, name: str) -> list[int]:
        """SIGCONT Patroni and every PostgreSQL process of member ``name``."""
        done = []
        for pid in [self._member(name)["pid"], *self.member_pids(name)]:
            if procs.signal_pid(pid, signal.SIGCONT):
                done.append(pid)
        return done

    def pause(self, pid: int) -> bool:
        return self.signal(pid, signal.SIGSTOP)

    def resume(self, pid: int) -> bool:
        return self.signal(pid, signal.SIGCONT)

    def kill_gateway(self) -> int | None:
        pid = self.gateway_pid
        return pid if self.signal(pid, signal.SIGKILL) else None

    def kill_app_server(self, cell: int, index: int = 0) -> int | None:
        for a in self.app_servers:
            if a["cell"] == cell and a["index"] == index:
                return a["pid"] if self.signal(a["pid"], signal.SIGKILL) else None
        return None

    def kill_etcd(self, index: int) -> int | None:
        pid = self.state["etcd"][index]["pid"]
        return pid if self.signal(pid, signal.SIGKILL) else None

    def start_etcd(self, index: int) -> int:
        """(Re)start etcd member ``index`` with its data dir (after a kill)."""
        e = self.state["etcd"][index]
        if procs.alive(e["pid"]):
            return e["pid"]
        p = procs.spawn(e["argv"], Path(e["log"]))
        self._procs[p.pid] = p
        e["pid"] = p.pid
        self._save()
        return p.pid

    def start_patroni(self, name: str) -> int:
        """(Re)start the Patroni of member ``name`` (after a kill); it rejoins as a replica."""
        for m in self.state["members"]:
            if m["name"] == name:
                if procs.alive(m["pid"]):
                    return m["pid"]
                p = procs.spawn(m["argv"], Path(m["log"]), as_postgres=True, env=self._pg_env(Path(m["member_dir"])))
                self._procs[p.pid] = p
                m["pid"] = p.pid
                self._save()
                return p.pid
        raise ClusterError(f"no member {name!r}")

