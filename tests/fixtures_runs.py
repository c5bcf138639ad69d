"""Synthetic run directories that follow docs/results-contract.md, as INPUT for the readers' tests.

These are not simulator results: a small seeded generator draws fault episodes (Poisson count,
uniform start, exponential duration) per replication, and every summary figure is then computed
from those episodes with the contract's definitions (mean, 95 % t-interval, nines from the
pessimistic end, worst day / worst 30 days, per cell). So the files are mutually consistent, the
way a reader will see them from the engine, and tests can check readers against known inputs.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import yaml
from scipy import stats

__all__ = ["make_run", "CAUSES"]

CAUSES = ("server", "bad-change", "idc", "disk", "gns")
DAY = 86400.0


def _ci(x: np.ndarray) -> tuple[float, float, float]:
    m = float(np.mean(x))
    if len(x) < 2:
        return m, m, m
    hw = float(stats.t.ppf(0.975, len(x) - 1) * np.std(x, ddof=1) / math.sqrt(len(x)))
    return m, m - hw, m + hw


def _nines(a: float) -> float | None:
    # as the contract's writer does: no failure seen -> no nines claimed (JSON null), never infinity
    return None if a >= 1.0 else -math.log10(1.0 - a)


def _avail_block(a: np.ndarray, worst_day: np.ndarray, worst_30d: np.ndarray) -> dict:
    m, lo, hi = _ci(a)
    lo, hi = max(lo, 0.0), min(hi, 1.0)
    return {
        "mean": m, "ci95": [lo, hi], "half_width": (hi - lo) / 2, "nines": _nines(lo),
        "nines_ci95": None if _nines(lo) is None else [_nines(lo), _nines(hi)], "failed_per_million": 1e6 * (1 - m),
        "worst_day": {"mean": float(np.mean(worst_day)), "min": float(np.min(worst_day))},
        "worst_30d": {"mean": float(np.mean(worst_30d)), "min": float(np.min(worst_30d))},
    }


def make_run(root: str | Path, *, name: str = "fixture", run_id: str = "r1", seed: int = 1,
             replications: int = 30, cells: int = 4, horizon_days: float = 365.0,
             outages_per_year: float = 8.0, mean_outage_s: float = 300.0, bank_down_share: float = 0.1,
             slo_availability: float = 0.99999, kind: str = "simulation", with_cost: bool = True,
             with_throughput: bool = True, with_latency: bool = True,
             with_replications_csv: bool = True, gates: list[str] | None = None,
             cost_per_account: float = 2.0, step_s: float | None = None) -> Path:
    """Write one run directory ``root/name/run_id`` and return its path."""
    rng = np.random.default_rng(seed)
    horizon = horizon_days * DAY
    step = step_s or (1.0 if kind == "live" else 3600.0)
    years = horizon / (365 * DAY)
    n_days = max(int(math.ceil(horizon / DAY)), 1)

    episodes = []  # (rep, start, end, target, cause, effect, ff)
    for r in range(replications):
        n = rng.poisson(outages_per_year * years)
        for _ in range(n):
            start = float(rng.uniform(0, horizon))
            dur = float(rng.exponential(mean_outage_s))
            end = min(start + dur, horizon)
            cause = str(rng.choice(CAUSES))
            if rng.random() < bank_down_share:
                target, effect, ff = "bank", "bank-down", 1.0
            else:
                c = int(rng.integers(cells))
                target, effect, ff = f"cell[{c}].db", "cell-down", 1.0 / cells
            episodes.append((r, start, end, target, cause, effect, ff))
        # absorbed faults (no effect), listed for the first replications only, as the contract says
        if r < 10:
            for _ in range(rng.poisson(3 * years)):
                s = float(rng.uniform(0, horizon))
                episodes.append((r, s, min(s + 60.0, horizon), f"cell[{int(rng.integers(cells))}].db.replica[1]",
                                 "server", "none", 0.0))
    episodes.sort(key=lambda e: (e[0], e[1]))

    # per replication: unavailability (uniform traffic, so request-weighted = time-weighted here)
    a_rep = np.ones(replications)
    worst_day = np.ones(replications)
    worst_30 = np.ones(replications)
    cell_u = np.zeros((replications, cells))
    outage_counts = np.zeros(replications, dtype=int)
    for r in range(replications):
        daily = np.zeros(n_days)
        for (rr, s, e, target, cause, effect, ff) in episodes:
            if rr != r or effect == "none":
                continue
            outage_counts[r] += 1
            d0 = int(s // DAY)
            daily[min(d0, n_days - 1)] += (e - s) * ff  # episodes are short: book on their start day
            if effect == "bank-down":
                cell_u[r, :] += (e - s)
            else:
                cell_u[r, int(target[5:target.index("]")])] += (e - s)
        a_rep[r] = 1.0 - daily.sum() / horizon
        day_len = np.full(n_days, DAY)
        day_len[-1] = horizon - DAY * (n_days - 1)
        worst_day[r] = float(np.min(1.0 - daily / day_len))
        w = min(30, n_days)
        roll = np.convolve(daily, np.ones(w), "valid") / (w * DAY)
        worst_30[r] = float(1.0 - roll.max())
    cell_a = 1.0 - cell_u / horizon
    downtime = (1.0 - a_rep) * 525_600.0

    block = _avail_block(a_rep, worst_day, worst_30)
    dm, dlo, dhi = _ci(downtime)
    by_cause = {}
    eff = [e for e in episodes if e[5] != "none"]
    for cause in sorted({e[4] for e in eff}):
        mins = sum((e[2] - e[1]) * e[6] for e in eff if e[4] == cause) / horizon * 525_600 / replications
        by_cause[cause] = {"count": sum(1 for e in eff if e[4] == cause), "downtime_minutes_per_year": mins}
    total = sum(v["downtime_minutes_per_year"] for v in by_cause.values()) or 1.0
    for v in by_cause.values():
        v["share"] = v["downtime_minutes_per_year"] / total

    scenario = {"name": name, "simulation": {"horizon": horizon, "replications": replications, "seed": seed,
                                             "timeseries_step": step},
                "topology": {"cells": {"count": cells}},
                "slo": {"availability": slo_availability, "latency": 0.2, "window": 30 * DAY},
                "gates": list(gates or [])}
    summary = {
        "schema_version": 1, "kind": kind,
        "availability": {"request": block, "time": block, "request_slo": block},
        "downtime_minutes_per_year": {"mean": dm, "ci95": [max(dlo, 0.0), dhi]},
        "outages": {"count": int(outage_counts.sum()), "per_year": float(outage_counts.sum()) / (replications * years),
                    "by_cause": by_cause},
        "cells": [{"cell": c, "availability": _ci(cell_a[:, c])[0],
                   "ci95": [max(_ci(cell_a[:, c])[1], 0.0), min(_ci(cell_a[:, c])[2], 1.0)],
                   "nines": _nines(max(_ci(cell_a[:, c])[1], 0.0))} for c in range(cells)],
        "estimator": {"method": "naive"},
        "run": {"run_id": run_id, "seed": seed, "replications": replications, "horizon_days": horizon_days,
                "warmup_days": 0.0, "wall_seconds": 1.25, "scenario_sha256": "0" * 64,
                "scenario_file": f"scenarios/{name}.yaml", "workers": 1, "mode": "fluid",
                "hivesim_version": "0.1.0", "python": "3.11", "started_utc": "2026-11-28T12:00:00Z",
                "status": "ok"},
        "scenario": scenario,
    }
    if with_throughput:
        hours = np.arange(24)
        profile = 1000.0 * (1 + 0.8 * np.sin((hours - 8) / 24 * 2 * math.pi))
        summary["throughput"] = {"profile_tps": [float(x) for x in profile], "peak_tps_demand": float(profile.max()),
                                 "capacity_tps": 2500.0, "capacity_tps_n_minus_1_idc": 1700.0,
                                 "peak_daily_transactions": float(profile.sum() * 3600),
                                 "peak_daily_transactions_n_minus_1_idc": 1700.0 * 86400 / 3,
                                 "headroom": 2500.0 / float(profile.max())}
    if with_latency:
        summary["latency_ms"] = {"p50": 4.2, "p90": 9.0, "p99": 31.5, "p999": 120.0}
    if with_cost:
        br = {"servers": 0.57, "network": 0.08, "power_cooling": 0.18, "electricity": 0.13, "staff": 0.04}
        tot = cost_per_account * 1_000_000
        summary["cost"] = {"currency": "CNY", "total_per_year": tot, "per_account_per_year": cost_per_account,
                           "breakdown": {k: v * tot for k, v in br.items()}, "per_extra_nine": tot * 0.4}
    if kind == "live":
        summary["faults"] = [{"kind": "crash", "target": e[3], "start": e[1], "end": e[2],
                              "recovery_seconds": e[2] - e[1], "failed_requests": 10}
                             for e in episodes if e[0] == 0 and e[5] != "none"]
        summary["checker"] = {"valid": True, "acknowledged": 1000, "lost": 0, "duplicated": 0, "unknown": 0}
    if gates:
        scenario["gates"] = list(gates)

    out = Path(root) / name / run_id
    out.mkdir(parents=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "scenario.yaml").write_text(yaml.safe_dump(scenario, sort_keys=False))
    with open(out / "events.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["replication", "start_s", "end_s", "duration_s", "target", "cause", "effect", "failed_fraction"])
        for (r, s, e, target, cause, effect, ff) in episodes:
            if effect != "none" or r < 10:
                w.writerow([r, f"{s:.3f}", f"{e:.3f}", f"{e - s:.3f}", target, cause, effect, ff])
    with open(out / "timeseries.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["replication", "t_start_s", "t_end_s", "offered_requests", "failed_requests",
                    "slow_requests", "failed_fraction", "cells_down"])
        n_b = int(math.ceil(horizon / step))
        t0 = np.arange(n_b) * step
        t1 = np.minimum(t0 + step, horizon)
        hour = (t0 % DAY) / 3600.0
        offered = 11.6 * (t1 - t0) * (1 + 0.8 * np.sin((hour - 8) / 24 * 2 * math.pi))
        failed_s = np.zeros(n_b)
        down = np.zeros(n_b, dtype=int)
        for (r, s, e, target, cause, effect, ff) in episodes:
            if r != 0 or effect == "none":
                continue
            b0, b1 = int(s // step), min(int(e // step), n_b - 1)
            for b in range(b0, b1 + 1):
                failed_s[b] += max(0.0, min(e, t1[b]) - max(s, t0[b])) * ff
                down[b] = max(down[b], cells if effect == "bank-down" else 1)
        ff_b = np.clip(failed_s / (t1 - t0), 0, 1)
        for b in range(n_b):
            w.writerow([0, f"{t0[b]:.1f}", f"{t1[b]:.1f}", f"{offered[b]:.1f}", f"{offered[b] * ff_b[b]:.3f}",
                        0, f"{ff_b[b]:.6g}", down[b]])
    if with_replications_csv:
        with open(out / "replications.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["replication", "availability_request", "availability_time", "downtime_minutes", "outages"])
            for r in range(replications):
                w.writerow([r, f"{a_rep[r]:.10f}", f"{a_rep[r]:.10f}", f"{downtime[r]:.6f}", outage_counts[r]])
    return out
