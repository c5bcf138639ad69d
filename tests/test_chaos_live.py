"""``hivesim live scenarios/live-smoke.yaml`` on real etcd/Patroni/PostgreSQL processes.

The smoke scenario kills cell 0's primary postmaster at 15 s and freezes cell 1's primary for
25 s (beyond the 20 s Patroni ttl) at 35 s, under ~150 transfers/s offered by 20 closed-loop
users for 90 s. The run must give a verdict with money conserved and a recovery measurement for
each fault. Takes ~4 minutes (bring-up, 90 s of load, check, teardown). Skipped when the Debian
packages are missing, unless HIVESIM_REQUIRE_LIVE=1 (then missing binaries fail the test).
"""

from __future__ import annotations

import csv
import json
import re
import os

import pytest

from tests.conftest import require_live

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = [pytest.mark.live, pytest.mark.slow]


def test_live_smoke_verdict_with_recovery_per_fault(tmp_path):
    require_live()
    from loadtests.run import LiveOptions, run_live
    from sim.scenario import load_scenario

    sc = load_scenario(os.path.join(ROOT, "scenarios", "live-smoke.yaml"))
    out = run_live(sc, LiveOptions(scenario_file="scenarios/live-smoke.yaml", results_root=str(tmp_path),
                                   run_id="ci"), log=print)
    s = out.summary
    for f in s["faults"]:  # the numbers behind the closing note (visible with -s)
        print(f"fault {f['kind']} {f['target']}: recovery {f['recovery_seconds']} s, failed {f['failed_requests']}, "
              f"stall {f['stall_seconds']} s, max latency {f['max_latency_ms']} ms")
    print(f"availability {s['availability']['request']['mean']}, transfers/s {s['throughput']['transfers_per_second']}")
    assert s["run"]["status"] == "ok", s["run"].get("error")
    chk = s["checker"]
    assert chk["valid"], out.explanation
    assert chk["total_before"] == chk["total_after"] > 0 and chk["acknowledged"] > 100
    assert chk["replicas_converged"] and chk["lost"] == 0 and chk["duplicated"] == 0
    assert chk["unknown"] == chk["unknown_resolved"]
    assert out.exit_code == 0

    kinds = [f["kind"] for f in s["faults"]]
    assert kinds == ["kill-postmaster", "pause"]
    for f in s["faults"]:
        assert f["error"] is None, f
        assert f["recovery_seconds"] is not None and f["recovered"], f
        assert f["requests"] > 0
    # a primary frozen beyond the ttl stops its cell's writes until Patroni promotes a standby:
    # the cell cannot complete requests for most of the ttl (20 s) -- whether the gateway holds
    # them (stall) or gives up on them (failures)
    pause = s["faults"][1]
    assert pause["stall_seconds"] >= 10 or pause["failed_requests"] > 0, pause
    assert pause["end"] - pause["start"] == pytest.approx(25, abs=2)
    # the record names the member and the role it had when hit (the IDC model reads roles)
    assert re.match(r"c1-m\d \[leader\]: SIGSTOP \d+ processes", pause["detail"]), pause["detail"]

    d = out.run_dir
    for name in ("summary.json", "scenario.yaml", "events.csv", "timeseries.csv", "checker.json",
                 "locust_stats.csv", "locust_stats_history.csv"):
        assert os.path.exists(os.path.join(d, name)), name
    with open(os.path.join(d, "events.csv")) as f:
        assert [r["cause"] for r in csv.DictReader(f)] == ["kill-postmaster", "pause"]
    with open(os.path.join(d, "summary.json")) as f:
        assert json.load(f)["kind"] == "live"
    assert not [p for p in os.listdir(tmp_path / "live-smoke") if p.endswith(".tmp")]
