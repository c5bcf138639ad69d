"""A Dask scheduler and a worker as processes of their own on 127.0.0.1 (issue 17, items 1 and
5): ``hivesim run`` and ``hivesim sweep`` with ``--scheduler`` write what the local pool writes,
except wall times and ``run.scheduler``; a worker running another hivesim is refused.

The processes are started as ``python -m dask scheduler|worker`` (the ``dask`` command) in
sessions of their own, with this checkout first on ``PYTHONPATH`` (a worker imports hivesim's
task functions from its own installation: docs/scale-out.md), and ended by their PIDs' process
groups in a ``finally``. Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sim.cli import main
from tests.test_dask_run import SCENARIO, SETS, comparable

ROOT = Path(__file__).resolve().parents[1]
START_S = 60  # bound on the scheduler file appearing and the worker joining (a loaded 2-core box)
TINY = """\
name: tiny
simulation: {horizon: 30d, replications: 6, seed: 7, timeseries_step: 1h}
topology:
  cells: {count: 2}
  gns: null
  bus: null
failures:
  components:
    server: {mtbf: 200h, mttr: 1h}
"""


def _start(args: list[str], tmp_path: Path, name: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen([sys.executable, "-m", "dask", *args], cwd=tmp_path, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # the group we started: the worker's nanny and its child
            proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=5)


@pytest.fixture
def scheduler_address(tmp_path):
    distributed = pytest.importorskip("distributed")
    sched_file = tmp_path / "scheduler.json"
    procs = []
    try:
        procs.append(_start(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                             "--scheduler-file", str(sched_file)], tmp_path, "scheduler"))
        deadline = time.monotonic() + START_S
        while not sched_file.exists() or not sched_file.read_text().strip():
            assert procs[0].poll() is None, (tmp_path / "scheduler.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the scheduler wrote no scheduler file in time"
            time.sleep(0.2)
        address = json.loads(sched_file.read_text())["address"]
        procs.append(_start(["worker", "--scheduler-file", str(sched_file), "--nthreads", "1", "--nworkers", "1",
                             "--no-dashboard", "--local-directory", str(tmp_path / "worker")], tmp_path, "worker"))
        with distributed.Client(address, timeout="20s", set_as_default=False) as client:
            client.wait_for_workers(1, timeout=START_S)
        yield address
    finally:
        for p in reversed(procs):
            _stop(p)


def test_scheduler_and_worker_processes_give_the_local_pools_files(tmp_path, scheduler_address, monkeypatch,
                                                                   capsys):
    assert scheduler_address.startswith("tcp://127.0.0.1:")
    local, remote = tmp_path / "local" / "run", tmp_path / "remote" / "run"  # run.run_id is the name
    args = ["run", SCENARIO, *SETS, "--no-report", "-q"]
    assert main([*args, "--workers", "1", "--out", str(local)]) == 0
    monkeypatch.setenv("HIVESIM_SCHEDULER", scheduler_address)  # the environment variable, this time
    assert main([*args, "--out", str(remote)]) == 0
    a, b = comparable(local), comparable(remote)
    assert a == b and a["summary"]["outages"]["count"] > 0
    assert json.loads((remote / "summary.json").read_text())["run"]["scheduler"] == scheduler_address

    # a sweep: every chunk of every variant in one batch on the same worker
    sc = tmp_path / "tiny.yaml"
    sc.write_text(TINY)
    grid = ["--set", "topology.cells.template.db.replicas=1,3"]
    monkeypatch.delenv("HIVESIM_SCHEDULER")
    assert main(["sweep", str(sc), *grid, "--out", str(tmp_path / "s-local"), "--workers", "2", "-q"]) == 0
    assert main(["sweep", str(sc), *grid, "--out", str(tmp_path / "s-remote"), "--scheduler", scheduler_address,
                 "-q"]) == 0
    rows = []
    for d in ("s-local", "s-remote"):
        table = json.loads((tmp_path / d / "table.json").read_text())
        rows.append([{k: v for k, v in r.items() if k != "run.wall_seconds"} for r in table["rows"]])
    assert rows[0] == rows[1] and [r["status"] for r in rows[0]] == ["ok", "ok"]

    # a worker whose hivesim differs would give other numbers: refused before anything runs
    import sim
    import sim.executors
    monkeypatch.setattr(sim, "__version__", "0.0.0-other")
    sim.executors.code_identity.cache_clear()
    try:
        capsys.readouterr()
        assert main([*args, "--out", str(tmp_path / "other"), "--scheduler", scheduler_address]) == 2
        err = capsys.readouterr().err.strip()
        assert "install the same versions on every worker" in err and "\n" not in err
        assert not (tmp_path / "other").exists()
    finally:
        sim.executors.code_identity.cache_clear()
