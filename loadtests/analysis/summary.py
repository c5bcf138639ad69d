"""summary.json, timeseries.csv and events.csv for live runs (``kind: live``), per docs/results-contract.md.

A live run is one replication of a short window, so the request availability is a binomial
proportion (succeeded requests / requests) and its 95 % interval is the Wilson score interval
(well behaved near 1, where the normal approximation claims impossible certainty); the block is
``sim.metrics.block_from_counts``, so ``nines`` follow the simulator's rule: from the pessimistic
end, and ``null`` with a note when no request failed. A live run is shorter than a
day, so ``worst_day`` and ``worst_30d`` equal the run's own figures; ``worst_10s`` is the worst
sliding 10-second window (a crash late in the run cannot be averaged away).

The columns of events.csv and timeseries.csv are ``sim.results.schema.LIVE_EVENTS_COLUMNS`` and
``LIVE_TIMESERIES_COLUMNS``; ``loadtests/run.py`` writes the directory with
``sim.results.writer``, like every other run.
"""

from __future__ import annotations

import numpy as np

from loadtests.analysis.records import USER_KINDS, RequestRow
from sim.metrics import MINUTES_PER_YEAR, block_from_counts
from sim.results.schema import summary_header

__all__ = ["live_availability_block", "latency_block", "throughput_block", "events_rows",
           "build_summary"]


def live_availability_block(ok: int, n: int, worst_window: float | None = None) -> dict:
    """``sim.metrics.block_from_counts`` (Wilson interval, the one nines rule) plus the live windows.

    A live run is shorter than a day, so ``worst_day`` and ``worst_30d`` are the run's own figure;
    ``worst_10s`` is the worst sliding 10-second window.
    """
    d = block_from_counts(ok, n)
    d["worst_day"] = {"mean": d["mean"], "min": d["mean"]}
    d["worst_30d"] = {"mean": d["mean"], "min": d["mean"]}
    if worst_window is not None:
        d["worst_10s"] = {"mean": worst_window, "min": worst_window}
    return d


def _worst_window(series: list[dict], width: int = 10) -> float | None:
    """Lowest request availability over any ``width``-second sliding window."""
    n = np.array([r["offered_requests"] for r in series], dtype=float)
    f = np.array([r["failed_requests"] for r in series], dtype=float)
    if n.size == 0 or n.sum() == 0:
        return None
    w = min(width, n.size)
    cn, cf = np.convolve(n, np.ones(w), "valid"), np.convolve(f, np.ones(w), "valid")
    ok = cn > 0
    return float((1 - cf[ok] / cn[ok]).min()) if ok.any() else None


def latency_block(rows: list[RequestRow]) -> dict:
    """Latency percentiles over all user requests (failed ones included: a user waited for them)."""
    def pct(lat):
        if not lat:
            return {"p50": None, "p90": None, "p99": None, "p999": None, "max": None, "mean": None, "count": 0}
        a = np.array(lat)
        return {"p50": round(float(np.percentile(a, 50)), 3), "p90": round(float(np.percentile(a, 90)), 3),
                "p99": round(float(np.percentile(a, 99)), 3), "p999": round(float(np.percentile(a, 99.9)), 3),
                "max": round(float(a.max()), 3), "mean": round(float(a.mean()), 3), "count": int(a.size)}
    users = [r for r in rows if r.kind in USER_KINDS]
    d = pct([r.latency_ms for r in users])
    d["ok"] = pct([r.latency_ms for r in users if r.ok])
    d["by_kind"] = {k: pct([r.latency_ms for r in users if r.kind == k]) for k in USER_KINDS}
    return d


def throughput_block(rows: list[RequestRow], series: list[dict], duration: float) -> dict:
    users = [r for r in rows if r.kind in USER_KINDS]
    ok = [r for r in users if r.ok]
    transfers = [r for r in ok if r.kind in ("intra", "cross")]
    per_s = [r["ok_requests"] for r in series]
    return {
        "requests_per_second": round(len(ok) / duration, 3) if duration else None,
        "offered_requests_per_second": round(len(users) / duration, 3) if duration else None,
        "transfers_per_second": round(len(transfers) / duration, 3) if duration else None,
        "peak_requests_per_second": max(per_s) if per_s else None,
        "requests": len(users), "ok_requests": len(ok), "status_lookups": sum(1 for r in rows if r.kind == "resolve"),
    }


_EFFECT = {"gateway": "bank-down", "gns": "bank-down", "relay": "cross-cell-down", "bus": "cross-cell-down"}


def events_rows(faults: list[dict]) -> list[dict]:
    """One events.csv row per injected fault (effect from what the clients saw)."""
    out = []
    for f in faults:
        tgt = f["target"]
        if f.get("failed_requests", 0) == 0:
            effect = "slow" if f.get("slow_requests", 0) else "none"
        elif tgt.startswith("cell["):
            effect = "writes-down"
        elif tgt.startswith(("idc[", "etcd")):
            effect = "cells-degraded"
        else:
            effect = _EFFECT.get(tgt, "cells-degraded")
        n = f.get("requests") or 0
        # the episode lasts while the fault is held and while its effect is seen (a kill is
        # instantaneous, the outage it causes is not), so plots can shade the whole period
        impact_end = f["start"] + (f.get("stall_seconds") or 0.0)
        if f.get("first_failure") is not None and f.get("recovery_seconds") is not None:
            impact_end = max(impact_end, f["first_failure"] + f["recovery_seconds"])
        end = round(max(f["end"], impact_end), 3)
        out.append({"replication": 0, "start_s": f["start"], "end_s": end,
                    "duration_s": round(end - f["start"], 3), "target": tgt, "cause": f["kind"],
                    "effect": effect, "failed_fraction": round(f.get("failed_requests", 0) / n, 6) if n else 0.0,
                    "recovery_s": f.get("recovery_seconds"), "failed_requests": f.get("failed_requests", 0),
                    "stall_s": f.get("stall_seconds"), "fault_end_s": f["end"], "detail": f.get("detail", "")})
    return out


def build_summary(*, rows: list[RequestRow], series: list[dict], faults: list[dict], checker: dict | None,
                  duration: float, run: dict, scenario: dict) -> dict:
    """The summary.json document of a live run."""
    users = [r for r in rows if r.kind in USER_KINDS]
    ok = sum(1 for r in users if r.ok)
    req = live_availability_block(ok, len(users), _worst_window(series))
    good_s = sum(1 for s in series if s["failed_requests"] == 0)
    tim = live_availability_block(good_s, len(series))
    tim["definition"] = "share of 1-second buckets without a failed request"
    mean_u = None if req["mean"] is None else 1 - req["mean"]
    return {
        **summary_header("live"),
        "availability": {"request": req, "time": tim},
        "downtime_minutes_per_year": {
            "mean": None if mean_u is None else mean_u * MINUTES_PER_YEAR,
            "ci95": None if req["ci95"] is None else [(1 - req["ci95"][1]) * MINUTES_PER_YEAR,
                                                      (1 - req["ci95"][0]) * MINUTES_PER_YEAR]},
        "outages": {"count": sum(1 for f in faults if f.get("failed_requests", 0) > 0)},
        "estimator": {"method": "binomial", "interval": "wilson", "confidence": 0.95},
        "latency_ms": latency_block(rows),
        "throughput": throughput_block(rows, series, duration),
        "faults": faults,
        "checker": checker,
        "run": run,
        "scenario": scenario,
    }
