"""The replay of a live run, and its prediction (``predict_run``).

Locust's users are a *closed* loop: each of ``live.load.users`` users paces at ``rate / users``
and waits for its answer, so during an outage the offered load collapses (every user ends up
blocked on the broken cell). An open-loop model over-predicts failures there (the prediction
reports that figure too, as ``open_loop``), so the replay runs the users explicitly:
``_ClosedLoop`` issues each user's operations (reads, same-cell and cross-cell transfers, with the
client's retry / status-lookup rules of loadtests/locustfile.py) and the gateway answers each
attempt from the cell's state.

The failover time per fault kind, the service-time distribution per transaction type and the
gateway's deadline come from a calibration (``sim.calibrate``), made on a *different* live run.
(``simulation.mode: request`` is ``sim.request.mode``.)
"""

from __future__ import annotations

import heapq
import math
import os
import random
from dataclasses import dataclass

import numpy as np

from sim.calibration.windows import completed_in, fault_cell, recovery_in_window, window_end
from sim.errors import HivesimError
from sim.request import FaultWindow, RetryPolicy, simulate_window
from sim.scenario.model import CHAOS_TARGET_RE

__all__ = ["LiveRun", "read_live_run", "ReplayModel", "replay", "outages_of", "per_second",
           "fault_figures", "predict_run", "fault_table", "plot_faults", "write_prediction_dir", "USER_KINDS"]

USER_KINDS = ("read", "intra", "cross")
MIN_SERVICE = 0.005   # s: the bank's latency with nothing else to do (floor of the scaling)
IN_DB_SECONDS = 0.05  # a write this close after the outage began was inside its commit

# --------------------------------------------------------------------------- live runs (files only)
@dataclass
class LiveRun:
    """What a recorded live run directory holds (summary.json, timeseries.csv, scenario.yaml)."""

    path: str
    summary: dict
    series: list[dict]          # timeseries.csv rows (1 s buckets by request start)
    scenario: object            # the effective Scenario
    faults: list[dict]          # summary["faults"], sorted by start
    duration: float

    @property
    def users(self) -> int:
        return int(self.scenario.live.load.users)

    @property
    def deadline(self) -> float:
        return float(self.scenario.live.gateway_deadline)


