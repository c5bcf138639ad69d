"""Bad and hostile scenario input: one clear line naming file, line and field; exit 2; no
traceback; nothing written."""

from __future__ import annotations

import pytest

from sim.errors import ScenarioError
from sim.scenario import json_schema, load_scenario
from sim.units import parse_duration, parse_fraction, parse_rate

GOOD = "name: t\ntopology:\n  cells:\n    count: 2\n"


def write(tmp_path, text, name="s.yaml", mode="w"):
    p = tmp_path / name
    if mode == "wb":
        p.write_bytes(text)
    else:
        p.write_text(text)
    return p


@pytest.mark.parametrize("text,line,needle", [
    ("name: t\ntopology:\n  cells:\n    count: 3\n    template:\n      db: {replicas: 0}\n", 6,
     "topology.cells.template.db.replicas: expected an integer >= 1, got 0"),
    ("name: t\ntopology:\n  cells:\n    count: 3\n    templat: {}\n", 5,
     "topology.cells.templat: unknown key 'templat'; did you mean 'template'?"),
    ("name: t\nsimulation:\n  horizon: 3 weeks\n", 3, "simulation.horizon: unknown time unit 'weeks'"),
    ("name: t\nsimulation:\n  replications: many\n", 3, "simulation.replications:"),
    ("name: t\nworkload:\n  mix: {reads: 0.5, intra_cell: 0.3, cross_cell: 0.1}\n", 3, "must sum to 1"),
    ("name: t\nsimulation:\n  seed: .nan\n", 3, "expected a finite number"),
    ("name: t\nsimulation:\n  horizon: .inf\n", 3, "expected a finite number"),
    ("name: !!python/object:os.system t\n", 1, "not allowed"),
    ("a: &x [1, 2]\nb: *x\n", 1, "anchors"),
    ("name: t\nname: u\n", 2, "duplicate key 'name'"),
    ("name: t\nchaos:\n  - {at: 1h, target: 'cell[9].db.primary', fault: crash}\n", 3, "out of range"),
    ("name: t\nchaos:\n  - {at: 1h, target: 'moon', fault: crash}\n", 3, "expected a target"),
    ("- 1\n- 2\n", 1, "expected a mapping"),
    ("name: t\ntopology: [\n", None, "invalid YAML"),
])
def test_bad_values_are_located(tmp_path, text, line, needle):
    p = write(tmp_path, text)
    with pytest.raises(ScenarioError) as ei:
        load_scenario(p)
    msg = str(ei.value)
    assert needle in msg
    assert "\n" not in msg
    if line:
        assert msg.startswith(f"{p}:{line}: "), msg


def test_alias_bomb_is_refused_quickly(tmp_path):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(9))
    with pytest.raises(ScenarioError, match="anchors|aliases"):
        load_scenario(write(tmp_path, bomb))


def test_huge_and_binary_files(tmp_path):
    with pytest.raises(ScenarioError, match="too large"):
        load_scenario(write(tmp_path, "name: t\n" + "#" * 1_100_000 + "\n"))
    with pytest.raises(ScenarioError, match="binary"):
        load_scenario(write(tmp_path, b"name: t\x00\x01\x02", "b.yaml", "wb"))
    with pytest.raises(ScenarioError, match="UTF-8"):
        load_scenario(write(tmp_path, b"name: \xff\xfe", "c.yaml", "wb"))
    with pytest.raises(ScenarioError, match="deeper"):
        load_scenario(write(tmp_path, "a: " + "[" * 60 + "]" * 60 + "\n", "d.yaml"))


def test_extends_merges_and_refuses_cycles_and_escapes(tmp_path):
    d = tmp_path / "scen"
    d.mkdir()
    (d / "base.yaml").write_text("name: base\ntopology:\n  cells:\n    count: 4\n    template: {app: {nodes: 3}}\n")
    (d / "child.yaml").write_text("extends: base.yaml\nname: child\ntopology:\n  cells:\n    template: {db: {replicas: 5}}\n")
    sc = load_scenario(d / "child.yaml")
    assert (sc.name, sc.topology.cells.count, sc.topology.cells.template.app.nodes,
            sc.topology.cells.template.db.replicas) == ("child", 4, 3, 5)
    (d / "a.yaml").write_text("extends: b.yaml\nname: a\n")
    (d / "b.yaml").write_text("extends: a.yaml\nname: b\n")
    with pytest.raises(ScenarioError, match="circular extends"):
        load_scenario(d / "a.yaml")
    (d / "esc.yaml").write_text("extends: ../../../etc/passwd\nname: e\n")
    with pytest.raises(ScenarioError, match="escapes"):
        load_scenario(d / "esc.yaml")
    (d / "abs.yaml").write_text("extends: /etc/passwd\nname: e\n")
    with pytest.raises(ScenarioError, match="relative"):
        load_scenario(d / "abs.yaml")
    # an error in the base names the base file and line
    (d / "bad_base.yaml").write_text("name: b\nsimulation:\n  replications: 0\n")
    (d / "kid.yaml").write_text("extends: bad_base.yaml\nname: k\n")
    with pytest.raises(ScenarioError, match=r"bad_base.yaml:3: simulation.replications"):
        load_scenario(d / "kid.yaml")


def test_set_overrides(tmp_path):
    p = write(tmp_path, GOOD)
    sc = load_scenario(p, ["topology.cells.count=7", "simulation.horizon=30d", "workload.mix.reads=60%",
                           "workload.mix.intra_cell=0.3", "workload.mix.cross_cell=0.1"])
    assert sc.topology.cells.count == 7 and sc.simulation.horizon == 30 * 86400 and sc.workload.mix.reads == 0.6
    with pytest.raises(ScenarioError, match=r"--set topology.cells.cont: topology.cells.cont: unknown key 'cont'; did you mean 'count'"):
        load_scenario(p, ["topology.cells.cont=3"])
    with pytest.raises(ScenarioError, match="expected dotted.key=value"):
        load_scenario(p, ["nonsense"])


