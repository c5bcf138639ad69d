"""The live cluster manager: bring a small real bank up from a scenario, inspect it, tear it down.

What ``Cluster.up()`` starts, all on 127.0.0.1, each process in its own session:

1. etcd x ``live.etcd.members`` (the DCS);
2. per cell, one Patroni per database member (``cells.template.db.replicas``, placed in IDCs by
   ``db.placement``), each managing a PostgreSQL (as the ``postgres`` user when we are root);
3. one fault proxy per member (``loadtests.proxy``): app servers and relay reach members only
   through it;
4. a supervisor (``loadtests.cluster.supervisor``) running the app servers, the relay and the
   gateway, restarting any that die;
5. the schema and ``live.accounts`` seeded accounts.

Everything it started is recorded (PIDs, ports, secrets) in ``<run_dir>/cluster.json`` (mode 600),
so ``Cluster.attach(run_dir)`` (and ``hivesim cluster status|down``) can find it again.
``down()`` signals exactly those PIDs, stops etcd members one after another, then verifies that
no recorded process and no recorded port is left.

The chaos side (issue 6) uses the accessors (``status()``, ``primary(cell)``, ``etcd_members``,
``app_servers``, ``gateway_pid``, ``proxy(name)``) and the plain helpers (``kill_postmaster``,
``pause``, ``start_etcd`` ...). See docs/live-cluster.md.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
import pwd
import secrets
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from loadtests.bank.routing import account_id
from loadtests.bank.schema import APP_ROLE, SCHEMA_SQL
from loadtests.cluster import procs
from loadtests.cluster.etcd import etcd_argv, etcd_binary, etcd_healthy
from loadtests.cluster.patroni import (bootstrap_script, cluster_view, ensure_template, patroni_binary, patroni_config,
                                      pg_bin_dir)
from sim.errors import HivesimError

__all__ = ["Cluster", "ClusterError", "ProxyControl", "check_prerequisites"]

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


@dataclass
class ProxyControl:
    """Client of one member's fault proxy control API (see loadtests/proxy.py)."""

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


