"""``simulation.mode: request`` through ``hivesim run`` (sim.request.mode.simulate_request_mode)."""

from __future__ import annotations

import csv
import json

import pytest

from sim.errors import HivesimError
from sim.request.mode import request_windows
from sim.scenario import load_scenario_text

SCEN = """
name: rm
simulation: {{horizon: {horizon}, replications: 3, seed: 7, mode: request}}
topology:
  gns: null
  bus: null
  cells: {{count: 2, template: {{db: {{failover: {{detection: 10s, election: 5s, promotion: 5s}}}}}}}}
workload:
  transactions_per_day: 60/s
  profile: {{peak_factor: 1}}
{chaos}
"""
CHAOS = "chaos:\n  - {at: 60s, target: 'cell[0].db.primary', fault: crash, duration: 30s}\n"


def test_request_mode_run_writes_the_contract(tmp_path, cli):
    f = tmp_path / "rm.yaml"
    f.write_text(SCEN.format(horizon="150s", chaos=CHAOS))
    # --no-report: the report is not under test here (sim/report/plots.py cell_nines fails when every
    # cell has availability 1.0: its lower ends are not capped like the means; reported to the lead)
    r = cli("run", f, "--out", tmp_path / "out", "--no-report")
    assert r.returncode == 0, r.stderr
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["run"]["mode"] == "request" and s["estimator"]["replications"] == 3
    rm = s["request_mode"]
    assert rm["windows"] == [[0.0, 150.0]]
    # the gateway retries through the 20 s failover inside its deadline (failover + 5 s):
    # nothing fails, but the writes that waited show in the latency tail
    assert rm["outcomes"]["ok"] == rm["outcomes"]["requests"] > 10_000
    assert rm["retry_amplification"] > 1.0
    assert s["latency_ms"]["p99"] > 1000
    # the numbers request mode assumes of the simulated bank are echoed
    assert rm["settings"]["retry_max_attempts"] == 100 and rm["settings"]["max_requests"] == 20_000_000
    assert rm["settings"]["app_threads"] == 8 and rm["settings"]["db_pool"] == 16
    rows = list(csv.DictReader(open(tmp_path / "out" / "timeseries.csv")))
    assert len(rows) == 150 and float(rows[1]["t_start_s"]) - float(rows[0]["t_start_s"]) == 1.0
    assert sum(float(x["offered_requests"]) for x in rows) == pytest.approx(60 * 150, rel=0.05)
    ev = list(csv.DictReader(open(tmp_path / "out" / "events.csv")))
    assert {(float(e["start_s"]), float(e["end_s"]), e["target"]) for e in ev} == {(60.0, 80.0, "cell[0]")}


def test_long_horizon_simulates_windows_around_faults():
    sc = load_scenario_text(SCEN.format(horizon="30d", chaos=CHAOS.replace("60s", "5d")))
    (a, b), = request_windows(sc)
    assert a == 5 * 86400 - 60 and 5 * 86400 + 30 < b < 5 * 86400 + 200
    sc = load_scenario_text(SCEN.format(horizon="30d", chaos=""))
    with pytest.raises(HivesimError, match="short windows"):
        request_windows(sc)
