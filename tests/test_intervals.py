"""The few-event interval (``sim.metrics.intervals.loss_interval``) and where it shows.

Exact checks (Garwood's published values, the edges, the union rule), the exact miss probability
of the compound-Poisson product for gamma episode costs (the figures the module docstring quotes),
a Monte Carlo check with costs more variable than exponential, and the ``episodes`` /
``reliability`` figures in summary.json, the console table and the report.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from rich.console import Console
from scipy import stats

from sim.console import print_summary
from sim.engine import ReplicationResult
from sim.metrics import (FEW_EVENTS, aggregate, block_from_replications, garwood, loss_interval, reliability,
                         t_interval)
from sim.report.html import render
from sim.results.reader import Run
from sim.results.schema import is_known_key, spec_of


def test_garwood_published_values():
    # Garwood (1936) 95 % limits, as tabulated (e.g. Ulm 1990): 0 -> [0, 3.689], 1 -> [0.0253, 5.572],
    # 10 -> [4.795, 18.39]
    assert garwood(0) == (0.0, pytest.approx(3.689, abs=1e-3))
    assert garwood(1) == (pytest.approx(0.0253, abs=1e-4), pytest.approx(5.572, abs=1e-3))
    assert garwood(10) == (pytest.approx(4.795, abs=1e-3), pytest.approx(18.39, abs=1e-2))


def test_quantiles_are_scipy_stats_bit_for_bit():
    # the intervals call scipy.special directly (scipy.stats' import was most of a run's serial
    # tail); every figure they give must stay the one scipy.stats gives, to the last bit
    from sim.metrics.intervals import _chi2_ppf, _norm_cdf, _norm_ppf, _t_ppf
    rng = np.random.default_rng(17)
    qs = np.concatenate([rng.random(3000), [0.0, 1.0, 0.025, 0.975, 0.0125, 0.9875, 0.083, 1e-300, 1 - 1e-16]])
    dfs = np.concatenate([rng.integers(1, 400, 60).astype(float), rng.random(40) * 60, [1e-6, 0.0, -1.0, math.nan]])
    for i, q in enumerate(qs):
        df = float(dfs[i % len(dfs)])
        for df_ in (df, int(df) if df == df and df == int(df) else df):
            assert np.array_equal(_t_ppf(float(q), df_), float(stats.t.ppf(q, df_)), equal_nan=True), (q, df_)
            assert np.array_equal(_chi2_ppf(float(q), df_), float(stats.chi2.ppf(q, df_)), equal_nan=True), (q, df_)
        assert _norm_ppf(float(q)) == float(stats.norm.ppf(q))
        assert _norm_cdf(float(q) * 8 - 4) == float(stats.norm.cdf(float(q) * 8 - 4))


def test_edges():
    assert loss_interval([0.0])[:4] == (0.0, None, None, 0)        # one replication: no interval
    li = loss_interval([0.0, 0.0, 0.0], [0, 0, 0])                 # nothing seen: unbounded
    assert li.lo == 0.0 and li.hi == math.inf and li.episodes == 0
    b = block_from_replications([1.0, 1.0, 1.0], [0, 0, 0])
    assert b["ci95"] == [0.0, 1.0] and b["nines"] is None and b["reliability"] == "few-events"
    # a loss without a counted episode (shedding, slow requests) is one episode
    assert loss_interval([0.0, 1e-6, 2e-6], [0, 0, 3]).episodes == 4


def test_union_contains_the_t_interval_and_fewer_episodes_widen_it():
    rng = np.random.default_rng(4)
    for _ in range(50):
        x = rng.exponential(1e-5, 30) * (rng.random(30) < 0.5)
        eps = (x > 0) * rng.integers(1, 20, 30)
        m, lo, hi = t_interval(x)
        li = loss_interval(x, eps)
        assert li.mean == pytest.approx(m) and li.lo <= max(lo, 0.0) and li.hi >= hi
        assert loss_interval(x).hi >= li.hi                   # counting fewer episodes only widens


def test_reliability_threshold():
    assert FEW_EVENTS == 30
    assert reliability(29) == "few-events" and reliability(30) == "ok" and reliability(0) == "few-events"


def test_a_few_long_episodes_among_many_short_ones_are_few_events():
    # 200 replications: 300 failovers of cost 1, and 3 repairs of cost 300 that carry most of the loss
    x = np.zeros(200)
    eps = np.zeros(200, dtype=int)
    x[:150], eps[:150] = 2.0, 2
    x[150:153] += 300.0
    eps[150:153] += 1
    b = block_from_replications(1.0 - 1e-6 * x, eps)
    assert b["episodes"] == 303 and b["episodes_effective"] < FEW_EVENTS and b["reliability"] == "few-events"


def _miss(mean_count: float, shape: float, a: float = 0.0125) -> float:
    """Exact probability that route (a)'s product lies below the truth, for Poisson(mean_count)
    episodes with Gamma(shape) costs, taking N' = N (no variance correction: that only widens)."""
    n = np.arange(1, 4000)
    g_hi = stats.chi2.ppf(1 - a, 2 * n + 2) / 2
    # miss <=> g_hi * 2 S / chi2(a, 2n) < mean_count * c, S / c ~ Gamma(n shape) / shape
    x = shape * mean_count * stats.chi2.ppf(a, 2 * n) / (2 * g_hi)
    return float((stats.poisson.pmf(n, mean_count) * stats.gamma.cdf(x, n * shape)).sum())


