"""Several live runs pooled into one calibration (sim.calibration.pool, `hivesim calibrate RUN RUN`).

The pooling rule is checked on hand-made per-run calibrations (exact figures: weighted means and
the samples each run contributes); the refusals on the committed runs, through the CLI (exit 2,
one line, nothing written, before any fit).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.calibration.pool import pool

BASE = Path(__file__).resolve().parents[1] / "results" / "baselines"
A1 = BASE / "kinds-a-20261203T073916Z-7d7b"     # 1 s gateway deadline
A10 = BASE / "kinds-a-20261203T043918Z-1325"    # 10 s (live-smoke's)


def _cal(run_id, outage, extra=None, samples=None, factor=None):
    c = {"source": {"run_id": run_id, "scenario": "kinds-a"}, "fit": {"replay_seeds": [0, 1]},
         "service_ms": {"read": {"median_ms": float(len(run_id)), "sigma": 0.5}}, "outage_seconds": outage}
    if extra:
        c["outage_extra_seconds"] = extra
    if samples:
        c["outage_samples"] = samples
    if factor:
        c["latency_factor"] = factor
    return c


def test_pooled_figures_are_fault_weighted_means_and_samples_are_every_runs_faults():
    a = _cal("run-a", {"kill-patroni": 3.0, "crash": 20.0}, extra={"partition": -0.5},
             samples={"crash": [19.0, 21.0]}, factor={"latency": 64.0})
    b = _cal("run-b", {"kill-patroni": 5.0, "crash": 26.0}, extra={"partition": -0.9}, factor={"latency": 10.0})
    c = _cal("run-c", {"kill-patroni": 4.0})
    out = pool([a, b, c], [{"kill-patroni": 1, "crash": 2, "partition": 1, "latency": 1},
                           {"kill-patroni": 1, "crash": 1, "partition": 1, "latency": 1}, {"kill-patroni": 1}])
    assert out["outage_seconds"] == {"crash": pytest.approx((2 * 20.0 + 26.0) / 3), "kill-patroni": 4.0}
    assert out["outage_extra_seconds"] == {"partition": pytest.approx(-0.7)}
    assert out["latency_factor"] == {"latency": pytest.approx(37.0)}
    # a run's own per-fault figures where it has them, else its one class figure
    assert out["outage_samples"] == {"crash": [19.0, 21.0, 26.0], "kill-patroni": [3.0, 5.0, 4.0],
                                     "partition": [-0.5, -0.9]}
    assert "latency" not in out["outage_samples"]  # a factor, not a length: predict does not draw it
    assert [s["run_id"] for s in out["sources"]] == ["run-a", "run-b", "run-c"]
    assert out["source"]["run_id"] == "run-a" and out["service_ms"] == a["service_ms"]  # the first run's
    assert out["fit"]["runs"] == 3


def test_a_class_seen_once_across_the_runs_has_no_samples():
    out = pool([_cal("run-a", {"crash": 20.0}), _cal("run-b", {"kill-postmaster": 4.0})],
               [{"crash": 1}, {"kill-postmaster": 1}])
    assert out["outage_seconds"] == {"crash": 20.0, "kill-postmaster": 4.0}
    assert "outage_samples" not in out


@pytest.mark.parametrize("runs,expected", [
    ((A1, A10), "live.gateway_deadline: expected 1.0"),
    ((A1, A1), "run.run_id: expected each run once"),
])
def test_runs_that_cannot_be_pooled_are_refused_before_any_fit(cli, tmp_path, runs, expected):
    out = tmp_path / "cal.yaml"
    r = cli("calibrate", *runs, "--out", out)
    assert r.returncode == 2, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and expected in lines[0] and "Traceback" not in r.stderr, r.stderr
    assert not out.exists()
