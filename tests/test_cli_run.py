"""`hivesim run` end to end, as a user runs it: files of the results contract, atomically."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from sim.scenario import default_scenario_path, json_schema
from sim.scenario.reference import BEGIN, END, reference_markdown


def test_run_writes_the_results_contract(tmp_path, cli):
    out = tmp_path / "run"
    r = cli("run", "scenarios/examples/two-idc-partition.yaml", "--out", out, "--set",
            "simulation.replications=12", "--workers", "2", "--no-report")
    assert r.returncode == 0, r.stderr
    assert "availability, request-weighted" in r.stdout
    s = json.loads((out / "summary.json").read_text())
    req = s["availability"]["request"]
    assert 0 < req["mean"] < 1 and req["ci95"][0] <= req["mean"] <= req["ci95"][1]
    assert req["nines"] == -__import__("math").log10(1 - req["ci95"][0])
    assert s["run"]["replications"] == 12 and s["run"]["seed"] == 2 and len(s["run"]["scenario_sha256"]) == 64
    assert s["scenario"]["topology"]["cells"]["template"]["db"]["write_quorum"] == 2  # defaults echoed
    assert s["outages"]["count"] > 0 and "partition" in s["outages"]["by_cause"]
    assert len(s["cells"]) == 4
    rows = list(csv.DictReader((out / "events.csv").open()))
    assert rows and {"replication", "start_s", "end_s", "target", "cause", "effect"} <= set(rows[0])
    ts = list(csv.DictReader((out / "timeseries.csv").open()))
    assert len(ts) == 365 * 24 and all(r["replication"] == "0" for r in ts)
    reps = list(csv.DictReader((out / "replications.csv").open()))
    assert [int(r["replication"]) for r in reps] == list(range(12))
    # the effective scenario re-runs to the same figures
    out2 = tmp_path / "rerun"
    r = cli("run", out / "scenario.yaml", "--out", out2, "--quiet", "--no-report")
    assert r.returncode == 0, r.stderr
    s2 = json.loads((out2 / "summary.json").read_text())
    assert s2["availability"] == s["availability"]
    # never overwrite an existing run
    r = cli("run", "scenarios/examples/one-cell.yaml", "--out", out, "--quiet", "--no-report")
    assert r.returncode == 2 and "already exists" in r.stderr
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary leftovers


def test_embedded_default_is_the_reference_scenario():
    assert Path(default_scenario_path()).read_bytes() == Path("scenarios/webank-2023.yaml").read_bytes()


def test_shipped_schema_and_readme_reference_are_current():
    shipped = json.loads(Path("scenarios/scenario.schema.json").read_text())
    assert shipped == json_schema(), "run: hivesim schema --out scenarios/scenario.schema.json"
    readme = Path("README.md").read_text()
    block = readme.split(BEGIN, 1)[1].split(END, 1)[0]
    assert block.strip() == reference_markdown().strip(), "run: python -m sim.scenario.reference --write README.md"


def test_help_lists_commands(cli):
    r = cli("--help")
    assert r.returncode == 0 and "run" in r.stdout and "validate" in r.stdout
