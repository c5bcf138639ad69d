"""Bring-up of the live cluster: run dir, etcd, Patroni members, proxies, services, schema, accounts.

Mixed into ``Cluster`` (see manager.py for the order of what starts and why)."""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import yaml

from loadtests.bank.routing import account_id
from loadtests.bank.schema import APP_ROLE, SCHEMA_SQL
from loadtests.cluster import procs
from loadtests.cluster.common import MARKER, REPO_ROOT, STATE, ClusterError, check_prerequisites
from loadtests.cluster.etcd import etcd_argv, etcd_healthy
from loadtests.cluster.patroni import (bootstrap_script, ensure_template, patroni_binary, patroni_config,
                                      pg_bin_dir, role_timeouts)

__all__ = ["BringUp"]


def _start_fault_proxies(members: list[dict], logs: Path, token: str) -> dict:
    """One fault proxy (``loadtests.chaos.proxy``) per database member, from its ``proxy_port`` to
    its ``pg_port``; records each one's ``proxy_pid`` in ``members``. -> {pid: Popen}."""
    env = {**os.environ, "HIVESIM_ADMIN_TOKEN": token, "PYTHONPATH": str(REPO_ROOT)}
    started = {}
    for m in members:
        p = procs.spawn([sys.executable, "-m", "loadtests.chaos.proxy", "--listen", str(m["proxy_port"]),
                         "--target", str(m["pg_port"]), "--control", str(m["proxy_control_port"]),
                         "--name", m["name"]], logs / f"proxy-{m['name']}.log", env=env, cwd=str(REPO_ROOT))
        started[p.pid] = p
        m["proxy_pid"] = p.pid
    return started


