"""Sweep inputs: grid value splitting, combinations, variants files, validation before running,
and a variants-file sweep end to end on a tiny scenario (local, one process)."""

from __future__ import annotations

import json

import pytest

from sim.cli import main
from sim.errors import HivesimError
from sim.readers.sweep import combine, grid_variants, load_variants_file, pareto, parse_grid, split_values

TINY = """\
name: tiny
simulation: {horizon: 20d, replications: 3, seed: 3}
topology:
  cells: {count: 1}
  gns: null
  bus: null
failures:
  components:
    server: {mtbf: 200h, mttr: 1h}
"""


@pytest.mark.parametrize("raw, want", [
    ("1,2,3", ["1", "2", "3"]),
    ("[sz-a,sz-b],[sz-a,sz-c]", ["[sz-a,sz-b]", "[sz-a,sz-c]"]),
    ("[a,b]", ["[a,b]"]),
    ('"x,y",z', ['"x,y"', "z"]),
    ("{a: 1, b: 2},{a: 3}", ["{a: 1, b: 2}", "{a: 3}"]),
    ("10s, 30s", ["10s", "30s"]),
])
def test_split_values(raw, want):
    assert split_values(raw) == want


@pytest.mark.parametrize("raw", ["1,,2", "[a,b", "a]", '"x,y'])
def test_split_values_rejects(raw):
    with pytest.raises(HivesimError):
        split_values(raw)


def test_grid_product_and_yaml_values():
    grid = parse_grid(["topology.cells.template.db.replicas=3,5", "topology.cells.template.db.placement=[a,b],[c]",
                       "simulation.seed=7"])
    assert grid[1][1] == [("[a,b]", ["a", "b"]), ("[c]", ["c"])]
    vs = grid_variants(grid)
    assert len(vs) == 4
    assert vs[0].sets == {"topology.cells.template.db.replicas": 3, "topology.cells.template.db.placement": ["a", "b"],
                          "simulation.seed": 7}
    assert vs[0].name == "replicas=3 placement=[a,b]"  # fixed keys are not in the name
    with pytest.raises(HivesimError, match="given twice"):
        parse_grid(["a.b=1", "a.b=2"])


def test_variants_file_and_combination(tmp_path):
    f = tmp_path / "v.yaml"
    f.write_text("- {name: small, set: {topology.cells.count: 1}}\n- {name: big, set: {topology.cells.count: 4}}\n")
    vs = load_variants_file(f)
    both = combine(vs, grid_variants(parse_grid(["simulation.seed=1,2"])))
    assert [v.name for v in both] == ["small seed=1", "small seed=2", "big seed=1", "big seed=2"]
    assert both[3].sets == {"topology.cells.count": 4, "simulation.seed": 2}
    f.write_text("- {name: a, set: {x: 1}}\n- {name: a, set: {x: 2}}\n")
    with pytest.raises(HivesimError, match="duplicate variant name"):
        load_variants_file(f)
    f.write_text("- {name: a, sett: {x: 1}}\n")
    with pytest.raises(HivesimError, match="expected a mapping with keys name and set"):
        load_variants_file(f)


def test_pareto_marks_non_dominated():
    rows = [{"cost.per_account_per_year": c, "availability.request.nines": n}
            for c, n in [(1.0, 3.0), (2.0, 4.0), (2.5, 3.5), (3.0, 5.0), (3.0, 4.5), (None, 6.0)]]
    assert pareto(rows) == [True, True, False, True, False, False]
    assert pareto([{"availability.request.nines": 3.0}]) == [None]


def test_bad_variant_is_exit_2_and_writes_nothing(tmp_path, capsys):
    sc = tmp_path / "tiny.yaml"
    sc.write_text(TINY)
    out = tmp_path / "sweep"
    assert main(["sweep", str(sc), "--set", "topology.cells.template.db.replicas=3,0", "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert "variant 'replicas=0'" in err and "replicas" in err and err.count("\n") == 1
    assert not out.exists() and not list(tmp_path.glob(".sweep*"))
    assert main(["sweep", str(sc), "--set", "topology.cells.templat.db.replicas=3", "--out", str(out), "-q"]) == 2
    assert "templat" in capsys.readouterr().err


def test_variants_sweep_end_to_end(tmp_path):
    sc = tmp_path / "tiny.yaml"
    sc.write_text(TINY)
    vf = tmp_path / "v.yaml"
    vf.write_text("- {name: one-replica, set: {topology.cells.template.db.replicas: 1}}\n"
                  "- {name: three-replicas, set: {topology.cells.template.db.replicas: 3}}\n")
    out = tmp_path / "sw"
    assert main(["sweep", str(sc), "--variants", str(vf), "--out", str(out), "--workers", "1", "-q"]) == 0
    table = json.loads((out / "table.json").read_text())
    rows = {r["variant"]: r for r in table["rows"]}
    assert set(rows) == {"one-replica", "three-replicas"}
    assert rows["one-replica"]["scenario.topology.cells.template.db.replicas"] == 1
    assert rows["one-replica"]["downtime_minutes_per_year.mean"] > rows["three-replicas"]["downtime_minutes_per_year.mean"]
    assert all(r["pareto"] is None for r in rows.values())  # no cost figures: no cost frontier
    for i in range(2):  # each variant's full summary, with its own scenario echoed
        s = json.loads((out / "summaries" / f"{i:03d}.json").read_text())
        assert s["scenario"]["topology"]["cells"]["template"]["db"]["replicas"] == [1, 3][i]
    assert (out / "table.csv").read_text().splitlines()[0].startswith("variant,index,scenario.topology")
    assert main(["sweep", str(sc), "--variants", str(vf), "--out", str(out), "-q"]) == 2  # never overwrite
