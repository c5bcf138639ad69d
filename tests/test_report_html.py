"""The report: every plot drawn is embedded in report.html, PNG+SVG written, absent data skipped
with a reason, live runs supported. Inputs are synthetic run directories (tests/fixtures_runs.py)."""

from __future__ import annotations

import base64
import json
import re
import shutil

import numpy as np

from sim.cli import main
from sim.report import write_report
from sim.report.plots import replication_downtimes
from sim.results.reader import load_run
from tests.fixtures_runs import make_run

ALL = {"timeline", "downtime_cdf", "cell_nines", "demand_capacity", "latency", "cost_breakdown"}


def _embedded(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)]


def test_report_embeds_every_plot(tmp_path):
    run = make_run(tmp_path, cells=6, replications=25, seed=21)
    path = write_report(run)
    html = path.read_text()
    pngs = sorted((run / "plots").glob("*.png"))
    assert {p.stem for p in pngs} == ALL
    assert {p.stem for p in (run / "plots").glob("*.svg")} == ALL
    embedded = _embedded(html)
    assert len(embedded) == len(pngs)
    assert {p.read_bytes() for p in pngs} == set(embedded)  # the same images, byte for byte
    assert all(b.startswith(b"\x89PNG") for b in embedded)
    assert "<script" not in html and "http://" not in html and "https://" not in html  # self-contained
    assert "Plots not drawn" not in html


def test_report_skips_absent_sections_with_reason(tmp_path):
    run = make_run(tmp_path, seed=22, horizon_days=30, with_cost=False, with_throughput=False, with_latency=False,
                   gates=["availability.request.mean>=0.5", "outages.count<0"])
    html = write_report(run).read_text()
    # the scenario's gates are evaluated on the run and shown with their verdicts
    assert "Scenario gates" in html and html.count("class=pass>PASS") == 1 and html.count("class=fail>FAIL") == 1
    assert {p.stem for p in (run / "plots").glob("*.png")} == {"timeline", "downtime_cdf", "cell_nines"}
    assert len(_embedded(html)) == 3
    for reason in ("no cost.breakdown", "no throughput.profile_tps", "no latency_ms"):
        assert reason in html


def test_report_rewrite_replaces_plots_atomically(tmp_path):
    run = make_run(tmp_path, seed=23, horizon_days=30, with_cost=False, with_throughput=False, with_latency=False)
    (run / "plots").mkdir()
    (run / "plots" / "stale.png").write_bytes(b"old")  # e.g. from an older report of this run
    assert main(["report", str(run)]) == 0
    assert (run / "plots" / "timeline.png").exists()
    assert not (run / "plots" / "stale.png").exists()
    assert not [p for p in run.iterdir() if p.name.startswith(".")]  # no temp leftovers


def test_live_run_report(tmp_path):
    run = make_run(tmp_path, kind="live", horizon_days=600 / 86400, replications=1, seed=24,
                   outages_per_year=4 * 365 * 86400 / 600, mean_outage_s=15, with_cost=False)
    html = write_report(run).read_text()
    assert (run / "plots" / "timeline.png").exists()
    assert "only 1 replication" in html  # a single live run has no downtime distribution
    assert "Injected faults" in html and "Checker" in html


