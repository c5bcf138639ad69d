"""``workload.arrivals: closed`` in request mode, end to end through ``hivesim run``; its errors.

The scenario: 2 cells at 60 requests/s (30 per cell), the default mix (40 % writes), cell 0's
primary crashed at 60 s for a 20 s failover (10 + 5 + 5); the simulated gateway retries through
it (deadline 20 + 5 s), and standbys serve reads meanwhile (``reads_during_failover``).
"""

from __future__ import annotations

import csv
import json

import pytest

SCENARIO = """\
name: closed-demo
simulation: {horizon: 120s, replications: 2, seed: 7, mode: request}
topology:
  gns: null
  bus: null
  cells: {count: 2, template: {db: {failover: {detection: 10s, election: 5s, promotion: 5s}}}}
workload:
  transactions_per_day: 60/s
  profile: {peak_factor: 1}
  arrivals: closed
  users: 20
chaos:
  - {at: 60s, target: 'cell[0].db.primary', fault: crash, duration: 30s}
"""


def _offered(run_dir, a: int, b: int) -> float:
    """Requests offered per second over [a, b) s in replication 0 (timeseries.csv)."""
    with open(run_dir / "timeseries.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["replication"] == "0" and a <= float(r["t_start_s"]) < b]
    return sum(float(r["offered_requests"]) for r in rows) / (b - a)


def test_a_closed_loop_scenario_runs_and_its_load_collapses_in_the_outage(tmp_path, cli):
    """Closed: 20 users pace at 3/s each. Once the outage began, an operation blocks its user
    until the failover ends if it is a write from cell 0: probability p = 0.4 x 1/2 = 0.2 per
    operation. After 2 s (6 operations) a user is still free with probability 0.8^6 = 0.26 and
    then offers ~1/p = 5 more operations: ~26 requests over [62, 80) s for the 20 users (a
    standard deviation of ~14), against 60/s x 18 s = 1080 offered by Poisson arrivals, which
    do not wait. The assertion's 10 % of the open-loop rate (108) is ~6 standard deviations above
    26 (a false alarm < 1e-8; seeds are fixed). No request fails: the gateway's 25 s deadline
    outlasts the 20 s failover. Outside the outage the users offer users / pace = 60/s (the
    latency, ~15 ms, is far below the 333 ms pace: exact up to one operation per user, < 1 %;
    5 % allowed). Open arrivals, the same scenario otherwise, keep offering 60/s through the
    outage (a Poisson count of 1080, standard deviation 33 = 3 %: 10 % allowed, ~3.3 standard
    deviations, a false alarm ~1e-3 for another seed)."""
    sc = tmp_path / "closed.yaml"
    sc.write_text(SCENARIO)
    r = cli("run", sc, "--out", tmp_path / "closed", timeout=600)
    assert r.returncode == 0, r.stderr
    s = json.loads((tmp_path / "closed" / "summary.json").read_text())
    rm = s["request_mode"]
    assert rm["arrivals"] == "closed"
    assert rm["closed_loop"]["users"] == 20 and rm["closed_loop"]["rate_per_user"] == pytest.approx(3.0)
    assert rm["outcomes"]["requests"] > 0 and rm["outcomes"]["failed"] == 0
    closed = tmp_path / "closed"
    assert _offered(closed, 10, 60) == pytest.approx(60.0, rel=0.05)  # users / pace: latency << pace
    assert _offered(closed, 62, 80) < 0.1 * 60.0
    assert _offered(closed, 90, 120) == pytest.approx(60.0, rel=0.05)

    op = tmp_path / "open.yaml"
    op.write_text(SCENARIO.replace("  arrivals: closed\n  users: 20\n", ""))
    r = cli("run", op, "--out", tmp_path / "open", timeout=600)
    assert r.returncode == 0, r.stderr
    assert _offered(tmp_path / "open", 62, 80) == pytest.approx(60.0, rel=0.1)


@pytest.mark.parametrize("change,where,message", [
    (("users: 20", "users: 0"), "workload.users", "expected an integer >= 1, got 0"),
    (("  users: 20\n", ""), "workload.users", "expected an integer >= 1 (the concurrent users) with arrivals: closed"),
    (("  arrivals: closed\n", ""), "workload.users", "expected none with arrivals: open"),
    (("arrivals: closed", "arrivals: half"), "workload.arrivals", "expected 'open' or 'closed', got 'half'"),
    (("mode: request", "mode: fluid"), "workload.arrivals", "closed arrivals are simulated by simulation.mode: request only"),
])
def test_bad_closed_loop_settings_are_one_line_errors(tmp_path, cli, change, where, message):
    p = tmp_path / "bad.yaml"
    p.write_text(SCENARIO.replace(*change))
    r = cli("validate", p)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.yaml:" in lines[0] and f": {where}: {message}" in lines[0], r.stderr