def _num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def read_live_run(path) -> LiveRun:
    """Read a ``hivesim live`` run directory (only its files, per the results contract)."""
    import csv
    import json
    import os

    from sim.errors import ScenarioError
    from sim.scenario import validate_document
    from sim.scenario.loader import Located

    p = os.fspath(path)
    sp = os.path.join(p, "summary.json")
    if not os.path.isfile(sp):
        raise HivesimError(f"{p}: not a run directory (no summary.json)")
    try:
        with open(sp, encoding="utf-8") as f:
            summary = json.load(f)
    except (OSError, ValueError) as exc:
        raise HivesimError(f"{sp}: unreadable JSON ({exc})") from None
    if summary.get("kind") != "live":
        raise HivesimError(f"{sp}: kind: expected 'live' (a hivesim live run), got {summary.get('kind')!r}")
    for key in ("faults", "scenario", "run"):
        if key not in summary:
            raise HivesimError(f"{sp}: {key}: missing (not a complete live run)")
    tp = os.path.join(p, "timeseries.csv")
    if not os.path.isfile(tp):
        raise HivesimError(f"{p}: timeseries.csv missing")
    with open(tp, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    need = {"t_start_s", "offered_requests", "failed_requests", "ok_requests", "latency_p50_ms", "latency_p99_ms"}
    if rows and not need <= set(rows[0]):
        raise HivesimError(f"{tp}: expected columns {sorted(need)}, got {sorted(rows[0])}")
    series = [{k: _num(v) for k, v in r.items()} for r in rows]
    try:
        sc = validate_document(Located(summary["scenario"], {}, sp + ":scenario"))
    except ScenarioError as exc:
        raise HivesimError(f"{sp}: scenario: {exc}") from None
    if sc.live is None:
        raise HivesimError(f"{sp}: scenario.live: missing (not a live scenario)")
    faults = sorted((f for f in summary["faults"] if not f.get("error")), key=lambda f: f["start"])
    duration = float(summary["run"].get("duration_seconds") or len(series))
    return LiveRun(p, summary, series, sc, faults, duration)


# --------------------------------------------------------------------------- closed-loop replay
@dataclass
class ReplayModel:
    """Parameters of the replay: load (from the run's scenario) + calibration (from another run)."""

    users: int
    rate_per_user: float
    mix: tuple[float, float, float]     # reads, intra-cell, cross-cell
    cells: int
    accounts: int
    duration: float
    deadline: float                     # the gateway's retry deadline (s)
    op_deadline: float                  # the client's deadline for one transfer (s)
    service: dict                       # kind -> (median s, lognormal sigma) of an answered request
    gateway_poll: float = 0.2           # the gateway's longest backoff between retries (s)
    client_backoff: float = 0.2         # the client's first backoff after a 503 (s); doubles ...
    client_max_backoff: float = 1.0     # ... up to this
    processor_sharing: bool = True      # latency scales with the users being served (saturated bank)
    outage_jitter: float = 0.0          # each outage lasts its kind's time + U(0, this) s (Patroni's loop_wait)

    @classmethod
    def for_run(cls, run: LiveRun, calibration: dict) -> "ReplayModel":
        sc = run.scenario
        live = sc.live
        mix = sc.workload.mix
        svc = {k: (float(v["median_ms"]) / 1000.0, float(v["sigma"]))
               for k, v in calibration["service_ms"].items()}
        gw = calibration.get("gateway", {})
        cl = calibration.get("client", {})
        return cls(users=int(live.load.users), rate_per_user=float(live.load.rate) / int(live.load.users),
                   mix=(mix.reads, mix.intra_cell, mix.cross_cell), cells=sc.topology.cells.count,
                   accounts=int(live.accounts), duration=run.duration,
                   deadline=float(live.gateway_deadline),
                   op_deadline=max(2 * float(live.gateway_deadline), 10.0),
                   service=svc, gateway_poll=float(gw.get("max_backoff", 0.2)),
                   client_backoff=float(cl.get("backoff", 0.2)),
                   client_max_backoff=float(cl.get("max_backoff", 1.0)),
                   outage_jitter=float(live.patroni.loop_wait))


class _ClosedLoop:
    """Locust's users against the gateway, one operation at a time per user (see module doc).

    The bank side has no queue here: at the live benchmark's load its latency is a service time
    drawn from the calibrated distribution (which already holds the queueing of the measured
    run), and a cell without a usable primary answers nothing until its outage ends. A request
    meets its database at a uniform moment m inside its latency (the rest is gateway and app
    queueing on either side); if m is in an outage [a, b), the gateway retries inside its
    deadline: the request is answered at b (+ the gateway's poll) + the rest of its latency if
    b - m <= deadline, else it fails at m + deadline + the rest of its latency (504 if a write
    was inside its commit when the primary died, 503 otherwise).
    """

    def __init__(self, m: ReplayModel, outages: dict[int, list[tuple[float, float]]], rng: random.Random):
        self.m, self.out, self.rng = m, outages, rng  # scalar draws: random.Random is ~10x numpy's
        self.known: set[int] = set()  # accounts the gateway has seen to exist (cross-cell check)
        self.rows: list[tuple] = []  # start, latency s, kind, ok, cells touched
        p = np.asarray(m.mix, dtype=float)
        self.p = p / p.sum()
        self.blocked: dict[int, float] = {}  # user -> waiting on a dead cell until then (only while > now)
        if m.outage_jitter > 0:  # Patroni notices a failure on its next loop: a random extra delay
            self.out = {c: [(a, b + rng.random() * m.outage_jitter) for a, b in w] for c, w in outages.items()}
        self.now, self.user = 0.0, None

    def _svc(self, kind: str) -> float:
        med, sig = self.m.service[kind]
        # the measured bank is saturated (its latency is mostly queueing for 2 shared cores), so
        # it is processor sharing: latency scales with the users actually being served. Users
        # waiting on a dead cell load nothing, and the healthy cell gets fast during an outage.
        busy = self.m.users
        if self.m.processor_sharing and self.blocked:
            self.blocked = {u: x for u, x in self.blocked.items() if x > self.now}
            busy -= len(self.blocked)
        return max(med * busy / self.m.users, MIN_SERVICE) * math.exp(sig * self.rng.gauss(0.0, 1.0))

    def _attempt(self, t: float, cell: int, svc: float, budget: float, write: bool):
        """-> (answer time, ok, status, budget left) of a request sent at t with ``budget`` seconds
        of the gateway's deadline left."""
        pre = self.rng.random() * svc
        m = t + pre  # the moment it reaches the database: queues before and after it
        gp = self.m.gateway_poll
        for a, b in self.out.get(cell, ()):
            if a <= m < b:
                ready = b + (self.rng.random() * gp if b - m > gp else 0.0)
                if ready - m <= budget:
                    self._block(ready)
                    return ready + svc - pre, True, 200, budget - (ready - m)
                self._block(m + budget)
                # in the database when it died: the commit's fate is unknown (504), else 503.
                # (A frozen primary is the same: the app cuts a hung statement at the deadline,
                # and only a write already inside its COMMIT is unknown; live runs show few lookups.)
                status = 504 if write and m - a < IN_DB_SECONDS else 503
                return m + budget + svc - pre, False, status, 0.0
        return t + svc, True, 200, budget

    def _block(self, until: float) -> None:
        if self.user is not None and until > self.blocked.get(self.user, 0.0):
            self.blocked[self.user] = until

    def _cell(self) -> int:
        return int(self.rng.random() * self.m.cells)

    def _transfer(self, t: float, cross: bool) -> float:
        m = self.m
        kind = "cross" if cross else "intra"
        src = self._cell()
        dst = (src + 1 + int(self.rng.random() * (m.cells - 1))) % m.cells if cross and m.cells > 1 else src
        dst_acct = int(self.rng.random() * max(m.accounts, 1))
        stop = t + m.op_deadline
        backoff = m.client_backoff
        while True:
            at, ok, status, left = t, True, 200, m.deadline
            if cross and dst_acct not in self.known:  # the gateway checks the destination first
                # its time is inside the measured latency of a cross-cell transfer already: it only
                # matters when the destination cell is down
                at, ok, status, left = self._attempt(t, dst, 0.0, left, False)
                if ok:
                    self.known.add(dst_acct)
                else:
                    status = 503
            if ok:
                at, ok, status, _ = self._attempt(at, src, self._svc(kind), left, True)
            self.rows.append((t, at - t, kind, ok, (src, dst)))
            t = at
            if ok:
                return t
            if status == 504:  # unknown: the client looks the key up at the source cell (not a row:
                # lookups are not user requests in the live figures); absent -> retry the same key
                t = self._attempt(t, src, self._svc("read"), m.deadline, False)[0]
            if t + backoff >= stop:
                return t
            t += backoff * (0.5 + self.rng.random())
            backoff = min(m.client_max_backoff, backoff * 2)

    def run(self) -> list[tuple]:
        m = self.m
        pace = 1.0 / m.rate_per_user
        heap = [(0.0, u) for u in range(m.users)]  # Locust starts every user at once (spawn rate 0)
        heapq.heapify(heap)
        while heap:
            t, u = heapq.heappop(heap)
            if t >= m.duration:
                continue
            self.now, self.user = t, u
            r = self.rng.random()
            if r < self.p[0]:
                cell = self._cell()
                end, ok, _, _ = self._attempt(t, cell, self._svc("read"), m.deadline, False)
                self.rows.append((t, end - t, "read", ok, (cell,)))
            else:
                end = self._transfer(t, r >= self.p[0] + self.p[1])
            heapq.heappush(heap, (max(t + pace, end), u))
        self.rows.sort()
        return self.rows


def outages_of(run: LiveRun, outage_seconds: dict, default: float | None = None,
               samples: dict | None = None, rng: np.random.Generator | None = None,
               override: dict[int, float] | None = None) -> dict[int, list[tuple[float, float]]]:
    """Per cell, the (start, end) of each recorded fault's outage, end = start + the kind's
    outage. With ``samples`` (kind -> outages seen,
    ``calibration.outage_samples``) and ``rng``, each fault of such a kind draws its outage
    from them; ``override`` (fault index -> seconds) sets single faults' outages (calibration)."""
    out: dict[int, list[tuple[float, float]]] = {}
    for i, f in enumerate(run.faults):
        m = CHAOS_TARGET_RE.match(f["target"])
        if m is None or m.group("cell") in (None, "*") or m.group("tier") != "db":
            continue
        g = outage_seconds.get(f["kind"], default)
        if override and i in override:
            g = override[i]
        elif samples and rng is not None and samples.get(f["kind"]):
            g = samples[f["kind"]][int(rng.integers(len(samples[f["kind"]])))]
        if g is None:
            raise HivesimError(f"calibration: no outage time for fault kind {f['kind']!r} "
                               f"(calibrated kinds: {', '.join(sorted(outage_seconds)) or 'none'})")
        if g > 0:
            out.setdefault(int(m.group("cell")), []).append((float(f["start"]), float(f["start"]) + float(g)))
    return out


def replay(model: ReplayModel, outages, seed: int) -> list[tuple]:
    """One closed-loop replay: the per-request rows (start s, latency s, kind, ok, cells touched)."""
    ss = np.random.SeedSequence(seed)  # one seeded stream per replay, derived like the engines'
    return _ClosedLoop(model, outages, random.Random(int(ss.generate_state(2, np.uint64)[0]))).run()


def per_second(rows, duration: float) -> dict:
    """Per-second (by request start) offered, ok, failed and p50/p99 latency (ms), as timeseries.csv."""
    n = max(1, int(math.ceil(duration)))
    t = np.array([r[0] for r in rows], dtype=float)
    lat = np.array([r[1] for r in rows], dtype=float) * 1000
    ok = np.array([r[3] for r in rows], dtype=bool)
    sec = np.floor(t).astype(int)
    keep = (sec >= 0) & (sec < n)
    sec, lat, ok = sec[keep], lat[keep], ok[keep]
    out = {"offered": np.bincount(sec, minlength=n).astype(float),
           "ok": np.bincount(sec[ok], minlength=n).astype(float)}
    out["failed"] = out["offered"] - out["ok"]
    p50, p99 = np.full(n, np.nan), np.full(n, np.nan)
    order = np.lexsort((lat, sec))
    s_sorted, l_sorted = sec[order], lat[order]
    bounds = np.searchsorted(s_sorted, np.arange(n + 1))
    for i in range(n):
        a, b = bounds[i], bounds[i + 1]
        if b > a:
            p50[i], p99[i] = np.percentile(l_sorted[a:b], [50, 99])
    out["p50"], out["p99"] = p50, p99
    return out


def fault_figures(rows, faults: list[dict], duration: float, steady: float = 3.0) -> list[dict]:
    """Per fault, with the live benchmark's definitions (sim.calibration.windows, as loadtests/analysis/recovery.py): the
    requests that touch the fault's cell and complete in its window (start to the next fault);
    their failed count, recovery (outage) seconds, and the window's peak per-second p99."""
    t = np.array([r[0] for r in rows], dtype=float)
    lat = np.array([r[1] for r in rows], dtype=float)
    bad = ~np.array([r[3] for r in rows], dtype=bool)
    ps = per_second(rows, duration)
    starts = [float(f["start"]) for f in faults]
    touches: dict[int, np.ndarray] = {}  # cell -> which rows touch it (one pass per cell, not per fault)
    out = []
    for n, f in enumerate(faults):
        a = float(f["start"])
        w_end = window_end(starts, n, duration)
        sel = completed_in(t, lat, a, w_end)
        cell = fault_cell(f["target"])
        if cell is not None:
            if cell not in touches:
                touches[cell] = np.array([cell in r[4] for r in rows], dtype=bool)
            sel &= touches[cell]
        rec, _, _ = recovery_in_window(t[sel], bad[sel], a, w_end, steady)
        out.append({"failed_requests": int(bad[sel].sum()), "outage_seconds": round(float(rec or 0.0), 3),
                    "p99_ms": _peak(ps["p99"], a, w_end), "requests": int(sel.sum())})
    return out


def _peak(p99: np.ndarray, a: float, b: float) -> float | None:
    seg = p99[int(a):max(int(math.ceil(b)), int(a) + 1)]
    seg = seg[np.isfinite(seg)]
    return round(float(seg.max()), 1) if seg.size else None


# --------------------------------------------------------------------------- prediction of a run
def _open_loop_failed(run: LiveRun, cal: dict, fault: dict, w_end: float, g: float, seed: int) -> float:
    """Failed requests the *open-loop* request engine (sim.request) predicts for one fault window:
    Poisson arrivals at the run's steady offered rate per cell, the gateway's retries inside its
    deadline, the cell refusing every request (reads go to the primary too) for the outage."""
    from sim.request import RequestSpec, Tier
    steady = cal.get("throughput", {}).get("steady_ok_rps") or run.summary["throughput"]["offered_requests_per_second"]
    rate = float(steady) / run.scenario.topology.cells.count
    a = float(fault["start"])
    t0 = max(0.0, a - 5.0)
    svc = cal["service_ms"]["intra"]
    d = run.deadline
    spec = RequestSpec(rate=rate, tiers=(Tier("bank", 10_000, svc["median_ms"] / 1000.0, "lognormal",
                                              math.sqrt(math.exp(svc["sigma"] ** 2) - 1)),),
                       horizon=max(w_end - t0, 1.0), timeout=d, write_fraction=1.0,
                       retry=RetryPolicy(max_attempts=10_000, backoff=0.02, multiplier=2.0, max_backoff=0.2,
                                         jitter="none", deadline=d),
                       faults=(FaultWindow(a - t0, a - t0 + g, "reject"),) if g > 0 else ())
    res = simulate_window(spec, np.random.default_rng(seed), 4)
    c = res.counts()
    return (c["requests"] - c["ok"]) / 4.0


def predict_run(run: LiveRun | str, calibration: dict, tolerance: float = 0.25, seeds=range(20),
                service: str = "calibration") -> dict:
    """Replay a live run with a calibration; measured vs predicted per fault (prediction.json).

    ``service="calibration"`` (default): every parameter comes from the calibration run; of the
    predicted run only its scenario (load shape, users, deadline) and recorded fault schedule are
    used. ``service="run"`` takes the service-time distribution from the predicted run's own
    steady seconds instead (on this shared machine the bank's baseline latency changes
    several-fold between runs); the outage per fault kind still comes from the calibration only.
    """
    if not isinstance(run, LiveRun):
        run = read_live_run(run)
    if not 0 < tolerance < 10:
        raise HivesimError(f"--tolerance: expected a fraction such as 0.25, got {tolerance}")
    if service not in ("run", "calibration"):
        raise HivesimError(f"--service: expected run or calibration, got {service!r}")
    if service == "run":
        from sim.calibrate import service_profile
        calibration = {**calibration, "service_ms": service_profile(run)}
    model = ReplayModel.for_run(run, calibration)
    samples = calibration.get("outage_samples") or None
    seeds = list(seeds)
    n = int(math.ceil(run.duration))
    per_fault = [[] for _ in run.faults]
    ok_tot, req_tot = [], []
    ts_ok, ts_fail, ts_p99 = np.zeros((len(seeds), n)), np.zeros((len(seeds), n)), np.full((len(seeds), n), np.nan)
    for i, s in enumerate(seeds):
        seed = 1_000_003 * (i + 1) + int(run.scenario.simulation.seed)
        outs = outages_of(run, calibration["outage_seconds"], samples=samples,
                          rng=np.random.default_rng([seed, 7]))  # own stream: the replay's is untouched
        rows = replay(model, outs, seed)
        for k, fig in enumerate(fault_figures(rows, run.faults, run.duration)):
            per_fault[k].append(fig)
        ps = per_second(rows, run.duration)
        ts_ok[i], ts_fail[i], ts_p99[i] = ps["ok"][:n], ps["failed"][:n], ps["p99"][:n]
        ok_tot.append(sum(1 for r in rows if r[3]))
        req_tot.append(len(rows))
    meas_p99 = np.array([r["latency_p99_ms"] for r in run.series])
    faults = []
    for k, f in enumerate(run.faults):
        figs = per_fault[k]
        failed = np.array([x["failed_requests"] for x in figs], dtype=float)
        w_end = float(run.faults[k + 1]["start"]) if k + 1 < len(run.faults) else run.duration
        g = float(calibration["outage_seconds"].get(f["kind"], 0.0))
        m_failed = int(f.get("failed_requests") or 0)
        p_failed = float(failed.mean())
        rel = (p_failed - m_failed) / m_failed if m_failed > 0 else (0.0 if round(p_failed) == 0 else None)
        p99s = [x["p99_ms"] for x in figs if x["p99_ms"] is not None]
        faults.append({
            "kind": f["kind"], "target": f["target"], "start": f["start"], "window_end": round(w_end, 3),
            "measured": {"failed_requests": m_failed, "outage_seconds": f.get("recovery_seconds"),
                         "p99_ms": _peak(meas_p99, float(f["start"]), w_end),
                         "disruption_seconds": f.get("disruption_seconds")},
            "predicted": {"failed_requests": round(p_failed, 2),
                          "failed_requests_p05_p95": [float(np.percentile(failed, 5)), float(np.percentile(failed, 95))],
                          "outage_seconds": round(float(np.mean([x["outage_seconds"] for x in figs])), 3),
                          "p99_ms": round(float(np.mean(p99s)), 1) if p99s else None,
                          "calibrated_outage_seconds": g,
                          "calibrated_outage_range": _range(calibration.get("outage_samples", {}).get(f["kind"])),
                          "open_loop_failed_requests": round(_open_loop_failed(run, calibration, f, w_end, g,
                                                                                 k + 1), 1)},
            "relative_error": None if rel is None else round(rel, 4),
            "within_tolerance": rel is not None and abs(rel) <= tolerance,
        })
    kinds = {}
    for f in faults:  # per fault kind: the sums over its faults (the tolerance applies here)
        k = kinds.setdefault(f["kind"], {"faults": 0, "measured_failed_requests": 0, "predicted_failed_requests": 0.0})
        k["faults"] += 1
        k["measured_failed_requests"] += f["measured"]["failed_requests"]
        k["predicted_failed_requests"] += f["predicted"]["failed_requests"]
    for name, k in kinds.items():
        m_, p_ = k["measured_failed_requests"], k["predicted_failed_requests"]
        rel = (p_ - m_) / m_ if m_ > 0 else (0.0 if round(p_) == 0 else None)
        k["predicted_failed_requests"] = round(p_, 2)
        # the replays' spread of the kind's total (loop timing, users' positions, and with
        # outage_samples the failover length drawn per fault): where a run of this schedule lands
        per_replay = np.sum([[x["failed_requests"] for x in per_fault[i]]
                             for i, f in enumerate(run.faults) if f["kind"] == name], axis=0)
        lo, hi = np.percentile(per_replay, [5, 95])
        k["predicted_p05_p95"] = [float(lo), float(hi)]
        k["measured_in_p05_p95"] = bool(lo <= m_ <= hi)
        k["relative_error"] = None if rel is None else round(rel, 4)
        k["within_tolerance"] = rel is not None and abs(rel) <= tolerance
    s = run.summary
    a_meas = s["availability"]["request"]["mean"]
    a_pred = float(np.sum(ok_tot) / max(np.sum(req_tot), 1))
    t_meas = s["throughput"].get("requests_per_second")
    t_pred = float(np.mean(ok_tot)) / run.duration
    return {
        "schema_version": 1, "kind": "prediction",
        "run": {"run_dir": os.path.abspath(run.path), "run_id": s["run"].get("run_id"), "scenario": run.scenario.name,
                "seed": run.scenario.simulation.seed, "duration_seconds": run.duration},
        "calibration": {"source": calibration.get("source", {}).get("run_id"),
                        "source_scenario": calibration.get("source", {}).get("scenario"),
                        "outage_seconds": calibration["outage_seconds"]},
        "model": {"method": "closed-loop replay of the Locust users (sim.predict)", "replications": len(seeds),
                  "service_times_from": "this run's steady seconds" if service == "run" else "the calibration run",
                  "service_ms": calibration["service_ms"],
                  "users": model.users, "rate_per_user": model.rate_per_user, "gateway_deadline": model.deadline},
        "tolerance": tolerance,
        "faults": faults,
        "kinds": kinds,
        "availability": {"request": {"measured": a_meas, "predicted": round(a_pred, 6)}},
        "throughput": {"requests_per_second": {"measured": t_meas, "predicted": round(t_pred, 3)}},
        # judged per fault kind (sums over its faults): one fault's count can be small (a postmaster
        # kill fails ~15 requests, +-26 % Poisson noise alone); per-fault errors are reported too
        "within_tolerance": bool(kinds) and all(k["within_tolerance"] for k in kinds.values()),
        "timeline": {"measured_ok": [r["ok_requests"] for r in run.series][:n],
                     "measured_failed": [r["failed_requests"] for r in run.series][:n],
                     "predicted_ok": ts_ok.mean(0).round(3).tolist(),
                     "predicted_failed": ts_fail.mean(0).round(3).tolist(),
                     "predicted_failed_p95": np.percentile(ts_fail, 95, axis=0).tolist()},
    }


def _range(samples) -> list[float] | None:
    return [float(min(samples)), float(max(samples))] if samples else None


def fault_table(pred: dict) -> list[list[str]]:
    """Rows of the per-fault table (header first), as printed by ``hivesim predict``: each fault,
    then each fault kind (its faults summed; the tolerance is judged there)."""
    rows = [["fault", "target", "failed meas", "failed pred", "pred p05-p95", "rel err", "outage meas s",
             "outage pred s", "p99 meas ms", "p99 pred ms", "ok"]]

    def band(v):
        return "-" if not v else f"{v[0]:.0f}-{v[1]:.0f}"

    for f in pred["faults"]:
        m, p = f["measured"], f["predicted"]
        rel = f["relative_error"]
        rows.append([f["kind"], f["target"], str(m["failed_requests"]), f"{p['failed_requests']:.1f}",
                     band(p.get("failed_requests_p05_p95")), "n/a" if rel is None else f"{rel:+.0%}",
                     _fmt(m["outage_seconds"]), _fmt(p["outage_seconds"]), _fmt(m["p99_ms"], 0), _fmt(p["p99_ms"], 0),
                     "yes" if f["within_tolerance"] else "NO"])
    for kind, k in pred.get("kinds", {}).items():
        rel = k["relative_error"]
        rows.append([f"{kind} (all {k['faults']})", "per kind", str(k["measured_failed_requests"]),
                     f"{k['predicted_failed_requests']:.1f}", band(k.get("predicted_p05_p95")),
                     "n/a" if rel is None else f"{rel:+.0%}", "", "", "", "", "yes" if k["within_tolerance"] else "NO"])
    return rows


def _fmt(v, nd=1):
    return "-" if v is None else f"{v:.{nd}f}"


def plot_faults(pred: dict, out_dir) -> list[str]:
    """One PNG + SVG per fault: measured and predicted ok/failed requests per second, one axis."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tl = pred["timeline"]
    written = []
    for k, f in enumerate(pred["faults"]):
        a, b = float(f["start"]), float(f["window_end"])
        lo, hi = max(0, int(a) - 5), min(len(tl["measured_ok"]), int(round(b)))  # b: the next fault's start
        x = np.arange(lo, hi)
        fig, ax = plt.subplots(figsize=(8, 4.2), dpi=110)
        g = f["predicted"]["calibrated_outage_seconds"]
        rng = f["predicted"].get("calibrated_outage_range")
        ax.axvspan(a, a + g, color="0.85", label=f"calibrated outage {g:g} s" + (
            f" (drawn per replay from {rng[0]:g}-{rng[1]:g} s)" if rng else ""))
        ax.step(x, tl["measured_ok"][lo:hi], where="post", color="tab:blue", label="measured ok")
        ax.step(x, tl["predicted_ok"][lo:hi], where="post", color="tab:blue", ls="--", label="predicted ok (mean)")
        ax.step(x, tl["measured_failed"][lo:hi], where="post", color="tab:red", label="measured failed")
        ax.step(x, tl["predicted_failed"][lo:hi], where="post", color="tab:red", ls="--",
                label="predicted failed (mean)")
        m, p = f["measured"], f["predicted"]
        ax.set_title(f"{f['kind']} {f['target']}: failed {m['failed_requests']} measured, "
                     f"{p['failed_requests']:.0f} predicted", fontsize=10)
        ax.set_xlabel("seconds since the load started")
        ax.set_ylabel("requests per second (by start)")
        ax.set_xlim(lo, hi)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8, loc="upper right")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        stem = os.path.join(os.fspath(out_dir), f"fault-{k}-{f['kind']}")
        for ext in ("png", "svg"):
            fig.savefig(f"{stem}.{ext}")
            written.append(f"{stem}.{ext}")
        plt.close(fig)
    return written


def write_prediction_dir(pred: dict, out) -> str:
    """prediction.json, report.html and plots/ written to a temporary sibling, renamed into place
    (never overwrites)."""
    import json

    from sim.results import json_safe
    from sim.results_io import atomic_dir
    out = os.path.abspath(os.fspath(out))
    from sim.report.prediction import render_prediction
    with atomic_dir(out) as tmp:
        os.makedirs(os.path.join(tmp, "plots"))
        written = plot_faults(pred, os.path.join(tmp, "plots"))
        with open(os.path.join(tmp, "report.html"), "w", encoding="utf-8") as f:
            f.write(render_prediction(pred, fault_table(pred), [p for p in written if p.endswith(".png")]))
        with open(os.path.join(tmp, "prediction.json"), "w", encoding="utf-8") as f:
            json.dump(json_safe(pred), f, indent=2)
            f.write("\n")
    return out