def test_downtime_fallback_from_events_matches_replications_csv(tmp_path):
    # with uniform traffic (as the fixture draws it) time-weighted = request-weighted downtime,
    # so the events.csv reconstruction must reproduce replications.csv to rounding (1e-4 min)
    run = make_run(tmp_path, seed=25, replications=30)
    want, src = replication_downtimes(load_run(run))
    assert src == "replications.csv"
    (run / "replications.csv").unlink()
    got, src = replication_downtimes(load_run(run))
    assert src.startswith("events.csv")
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_report_bad_dir_exit_2(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "no such run directory" in capsys.readouterr().err
    bad = make_run(tmp_path, seed=26)
    (bad / "summary.json").write_text("{not json")
    assert main(["report", str(bad)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    shutil.rmtree(bad)


def test_failed_run_report(tmp_path):
    # what the runner leaves when a run fails: config, error, empty CSVs, no figures
    run = tmp_path / "failed"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps({
        "schema_version": 1, "kind": "simulation", "scenario": {"name": "broken"},
        "run": {"run_id": "failed", "status": "failed", "error": "ValueError: boom"}}))
    (run / "events.csv").write_text("replication,start_s,end_s,duration_s,target,cause,effect,failed_fraction\n")
    (run / "timeseries.csv").write_text("replication,t_start_s,t_end_s,offered_requests,failed_requests,"
                                        "slow_requests,failed_fraction,cells_down\n")
    html = write_report(run).read_text()
    assert "ValueError: boom" in html and "Plots not drawn" in html
    assert not list((run / "plots").glob("*.png"))


def test_cost_decompositions_get_one_panel_each():
    # the cost model reports the same total twice (by category, by role): never summed together
    from sim.report.plots import cost_breakdown
    from sim.results.reader import Run
    run = Run(None, {"scenario": {"name": "c"}, "cost": {
        "currency": "CNY", "total_per_year": 100.0, "per_account_per_year": 1.0,
        "breakdown": {"by_category": {"servers": 60.0, "power": 40.0, "cloud": 0.0},
                      "by_role": {"app": 70.0, "db": 30.0}}}})
    fig = cost_breakdown(run)
    assert len(fig.axes) == 2
    (a, b) = fig.axes
    assert [t.get_text() for t in a.get_yticklabels()] == ["power", "servers"]  # zero item omitted
    assert "1 zero items omitted" in a.get_title()
    assert sum(p.get_width() for p in b.patches) == 100.0


def test_cdf_scale_switches_to_log_only_for_wide_spreads():
    from sim.report.plots import cdf_scale, ecdf_xy
    assert cdf_scale([0.0, 2.0, 5.0, 9.0]) == (False, 0.0)
    log, floor = cdf_scale([0.0, 3.0, 4.0, 1300.0])
    assert log and floor == 1.5
    x, y = ecdf_xy([0.0, 3.0, 4.0, 1300.0], floor)
    assert list(x) == [1.5, 1.5, 3.0, 4.0, 1300.0] and list(y) == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_live_report_has_a_verdict_and_no_per_year_extrapolation(tmp_path):
    run = make_run(tmp_path, kind="live", horizon_days=600 / 86400, replications=1, seed=24,
                   outages_per_year=4 * 365 * 86400 / 600, mean_outage_s=15, with_cost=False)
    html = write_report(run).read_text()
    assert "Checker: VALID" in html and "1,000 acknowledged transfers, 0 lost, 0 duplicated" in html
    assert "<th>worst day," not in html and "<th>worst 30 days," not in html
    assert "<th>downtime, minutes per year" not in html
    assert "per-year figures" in html and "are not extrapolated" in html

    s = json.loads((run / "summary.json").read_text())  # the same run, the checker found lost money
    s["checker"].update(valid=False, lost=3, violation_count=120,
                        violations=[{"kind": "lost", "key": f"t-{i}", "message": f"transfer t-{i} acknowledged, "
                                     "not applied"} for i in range(120)])
    (run / "summary.json").write_text(json.dumps(s))
    html = write_report(run).read_text()
    assert "Checker: INVALID (120 violations)" in html and "3 lost" in html
    assert html.count("<td><code>t-") == 50 and "and 70 more" in html
    assert "{'" not in html and "[{" not in html  # no Python reprs


def test_cost_of_an_extra_nine_is_a_sentence_not_a_dict(tmp_path):
    run = make_run(tmp_path, cells=4, replications=10, seed=3)
    s = json.loads((run / "summary.json").read_text())
    s.setdefault("cost", {})["per_extra_nine"] = {"per_year": -1.85e7, "significant": False, "nines_gained": -0.03}
    (run / "summary.json").write_text(json.dumps(s))
    html = write_report(run).read_text()
    assert "not significant (the designs&#x27; CIs overlap)" in html and "{'" not in html
    s["cost"]["per_extra_nine"] = {"per_year": 2.5e6, "significant": True, "nines_gained": 0.8}
    (run / "summary.json").write_text(json.dumps(s))
    assert "2,500,000" in write_report(run).read_text()


def test_a_bank_of_many_cells_gets_the_distribution_of_its_cells(tmp_path):
    """Beyond MAX_CELLS_DRAWN cells the cell plot is a histogram (one bar per cell of 300,000
    cells made report hang); the worst cell and the bank's figure are still marked."""
    from sim.report.plots import MAX_CELLS_DRAWN, cell_nines
    run = make_run(tmp_path, cells=4, replications=5, seed=2)
    s = json.loads((run / "summary.json").read_text())
    rng = np.random.default_rng(0)
    n = 3 * MAX_CELLS_DRAWN
    s["cells"] = [{"cell": i, "availability": float(1 - 10 ** -rng.uniform(4, 6)), "ci95": None} for i in range(n)]
    (run / "summary.json").write_text(json.dumps(s))
    fig = cell_nines(load_run(run))
    ax = fig.axes[0]
    assert f"{n:,} cells" in ax.get_title() and len(ax.patches) <= 60
    assert any(t.get_text().startswith("worst cell") for t in ax.get_legend().get_texts())


def test_report_opens_with_a_verdict_naming_the_failed_gates(tmp_path):
    run = make_run(tmp_path, seed=22, horizon_days=30, with_cost=False, with_throughput=False, with_latency=False,
                   gates=["availability.request.mean>=0.5", "outages.count<0"])
    html = write_report(run).read_text()
    banner = re.search(r"<div class='verdict (\w+)'>(.*?)</div>", html)
    assert banner and banner.group(1) == "bad"
    assert "1 of 2 FAILED" in banner.group(2) and "outages.count" in banner.group(2)
    assert html.index("class='verdict") < html.index("<h2>Key figures")


def test_live_verdict_names_the_first_violation_and_nested_values_are_tables(tmp_path):
    run = make_run(tmp_path, kind="live", horizon_days=600 / 86400, replications=1, seed=24,
                   outages_per_year=4 * 365 * 86400 / 600, mean_outage_s=15, with_cost=False)
    s = json.loads((run / "summary.json").read_text())
    s["checker"].update(valid=False, lost=1, violation_count=1, per_cell={"0": {"lost": 1, "ok": 10}},
                        violations=[{"kind": "lost", "key": "t-7", "message": "transfer t-7 acknowledged, not applied"}])
    (run / "summary.json").write_text(json.dumps(s))
    html = write_report(run).read_text()
    banner = re.search(r"<div class='verdict (\w+)'>(.*?)</div>", html).group(2)
    assert "First violation: transfer t-7 acknowledged, not applied" in banner
    assert "<table class=nested><tr><th>lost</th>" in html  # checker.per_cell drawn as a table
    assert "{'" not in html and "[{" not in html
    assert "<th>downtime min/yr</th>" not in html  # outages by cause: no per-year column for minutes of load
