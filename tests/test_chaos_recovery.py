"""Recovery time per fault and the live summary figures, on hand-made request timelines."""

from __future__ import annotations

import math
import os

import pytest

from loadtests.analysis.records import RecordWriter, RequestRow, TransferRecord, read_requests, read_transfers
from loadtests.analysis.recovery import FaultEpisode, analyse_faults, per_second
from loadtests.analysis.summary import events_rows, live_availability_block
from sim.metrics import wilson


def _timeline(spec, t0=1000.0, rate=10):
    """spec: list of (from_s, to_s, outcome, latency_ms); ``rate`` requests per second."""
    rows = []
    for a, b, outcome, lat in spec:
        n = int(round((b - a) * rate))
        rows += [RequestRow(t0 + a + k / rate, lat, "intra", 200 if outcome == "ok" else 503, outcome) for k in range(n)]
    return sorted(rows, key=lambda r: r.t)


def test_recovery_from_first_failure_to_steady_success():
    # fault at 10 s; failures 11-14 s, a success at 12 s in the middle (flapping), then steady success
    rows = _timeline([(0, 11, "ok", 5), (11, 12, "unavailable", 5), (12, 12.1, "ok", 5),
                      (12.1, 14, "unavailable", 5), (14, 30, "ok", 5)])
    f = analyse_faults(rows, 1000.0, [FaultEpisode("kill-postmaster", "cell[0].db.primary", 10.0, 10.0)],
                       run_end=30.0, slow_ms=200)[0]
    assert f["recovery_seconds"] == pytest.approx(3.0, abs=1e-6)  # 11.0 -> 14.0
    assert f["failed_requests"] == 10 + 19
    assert f["recovered"] and f["detection_seconds"] == pytest.approx(1.0)


def test_no_failure_means_zero_recovery_but_slow_requests_show_as_disruption():
    rows = _timeline([(0, 10, "ok", 5), (10, 13, "ok", 900), (13, 30, "ok", 5)])
    f = analyse_faults(rows, 1000.0, [FaultEpisode("pause", "cell[1].db.primary", 9.5, 14.5)],
                       run_end=30.0, slow_ms=200)[0]
    assert f["recovery_seconds"] == 0.0 and f["failed_requests"] == 0
    assert f["slow_requests"] == 30 and f["disruption_seconds"] == pytest.approx(3.0, abs=1e-6)


def test_windows_split_at_the_next_fault_and_unrecovered_is_flagged():
    rows = _timeline([(0, 5, "ok", 5), (5, 7, "unknown", 5), (7, 20, "ok", 5), (20, 30, "unavailable", 5)])
    faults = [FaultEpisode("crash", "cell[0].app", 5.0, 5.0), FaultEpisode("down", "idc[b]", 20.0, 25.0)]
    a, b = analyse_faults(rows, 1000.0, faults, run_end=30.0, slow_ms=200)
    assert a["failed_requests"] == 20 and a["recovery_seconds"] == pytest.approx(2.0)
    assert b["failed_requests"] == 100 and not b["recovered"]
    assert b["recovery_seconds"] == pytest.approx(10.0)


def test_in_flight_request_at_fault_start_counts_for_that_fault():
    rows = [RequestRow(1009.9, 300.0, "cross", 0, "unknown")] + _timeline([(10.2, 20, "ok", 5)])
    f = analyse_faults(rows, 1000.0, [FaultEpisode("crash", "cell[1].db.primary", 10.0, 10.0)], 20.0, 200)[0]
    assert f["failed_requests"] == 1 and f["first_failure"] == 10.0
    assert f["recovery_seconds"] == pytest.approx(0.2)


