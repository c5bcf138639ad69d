"""Sweep: the same variants on a local process pool and on a Dask LocalCluster give identical
tables (the simulation is deterministic per seed; only wall times may differ)."""

from __future__ import annotations

import csv
import json

import pytest

from sim.cli import main

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
GRID = ["--set", "topology.cells.template.db.replicas=1,3", "--set", "topology.cells.template.db.failover.detection=10s,60s"]


def _rows(path):
    rows = json.loads((path / "table.json").read_text())["rows"]
    for r in rows:
        assert r.pop("run.wall_seconds") > 0
    return rows


def _csv_without_wall(path):
    with open(path / "table.csv", newline="") as fh:
        return [{k: v for k, v in r.items() if k != "run.wall_seconds"} for r in csv.DictReader(fh)]


def test_local_pool_and_dask_cluster_give_identical_tables(tmp_path):
    distributed = pytest.importorskip("distributed")
    sc = tmp_path / "tiny.yaml"
    sc.write_text(TINY)
    local, remote = tmp_path / "local", tmp_path / "dask"
    assert main(["sweep", str(sc), *GRID, "--out", str(local), "--workers", "2", "-q"]) == 0
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        assert main(["sweep", str(sc), *GRID, "--out", str(remote), "--scheduler", cluster.scheduler_address,
                     "-q"]) == 0
    a, b = _rows(local), _rows(remote)
    assert len(a) == 4 and all(r["status"] == "ok" for r in a)
    assert a == b
    assert _csv_without_wall(local) == _csv_without_wall(remote)
    # the overrides took effect: a lone replica is down for every server failure, three are not
    by = {r["variant"]: r for r in a}
    assert by["replicas=1 detection=10s"]["downtime_minutes_per_year.mean"] > \
        10 * by["replicas=3 detection=10s"]["downtime_minutes_per_year.mean"]
    for d in (local, remote):
        assert (d / "frontier.png").read_bytes().startswith(b"\x89PNG") and (d / "frontier.svg").exists()
        assert len(list((d / "summaries").glob("*.json"))) == 4
