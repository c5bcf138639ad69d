"""Replications on Dask (issue 17, items 1 and 5): ``hivesim run --scheduler`` gives the local
pool's files, byte for byte, except wall times and ``run.scheduler``; bad scheduler setups are
one line and exit 2 with nothing written.

The cluster tests use a LocalCluster of 2 workers (threads in this process, talking TCP on
127.0.0.1); ``test_dask_processes.py`` starts a scheduler and a worker as processes of their own.
"""

from __future__ import annotations

import json
import socket
import sys
import time

import pytest

from sim.cli import main
from sim.executors import chunk_size, chunks, parse_scheduler

# webank-2023, small: capacity model, cost variant (cost.compare_with: a second simulation that
# goes out in the same batch as the first), every random failure family
SETS = ["--set", "simulation.replications=6", "--set", "simulation.horizon=60d", "--set", "simulation.seed=5"]
SCENARIO = "scenarios/webank-2023.yaml"
VOLATILE = {"run": {"wall_seconds", "started_utc", "scheduler"}, "cost_variant": {"wall_seconds"}}


def comparable(run_dir) -> dict:
    """A run directory's files, with what may differ between executors taken out: the wall
    times, the start time and where the run took place."""
    summary = json.loads((run_dir / "summary.json").read_text())
    for block, keys in VOLATILE.items():
        for k in keys:
            summary.get(block, {}).pop(k, None)
    return {"summary": summary, **{name: (run_dir / name).read_bytes()
                                   for name in ("events.csv", "replications.csv", "timeseries.csv")}}


def _run(out, *extra) -> int:
    return main(["run", SCENARIO, *SETS, "--out", str(out), "--no-report", "-q", *extra])


