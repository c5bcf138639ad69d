"""The live cluster manager: bring a small real bank up from a scenario, inspect it, tear it down.

What ``Cluster.up()`` starts, all on 127.0.0.1, each process in its own session:

1. etcd x ``live.etcd.members`` (the DCS);
2. per cell, one Patroni per database member (``cells.template.db.replicas``, placed in IDCs by
   ``db.placement``), each managing a PostgreSQL (as the ``postgres`` user when we are root);
3. one fault proxy per member (``loadtests.chaos.proxy``): app servers and relay reach members only
   through it (``Cluster(..., fault_proxies=False)`` starts none: they reach members directly and
   network faults cannot be injected; ``benchmarks/bench_bank.py`` measures the service tier so);
4. a supervisor (``loadtests.cluster.supervisor``) running the app servers, the relay and the
   gateway, restarting any that die;
5. the schema and ``live.accounts`` seeded accounts.

Everything it started is recorded (PIDs, ports, secrets) in ``<run_dir>/cluster.json`` (mode 600),
so ``Cluster.attach(run_dir)`` (and ``hivesim cluster status|down``) can find it again.
``down()`` signals exactly those PIDs, stops etcd members one after another, then verifies that
no recorded process and no recorded port is left.

Code layout: this module holds the handle (construction, accessors, waiting); ``bringup.py``,
``teardown.py`` and ``faults.py`` hold the mixins for ``up()``, ``down()`` and the fault helpers;
``common.py`` the error type and prerequisite check.

The chaos side (issue 6) uses the accessors (``status()``, ``primary(cell)``, ``etcd_members``,
``app_servers``, ``gateway_pid``, ``proxy(name)``) and the plain helpers (``kill_postmaster``,
``pause``, ``start_etcd`` ...). See docs/live-cluster.md.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx

from loadtests.cluster import procs
from loadtests.cluster.bringup import BringUp
from loadtests.cluster.common import STATE, ClusterError, check_prerequisites
from loadtests.cluster.etcd import etcd_healthy
from loadtests.cluster.faults import FaultHelpers, ProxyControl
from loadtests.cluster.patroni import cluster_view
from loadtests.cluster.teardown import Teardown
from sim.files import MiB, load_json

__all__ = ["Cluster", "ClusterError", "ProxyControl", "check_prerequisites"]


class Cluster(BringUp, Teardown, FaultHelpers):
    """A live bank built from a scenario. ``with Cluster(sc) as c: ...`` brings it up and down."""

    def __init__(self, scenario=None, run_dir: str | os.PathLike | None = None, *, state: dict | None = None,
                 fault_proxies: bool = True):
        self.scenario = scenario
        self._fault_proxies = fault_proxies  # until up() records it in the state (see ``fault_proxies``)
        if state is not None:
            self.state = state
            self.run_dir = Path(state["run_dir"])
        else:
            if scenario is None:
                raise ClusterError("Cluster needs a scenario (or use Cluster.attach(run_dir))")
            live = scenario.live
            if live is None:
                from sim.scenario.live import Live
                live = Live()
            self.live = live
            self.run_dir = Path(run_dir or live.run_dir or f"/tmp/hivesim-live-{scenario.name}").resolve()
            self.state = {}
        self._procs: dict[int, object] = {}  # pid -> Popen, to reap what we started

    # ------------------------------------------------------------------ construction
    @classmethod
    def attach(cls, run_dir: str | os.PathLike) -> "Cluster":
        """A handle on a cluster started earlier (by this or another process)."""
        path = Path(run_dir) / STATE
        if not path.exists() and not path.is_symlink():
            raise ClusterError(f"{run_dir}: no cluster here (no {STATE}); start one with 'hivesim cluster up'")
        # the one safe reader: a FIFO or a device in place of the state file cannot hang us
        state = load_json(path, "cluster state file", 16 * MiB, ClusterError)
        if not isinstance(state, dict):
            raise ClusterError(f"expected a JSON object, got {type(state).__name__}", file=str(path))
        return cls(state=state)

    @staticmethod
    def default_run_dir(scenario) -> Path:
        live = scenario.live
        return Path((live.run_dir if live else None) or f"/tmp/hivesim-live-{scenario.name}").resolve()

    def __enter__(self) -> "Cluster":
        if not self.state:
            self.up()
        return self

    def __exit__(self, *exc) -> None:
        self.down()

    # ------------------------------------------------------------------ accessors
    @property
    def admin_token(self) -> str:
        return self.state["token"]

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.state['gateway']['port']}"

    @property
    def relay_url(self) -> str:
        return f"http://127.0.0.1:{self.state['relay']['port']}"

    @property
    def cells(self) -> int:
        return self.state["cells"]

    def _pidfile(self, name: str) -> dict:
        try:
            return json.loads((Path(self.state["pid_dir"]) / f"{name}.pid").read_text())
        except (OSError, ValueError):
            return {"pid": None, "restarts": None}

    def _live_pid(self, pid: int | None) -> int | None:
        return pid if procs.alive(pid) else None

    @property
    def gateway_pid(self) -> int | None:
        """PID of the running gateway (changes after the supervisor restarts it)."""
        return self._live_pid(self._pidfile("gateway")["pid"])

    @property
    def relay_pid(self) -> int | None:
        return self._live_pid(self._pidfile("relay")["pid"])

    @property
    def supervisor_pid(self) -> int | None:
        return self._live_pid(self.state.get("supervisor", {}).get("pid"))

    @property
    def etcd_members(self) -> list[dict]:
        """[{name, index, pid (None if dead), client_url, peer_url, data_dir}]"""
        return [{"name": e["name"], "index": i, "pid": self._live_pid(e["pid"]),
                 "client_url": f"http://127.0.0.1:{e['client_port']}",
                 "peer_url": f"http://127.0.0.1:{e['peer_port']}", "data_dir": e["data_dir"],
                 "healthy": etcd_healthy(e["client_port"], 0.5) if procs.alive(e["pid"]) else False}
                for i, e in enumerate(self.state["etcd"])]

    @property
    def app_servers(self) -> list[dict]:
        """[{name, cell, index, pid (None if dead), url, restarts}]"""
        out = []
        for a in self.state["apps"]:
            pf = self._pidfile(a["name"])
            out.append({"name": a["name"], "cell": a["cell"], "index": a["index"], "pid": self._live_pid(pf["pid"]),
                        "url": f"http://127.0.0.1:{a['port']}", "restarts": pf["restarts"]})
        return out

    def _member_static(self, m: dict) -> dict:
        return {"cell": m["cell"], "index": m["index"], "name": m["name"], "idc": m["idc"],
                "patroni_pid": self._live_pid(m["pid"]),
                "postmaster_pid": procs.read_postmaster_pid(Path(m["member_dir"]) / "data"),
                "patroni_url": f"http://127.0.0.1:{m['rest_port']}", "pg_port": m["pg_port"],
                "proxy_port": m["proxy_port"] if self.fault_proxies else None,
                "proxy_url": f"http://127.0.0.1:{m['proxy_control_port']}" if self.fault_proxies else None,
                "proxy_pid": self._live_pid(m.get("proxy_pid")),
                "data_dir": str(Path(m["member_dir"]) / "data")}

    def status(self) -> list[dict]:
        """Every database member: cell, name, idc, role (leader | sync_standby | replica | None),
        state, timeline, lag (bytes behind the leader), patroni/postmaster/proxy PIDs and URLs."""
        out = []
        for cell in range(self.cells):
            members = [m for m in self.state["members"] if m["cell"] == cell]
            view = cluster_view([m["rest_port"] for m in members if procs.alive(m["pid"])]) or {"members": []}
            by_name = {v["name"]: v for v in view.get("members", [])}
            for m in members:
                d = self._member_static(m)
                v = by_name.get(m["name"], {})
                lag = v.get("lag")
                d.update({"role": v.get("role"), "state": v.get("state"), "timeline": v.get("timeline"),
                          "lag": lag if isinstance(lag, int) else (0 if v.get("role") == "leader" else None)})
                out.append(d)
        return out

    def members(self, cell: int | None = None) -> list[dict]:
        return [m for m in self.status() if cell is None or m["cell"] == cell]

    def primary(self, cell: int) -> dict | None:
        """The member Patroni reports as leader of ``cell`` (None during a failover)."""
        for m in self.members(cell):
            if m["role"] == "leader" and m["state"] == "running":
                return m
        return None

    @property
    def fault_proxies(self) -> bool:
        """Whether app servers and relay reach the database members through fault proxies: as
        recorded at ``up()`` (a state file from before the option had them), else as asked."""
        return self.state.get("fault_proxies", self._fault_proxies)

    def _app_port(self, m: dict) -> int:
        """The port app servers and the relay reach member ``m`` at (its proxy's, if it has one)."""
        return m["proxy_port"] if self.fault_proxies else m["pg_port"]

    def proxy(self, member: str) -> ProxyControl:
        if not self.fault_proxies:
            raise ClusterError(f"{self.run_dir}: this cluster was brought up without fault proxies "
                               "(Cluster(..., fault_proxies=False)); network faults need them")
        for m in self.state["members"]:
            if m["name"] == member:
                return ProxyControl(member, f"http://127.0.0.1:{m['proxy_control_port']}", self.admin_token)
        raise ClusterError(f"no member {member!r}")

    def idc_members(self, idc: str) -> list[dict]:
        """Database members placed in ``idc`` (for an "IDC down" fault)."""
        return [m for m in self.status() if m["idc"] == idc]

    def all_pids(self) -> list[int]:
        pids = [e["pid"] for e in self.state.get("etcd", [])]
        pids += [m["pid"] for m in self.state.get("members", [])]
        pids += [m.get("proxy_pid") for m in self.state.get("members", [])]
        pids += [procs.read_postmaster_pid(Path(m["member_dir"]) / "data") for m in self.state.get("members", [])]
        pids.append(self.state.get("supervisor", {}).get("pid"))
        for name in self._supervised_names():
            pf = self._pidfile(name)
            pids += [pf["pid"], pf.get("spare")]  # the warm spare (loadtests.cluster.supervisor) too
        return list(dict.fromkeys(p for p in pids if p))

    def _supervised_names(self) -> list[str]:
        if "apps" not in self.state:
            return []
        return [a["name"] for a in self.state["apps"]] + ["relay", "gateway"]

    # ------------------------------------------------------------------ waiting
    def cell_ready(self, cell: int) -> bool:
        """Leader running and as many synchronous standbys as configured."""
        members = [m for m in self.state["members"] if m["cell"] == cell]
        view = cluster_view([m["rest_port"] for m in members if procs.alive(m["pid"])])
        if not view:
            return False
        roles = [(v.get("role"), v.get("state")) for v in view.get("members", [])]
        leaders = [r for r in roles if r[0] == "leader" and r[1] == "running"]
        syncs = [r for r in roles if r[0] == "sync_standby" and r[1] in ("running", "streaming")]
        return len(leaders) == 1 and len(syncs) >= self.state["sync_count"]

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Wait until every cell is ready and the gateway answers; returns seconds waited."""
        t0 = time.monotonic()
        while True:
            if all(self.cell_ready(c) for c in range(self.cells)) and self._http_ok(self.gateway_url + "/health"):
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                raise ClusterError(f"cluster not ready after {timeout:.0f}s; see logs in {self.run_dir}/logs")
            time.sleep(0.25)

    @staticmethod
    def _http_ok(url: str, timeout: float = 1.0) -> bool:
        try:
            return httpx.get(url, timeout=timeout).status_code == 200
        except httpx.HTTPError:
            return False

    # ------------------------------------------------------------------ bring-up
    def _save(self) -> None:
        tmp = self.run_dir / f".{STATE}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.state, f, indent=1)
        os.replace(tmp, self.run_dir / STATE)

    def _pg_env(self, member_dir: Path) -> dict:
        # a clean environment: no secrets of ours, a HOME the postgres user may use
        return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(member_dir), "LANG": "C.UTF-8",
                "LC_ALL": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}