def test_per_second_series_and_events():
    rows = _timeline([(0, 2, "ok", 5), (2, 3, "unavailable", 5), (3, 4, "ok", 5)])
    faults = [FaultEpisode("kill-postmaster", "cell[0].db.primary", 2.0, 2.0)]
    ts = per_second(rows, 1000.0, 4.0, 200, faults)
    assert [r["failed_requests"] for r in ts] == [0, 0, 10, 0]
    assert [r["offered_requests"] for r in ts] == [10, 10, 10, 10]
    assert ts[2]["cells_down"] == 1 and ts[0]["cells_down"] == 0
    ev = events_rows(analyse_faults(rows, 1000.0, faults, 4.0, 200))
    assert ev[0]["effect"] == "writes-down" and ev[0]["failed_requests"] == 10
    # an instantaneous kill's episode lasts as long as its effect (for shading plots)
    assert ev[0]["fault_end_s"] == 2.0 and ev[0]["end_s"] == pytest.approx(3.0, abs=0.01)


def test_wilson_interval_known_values():
    # reference values: Wilson 95 % for 0/10 is [0, 0.2775]; for 10000/10000 lower end is 0.99962
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.27753, abs=1e-4)
    lo, hi = wilson(10000, 10000)
    assert lo == pytest.approx(0.999616, abs=1e-5) and hi == 1.0
    a = live_availability_block(9990, 10000)
    assert a["ci95"][0] < a["mean"] < a["ci95"][1]
    assert a["nines"] == pytest.approx(-math.log10(1 - a["ci95"][0]), rel=1e-12)
    assert a["worst_day"] == {"mean": a["mean"], "min": a["mean"]} and a["ci_method"] == "wilson"
    assert a["failed_per_million"] == pytest.approx(1000.0)


def test_records_round_trip_and_last_line_wins(tmp_path):
    w = RecordWriter(str(tmp_path), tag="1")
    rec = TransferRecord("k-0000001", "a", "b", 5, False, 1.0, "unknown", attempts=0)
    w.transfer(rec)
    w.request(1.5, 3.0, "intra", 504, "unknown")
    rec.outcome, rec.status = "resolved", "applied"
    w.transfer(rec)
    w.close()
    with open(os.path.join(tmp_path, "requests-1.csv"), "a") as f:
        f.write("2.0,1.0")  # a row cut short by a killed process is skipped, not fatal
    assert [(t.key, t.outcome) for t in read_transfers(str(tmp_path))] == [("k-0000001", "resolved")]
    assert [r.outcome for r in read_requests(str(tmp_path))] == ["unknown"]


def test_cell_fault_is_measured_on_that_cells_traffic_and_stalls_show():
    # cell 1 stalls from 10 s to 14 s (requests held, then all succeed); cell 0 is unaffected
    rows = [RequestRow(1000.0 + k / 10, 5.0, "read", 200, "ok", "0") for k in range(300)]
    rows += [RequestRow(1000.0 + k / 10, 5.0, "read", 200, "ok", "1") for k in range(100)]
    rows += [RequestRow(1010.0 + k / 10, 4000.0 - k * 100, "intra", 200, "ok", "1") for k in range(40)]
    rows += [RequestRow(1014.0 + k / 10, 5.0, "cross", 200, "ok", "1;0") for k in range(160)]
    # transfers from cell 0 to cell 1 need only cell 0 synchronously: they do not hide cell 1's stall
    rows += [RequestRow(1010.0 + k / 10, 5.0, "cross", 200, "ok", "0;1") for k in range(40)]
    rows.sort(key=lambda r: r.t)
    f1 = analyse_faults(rows, 1000.0, [FaultEpisode("pause", "cell[1].db.primary", 10.0, 14.0)], 30.0, 200)[0]
    assert f1["scope"] == "cell[1]" and f1["failed_requests"] == 0
    assert f1["stall_seconds"] == pytest.approx(4.0, abs=0.01)  # 10.0 -> first completion at 14.0
    f0 = analyse_faults(rows, 1000.0, [FaultEpisode("pause", "cell[0].db.primary", 10.0, 14.0)], 30.0, 200)[0]
    assert f0["stall_seconds"] < 0.2  # cell 0 kept completing requests