@pytest.mark.parametrize("fn,value,expected", [
    (parse_duration, "30s", 30), (parse_duration, "5m", 300), (parse_duration, "4h", 14400),
    (parse_duration, "365d", 365 * 86400), (parse_duration, "250ms", 0.25), (parse_duration, 12, 12),
    (parse_rate, "2/yr", 2 / (365 * 86400)), (parse_rate, "1_000_000_000/day", 1e9 / 86400),
    (parse_rate, "1.57%/yr", 0.0157 / (365 * 86400)), (parse_rate, "1 per 1000h", 1 / 3.6e6),
    (parse_fraction, "99.999%", 0.99999), (parse_fraction, 0.3, 0.3),
])
def test_units(fn, value, expected):
    assert fn(value) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("fn,value", [(parse_duration, "-5s"), (parse_duration, "5 parsecs"),
                                      (parse_rate, "2/fortnight"), (parse_fraction, "120%"),
                                      (parse_fraction, "nan"), (parse_duration, True)])
def test_bad_units(fn, value):
    with pytest.raises(ValueError):
        fn(value)


def test_schema_covers_every_section():
    props = json_schema()["properties"]
    for key in ("simulation", "topology", "workload", "failures", "chaos", "slo", "gates", "extends"):
        assert key in props


def test_every_shipped_scenario_validates():
    from pathlib import Path
    files = sorted(Path("scenarios").rglob("*.yaml"))
    assert files
    for f in files:
        load_scenario(f)


def test_cli_errors_are_one_line_exit_2_and_write_nothing(tmp_path, cli):
    bad = write(tmp_path, "name: t\nsimulation:\n  replications: 0\n")
    out = tmp_path / "out"
    r = cli("run", bad, "--out", out, "--quiet")
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert f"{bad}:3: simulation.replications: expected an integer >= 1, got 0" in r.stderr
    assert not out.exists()
    r = cli("validate", tmp_path / "missing.yaml")
    assert r.returncode == 2 and "file not found" in r.stderr and "Traceback" not in r.stderr
    r = cli("run", "--bogus-flag")
    assert r.returncode == 2 and "Traceback" not in r.stderr


CHAOS_BASE = ("name: t\nsimulation: {{mode: {mode}}}\ntopology:\n  gns: null\n  cells:\n    count: 2\n"
              "    overrides:\n      - {{cells: [1], set: {{db: {{replicas: 5}}}}}}\n"
              "chaos:\n  - {{at: 1m, target: '{target}', fault: {fault}{extra}}}\n")


@pytest.mark.parametrize("mode", ["fluid", "request"])
@pytest.mark.parametrize("target,fault,extra,needle", [
    ("cell[0].db.replica[99]", "crash", "", "replica[99] does not exist: cell 0 has 3"),
    ("cell[*].db.replica[4]", "crash", "", "replica[4] does not exist: cell 0 has 3"),
    ("cell[0].app.node[4]", "crash", "", "node[4] does not exist: cell 0 has 4 app nodes"),
    ("cell[2]", "crash", "", "cell 2 out of range 0-1"),
    ("idc[nowhere]", "down", "", "unknown IDC 'nowhere'"),
    ("gateway", "crash", "", "topology.gns is null"),
    ("etcd[3]", "crash", "", "etcd[3] does not exist"),
    ("cell[0].app.node[0]", "kill-postmaster", "", "needs a database target"),
    ("cell[0].db.node[1]", "crash", "", "expected a target"),
    ("cell[0].app.node[0]", "bad-change", "", "needs a cell's whole app tier"),
])
def test_chaos_target_names_something_for_every_engine(tmp_path, mode, target, fault, extra, needle):
    p = write(tmp_path, CHAOS_BASE.format(mode=mode, target=target, fault=fault, extra=extra))
    with pytest.raises(ScenarioError) as ei:
        load_scenario(p)
    assert needle in str(ei.value) and "chaos[0].target" in str(ei.value), str(ei.value)


def test_chaos_target_uses_the_cell_after_overrides(tmp_path):
    sc = load_scenario(write(tmp_path, CHAOS_BASE.format(mode="fluid", target="cell[1].db.replica[4]",
                                                         fault="crash", extra="")))
    t = sc.chaos[0].scope
    assert (t.part, t.cells, t.tier, t.member, t.index) == ("cell", (1,), "db", "replica", 4)


def test_chaos_duration_of_an_instantaneous_kind(tmp_path):
    p = write(tmp_path, CHAOS_BASE.format(mode="fluid", target="cell[0].db.primary", fault="kill-postmaster",
                                          extra=", duration: 5s"))
    with pytest.raises(ScenarioError, match=r"chaos\[0\]\.duration: fault kill-postmaster is instantaneous"):
        load_scenario(p)


def test_chaos_target_forms_parse_once():
    from sim.scenario.chaos import parse_target
    assert parse_target("gateway").part == "gns" and parse_target("relay").part == "bus"
    assert parse_target("cell[*].app").cells is None and parse_target("cell[*].app").tier == "app"
    assert parse_target("cell[3].db.sync_standby").member == "sync_standby"
    assert parse_target("etcd[quorum]").quorum and parse_target("etcd[2]").index == 2
    assert parse_target("idc[sz-b]").idc == "sz-b" and parse_target("cell[0]").form == "cell"