def test_local_pool_and_local_cluster_write_the_same_run(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    one, two, remote = tmp_path / "a" / "run", tmp_path / "b" / "run", tmp_path / "c" / "run"
    t0 = time.perf_counter()
    assert _run(one, "--workers", "1") == 0
    assert _run(two, "--workers", "2") == 0
    local_s = time.perf_counter() - t0
    # the option wins over the environment: this address would fail to connect
    monkeypatch.setenv("HIVESIM_SCHEDULER", f"tcp://127.0.0.1:{_free_port()}")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        t0 = time.perf_counter()
        assert _run(remote, "--scheduler", cluster.scheduler_address) == 0
        print(f"2 local runs {local_s:.1f} s; LocalCluster run {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        # request mode: one whole simulation per task (its lanes are vectorised in one process)
        monkeypatch.delenv("HIVESIM_SCHEDULER")
        req = ["run", "tests/golden/request-mode.yaml", "--no-report", "-q", "--out"]
        assert main([*req, str(tmp_path / "req-local" / "run")]) == 0
        assert main([*req, str(tmp_path / "req-dask" / "run"), "--scheduler", cluster.scheduler_address]) == 0
    r_local, r_dask = comparable(tmp_path / "req-local" / "run"), comparable(tmp_path / "req-dask" / "run")
    assert r_dask["summary"]["run"].pop("workers") == 2  # the cluster's; the local run's is its own
    r_local["summary"]["run"].pop("workers")
    assert r_local == r_dask and r_local["summary"]["run"]["mode"] == "request"
    a, b, c = comparable(one), comparable(two), comparable(remote)
    assert a["summary"]["run"]["workers"] == 1 and c["summary"]["run"]["workers"] == 2
    for d in (a, b, c):
        d["summary"]["run"].pop("workers")
    assert a == b == c
    assert b"\n" in a["events.csv"].strip() and a["summary"]["outages"]["count"] > 0  # not empty runs
    assert "cost_variant" in a["summary"]  # the variant's chunks went out in the same batch
    where = {p: json.loads((p / "summary.json").read_text())["run"]["scheduler"] for p in (one, remote)}
    assert where == {one: "local-process-pool", remote: cluster.scheduler_address}


def test_chunks_cover_every_replication_once():
    assert chunk_size(400, 2) == 50 and chunk_size(3, 8) == 1
    for n, size in [(1, 1), (7, 3), (200, 25), (5, 9)]:
        got = chunks(n, size)
        assert [i for c in got for i in c] == list(range(n)) and all(0 < len(c) <= size for c in got)


@pytest.mark.parametrize("text", ["tcp://127.0.0.1:8786", "tls://scheduler.internal:8786", " tcp://[::1]:1 "])
def test_well_formed_addresses(text):
    assert parse_scheduler(text) == text.strip()


@pytest.mark.parametrize("text", ["127.0.0.1:8786", "tcp://127.0.0.1", "tcp://:8786", "tcp://h:0", "tcp://h:99999",
                                  "http://h:8786", "tcp://h:8786/x", "tcp://u@h:8786", "tcp://h:port", ""])
def test_malformed_addresses_are_refused_at_option_parsing(text, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        _run(tmp_path / "run", "--scheduler", text)
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1 and "tcp://HOST:PORT" in err
    assert not (tmp_path / "run").exists()


def test_malformed_environment_variable_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HIVESIM_SCHEDULER", "scheduler:8786")
    for cmd in (["run", SCENARIO], ["sweep", SCENARIO, "--set", "simulation.seed=1,2"]):
        assert main([*cmd, "--out", str(tmp_path / "out"), "-q"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("hivesim: error: HIVESIM_SCHEDULER: expected tcp://HOST:PORT") and "\n" not in err
    assert not (tmp_path / "out").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_is_one_line_within_the_timeout(tmp_path, monkeypatch, capsys):
    pytest.importorskip("distributed")
    import sim.executors
    monkeypatch.setattr(sim.executors, "CONNECT_TIMEOUT_S", 2)  # 10 s in use; 2 s keeps the test short
    address = f"tcp://127.0.0.1:{_free_port()}"
    for cmd in (["run", SCENARIO, *SETS], ["sweep", SCENARIO, "--set", "simulation.seed=1,2", *SETS[:2]]):
        t0 = time.perf_counter()
        assert main([*cmd, "--scheduler", address, "--out", str(tmp_path / "out"), "-q"]) == 2
        assert time.perf_counter() - t0 < 2 + 6  # the bound, and the scenario's checks and client start
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"hivesim: error: Dask scheduler {address}: cannot connect within 2 s") and "\n" not in err
    assert not (tmp_path / "out").exists()


def test_workers_and_scheduler_together_are_refused(tmp_path, capsys):
    assert _run(tmp_path / "run", "--workers", "2", "--scheduler", "tcp://127.0.0.1:8786") == 2
    assert "--workers sizes the local process pool" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_without_the_dist_extra_scheduler_says_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if dask[distributed] were not installed
    assert _run(tmp_path / "run", "--scheduler", "tcp://127.0.0.1:8786") == 2
    err = capsys.readouterr().err.strip()
    assert "install hivesim[dist]" in err and "\n" not in err
    assert not (tmp_path / "run").exists()


def test_a_scheduler_without_workers_is_one_line_within_the_timeout(tmp_path, monkeypatch, capsys):
    distributed = pytest.importorskip("distributed")
    import sim.executors
    monkeypatch.setattr(sim.executors, "CONNECT_TIMEOUT_S", 1)
    with distributed.LocalCluster(n_workers=0, processes=False, protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        t0 = time.perf_counter()
        assert _run(tmp_path / "run", "--scheduler", cluster.scheduler_address) == 2
        assert time.perf_counter() - t0 < 1 + 6
    err = capsys.readouterr().err.strip()
    assert "no worker connected within 1 s" in err and "dask worker tcp://" in err and "\n" not in err
    assert not (tmp_path / "run").exists()


def test_a_replication_failing_on_a_worker_fails_the_run_or_only_its_sweep_variant(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    import sim.runner
    real = sim.runner.run_replication

    def planted(sc, i, *args):  # the workers are threads of this process, so they see the patch
        if i == 1 and sc.topology.cells.template.db.replicas == 1:
            raise RuntimeError("planted failure")
        return real(sc, i, *args)

    monkeypatch.setattr(sim.runner, "run_replication", planted)
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(TINY_ONE_REPLICA)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        addr = cluster.scheduler_address
        assert main(["run", str(scenario), "--out", str(tmp_path / "run"), "--no-report", "-q",
                     "--scheduler", addr]) == 3
        assert main(["sweep", str(scenario), "--set", "topology.cells.template.db.replicas=1,3",
                     "--out", str(tmp_path / "sweep"), "-q", "--scheduler", addr]) == 3
    run = json.loads((tmp_path / "run" / "summary.json").read_text())["run"]
    assert run["status"] == "failed" and "planted failure" in run["error"] and run["scheduler"] == addr
    assert "planted failure" in (tmp_path / "run" / "error.txt").read_text()
    rows = json.loads((tmp_path / "sweep" / "table.json").read_text())["rows"]
    assert [(r["status"], "planted failure" in r["error"]) for r in rows] == [("failed", True), ("ok", False)]


TINY_ONE_REPLICA = """\
name: tiny
simulation: {horizon: 30d, replications: 4, seed: 7}
topology:
  cells: {count: 2, template: {db: {replicas: 1, write_quorum: 1}}}
  gns: null
  bus: null
failures:
  components:
    server: {mtbf: 200h, mttr: 1h}
"""


def test_sensitivity_on_a_local_cluster_gives_the_local_tornado_and_what_if(tmp_path):
    # issue 17 item 1: sensitivity (tornado and what-if) takes --scheduler like run and sweep
    distributed = pytest.importorskip("distributed")
    base = ["sensitivity", "tests/golden/request-mode.yaml", "-q", "--replications", "4"]
    vary = ["--vary", "failures.changes.escape_probability=0.01,0.04"]
    solve = ["--solve", "failures.changes.escape_probability=0.001,0.5", "--iterations", "1",
             "--target", "availability.request.mean>=90%"]
    outs = {}
    for where in ("local", "cluster"):
        extra = ["--workers", "1"] if where == "local" else []
        if where == "cluster":
            cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
                                               host="127.0.0.1", dashboard_address=None)
            extra = ["--scheduler", cluster.scheduler_address]
        try:
            for kind, args in (("vary", vary), ("solve", solve)):
                out = tmp_path / where / kind
                assert main([*base, *args, "--out", str(out), *extra]) in (0, 1)
                summary = json.loads((out / "summary.json").read_text())
                summary.pop("run")
                outs[where, kind] = (summary, sorted(p.name for p in (out / "summaries").iterdir()))
        finally:
            if where == "cluster":
                cluster.close()
    for kind in ("vary", "solve"):
        assert outs["local", kind] == outs["cluster", kind]
