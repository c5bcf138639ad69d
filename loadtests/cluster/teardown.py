"""Teardown of the live cluster: stop every recorded PID, verify no process and no port remains."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from pathlib import Path

from loadtests.cluster import procs
from loadtests.cluster.common import MARKER, STATE, ClusterError

__all__ = ["Teardown"]


class Teardown:
    """``down()`` (mixin of ``Cluster``)."""

    # ------------------------------------------------------------------ teardown
    def down(self, keep: bool = False, timeout: float = 20.0) -> dict:
        """Stop every recorded process, verify none and no port remains, remove the run dir
        (unless ``keep``). Returns {"stopped": n, "seconds": s}."""
        t0 = time.monotonic()
        st = self.state
        if not st:
            return {"stopped": 0, "seconds": 0.0}
        every = self.all_pids()
        # every PostgreSQL child too: each is its own process group, and a backend the chaos
        # side left SIGSTOPped would outlive its postmaster
        pg_children = [c for m in st.get("members", []) for c in self.member_pids(m["name"])[1:]]
        born = {p: procs.proc_start_time(p) for p in pg_children}  # to never signal a reused PID
        every += [p for p in pg_children if p not in every]
        for pid in every:  # a process the chaos side left SIGSTOPped would ignore SIGTERM
            procs.signal_pid(pid, signal.SIGCONT)
        # 1. the supervisor first (so it restarts nothing), then each program's process group
        sup = st.get("supervisor", {}).get("pid")
        procs.kill_group(sup)
        procs.wait_dead([sup], 5.0)
        for name in self._supervised_names():  # each program and its warm spare (own sessions)
            pf = self._pidfile(name)
            procs.kill_group(pf["pid"])
            procs.kill_group(pf.get("spare"))
        # 2. proxies and Patroni (SIGKILL: the data is disposable), then each postmaster (and the
        #    process group Patroni's start helper made for it), then its children
        for m in st.get("members", []):
            procs.kill_group(m.get("proxy_pid"))
            procs.kill_group(m.get("pid"))
        procs.wait_dead([m.get("pid") for m in st.get("members", [])], 5.0)
        for m in st.get("members", []):
            pm = procs.read_postmaster_pid(Path(m["member_dir"]) / "data")
            if pm:  # its (running) children notice the postmaster's death and exit by themselves
                try:
                    procs.kill_group(os.getpgid(pm))  # Patroni's helper setsid()s: pgid != pm
                except ProcessLookupError:
                    pass
                procs.signal_pid(pm, signal.SIGKILL)
        for pid in pg_children:  # no need to wait for them to notice: the data is disposable
            if procs.proc_start_time(pid) == born[pid]:
                procs.signal_pid(pid, signal.SIGKILL)
        # 3. etcd members one after another (a rushed stop can corrupt membership)
        for e in st.get("etcd", []):
            if procs.signal_pid(e["pid"], signal.SIGTERM):
                if procs.wait_dead([e["pid"]], 2.0):
                    procs.kill_group(e["pid"])
        t_stopped = time.monotonic() - t0
        left = procs.wait_dead(every, timeout)
        for p in left:
            procs.kill_group(p)
            procs.signal_pid(p, signal.SIGKILL)
        left = procs.wait_dead(left, 5.0)
        ports = self._all_ports()
        end = time.monotonic() + 5.0
        busy = procs.listening_ports(ports)
        while busy and time.monotonic() < end:
            time.sleep(0.1)
            busy = procs.listening_ports(ports)
        for p in self._procs.values():
            try:
                p.wait(timeout=0)
            except Exception:
                pass
        if left or busy:
            raise ClusterError(f"teardown left processes {left} / listening ports {sorted(busy)} "
                               f"(run dir kept: {self.run_dir})")
        t_verified = time.monotonic() - t0
        shm = st.get("etcd_shm")
        if not keep and self.run_dir.exists() and (self.run_dir / MARKER).exists():
            if shm and Path(shm).name.startswith("hivesim-"):
                shutil.rmtree(shm, ignore_errors=True)
            shutil.rmtree(self.run_dir, ignore_errors=True)
        elif (self.run_dir / STATE).exists():
            os.replace(self.run_dir / STATE, self.run_dir / "cluster.down.json")
        self.state = {}
        if keep and shm:
            print(f"note: etcd data kept in {shm} (tmpfs)", file=sys.stderr)
        return {"stopped": len(every), "seconds": round(time.monotonic() - t0, 2),
                "phases": {"signalled": round(t_stopped, 2), "verified": round(t_verified, 2)}}

    def _all_ports(self) -> set[int]:
        st = self.state
        ports = set()
        for e in st.get("etcd", []):
            ports |= {e["client_port"], e["peer_port"]}
        for m in st.get("members", []):
            ports |= {m["pg_port"], m["rest_port"], m["proxy_port"], m["proxy_control_port"]}
        for a in st.get("apps", []):
            ports.add(a["port"])
        for k in ("relay", "gateway"):
            if k in st:
                ports.add(st[k]["port"])
        return ports