class BringUp:
    """``up()`` and its steps (mixin of ``Cluster``)."""

    def _prepare_run_dir(self) -> None:
        rd = self.run_dir
        if (rd / STATE).exists():
            old = type(self).attach(rd)
            if any(procs.alive(p) for p in old.all_pids()):
                raise ClusterError(f"{rd}: a cluster is already running here; 'hivesim cluster down' it first")
            shm = old.state.get("etcd_shm")
            if shm and Path(shm).name.startswith("hivesim-"):
                shutil.rmtree(shm, ignore_errors=True)
            shutil.rmtree(rd)
        elif rd.exists() and any(rd.iterdir()):
            if not (rd / MARKER).exists():
                raise ClusterError(f"{rd}: exists and is not a hivesim run directory; choose another live.run_dir")
            try:  # a run kept by down(keep=True) may have left etcd's data on tmpfs
                shm = json.loads((rd / "cluster.down.json").read_text()).get("etcd_shm")
                if shm and Path(shm).name.startswith("hivesim-"):
                    shutil.rmtree(shm, ignore_errors=True)
            except (OSError, ValueError):
                pass
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
            "fault_proxies": self._fault_proxies,
        }
        self._save()
        # -- etcd (data on tmpfs when asked: run_dir/etcd is then a symlink to it)
        if live.etcd.in_memory and Path("/dev/shm").is_dir():
            shm = Path(f"/dev/shm/hivesim-{run_id}-etcd")
            shm.mkdir(mode=0o700)
            (rd / "etcd").rmdir()
            (rd / "etcd").symlink_to(shm)
            st["etcd_shm"] = str(shm)
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
                    ttl=live.patroni.ttl, loop_wait=live.patroni.loop_wait, retry_timeout=live.patroni.retry_timeout, failsafe=live.patroni.failsafe_mode,
                    use_slots=live.patroni.use_slots,
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
        if self.fault_proxies:
            self._procs.update(_start_fault_proxies(st["members"], rd / "logs", token))
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
        ports = ",".join(str(self._app_port(m) if via_proxy else m["pg_port"]) for m in members)
        hosts = ",".join("127.0.0.1" for _ in members)
        return (f"host={hosts} port={ports} dbname={db} user={user} password={password} "
                f"target_session_attrs=read-write connect_timeout=3 application_name={app}")

    def db_members(self, cell: int) -> list[dict]:
        """The cell's members as app servers see them: name, proxy port (the database's own port
        when the cluster has no fault proxies), Patroni REST URL."""
        return [{"name": m["name"], "port": self._app_port(m), "rest": f"http://127.0.0.1:{m['rest_port']}"}
                for m in self.state["members"] if m["cell"] == cell]

    def app_dsn(self, cell: int, via_proxy: bool = True, app: str = "hivesim") -> str:
        """libpq connection string of ``cell``'s primary as the bank's role (for tests and benchmarks)."""
        return self._dsn(cell, APP_ROLE, self.state["passwords"]["app"], "postgres", via_proxy, app)

    def relay_dsn(self, cell: int, idle_in_transaction_timeout: float) -> str:
        """``app_dsn`` for the relay, whose sessions get their own, short
        idle_in_transaction_session_timeout (``live.relay_idle_in_transaction_timeout``; 0 keeps the role's)."""
        dsn = self.app_dsn(cell, app="relay")
        if idle_in_transaction_timeout > 0:
            ms = int(round(float(idle_in_transaction_timeout) * 1000))
            dsn += f" options='-c idle_in_transaction_session_timeout={ms}'"
        return dsn

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
            # server-side bounds of every bank session (app servers, relay, checker): issue 15
            for name, value in role_timeouts(self.live).items():
                conn.execute(sql.SQL("ALTER ROLE {} SET {} = {}").format(role, sql.Identifier(name),
                                                                        sql.Literal(value)))
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

        def program(name: str, module: str, conf_path: str, restart: bool, port: int) -> dict:
            """A supervised service (loadtests.cluster.supervisor): warm spare, its port held there."""
            return {"name": name, "argv": [py, "-m", f"loadtests.bank.{module}"],
                    "env": {**env, "HIVESIM_BANK_CONFIG": conf_path}, "log": str(rd / "logs" / f"{name}.log"),
                    "restart": restart, "cwd": str(REPO_ROOT), "spare": True, "listen": port}

        for cell in range(st["cells"]):
            for i in range(live.app_servers_per_cell):
                name, port = f"app-c{cell}-{i}", next(ports)
                path = write_conf(name, {"name": name, "cell": cell, "cells": st["cells"], "port": port,
                                         "dsn": self.app_dsn(cell, app=name), "pool_size": live.pool_size,
                                         "members": self.db_members(cell),
                                         "db_timeout": live.db_timeout, "deadline": live.gateway_deadline,
                                         "statement_timeout": live.statement_timeout})
                apps.append({"name": name, "cell": cell, "index": i, "port": port})
                programs.append(program(name, "app", path, live.restart_app_servers, port))
        relay_port, gw_port = next(ports), next(ports)
        path = write_conf("relay", {"port": relay_port, "interval": live.relay_interval, "db_timeout": live.db_timeout,
                                    "statement_timeout": live.statement_timeout,
                                    "cells": [self.relay_dsn(c, live.relay_idle_in_transaction_timeout)
                                              for c in range(st["cells"])],
                                    "members": [self.db_members(c) for c in range(st["cells"])]})
        programs.append(program("relay", "relay", path, live.restart_app_servers, relay_port))
        path = write_conf("gateway", {"name": "gateway", "port": gw_port, "deadline": live.gateway_deadline,
                                      "backoff": live.retry.gateway_backoff,
                                      "max_backoff": live.retry.gateway_max_backoff,
                                      "cells": [[f"http://127.0.0.1:{a['port']}" for a in apps if a["cell"] == c]
                                                for c in range(st["cells"])]})
        programs.append(program("gateway", "gateway", path, True, gw_port))
        spec = write_conf("supervisor", {"pid_dir": st["pid_dir"], "restart_delay": live.restart_delay,
                                         "programs": programs})
        st["apps"], st["relay"], st["gateway"] = apps, {"port": relay_port}, {"port": gw_port}
        st["held_ports"] = True  # the supervisor holds every service's port (fault records say so)
        p = procs.spawn([py, "-m", "loadtests.cluster.supervisor", spec], rd / "logs" / "supervisor.log",
                        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, cwd=str(REPO_ROOT))
        self._procs[p.pid] = p
        st["supervisor"] = {"pid": p.pid}
        self._save()

    def seed(self, accounts: int | None = None, balance: int | None = None) -> int:
        """Create ``live.accounts`` accounts (ids ``acct-0000000``...) through the gateway."""
        live = getattr(self, "live", None)  # an attached cluster has no scenario: pass the numbers
        if live is None and (accounts is None or balance is None):
            raise ClusterError("seed(): give accounts and balance for a cluster attached by run dir")
        n = live.accounts if accounts is None else accounts
        bal = live.initial_balance if balance is None else balance
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