QUADRATURE = float(stats.norm.cdf(stats.norm.ppf(0.025) / math.sqrt(2)))   # 8.3 % per factor


@pytest.mark.parametrize("shape, a, bound", [(1.0, 0.0125, 0.0015), (0.7, 0.0125, 0.007), (0.5, 0.0125, 0.0215),
                                             (1.0, QUADRATURE, 0.0246)])
def test_product_miss_is_below_alpha_for_every_episode_rate(shape, a, bound):
    # the figures quoted in the module docstring: the Bonferroni split (few episodes) for costs with
    # CV 1, 1.2 and 1.41; the quadrature split (many) for exponential costs; 0.05 to 2000 expected episodes
    worst = max(_miss(m, shape, a) for m in np.geomspace(0.05, 2000, 60))
    assert worst <= bound <= 0.025


def test_over_claim_rate_with_costs_more_variable_than_exponential():
    """Compound Poisson, 3 expected episodes per run, gamma costs with CV 1.41 (shape 0.5): the
    pessimistic end lies below the truth at most ALLOWED times in 2000 runs, the 99.9 % quantile
    of Binomial(2000, 0.025) (2.5 % + ~3.2 standard errors: false-alarm rate <= 0.1 %)."""
    runs, reps, lam = 2000, 100, 0.03
    allowed = int(stats.binom.ppf(0.999, runs, 0.025))
    rng = np.random.default_rng(11)
    counts = rng.poisson(lam, (runs, reps))
    over = 0
    for i in range(runs):
        losses = np.array([rng.gamma(0.5, 2.0, k).sum() for k in counts[i]])
        over += loss_interval(losses, counts[i]).hi < lam            # truth: lam x mean cost 1
    assert over <= allowed, (over, allowed)


def _result(i: int, failed: float, outages: int, cells: list[float]) -> ReplicationResult:
    return ReplicationResult(index=i, span=86400.0 * 365, offered=86400.0 * 365, failed_req=failed, failed_time=failed,
                             cell_failed=cells, cause_failed={"server": failed} if failed else {},
                             cause_episodes={"server": outages} if outages else {}, outages=outages,
                             day_offered=[86400.0] * 365, day_failed=[failed / 365] * 365, rpo_exposure=0.0)


def _summary() -> dict:
    res = [_result(i, 60.0 * (i % 3 == 0), int(i % 3 == 0), [60.0 * (i % 3 == 0)]) for i in range(12)]
    s = aggregate(res)
    s["run"] = {"replications": 12, "horizon_days": 365, "seed": 1, "wall_seconds": 0.1, "workers": 1}
    s["scenario"] = {"name": "few"}
    return s


def test_summary_reports_episodes_and_reliability_and_downtime_agrees():
    s = _summary()
    req = s["availability"]["request"]
    assert req["episodes"] == 4 == s["outages"]["count"] and req["reliability"] == "few-events"
    assert req["ci_method"] == "compound-poisson" and s["availability"]["time"]["reliability"] == "few-events"
    lo, hi = req["ci95"]
    assert s["downtime_minutes_per_year"]["ci95"] == pytest.approx([(1 - hi) * 525600, (1 - lo) * 525600])
    assert s["cells"][0]["episodes"] == 4 and s["cells"][0]["reliability"] == "few-events"
    for key in ("availability.request.episodes", "availability.time.reliability", "availability.request.ci_method",
                "cells[0].episodes", "cells[0].reliability"):
        assert is_known_key(key) and spec_of(key).better is None


def test_console_and_report_say_few_events():
    s = _summary()
    buf = io.StringIO()
    print_summary(s, console=Console(file=buf, width=200))
    text = buf.getvalue()
    assert "episodes" in text and "4 (few events)" in text and f"fewer than {FEW_EVENTS} outage episodes" in text
    s.update({"schema_version": 1, "kind": "simulation"})
    page = render(Run(None, s), [], [])
    assert "<p class=few><b>Few events.</b>" in page and "4 outage episodes" in page
