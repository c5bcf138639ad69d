"""The one confidence interval and the one availability block (``sim.metrics``).

A perfect run gives the same answer in every engine (nines null, with a note); one failure gives
nines from the pessimistic end; one value gives no interval and so no nines.
"""

from __future__ import annotations

import math

import pytest
from scipy import stats

from sim.metrics import (NOTE_NO_FAILURE, NOTE_ONE_REPLICATION, block_from_counts, block_from_estimate,
                         block_from_replications, loss_interval, t_interval)


def test_t_interval_known_value():
    m, lo, hi = t_interval([1.0, 2.0, 3.0, 4.0])
    h = stats.t.ppf(0.975, 3) * math.sqrt(5 / 3) / 2
    assert m == 2.5 and lo == pytest.approx(2.5 - h, rel=1e-12) and hi == pytest.approx(2.5 + h, rel=1e-12)


def test_t_interval_edges():
    assert t_interval([0.7]) == (0.7, None, None)          # n < 2: no interval, never NaN
    m, lo, hi = t_interval([])
    assert math.isnan(m) and lo is None and hi is None
    assert t_interval([0.5, 0.5, 0.5]) == (0.5, 0.5, 0.5)  # zero variance: a zero-width interval
    assert t_interval([1, 2]).mean == 1.5                  # fields by name too


def _blocks_perfect():
    return {"replications": block_from_replications([1.0, 1.0, 1.0]),
            "estimate": block_from_estimate(0.0, 0.0),
            "counts": block_from_counts(1000, 1000)}


@pytest.mark.parametrize("kind", ["replications", "estimate", "counts"])
def test_perfect_run_claims_no_nines_in_every_engine(kind):
    b = _blocks_perfect()[kind]
    assert b["nines"] is None and b["nines_ci95"] is None and b["note"] == NOTE_NO_FAILURE
    assert b["mean"] == 1.0 and b["failed_per_million"] == 0.0
    assert b["ci95"] is not None and b["ci95"][1] == 1.0   # the interval itself is still reported


@pytest.mark.parametrize("block", [
    block_from_replications([1.0, 0.9999, 1.0]),
    block_from_estimate(1e-4 / 3, 1e-5),
    block_from_counts(9999, 10000),
])
def test_one_failure_gives_nines_from_the_pessimistic_end(block):
    lo, hi = block["ci95"]
    assert lo < block["mean"] <= hi <= 1.0
    assert block["nines"] == pytest.approx(-math.log10(1 - lo), rel=1e-12)
    assert block["nines_ci95"][0] == block["nines"]
    assert "note" not in block
    # never more nines than the mean supports
    assert block["nines"] <= -math.log10(1 - block["mean"])


def test_one_value():
    b = block_from_replications([0.999])
    assert b["mean"] == 0.999 and b["ci95"] is None and b["half_width"] is None
    assert b["nines"] is None and b["note"] == NOTE_ONE_REPLICATION
    c = block_from_counts(1, 1)                 # one request, served: no failure seen
    assert c["nines"] is None and c["note"] == NOTE_NO_FAILURE and c["requests"] == 1
    d = block_from_counts(0, 1)                 # one request, failed: an interval and nines
    assert d["mean"] == 0.0 and d["nines"] is not None and d["failed"] == 1
    e = block_from_counts(0, 0)                 # nothing offered: no figure at all
    assert e["mean"] is None and e["nines"] is None and e["ci95"] is None


def test_replication_block_matches_the_interval():
    # was: ci95 == the t-interval; since the few-event fix the block's interval is loss_interval's
    # (the compound-Poisson bound united with the t-interval), so it contains the t-interval
    vals = [0.99991, 0.99993, 0.99990, 0.99995]
    eps = [100, 120, 90, 110]
    b = block_from_replications(vals, eps)
    m, lo, hi = t_interval(vals)
    li = loss_interval([1 - v for v in vals], eps)
    assert b["mean"] == pytest.approx(m, rel=1e-15) and b["ci95"] == [1 - li.hi, 1 - li.lo]
    assert b["ci95"][0] <= lo + 1e-15 and b["ci95"][1] >= hi - 1e-15   # computed on losses: last bits
    assert b["failed_per_million"] == pytest.approx((1 - m) * 1e6)
    assert b["episodes"] == 420 and b["reliability"] == "ok" and b["ci_method"] == "compound-poisson"
    few = block_from_replications(vals)          # no counts: one episode per replication with a loss
    assert few["episodes"] == 4 and few["reliability"] == "few-events"
    assert few["ci95"][0] < b["ci95"][0]         # fewer episodes, a wider (more pessimistic) bound
