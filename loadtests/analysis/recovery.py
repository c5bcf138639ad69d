"""Recovery time per fault, and per-second series, from the per-request records of a live run.

Definitions (documented in docs/live-benchmark.md, reported in summary.json ``faults``; the
window and recovery rules are ``sim.calibration.windows``, shared with the replay of a live run):

* A fault's **window** runs from its start to the next fault's start (or the end of the run).
* A request belongs to the window in which it completed (``t + latency`` in [start, end)):
  requests in flight when a primary is killed fail because of that fault, and a request in
  flight when the *next* fault starts and failing from it counts for the next fault.
* **failed_requests**: requests of the window that did not get a definite answer
  (503, 504, other 5xx, broken connections, timeouts); user operations only (reads, transfers),
  not the client's own status lookups.
* **recovery_seconds**: from the first failed request (its start, or the fault's start if it was
  already in flight) to the first successful request started after the window's last failure,
  i.e. to steady success again. 0 when nothing failed. ``recovered`` is false (and
  ``recovery_seconds`` counts to the end of the window) if no request succeeded after the last
  failure within ``steady`` seconds of data.
* **disruption_seconds** is the same with slow requests (above the scenario's ``slo.latency``)
  counted as bad too.
* **stall_seconds**: the longest time, from the fault's start to the window's end, with no
  request of the fault's scope *completing* successfully -- a failover the gateway hides by
  holding requests until a new primary answers shows here even when nothing failed.
* **scope**: a fault on ``cell[i]...`` is measured on the requests cell i serves (reads of its
  accounts, transfers from them; a cross-cell credit arrives later through the relay), any other
  fault on all requests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from loadtests.analysis.records import USER_KINDS, RequestRow
from sim.calibration.windows import cell_scope, completed_in, fault_cell, longest_stall, recovery_in_window, window_end

__all__ = ["FaultEpisode", "analyse_faults", "per_second"]


@dataclass
class FaultEpisode:
    """One injected fault, times in seconds from the start of the run."""

    kind: str
    target: str
    start: float
    end: float
    detail: str = ""           # what was actually hit (member names, PIDs)
    error: str | None = None   # the injector could not apply it
    hit: list = field(default_factory=list)  # the same as data: [{name, kind, cell, role}]

    def to_dict(self) -> dict:
        return {"kind": self.kind, "target": self.target, "start": round(self.start, 3),
                "end": round(self.end, 3), "detail": self.detail, "hit": self.hit, "error": self.error}


def analyse_faults(rows: list[RequestRow], t0: float, faults: list[FaultEpisode], run_end: float,
                   slow_ms: float, steady: float = 3.0) -> list[dict]:
    """Per fault: recovery_seconds, failed_requests, slow_requests, requests, max_latency_ms ..."""
    order = sorted(range(len(faults)), key=lambda i: faults[i].start)
    starts = [faults[i].start for i in order]
    out: list[dict | None] = [None] * len(faults)
    for n, i in enumerate(order):
        f = faults[i]
        cell = fault_cell(f.target)
        users = [r for r in rows if r.kind in USER_KINDS and (cell is None or r.touches(cell))]
        ts = np.array([r.t - t0 for r in users], dtype=float)
        lat = np.array([r.latency_ms for r in users], dtype=float)
        failed = np.array([not r.ok for r in users], dtype=bool)
        slow = lat > slow_ms
        w_end = window_end(starts, n, run_end)
        # a request belongs to the fault in force when its outcome was seen (its completion):
        # one in flight when the next fault starts and failing from it counts for the next one
        sel = completed_in(ts, lat / 1000.0, f.start, w_end)
        te = ts + lat / 1000.0
        wt, wf, ws, wl = ts[sel], failed[sel], slow[sel], lat[sel]
        rec_s, recovered, first_fail = recovery_in_window(wt, wf, f.start, w_end, steady)
        dis_s, _, _ = recovery_in_window(wt, wf | ws, f.start, w_end, steady)
        done = np.sort(te[~failed])
        d = f.to_dict()
        d.update({
            "recovery_seconds": None if rec_s is None else round(rec_s, 3),
            "recovered": recovered,
            "failed_requests": int(wf.sum()),
            "slow_requests": int((ws & ~wf).sum()),
            "requests": int(sel.sum()),
            "scope": "all" if cell is None else f"cell[{cell}]",
            "first_failure": None if first_fail is None else round(first_fail, 3),
            "detection_seconds": None if first_fail is None else round(first_fail - f.start, 3),
            "disruption_seconds": None if dis_s is None else round(dis_s, 3),
            "stall_seconds": round(longest_stall(done, f.start, w_end), 3),
            "max_latency_ms": round(float(wl.max()), 1) if wl.size else None,
            "window_end": round(w_end, 3),
        })
        out[i] = d
    return out  # type: ignore[return-value]


def per_second(rows: list[RequestRow], t0: float, duration: float, slow_ms: float,
               faults: list[FaultEpisode] = ()) -> list[dict]:
    """One row per second of the run (timeseries.csv, replication 0)."""
    n = max(1, int(math.ceil(duration)))
    users = [r for r in rows if r.kind in USER_KINDS]
    buckets: list[list[RequestRow]] = [[] for _ in range(n)]
    for r in users:
        i = int(r.t - t0)
        if 0 <= i < n:
            buckets[i].append(r)
    out = []
    for i, b in enumerate(buckets):
        lat = np.array([r.latency_ms for r in b]) if b else np.array([])
        failed = sum(1 for r in b if not r.ok)
        cells = {cell_scope(f.target) for f in faults
                 if cell_scope(f.target) is not None and f.start < i + 1 and max(f.end, f.start + 1e-9) > i}
        out.append({
            "replication": 0, "t_start_s": i, "t_end_s": i + 1, "offered_requests": len(b),
            "failed_requests": failed,
            "slow_requests": int(sum(1 for r in b if r.ok and r.latency_ms > slow_ms)),
            "failed_fraction": round(failed / len(b), 6) if b else 0.0,
            "cells_down": len(cells),
            "ok_requests": len(b) - failed,
            "transfers": sum(1 for r in b if r.kind in ("intra", "cross")),
            "latency_p50_ms": round(float(np.percentile(lat, 50)), 2) if b else "",
            "latency_p99_ms": round(float(np.percentile(lat, 99)), 2) if b else "",
            "faults_active": sum(1 for f in faults if f.start < i + 1 and max(f.end, f.start + 1e-9) > i),
        })
    return out