class Cluster:
    """A live bank built from a scenario. ``with Cluster(sc) as c: ...`` brings it up and down."""

    def __init__(self, scenario=None, run_dir: str | os.PathLike | None = None, *, state: dict | None = None):
        self.scenario = scenario
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
        try:
            state = json.loads(path.read_text())
        except FileNotFoundError:
            raise ClusterError(f"{run_dir}: no cluster here (no {STATE}); start one with 'hivesim cluster up'") from None
        except (OSError, ValueError) as exc:
            raise ClusterError(f"{path}: unreadable cluster state: {exc}") from None
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
                "proxy_port": m["proxy_port"], "proxy_url": f"http://127.0.0.1:{m['proxy_control_port']}",
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

    def proxy(self, member: str) -> ProxyControl:
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
            pids.append(self._pidfile(name)["pid"])
        return [p for p in pids if p]

    def _supervised_names(self) -> list[str]:
        if "apps" not in self.state:
            return []
        return [a["name"] for a in self.state["apps"]] + ["relay", "gateway"]

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

    def _prepare_run_dir(self) -> None:
        rd = self.run_dir
        if (rd / STATE).exists():
            old = Cluster.attach(rd)
            if any(procs.alive(p) for p in old.all_pids()):
                raise ClusterError(f"{rd}: a cluster is already running here; 'hivesim cluster down' it first")
            shutil.rmtree(rd)
        elif rd.exists() and any(rd.iterdir()):
            if not (rd / MARKER).exists():
                raise ClusterError(f"{rd}: exists and is not a hivesim run directory; choose another live.run_dir")
            shutil.rmtree(rd)
        rd.mkdir(parents=True, exist_ok=True)
        (rd / MARKER).write_text("hivesim live cluster run directory\n")
        for sub in ("logs", "etcd", "pids", "conf"):
            (rd / sub).mkdir(exist_ok=True)
        os.chmod(rd / "conf", 0o700)
        if procs.running_as_root():
            # the postgres user must reach its data dirs: every ancestor needs o+x
            for parent in [rd, *rd.parents]:
                if not os.stat(parent).st_mode & 0o001:
                    raise ClusterError(f"{parent}: the postgres user cannot traverse it (mode "
                                       f"{oct(os.stat(parent).st_mode & 0o777)}); use a run dir under /tmp")

    def up(self, seed: bool = True) -> float:
        """Start everything, wait until writes work, seed accounts. Returns bring-up seconds."""
        missing = check_prerequisites()
        if missing:
            raise ClusterError("cannot start a live cluster, missing: " + "; ".join(missing))
        t0 = time.monotonic()
        self._prepare_run_dir()
        try:
            self._up(t0)
            if seed:
                self.seed()
                self._phase("seeded", t0)
        except BaseException:
            try:
                self.down(keep=True)
            except Exception:  # keep the original error
                pass
            raise
        self.state["bringup_seconds"] = round(time.monotonic() - t0, 2)
        self._save()
        return self.state["bringup_seconds"]

    def _up(self, t0: float) -> None:
        sc, live = self.scenario, self.live
        rd = self.run_dir
        n_cells = sc.topology.cells.count
        if n_cells > 8:
            raise ClusterError(f"topology.cells.count: a live cluster runs at most 8 cells on one machine, got {n_cells}")
        db = sc.topology.cells.template.db
        replicas = db.replicas
        idcs = db.placement or sc.topology.idc_names
        sync_count = min(live.patroni.synchronous_node_count, replicas - 1)
        n_etcd = live.etcd.members
        n_apps = live.app_servers_per_cell
        n_ports = 2 * n_etcd + 4 * replicas * n_cells + n_cells * n_apps + 2
        ports = iter(procs.free_ports(n_ports, live.port_base))
        token = os.environ.get("HIVESIM_ADMIN_TOKEN") or secrets.token_hex(16)
        run_id = secrets.token_hex(4)
        st = self.state = {
            "run_id": run_id, "run_dir": str(rd), "scenario": sc.name, "cells": n_cells, "replicas": replicas,
            "sync_count": sync_count, "token": token, "pid_dir": str(rd / "pids"), "user": os.geteuid(),
            "passwords": {k: secrets.token_hex(12) for k in ("superuser", "replication", "rest", "app")},
            "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "etcd": [], "members": [],
        }
        self._save()
        # -- etcd
        names = [f"etcd{i}" for i in range(n_etcd)]
        cports = [(next(ports), next(ports)) for _ in range(n_etcd)]
        initial = ",".join(f"{n}=http://127.0.0.1:{pp}" for n, (_, pp) in zip(names, cports))
        for n, (cp, pp) in zip(names, cports):
            argv = etcd_argv(n, str(rd / "etcd" / n), cp, pp, initial, f"hivesim-{run_id}",
                             live.etcd.heartbeat_ms, live.etcd.election_ms)
            log = rd / "logs" / f"{n}.log"
            p = procs.spawn(argv, log)
            self._procs[p.pid] = p
            st["etcd"].append({"name": n, "pid": p.pid, "client_port": cp, "peer_port": pp, "argv": argv,
                               "log": str(log), "data_dir": str(rd / "etcd" / n)})
        self._save()
        self._wait(lambda: all(etcd_healthy(e["client_port"]) for e in st["etcd"]), 20, "etcd healthy")
        self._phase("etcd_healthy", t0)
        # -- Patroni/PostgreSQL members and their proxies
        root = procs.running_as_root()
        pg_uid = pwd.getpwnam(procs.POSTGRES_USER) if root else None
        bin_dir = pg_bin_dir()
        template = ensure_template(bin_dir)
        self._phase("pg_template", t0)
        for cell in range(n_cells):
            for i in range(replicas):
                name = f"c{cell}-m{i}"
                mdir = rd / f"c{cell}m{i}"
                mdir.mkdir()
                script = bootstrap_script(mdir, template)
                pg_port, rest_port, proxy_port, ctl_port = next(ports), next(ports), next(ports), next(ports)
                cfg = patroni_config(
                    scope=f"hivesim-{run_id}-cell{cell}", name=name, idc=idcs[i % len(idcs)], member_dir=mdir,
                    pg_port=pg_port, rest_port=rest_port, etcd_ports=[c for c, _ in cports], bin_dir=bin_dir,
                    passwords={"superuser": st["passwords"]["superuser"], "replication": st["passwords"]["replication"],
                               "rest": st["passwords"]["rest"]},
                    ttl=live.patroni.ttl, loop_wait=live.patroni.loop_wait, retry_timeout=live.patroni.retry_timeout,
                    sync_count=sync_count, max_lag=live.patroni.maximum_lag_on_failover,
                    bootstrap_command=f"/bin/sh {script}")
                conf = mdir / "patroni.yml"
                fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as f:
                    yaml.safe_dump(cfg, f, sort_keys=False)
                if root:
                    os.chmod(mdir, 0o700)
                    for path in (mdir, conf, script):
                        os.chown(path, pg_uid.pw_uid, pg_uid.pw_gid)
                st["members"].append({
                    "cell": cell, "index": i, "name": name, "idc": idcs[i % len(idcs)], "member_dir": str(mdir),
                    "pg_port": pg_port, "rest_port": rest_port, "proxy_port": proxy_port,
                    "proxy_control_port": ctl_port, "argv": [patroni_binary(), str(conf)],
                    "log": str(rd / "logs" / f"patroni-{name}.log"), "pid": None, "proxy_pid": None})
        # start the first member of every cell a moment before the others, so it wins the
        # initialize race without the others spinning on it
        order = sorted(st["members"], key=lambda m: (m["index"] > 0, m["cell"], m["index"]))
        for m in order:
            p = procs.spawn(m["argv"], Path(m["log"]), as_postgres=True, env=self._pg_env(Path(m["member_dir"])))
            self._procs[p.pid] = p
            m["pid"] = p.pid
            if m["index"] == 0 and m is order[n_cells - 1]:
                self._save()
                time.sleep(1.0)
        proxy_env = {**os.environ, "HIVESIM_ADMIN_TOKEN": token, "PYTHONPATH": str(REPO_ROOT)}
        for m in st["members"]:
            log = rd / "logs" / f"proxy-{m['name']}.log"
            p = procs.spawn([sys.executable, "-m", "loadtests.proxy", "--listen", str(m["proxy_port"]),
                             "--target", str(m["pg_port"]), "--control", str(m["proxy_control_port"]),
                             "--name", m["name"]], log, env=proxy_env, cwd=str(REPO_ROOT))
            self._procs[p.pid] = p
            m["proxy_pid"] = p.pid
        self._save()
        # -- app servers, relay, gateway under the supervisor, started now so their (slow) Python
        #    start-up overlaps Patroni's bootstrap; they connect to the database on demand
        self._start_services(ports, token)
        self._wait(lambda: all(self.cell_ready(c) for c in range(n_cells)), live.startup_timeout - (time.monotonic() - t0),
                   "every cell has a leader and its synchronous standbys")
        self._phase("cells_ready", t0)
        with ThreadPoolExecutor(n_cells) as pool:
            list(pool.map(self._create_schema, range(n_cells)))
        self._phase("schema", t0)
        self._wait(lambda: self._http_ok(self.gateway_url + "/health") and self._http_ok(self.relay_url + "/health")
                   and all(self._http_ok(a["url"] + "/health?db=1", 4) for a in self.app_servers),
                   max(live.startup_timeout - (time.monotonic() - t0), 10), "gateway, relay and app servers answering")
        self._phase("services", t0)

    def _phase(self, name: str, t0: float) -> None:
        self.state.setdefault("phases", {})[name] = round(time.monotonic() - t0, 2)

    def _wait(self, cond, timeout: float, what: str) -> None:
        end = time.monotonic() + max(timeout, 1.0)
        while not cond():
            if time.monotonic() > end:
                raise ClusterError(f"timed out waiting for: {what} (logs: {self.run_dir}/logs)")
            for e in self.state.get("etcd", []):
                if not procs.alive(e["pid"]):
                    raise ClusterError(f"etcd member {e['name']} exited during start-up; see {e['log']}")
            for m in self.state.get("members", []):
                if m["pid"] and not procs.alive(m["pid"]):
                    raise ClusterError(f"Patroni {m['name']} exited during start-up; see {m['log']}")
            time.sleep(0.2)

    def _dsn(self, cell: int, user: str, password: str, db: str, via_proxy: bool = True, app: str = "hivesim") -> str:
        members = [m for m in self.state["members"] if m["cell"] == cell]
        ports = ",".join(str(m["proxy_port" if via_proxy else "pg_port"]) for m in members)
        hosts = ",".join("127.0.0.1" for _ in members)
        return (f"host={hosts} port={ports} dbname={db} user={user} password={password} "
                f"target_session_attrs=read-write connect_timeout=3 application_name={app}")

    def app_dsn(self, cell: int, via_proxy: bool = True, app: str = "hivesim") -> str:
        """libpq connection string of ``cell``'s primary as the bank's role (for tests and benchmarks)."""
        return self._dsn(cell, APP_ROLE, self.state["passwords"]["app"], "postgres", via_proxy, app)

    def _create_schema(self, cell: int) -> None:
        """The bank's role and its own schema (in database ``postgres``: CREATE DATABASE would
        copy a template and force a checkpoint, seconds on a busy machine)."""
        import psycopg
        from psycopg import sql
        pw = self.state["passwords"]
        dsn = self._dsn(cell, "postgres", pw["superuser"], "postgres", via_proxy=False)
        role = sql.Identifier(APP_ROLE)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(role, sql.Literal(pw["app"])))
            conn.execute(sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(role, role))
            conn.execute(sql.SQL("ALTER ROLE {} SET search_path = {}").format(role, role))
        with psycopg.connect(self.app_dsn(cell, via_proxy=False)) as conn:
            conn.execute(SCHEMA_SQL)

    def _start_services(self, ports, token: str) -> None:
        st, live, rd = self.state, self.live, self.run_dir
        conf = rd / "conf"
        py = sys.executable
        env = {"HIVESIM_ADMIN_TOKEN": token, "PYTHONPATH": str(REPO_ROOT)}
        programs, apps = [], []

        def write_conf(name: str, data: dict) -> str:
            path = conf / f"{name}.json"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(data, f)
            return str(path)

        for cell in range(st["cells"]):
            for i in range(live.app_servers_per_cell):
                name, port = f"app-c{cell}-{i}", next(ports)
                path = write_conf(name, {"name": name, "cell": cell, "cells": st["cells"], "port": port,
                                         "dsn": self.app_dsn(cell, app=name), "pool_size": live.pool_size,
                                         "db_timeout": live.db_timeout, "deadline": live.gateway_deadline})
                apps.append({"name": name, "cell": cell, "index": i, "port": port})
                programs.append({"name": name, "argv": [py, "-m", "loadtests.bank.app"],
                                 "env": {**env, "HIVESIM_BANK_CONFIG": path}, "log": str(rd / "logs" / f"{name}.log"),
                                 "restart": live.restart_app_servers, "cwd": str(REPO_ROOT)})
        relay_port, gw_port = next(ports), next(ports)
        path = write_conf("relay", {"port": relay_port, "interval": live.relay_interval, "db_timeout": live.db_timeout,
                                    "cells": [self.app_dsn(c, app="relay") for c in range(st["cells"])]})
        programs.append({"name": "relay", "argv": [py, "-m", "loadtests.bank.relay"],
                         "env": {**env, "HIVESIM_BANK_CONFIG": path}, "log": str(rd / "logs" / "relay.log"),
                         "restart": live.restart_app_servers, "cwd": str(REPO_ROOT)})
        path = write_conf("gateway", {"name": "gateway", "port": gw_port, "deadline": live.gateway_deadline,
                                      "cells": [[f"http://127.0.0.1:{a['port']}" for a in apps if a["cell"] == c]
                                                for c in range(st["cells"])]})
        programs.append({"name": "gateway", "argv": [py, "-m", "loadtests.bank.gateway"],
                         "env": {**env, "HIVESIM_BANK_CONFIG": path}, "log": str(rd / "logs" / "gateway.log"),
                         "restart": True, "cwd": str(REPO_ROOT)})
        spec = write_conf("supervisor", {"pid_dir": st["pid_dir"], "restart_delay": live.restart_delay,
                                         "programs": programs})
        st["apps"], st["relay"], st["gateway"] = apps, {"port": relay_port}, {"port": gw_port}
        p = procs.spawn([py, "-m", "loadtests.cluster.supervisor", spec], rd / "logs" / "supervisor.log",
                        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, cwd=str(REPO_ROOT))
        self._procs[p.pid] = p
        st["supervisor"] = {"pid": p.pid}
        self._save()

    def seed(self, accounts: int | None = None, balance: int | None = None) -> int:
        """Create ``live.accounts`` accounts (ids ``acct-0000000``...) through the gateway."""
        n = self.live.accounts if accounts is None else accounts
        bal = self.live.initial_balance if balance is None else balance
        created = 0
        with httpx.Client(timeout=60) as client:
            for lo in range(0, n, 10_000):
                batch = [{"id": account_id(i), "balance": bal} for i in range(lo, min(n, lo + 10_000))]
                r = client.post(self.gateway_url + "/accounts", json={"accounts": batch})
                if r.status_code != 201:
                    raise ClusterError(f"seeding accounts failed: HTTP {r.status_code} {r.text[:300]}")
                created += r.json()["created"]
        self.state["seeded"] = {"accounts": n, "initial_balance": bal, "total": n * bal}
        self._save()
        return created

    # ------------------------------------------------------------------ teardown
    def down(self, keep: bool = False, timeout: float = 20.0) -> dict:
        """Stop every recorded process, verify none and no port remains, remove the run dir
        (unless ``keep``). Returns {"stopped": n, "seconds": s}."""
        t0 = time.monotonic()
        st = self.state
        if not st:
            return {"stopped": 0, "seconds": 0.0}
        every = self.all_pids()
        # 1. the supervisor first (so it restarts nothing), then each program's process group
        sup = st.get("supervisor", {}).get("pid")
        procs.kill_group(sup)
        procs.wait_dead([sup], 5.0)
        for name in self._supervised_names():
            procs.kill_group(self._pidfile(name)["pid"])
        # 2. proxies and Patroni (SIGKILL: the data is disposable), then each postmaster's
        #    process group (Patroni starts postmaster in its own session: pgid == pid)
        for m in st.get("members", []):
            procs.kill_group(m.get("proxy_pid"))
            procs.kill_group(m.get("pid"))
        procs.wait_dead([m.get("pid") for m in st.get("members", [])], 5.0)
        for m in st.get("members", []):
            pm = procs.read_postmaster_pid(Path(m["member_dir"]) / "data")
            if pm:  # its backends notice the postmaster's death and exit by themselves
                try:
                    procs.kill_group(os.getpgid(pm))  # Patroni's helper setsid()s: pgid != pm
                except ProcessLookupError:
                    pass
                procs.signal_pid(pm, signal.SIGKILL)
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
        if not keep and self.run_dir.exists() and (self.run_dir / MARKER).exists():
            shutil.rmtree(self.run_dir, ignore_errors=True)
        elif (self.run_dir / STATE).exists():
            os.replace(self.run_dir / STATE, self.run_dir / "cluster.down.json")
        self.state = {}
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
