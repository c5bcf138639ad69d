"""Paired comparisons (issue 13 item 3) and gates on confidence (item 4).

The regression of issue 13: webank-2023, same seed, failover detection 20 s vs 30 s, 20 one-year
replications. Unpaired, the two 95 % intervals overlap; paired, the per-replication difference of
request availability is about -5.5e-7 with an interval well away from 0 (measured here: mean
-5.46e-7, 95 % CI [-6.00e-7, -4.91e-7]). The runs are deterministic for the seed, so the
assertions hold exactly for this build; they are stated loosely (sign and order of magnitude) so
a harmless engine change does not break them while a broken pairing does. ~6 s on one core.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.cli import main
from sim.readers.compare import compare_runs, to_markdown
from sim.readers.confidence import check_level, end_value
from sim.readers.gate import check_run
from sim.readers.paired import pairing, paired_difference, table_of_run
from sim.results.reader import load_run

DETECTION = "topology.cells.template.db.failover.detection"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from sim.runner import run_to_dir
    from sim.scenario import load_scenario
    root = tmp_path_factory.mktemp("paired")
    out = {}
    for tag, sets in (("d20", []), ("d30", [f"{DETECTION}=30s"]),
                      ("d30_other_seed", [f"{DETECTION}=30s", "simulation.seed=7", "simulation.horizon=90d"])):
        sc = load_scenario("scenarios/webank-2023.yaml", sets=["simulation.replications=20", *sets])
        out[tag], _ = run_to_dir(sc, root / tag, workers=1, progress=False)
    return out


def _row(rows, key):
    return next(r for r in rows if r.key == key)


def test_compare_finds_the_regression_paired_that_unpaired_misses(runs):
    run_list, rows = compare_runs([runs["d20"], runs["d30"]])
    row = _row(rows, "availability.request.mean")
    assert row.overlap[1] is True                     # the finding: unpaired, "CIs overlap"
    d = row.diffs[1]
    assert d.paired and d.n == 20 and d.significant
    assert -1e-6 < d.mean < -2e-7 and d.hi < 0       # ~ -5.5e-7, interval excludes 0
    assert abs(d.mean - row.deltas[1]) < 1e-9        # the paired mean is the difference of the means
    md = to_markdown(run_list, rows)
    assert "paired (n=20)" in md and "significant" in md
    # downtime is paired too (replications.csv has it); nines are not (no per-replication value)
    assert _row(rows, "downtime_minutes_per_year.mean").diffs[1].paired
    assert not _row(rows, "availability.request.nines").diffs[1].paired


def test_other_seed_is_unpaired(runs):
    a, b = load_run(runs["d20"]), load_run(runs["d30_other_seed"])
    p = pairing(a.summary, table_of_run(a), b.summary, table_of_run(b))
    assert not p.paired and p.label == "unpaired" and "seed" in p.reason
    _, rows = compare_runs([runs["d20"], runs["d30_other_seed"]])
    d = _row(rows, "availability.request.mean").diffs[1]
    assert not d.paired and d.lo is None


def test_gate_baseline_fails_paired_regression(runs):
    argv = ["gate", str(runs["d30"]), "--baseline", str(runs["d20"]), "--no-scenario-gates",
            "--max-regression", "availability.request.mean=0"]
    assert main(argv) == 1
    [r] = check_run(runs["d30"], regressions=["availability.request.mean=0"], baseline=runs["d20"],
                    use_scenario=False)
    assert not r.passed and "paired (n=20)" in r.detail
    # the same change, unpaired (other seed): the intervals overlap, so no breach can be shown
    [u] = check_run(runs["d30_other_seed"], regressions=["availability.request.mean=0"], baseline=runs["d20"],
                    use_scenario=False)
    assert "unpaired" in u.detail
    # the improvement direction: 30 s -> 20 s is better, never a regression
    [g] = check_run(runs["d20"], regressions=["availability.request.mean=0"], baseline=runs["d30"],
                    use_scenario=False)
    assert g.passed


def test_gate_on_the_lower_end(runs):
    s = load_run(runs["d20"]).summary
    lo, hi = s["availability"]["request"]["ci95"]
    assert end_value(s, "availability.request.lower") == lo
    assert end_value(s, "downtime_minutes_per_year.upper") == s["downtime_minutes_per_year"]["ci95"][1]
    mean = s["availability"]["request"]["mean"]
    between = f"{100 * (lo + mean) / 2:.10f}%"         # above the lower end, below the mean
    d = str(runs["d20"])
    assert main(["gate", d, "--no-scenario-gates", "--require", f"availability.request.mean>={between}"]) == 0
    assert main(["gate", d, "--no-scenario-gates", "--require", f"availability.request.lower>={between}"]) == 1
    assert main(["gate", d, "--no-scenario-gates", "--confidence", "0.95",
                 "--require", f"availability.request.mean>={between}"]) == 1
    # a wider interval (99 %) from replications.csv reads a lower end still
    [r] = check_run(runs["d20"], requires=["availability.request.mean>=0"], use_scenario=False, confidence=0.99)
    assert r.passed and r.value < lo and "99% interval" in r.detail


def test_bad_confidence_is_exit_2(runs, capsys):
    assert main(["gate", str(runs["d20"]), "--confidence", "1.5", "--require", "availability.request.mean>=0"]) == 2
    assert check_level("95%") == 0.95


def test_paired_interval_covers_a_known_difference():
    """The paired t-interval over i.i.d. differences covers the true mean difference ~95 % of the
    time: 2000 synthetic trials of 20 correlated pairs, coverage within 0.95 +- 0.02 (4.1 binomial
    standard errors of 0.0049: a false alarm about once in 20,000 runs of this test)."""
    rng = np.random.default_rng(13)
    hits = 0
    for _ in range(2000):
        common = rng.gamma(0.5, 2e-5, 20)             # the shared part: skewed, like per-replication downtime
        x = {i: {"availability_request": 1 - c} for i, c in enumerate(common)}
        y = {i: {"availability_request": 1 - c - 5e-7 + rng.normal(0, 1e-7)} for i, c in enumerate(common)}
        d = paired_difference("availability.request.mean", x, y)
        hits += d.lo <= -5e-7 <= d.hi
    assert abs(hits / 2000 - 0.95) < 0.02
