"""Compare on two runs: deltas against the first, CI overlap, Markdown/HTML with embedded overlays."""

from __future__ import annotations

import base64
import json
import re

import pytest

from sim.cli import main
from sim.readers.compare import compare_runs
from tests.fixtures_runs import make_run


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("cmp")
    a = make_run(root, name="a", seed=31, outages_per_year=4, replications=30, horizon_days=60, cost_per_account=2.0)
    b = make_run(root, name="b", seed=32, outages_per_year=40, replications=30, horizon_days=60, cost_per_account=2.6)
    return a, b


def test_table_deltas_and_overlap(two_runs):
    a, b = two_runs
    runs, rows = compare_runs([a, b])
    by = {r.key: r for r in rows}
    sa, sb = (json.loads((p / "summary.json").read_text()) for p in (a, b))
    m = by["availability.request.mean"]
    assert m.deltas[1] == pytest.approx(sb["availability"]["request"]["mean"] - sa["availability"]["request"]["mean"])
    ca, cb = sa["availability"]["request"]["ci95"], sb["availability"]["request"]["ci95"]
    assert m.overlap[1] == (ca[0] <= cb[1] and cb[0] <= ca[1])
    assert m.overlap[1] is False  # ten times the outage rate: the CIs separate (fixed seeds)
    assert by["cost.per_account_per_year"].deltas[1] == pytest.approx(0.6)
    assert by["run.seed"].deltas[1] is None  # identifiers get no delta
    assert by["outages.per_year"].overlap[1] is None  # no CI for that key


def test_compare_cli_writes_markdown_html_and_overlays(two_runs, tmp_path, capsys):
    a, b = two_runs
    out = tmp_path / "cmp"
    assert main(["compare", str(a), str(b), "--out", str(out)]) == 0
    md = (out / "compare.md").read_text()
    assert "| metric | #1 a/r1 | #2 b/r1 |" in md and "CIs disjoint" in md
    assert "`availability.request.nines`" in md and "`cost.per_account_per_year`" in md
    html = (out / "compare.html").read_text()
    pngs = {p.stem: p.read_bytes() for p in out.glob("*.png")}
    assert set(pngs) == {"downtime_cdf", "cost_vs_nines"} and all((out / f"{s}.svg").exists() for s in pngs)
    embedded = [base64.b64decode(x) for x in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)]
    assert sorted(embedded) == sorted(pngs.values())
    # refusing to overwrite, and bad input, are exit 2 with one line
    assert main(["compare", str(a), str(b), "--out", str(out)]) == 2
    assert main(["compare", str(a)]) == 2
    assert main(["compare", str(a), str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "at least two" in err and "no such run directory" in err
    assert "Traceback" not in err
