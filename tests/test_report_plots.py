"""Plots that hold up: PNG at >= 150 dpi, SVG with real text and byte-identical across re-renders,
no legend entry for an all-zero (float-noise) series, equal-cost runs drawn apart in compare."""

from __future__ import annotations

import csv
import struct

import pytest

from sim.report import write_report
from sim.report.timeline import timeline
from sim.results.reader import load_run
from tests.fixtures_runs import make_run


def _png_dpi(data: bytes) -> float:
    """Pixels per inch from the PNG's pHYs chunk (unit 1 = metre)."""
    i = data.index(b"pHYs")
    ppu_x, _, unit = struct.unpack(">IIB", data[i + 4:i + 13])
    assert unit == 1
    return ppu_x * 0.0254


def test_png_at_150_dpi_and_svg_reproducible_with_real_text(tmp_path):
    run = make_run(tmp_path, cells=4, replications=6, seed=5)
    write_report(run)
    first = {p.name: p.read_bytes() for p in (run / "plots").glob("*.svg")}
    pngs = {p.name: p.read_bytes() for p in (run / "plots").glob("*.png")}
    assert first and pngs
    for name, data in pngs.items():
        assert _png_dpi(data) >= 149.9, name
        w, h = struct.unpack(">II", data[16:24])
        assert w >= 150 * 6, name  # every figure is at least 6 inches wide
    write_report(run)
    again = {p.name: p.read_bytes() for p in (run / "plots").glob("*.svg")}
    assert again == first  # byte-identical: no date, no random ids
    for name, data in first.items():
        assert b"<text" in data, name  # text as text, not as paths
        assert b"<dc:date>" not in data


def test_no_slow_requests_legend_when_all_zero_or_float_noise(tmp_path):
    run = make_run(tmp_path, cells=4, replications=3, seed=6)
    ts = run / "timeseries.csv"
    rows = list(csv.DictReader(ts.open()))
    for i, r in enumerate(rows):
        r["slow_requests"] = "2e-26" if i % 3 == 0 else "0"
    with ts.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    fig = timeline(load_run(run))
    labels = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert labels and not any("slow requests" in t for t in labels)


def test_timeline_cause_labels_do_not_collide(tmp_path):
    run = make_run(tmp_path, cells=6, replications=2, seed=7, outages_per_year=200)
    fig = timeline(load_run(run))
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in fig.axes[0].texts]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b)


def test_equal_cost_runs_are_drawn_apart_in_compare(tmp_path):
    from sim.readers.compare import overlay_cost_nines
    runs = [load_run(make_run(tmp_path / str(s), cells=4, replications=5, seed=s)) for s in (1, 2)]
    assert runs[0].get("cost.per_account_per_year") == runs[1].get("cost.per_account_per_year")
    fig = overlay_cost_nines(runs)
    ax = fig.axes[0]
    lines = [c.lines[0] for c in ax.containers]
    assert [ln.get_xdata()[0] for ln in lines] == [runs[0].get("cost.per_account_per_year")] * 2  # the true cost
    on_screen = [ln.get_transform().transform((ln.get_xdata()[0], ln.get_ydata()[0]))[0] for ln in lines]
    assert abs(on_screen[0] - on_screen[1]) >= 5  # but drawn apart
    assert "drawn a few points apart" in ax.get_xlabel()
    assert sorted(t.get_text() for t in ax.texts) == ["#1", "#2"]


def test_plots_drawn_in_a_pool_equal_those_drawn_here_and_a_failure_writes_nothing(tmp_path, monkeypatch):
    # write_report draws each plot in a pool process (sim.report.draw_plots): the files and the
    # report must not depend on it, and a plot that fails there must fail the report as it would
    # here: no plots/, no report.html, the run directory itself untouched
    import sim.report as report
    run = make_run(tmp_path, cells=4, replications=6, seed=5)
    monkeypatch.setattr(report, "plot_workers", lambda: 2)
    write_report(run)
    pooled = {p.name: p.read_bytes() for p in (run / "plots").iterdir()}
    pooled_html = (run / "report.html").read_bytes()
    monkeypatch.setattr(report, "plot_workers", lambda: 1)
    write_report(run)
    assert {p.name: p.read_bytes() for p in (run / "plots").iterdir()} == pooled
    assert (run / "report.html").read_bytes() == pooled_html

    def boom(_run):
        raise RuntimeError("plot exploded")

    fresh = make_run(tmp_path / "fresh", cells=4, replications=6, seed=5)
    before = sorted(p.name for p in fresh.iterdir())
    monkeypatch.setattr(report, "plot_workers", lambda: 2)
    plots = list(report.PLOTS)
    plots[2] = plots[2][:3] + (boom,)
    monkeypatch.setattr(report, "PLOTS", plots)
    with pytest.raises(RuntimeError, match="plot exploded"):
        write_report(fresh)
    assert sorted(p.name for p in fresh.iterdir()) == before  # no plots/, no report.html, no staging left
