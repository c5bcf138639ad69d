"""The fluid engine: one replication of the bank under failures, driven by SimPy.

SimPy schedules the rare state changes (crashes, repairs, correlated outages, failovers, bad
changes, maintenance, chaos). Between two of them the bank's state is constant, so the
requests offered, failed and slow in that interval follow from the day profile's exact
integral times each cell's share and state: cost is O(events), not O(requests).

Traffic model (``shared/reference/availability-math.md`` §5). Cell c serves share s_c of the
accounts; w_c / r_c are the fractions of its writes / reads that fail now. With mix
(reads rho, intra-cell iota, cross-cell x), S_w = sum s_c w_c and S_r = sum s_c r_c,
the bank's failed fraction is::

    F = 1                                              if the GNS router is down
    F = rho S_r + iota S_w + x (1 - (1 - S_w)^2)       otherwise, bus up
    F = rho S_r + iota S_w + x                         bus down

(a cross-cell transfer needs its source and destination cell writable, destination chosen
by share, and the bus). Each cell's own figure is kept exactly with O(1) work per event by
snapshotting global cumulative integrals (see ``_flush_cell``).

Database replica set per cell (``_reconcile``): losing the primary starts a failover
(detection + election + promotion, or ``manual`` with probability 1 - coverage); writes
fail meanwhile; with fewer than ``write_quorum`` replicas up a sync set stops writes (or,
with ``on_quorum_loss: degrade-async``, goes on and the RPO exposure is counted).
"""

from __future__ import annotations

import gc
import hashlib
import math
import random
from dataclasses import dataclass, field

import numpy as np
import simpy

from sim.distributions import Sampler
from sim.model import BankPlan, build_bank, resolve_servers
from sim.profile import DAY, DayProfile
from sim.scenario.chaos import hold_seconds
from sim.scenario.model import Scenario

__all__ = ["ReplicationResult", "Replication", "run_replication", "replication_rng",
           "DETAIL_REPLICATIONS"]

DETAIL_REPLICATIONS = 10  # raw fault episodes (also those without effect) kept for these


def replication_rng(seed: int, index: int, total: int | None = None) -> np.random.Generator:
    """The generator of replication ``index``: child ``index`` of ``SeedSequence(seed)``.

    ``SeedSequence.spawn`` children depend only on (seed, child number), so the stream of a
    replication is the same whatever the number of replications or workers.
    """
    ss = np.random.SeedSequence(entropy=seed, spawn_key=(index,))
    return np.random.Generator(np.random.PCG64(ss))


@dataclass
class ReplicationResult:
    index: int
    span: float                 # seconds accounted (horizon - warmup)
    offered: float              # integral of the rate factor (seconds at mean rate)
    failed_req: float           # request-weighted failed integral, same unit as offered
    failed_time: float          # time-weighted failed integral (seconds)
    cell_failed: list[float]    # per cell, request-weighted failed integral
    cause_failed: dict[str, float]
    cause_episodes: dict[str, int]
    outages: int                # maximal periods with a bank failed fraction > 0
    day_offered: list[float]
    day_failed: list[float]
    rpo_exposure: float         # seconds a cell accepted writes without a synchronous copy
    events: list[tuple] = field(default_factory=list)
    timeseries: dict | None = None
    sim_events: int = 0
    slow_req: float = 0.0           # served but slower than slo.latency (capacity model)
    latency_hist: list | None = None  # requests per sim.capacity.LATENCY_BINS_MS bin

    @property
    def availability_request_slo(self) -> float:
        """Share of requests that succeeded within the latency SLO."""
        return 1.0 - (self.failed_req + self.slow_req) / self.offered if self.offered > 0 else 1.0

    @property
    def availability_request(self) -> float:
        return 1.0 - self.failed_req / self.offered if self.offered > 0 else 1.0

    @property
    def availability_time(self) -> float:
        return 1.0 - self.failed_time / self.span if self.span > 0 else 1.0


class _Cell:
    """Mutable state of one cell during a replication."""

    __slots__ = ("index", "share", "db", "app", "quorum", "primary", "failing_over", "app_up",
                 "stall", "maint", "maint_all", "bad", "w", "r", "cause", "acc", "snap",
                 "episode_start", "episode_cause", "spec", "n_up", "async_since", "spec_impact",
                 "cap", "cap_since", "detected")

    def __init__(self, plan_cell):
        self.index = plan_cell.index
        self.share = plan_cell.share
        self.spec = plan_cell.spec
        self.db = plan_cell.db
        self.app = plan_cell.app
        self.quorum = plan_cell.spec.db.quorum
        self.primary = plan_cell.db[0]
        self.failing_over = False
        self.app_up = len(plan_cell.app)
        self.n_up = len(plan_cell.db)
        self.stall = 0
        self.maint = 0
        self.maint_all = 0
        self.bad = 0
        self.w = 0.0
        self.r = 0.0
        self.cause = ""
        self.acc = 0.0
        self.snap = (0.0, 0.0, 0.0, 0.0)
        self.episode_start = None
        self.episode_cause = ""
        self.async_since = None
        self.spec_impact = 1.0
        self.detected = False  # the primary's loss was already noticed (paused past detection)
        self.cap = None        # capacity (tx/s) while below nominal and otherwise up; None = nominal
        self.cap_since = None


class Replication:
    """One replication: build processes, run SimPy to the horizon, return the figures."""

    def __init__(self, sc: Scenario, index: int, plan: BankPlan | None = None,
                 detail: bool | None = None, timeseries: bool | None = None, capacity=None):
        self.sc = sc
        self.plan = plan or build_bank(sc)
        self.index = index
        # one seeded numpy Generator per replication; it seeds keyed sub-streams (see stream())
        self.rng = replication_rng(sc.simulation.seed, index)
        self._root = int(self.rng.integers(0, 2**63))
        self.env = simpy.Environment()
        self.detail = index < DETAIL_REPLICATIONS if detail is None else detail
        self.want_ts = index == 0 if timeseries is None else timeseries
        sim = sc.simulation
        self.warm = sim.warmup
        self.horizon = sim.horizon
        self.profile = DayProfile.from_spec(sc.workload.profile)
        mix = sc.workload.mix
        self.rho, self.iota, self.x = mix.reads, mix.intra_cell, mix.cross_cell

        self.server_down = [0] * len(self.plan.servers)
        self.cells = [_Cell(c) for c in self.plan.cells]
        topo = sc.topology
        self.gns_up = len(self.plan.gns)
        self.gns_quorum = topo.gns.quorum if topo.gns else 0
        self.bus_up = len(self.plan.bus)
        self.bus_quorum = topo.bus.quorum if topo.bus else 0
        self.gns_blip = 0
        self.gns_down = False
        self.bus_down = False
        self.gns_cause = self.bus_cause = ""
        self._shared_start: dict[str, float] = {}
        self._cell_streams: dict[int, random.Random] = {}
        self.gray: set[int] = set()

        # accounting state
        self.Sw = self.Sr = 0.0
        self.impaired = 0
        self.cause_w: dict[str, float] = {}
        self.cause_r: dict[str, float] = {}
        self.F = 0.0
        self.last_t = 0.0
        self.offered = 0.0
        self.failed_req = 0.0
        self.failed_time = 0.0
        self.cause_failed: dict[str, float] = {}
        self.cause_episodes: dict[str, int] = {}
        self.outages = 0
        self.rpo_exposure = 0.0
        self.IG = self.IN = self.IB = self.IA = 0.0
        self.events: list[tuple] = []
        ndays = max(1, math.ceil((self.horizon - self.warm) / DAY - 1e-9))
        self.day_failed = [0.0] * ndays
        self.day_offered = [self.profile.integral(self.warm + d * DAY,
                                                  min(self.horizon, self.warm + (d + 1) * DAY))
                            for d in range(ndays)]
        if self.want_ts:
            step = sim.timeseries_step
            nb = max(1, math.ceil((self.horizon - self.warm) / step - 1e-9))
            self.ts_step = step
            self.ts_failed = [0.0] * nb
            self.ts_slow = [0.0] * nb
            self.ts_cells = [0] * nb
            self.ts_offered = [self.profile.integral(self.warm + b * step,
                                                     min(self.horizon, self.warm + (b + 1) * step))
                               for b in range(nb)]
        self._init_capacity(capacity)  # last: it uses the accounting arrays above

    def _init_capacity(self, capacity):
        """Capacity model (``capacity:`` section): shedding, slow requests and latency.

        The all-up traffic of the whole horizon is accounted once; while a cell runs below its
        nominal capacity (lost or gray app nodes, a primary on a weaker or gray replica) the
        engine adds the difference between the degraded and the nominal interval effect.
        Periods when a cell is already failing (w or r > 0) are left to the outage accounting.
        """
        self.cm = None
        self.slow_req = 0.0
        self.lat_hist = None
        if self.sc.capacity is None:
            return
        from sim.capacity import CapacityModel
        self.cm = capacity or CapacityModel(self.sc, self.plan)
        self.mean_tps = float(self.sc.workload.transactions_per_day)
        self.nominal_cap = [self.cm.nominal_capacity_tps(c.index) for c in self.plan.cells]
        nominal = self.cm.nominal_effect(self.warm, self.horizon)
        self.lat_hist = nominal.latency_hist.copy()
        self.slow_req = nominal.slow / self.mean_tps
        if self.want_ts:
            self._nominal_slow_timeseries()
        shed = nominal.shed / self.mean_tps
        if shed > 0:  # under-provisioned at peak: every day sheds
            self.failed_req += shed
            total = sum(self.day_offered)
            for d, off in enumerate(self.day_offered):
                self.day_failed[d] += shed * off / total
            if self.want_ts:
                tot = sum(self.ts_offered)
                for k, off in enumerate(self.ts_offered):
                    self.ts_failed[k] += shed * off / tot
            self.cause_failed["capacity"] = shed

    def _nominal_slow_timeseries(self):
        """Slow requests of the all-up bank per timeseries bucket (the day repeats hour by hour)."""
        cm = self.cm
        per_hour = [sum(cm.interval_effect(c.index, self.nominal_cap[c.index], h * 3600.0,
                                           (h + 1) * 3600.0).slow for c in self.plan.cells) / self.mean_tps
                    for h in range(24)]
        step, base = self.ts_step, self.warm
        for k in range(len(self.ts_slow)):
            a, b = base + k * step, min(self.horizon, base + (k + 1) * step)
            total = 0.0
            while a < b:  # split the bucket at hour boundaries
                h_end = (math.floor(a / 3600.0) + 1) * 3600.0
                end = min(b, h_end)
                total += per_hour[int((a % DAY) // 3600.0)] * (end - a) / 3600.0
                a = end
            self.ts_slow[k] = total

    def _cap_value(self, c: _Cell):
        if c.w > 0.0 or c.r > 0.0:
            return None
        cm = self.cm
        gray = self.gray
        down = self.server_down
        app_gray = sum(1 for s in c.app if s in gray and down[s] == 0) if gray else 0
        dbf = cm.db_factor_for(c.index, c.primary)
        if c.primary in gray:
            dbf *= cm.gray_factor
        cap = cm.cell_capacity_tps(c.index, c.app_up - app_gray, app_gray, dbf)
        return None if cap >= self.nominal_cap[c.index] * (1 - 1e-12) else cap

    def _cap_refresh(self, c: _Cell):
        new = self._cap_value(c)
        if new == c.cap:
            return
        if c.cap is not None:
            self._cap_close(c)
        c.cap = new
        c.cap_since = self.env.now if new is not None else None

    def _cap_close(self, c: _Cell):
        now = self.env.now
        a = max(c.cap_since, self.warm)
        if now <= a:
            return
        cm = self.cm
        eff = cm.interval_effect(c.index, c.cap, a, now) - cm.interval_effect(
            c.index, self.nominal_cap[c.index], a, now)
        self.slow_req += eff.slow / self.mean_tps
        self.lat_hist += eff.latency_hist
        if self.want_ts and eff.slow != 0.0:
            self._spread(self.ts_slow, self.ts_step, a, now,
                         eff.slow / self.mean_tps / self.profile.integral(a, now))
        shed = eff.shed / self.mean_tps
        if shed > 0:
            R = self.profile.integral(a, now)
            self.failed_req += shed
            c.acc += shed / c.share
            self._spread(self.day_failed, DAY, a, now, shed / R)
            if self.want_ts:
                self._spread(self.ts_failed, self.ts_step, a, now, shed / R)
            self.cause_failed["capacity"] = self.cause_failed.get("capacity", 0.0) + shed

    def _gray_proc(self, s: int, g):
        env = self.env
        rng = self.stream(f"{self.plan.servers[s].scope}/gray")
        c = self.cells[self.plan.servers[s].cell]
        while True:  # exponential: the stationary start is the same draw
            yield env.timeout(rng.expovariate(g.rate))
            self.gray.add(s)
            self._update_cell(c, "gray")
            start = env.now
            yield env.timeout(rng.expovariate(1.0 / g.duration))
            self.gray.discard(s)
            self._update_cell(c, "gray")
            if self.detail:
                self._record(start, env.now, self.plan.servers[s].scope, "gray", "slow", 0.0, False)

    def stream(self, key: str) -> random.Random:
        """The random stream of one component or process, keyed by its scope.

        Keyed (not ordered) streams give common random numbers across variants: a scenario with
        one more replica draws the same failure times for every other component, so comparisons
        between variants are not drowned in sampling noise.
        """
        h = hashlib.blake2b(f"{self._root}|{key}".encode(), digest_size=8).digest()
        return random.Random(int.from_bytes(h, "little"))

    # ------------------------------------------------------------------ accounting
    def _spread(self, arr, step, a, b, amount_per_weight):
        """Add amount_per_weight * profile integral over [a, b) into buckets of width step."""
        base = self.warm
        k = int((a - base) // step)
        n = len(arr)
        prof = self.profile
        while a < b and k < n:
            end = min(b, base + (k + 1) * step)
            arr[k] += amount_per_weight * prof.integral(a, end)
            a = end
            k += 1

    def advance(self):
        """Account the interval since the last state change at the current failed fraction."""
        now = self.env.now
        t0 = self.last_t
        if now <= t0:
            return
        self.last_t = now
        a = t0 if t0 > self.warm else self.warm
        if now <= a:
            return
        R = self.profile.integral(a, now)
        F = self.F
        if self.gns_down:
            self.IG += R
        else:
            self.IN += R
            if not self.bus_down:
                self.IB += R
                self.IA += self.Sw * R
        if F > 0.0:
            self.failed_req += F * R
            self.failed_time += F * (now - a)
            self._spread(self.day_failed, DAY, a, now, F)
            if self.want_ts:
                self._spread(self.ts_failed, self.ts_step, a, now, F)
            self._allocate(F * R)

    def _allocate(self, failed):
        cf = self.cause_failed
        if self.gns_down:
            cf[self.gns_cause] = cf.get(self.gns_cause, 0.0) + failed
            return
        weights = {}
        if self.bus_down:
            weights[self.bus_cause] = self.x
            cross = 0.0
        else:
            cross = self.x * (1.0 - (1.0 - self.Sw) ** 2)
        sw = self.Sw
        for c, v in self.cause_w.items():
            weights[c] = weights.get(c, 0.0) + self.iota * v + (cross * v / sw if sw > 0 else 0.0)
        for c, v in self.cause_r.items():
            weights[c] = weights.get(c, 0.0) + self.rho * v
        tot = sum(weights.values())
        if tot <= 0:
            cf["other"] = cf.get("other", 0.0) + failed
            return
        for c, v in weights.items():
            cf[c] = cf.get(c, 0.0) + failed * v / tot

    def _recompute_F(self, cause):
        was = self.F > 0.0
        if self.gns_down:
            F = 1.0
        else:
            sw = self.Sw
            cross = self.x if self.bus_down else self.x * (1.0 - (1.0 - sw) * (1.0 - sw))
            F = self.rho * self.Sr + self.iota * sw + cross
        self.F = F if F > 1e-15 else 0.0
        if not was and self.F > 0.0 and self.env.now >= self.warm:
            self.outages += 1
            self.cause_episodes[cause] = self.cause_episodes.get(cause, 0) + 1

    def _flush_cell(self, c: _Cell):
        """Add the cell's own failed integral since its last change (its w, r were constant)."""
        g0, n0, b0, a0 = c.snap
        dG, dN, dB, dA = self.IG - g0, self.IN - n0, self.IB - b0, self.IA - a0
        x = self.x
        c.acc += dG + (self.rho * c.r + self.iota * c.w + x) * dN - x * (1.0 - c.w) * (dB - dA)
        c.snap = (self.IG, self.IN, self.IB, self.IA)

    # ------------------------------------------------------------------ cell state
    def _set_cell(self, c: _Cell, w: float, r: float, cause: str):
        if w == c.w and r == c.r:
            return
        self.advance()
        self._flush_cell(c)
        s = c.share
        old_impaired = c.w > 0.0 or c.r > 0.0
        new_impaired = w > 0.0 or r > 0.0
        if old_impaired:
            self.cause_w[c.cause] = self.cause_w.get(c.cause, 0.0) - s * c.w
            self.cause_r[c.cause] = self.cause_r.get(c.cause, 0.0) - s * c.r
        self.Sw += s * (w - c.w)
        self.Sr += s * (r - c.r)
        now = self.env.now
        if new_impaired and not old_impaired:
            self.impaired += 1
            c.cause = cause
            c.episode_start = now
            c.episode_cause = cause
        elif old_impaired and not new_impaired:
            self.impaired -= 1
            self._record(c.episode_start, now, f"cell[{c.index}]", c.episode_cause,
                         "cell-down" if c.r >= 1.0 else "writes-down", s * max(c.w, c.r), True)
            c.episode_start = None
        if new_impaired:
            self.cause_w[c.cause] = self.cause_w.get(c.cause, 0.0) + s * w
            self.cause_r[c.cause] = self.cause_r.get(c.cause, 0.0) + s * r
        if self.impaired == 0:  # exact zero, no float drift while all is well
            self.Sw = self.Sr = 0.0
            self.cause_w.clear()
            self.cause_r.clear()
        c.w, c.r = w, r
        if self.want_ts:
            k = int((now - self.warm) // self.ts_step)
            if 0 <= k < len(self.ts_cells) and self.impaired > self.ts_cells[k]:
                self.ts_cells[k] = self.impaired
        self._recompute_F(cause)

    def _update_cell(self, c: _Cell, cause: str):
        db = c.spec.db
        app_ok = c.app_up >= c.spec.app.min_nodes
        n_up = c.n_up
        quorum_ok = n_up >= c.quorum
        if not quorum_ok and db.on_quorum_loss == "degrade-async" and n_up >= 1:
            quorum_ok = True
            if c.async_since is None:
                c.async_since = self.env.now
        elif c.async_since is not None and n_up >= c.quorum:
            self.rpo_exposure += self.env.now - max(c.async_since, self.warm)
            c.async_since = None
        writes_ok = (app_ok and c.primary is not None and not c.failing_over and quorum_ok
                     and c.stall == 0 and c.maint == 0)
        if db.reads_during_failover:
            reads_ok = app_ok and n_up >= 1 and c.maint_all == 0
        else:  # reads need the primary too
            reads_ok = (app_ok and c.primary is not None and not c.failing_over and c.stall == 0
                        and c.maint_all == 0)
        w = 0.0 if writes_ok else 1.0
        r = 0.0 if reads_ok else 1.0
        if c.bad:
            keep = (1.0 - c.spec_impact) ** c.bad
            w = 1.0 - (1.0 - w) * keep
            r = 1.0 - (1.0 - r) * keep
        self._set_cell(c, w, r, cause)
        if self.cm is not None:
            self._cap_refresh(c)

    def _reconcile(self, c: _Cell, cause: str):
        """After a change in the cell: start a failover if the primary is gone, update state."""
        if c.primary is not None and self.server_down[c.primary] > 0:
            c.primary = None
            if not c.failing_over:
                self._start_failover(c, True, cause)
        elif c.primary is None and not c.failing_over and c.n_up > 0:
            self._start_failover(c, False, cause)
        self._update_cell(c, cause)

    def _start_failover(self, c: _Cell, full: bool, cause: str):
        fo = c.spec.db.failover
        if fo.coverage < 1.0 and self._cell_rng(c).random() >= fo.coverage:
            d = fo.manual
        elif full and not c.detected:
            d = fo.total
        else:  # the loss was already noticed (a replica came back, or a stall ran out)
            d = fo.election + fo.promotion
        c.detected = False
        if d <= 0.0:
            self._promote(c)
            return
        c.failing_over = True
        self.env.process(self._failover_proc(c, d, cause))

    def _cell_rng(self, c: _Cell) -> random.Random:
        rng = self._cell_streams.get(c.index)
        if rng is None:
            rng = self._cell_streams[c.index] = self.stream(f"cell[{c.index}].failover")
        return rng

    def _promote(self, c: _Cell):
        for s in c.db:
            if self.server_down[s] == 0:
                c.primary = s
                return
        c.primary = None

    def _failover_proc(self, c: _Cell, d: float, cause: str):
        yield self.env.timeout(d)
        c.failing_over = False
        self._promote(c)
        if c.primary is None:
            self._update_cell(c, cause)
        else:
            self._reconcile(c, cause)

    # ------------------------------------------------------------------ servers
    def _shared_changed(self, cause):
        # per-cell figures need no flush: the global integrals carry GNS/bus state
        self.advance()
        gd = (self.gns_quorum > 0 and self.gns_up < self.gns_quorum) or self.gns_blip > 0
        bd = self.bus_quorum > 0 and self.bus_up < self.bus_quorum
        if gd and not self.gns_down:
            self.gns_cause = cause
            self._shared_start["gns"] = self.env.now
        if bd and not self.bus_down:
            self.bus_cause = cause
            self._shared_start["bus"] = self.env.now
        if not gd and self.gns_down:
            self._record(self._shared_start.get("gns", 0.0), self.env.now, "gns", self.gns_cause,
                         "bank-down", 1.0, True)
        if not bd and self.bus_down:
            self._record(self._shared_start.get("bus", 0.0), self.env.now, "bus", self.bus_cause,
                         "cross-cell-down", self.x, True)
        self.gns_down, self.bus_down = gd, bd
        self._recompute_F(cause)

    def server_fail(self, s: int, cause: str):
        down = self.server_down
        down[s] += 1
        if down[s] > 1:
            return
        srv = self.plan.servers[s]
        if srv.role == "db":
            c = self.cells[srv.cell]
            c.n_up -= 1
            self._reconcile(c, cause)
        elif srv.role == "app":
            c = self.cells[srv.cell]
            c.app_up -= 1
            self._update_cell(c, cause)
        elif srv.role == "gns":
            self.gns_up -= 1
            svc = self.sc.topology.gns
            if svc.failover > 0 and self.gns_up >= self.gns_quorum:
                self.env.process(self._gns_blip(svc.failover, cause))
            self._shared_changed(cause)
        else:
            self.bus_up -= 1
            self._shared_changed(cause)

    def server_repair(self, s: int, cause: str):
        down = self.server_down
        down[s] -= 1
        if down[s] > 0:
            return
        srv = self.plan.servers[s]
        if srv.role == "db":
            c = self.cells[srv.cell]
            c.n_up += 1
            self._reconcile(c, cause)
        elif srv.role == "app":
            c = self.cells[srv.cell]
            c.app_up += 1
            self._update_cell(c, cause)
        elif srv.role == "gns":
            self.gns_up += 1
            self._shared_changed(cause)
        else:
            self.bus_up += 1
            self._shared_changed(cause)

    def _gns_blip(self, d, cause):
        self.gns_blip += 1
        self._shared_changed(cause)
        yield self.env.timeout(d)
        self.gns_blip -= 1
        self._shared_changed(cause)

    def _record(self, start, end, target, cause, effect, fraction, impact):
        if end <= self.warm:
            return
        if impact or self.detail:
            s = max(start, self.warm) - self.warm
            e = end - self.warm
            self.events.append((self.index, s, e, e - s, target, cause, effect, fraction))

    # ------------------------------------------------------------------ processes
    def _component_proc(self, s, ttf: Sampler, ttr: Sampler, cause, crews=None):
        env = self.env
        scope = self.plan.servers[s].scope
        rng = self.stream(f"{scope}/{cause}")
        first = True
        while True:
            yield env.timeout(ttf.draw_residual(rng) if first else ttf.draw(rng))
            first = False
            start = env.now
            self.server_fail(s, cause)
            if crews is not None:
                with crews.request() as req:
                    yield req
                    yield env.timeout(ttr.draw(rng))
            else:
                yield env.timeout(ttr.draw(rng))
            self.server_repair(s, cause)
            if self.detail:
                self._record(start, env.now, scope, cause, "none", 0.0, False)

    def _group_proc(self, members, rate, dur: Sampler, cause, target):
        env = self.env
        rng = self.stream(f"{target}/{cause}")
        while True:
            yield env.timeout(rng.expovariate(rate))
            start = env.now
            for s in members:
                self.server_fail(s, cause)
            yield env.timeout(dur.draw(rng))
            for s in members:
                self.server_repair(s, cause)
            self._record(start, env.now, target, cause, "group", 0.0, False)

    def _business_next(self, gap_business):
        """Real time at which ``gap_business`` seconds of 09:00-18:00 time have elapsed from now."""
        now = self.env.now
        day, tod = divmod(now, DAY)
        open_, close = 9 * 3600.0, 18 * 3600.0
        span = close - open_
        b_now = day * span + min(max(tod - open_, 0.0), span)
        b = b_now + gap_business
        d, rem = divmod(b, span)
        t = d * DAY + open_ + rem
        return max(t, now)

    def _changes_proc(self, ch):
        env = self.env
        rng = self.stream("changes")
        rate = ch.deploys * ch.bad_fraction
        if rate <= 0:
            return
        n = len(self.cells)
        while True:
            if ch.business_hours_only:
                gap = rng.expovariate(rate * 24.0 / 9.0)
                t = self._business_next(gap)
            else:
                t = env.now + rng.expovariate(rate)
            yield env.timeout(t - env.now)
            d = ch.detection + ch.rollback
            if ch.rollout == "global":
                env.process(self._bad_change(list(range(n)), d, "bad-change-global"))
            else:
                k = min(ch.canary_cells, n)
                canary = rng.sample(range(n), k)
                if rng.random() < ch.escape_probability:
                    env.process(self._bad_change(canary, d + ch.detection, "bad-change-escaped"))
                    rest = [i for i in range(n) if i not in set(canary)]
                    env.process(self._bad_change(rest, d, "bad-change-escaped", delay=ch.detection))
                else:
                    env.process(self._bad_change(canary, d, "bad-change-canary"))

    def _bad_change(self, cells, d, cause, delay=0.0, impact=None):
        if delay:
            yield self.env.timeout(delay)
        imp = self.sc.failures.changes.impact if impact is None else impact
        start = self.env.now
        for i in cells:
            c = self.cells[i]
            c.spec_impact = imp
            c.bad += 1
            self._update_cell(c, cause)
        yield self.env.timeout(d)
        for i in cells:
            c = self.cells[i]
            c.bad -= 1
            self._update_cell(c, cause)
        target = "cell[*]" if len(cells) == len(self.cells) else ",".join(f"cell[{i}]" for i in cells[:8])
        self._record(start, self.env.now, target, cause, "change", 0.0, False)

    def _maintenance_proc(self, c: _Cell, m):
        env = self.env
        period_days = max(1, int(m.every // DAY))
        first = (c.index % period_days) * DAY + m.at_hour * 3600.0
        yield env.timeout(first)
        while True:
            c.maint += 1
            if m.impact == "all":
                c.maint_all += 1
            self._update_cell(c, "maintenance")
            yield env.timeout(m.duration)
            c.maint -= 1
            if m.impact == "all":
                c.maint_all -= 1
            self._update_cell(c, "maintenance")
            yield env.timeout(max(m.every - m.duration, 0.0))

    def _chaos_proc(self, entry):
        """One ``chaos:`` entry. What each kind stops and for how long is ``sim.scenario.chaos``
        (``duration: 0`` = held until the run ends; kill-postmaster: down and back at once)."""
        env = self.env
        yield env.timeout(entry.at)
        target, cause = entry.scope, f"chaos:{entry.fault}"
        hold = hold_seconds(entry, self.horizon)
        if entry.fault == "bad-change":  # a cell's whole app tier answers errors
            yield from self._bad_change(target.cell_indices(len(self.cells)), hold, cause, impact=1.0)
            return
        if target.part == "etcd":  # the consensus store only matters in a failover; not modelled
            self._record(env.now, env.now + hold, entry.target, cause, "none", 0.0, True)
            return
        if entry.fault == "latency":
            self._record(env.now, env.now + hold, entry.target, cause, "slow", 0.0, True)
            return
        servers = resolve_servers(target, self.plan, lambda ci: self.cells[ci].primary)
        start = env.now
        if entry.fault == "pause" and target.tier == "db" and len(servers) == 1:
            # a paused primary stalls writes; beyond the failover detection time it is replaced
            c = self.cells[self.plan.servers[servers[0]].cell]
            det = c.spec.db.failover.detection
            c.stall += 1
            self._update_cell(c, cause)
            yield env.timeout(min(hold, det))
            c.stall -= 1
            if hold > det:
                c.detected = True  # the stall was the detection time: elect and promote now
                self.server_fail(servers[0], cause)
                self._update_cell(c, cause)
                yield env.timeout(hold - det)
                self.server_repair(servers[0], cause)
            else:
                self._update_cell(c, cause)
            self._record(start, env.now, entry.target, cause, "chaos", 0.0, True)
            return
        for s in servers:
            self.server_fail(s, cause)
        yield env.timeout(hold)
        for s in servers:
            self.server_repair(s, cause)
        self._record(start, env.now, entry.target, cause, "chaos", 0.0, True)

    def _start_processes(self):
        sc, plan, env = self.sc, self.plan, self.env
        comp = sc.failures.components
        corr = sc.failures.correlated
        beta = corr.common_cause_beta
        crews_for = {}
        for c in plan.cells:
            cr = c.spec.db.repair_crews
            if cr != "unlimited":
                crews_for[c.index] = simpy.Resource(env, capacity=cr)
        for srv in plan.servers:
            kinds = []
            if comp.server and srv.role in comp.server_roles:
                kinds.append(("server", comp.server, None))
            if srv.role == "db":
                if comp.disk:
                    kinds.append(("disk", comp.disk, plan.cells[srv.cell].spec.db.rebuild))
                if comp.db_process:
                    kinds.append(("db-process", comp.db_process, None))
            elif srv.role == "app" and comp.app_process:
                kinds.append(("app-process", comp.app_process, None))
            elif srv.role == "gns" and comp.router_node:
                kinds.append(("router-node", comp.router_node, None))
            elif srv.role == "bus" and comp.bus_node:
                kinds.append(("bus-node", comp.bus_node, None))
            for cause, fd, repair_mean in kinds:
                ttf = Sampler.ttf(fd)
                if cause == "server" and srv.role == "db" and beta > 0:
                    ttf = Sampler(fd.distribution, fd.mean_ttf / (1.0 - beta), fd.shape, fd.sigma) \
                        if beta < 1 else None
                    if ttf is None:
                        continue
                crews = crews_for.get(srv.cell) if srv.role == "db" else None
                env.process(self._component_proc(srv.index, ttf, Sampler.ttr(fd, repair_mean),
                                                 f"{srv.role}-{cause}" if cause == "server" else cause,
                                                 crews))
        if beta > 0 and comp.server and "db" in comp.server_roles:
            fd = comp.server
            for c in plan.cells:
                env.process(self._group_proc(c.db, beta / fd.mean_ttf, Sampler.ttr(fd),
                                             "common-cause", f"cell[{c.index}].db"))
        groups = []
        if corr.rack:
            groups += [("rack", corr.rack, rack, f"rack[{i}]") for i, rack in enumerate(plan.racks)]
        if corr.power:
            for i, dom in enumerate(plan.power_domains):
                members = [s for r in dom for s in plan.racks[r]]
                groups.append(("power", corr.power, members, f"power[{i}]"))
        for kind in ("idc", "partition"):
            ev = getattr(corr, kind)
            if ev:
                for ii, name in enumerate(plan.idcs):
                    members = [s.index for s in plan.servers if s.idc == ii]
                    groups.append((kind, ev, members, f"idc[{name}]"))
        if corr.region:
            for ri, name in enumerate(plan.regions):
                members = [s.index for s in plan.servers if plan.idc_region[s.idc] == ri]
                groups.append(("region", corr.region, members, f"region[{name}]"))
        for cause, ev, members, target in groups:
            if members:
                dur = Sampler(ev.distribution, ev.duration, 1.0, ev.sigma)
                env.process(self._group_proc(members, ev.rate, dur, cause, target))
        g = sc.failures.gray
        if g is not None and self.cm is not None:  # gray nodes only matter to capacity/latency
            for srv in plan.servers:
                if srv.role in g.targets and srv.cell is not None:
                    env.process(self._gray_proc(srv.index, g))
        if sc.failures.changes:
            env.process(self._changes_proc(sc.failures.changes))
        if sc.failures.maintenance:
            for c in self.cells:
                env.process(self._maintenance_proc(c, sc.failures.maintenance))
        for entry in sc.chaos:
            env.process(self._chaos_proc(entry))

    # ------------------------------------------------------------------ run
    def run(self) -> ReplicationResult:
        self._start_processes()
        self.env.run(until=self.horizon)
        self.advance()
        for c in self.cells:
            if self.cm is not None and c.cap is not None:
                self._cap_close(c)
            self._flush_cell(c)
            if c.episode_start is not None:
                self._record(c.episode_start, self.horizon, f"cell[{c.index}]", c.episode_cause,
                             "cell-down" if c.r >= 1.0 else "writes-down", c.share * max(c.w, c.r), True)
            if c.async_since is not None:
                self.rpo_exposure += self.horizon - max(c.async_since, self.warm)
        for name, down, cause, eff, frac in (("gns", self.gns_down, self.gns_cause, "bank-down", 1.0),
                                              ("bus", self.bus_down, self.bus_cause, "cross-cell-down", self.x)):
            if down:
                self._record(self._shared_start.get(name, 0.0), self.horizon, name, cause, eff, frac, True)
        offered = self.profile.integral(self.warm, self.horizon)
        ts = None
        if self.want_ts:
            ts = {"step": self.ts_step, "offered": self.ts_offered, "failed": self.ts_failed,
                  "slow": self.ts_slow,
                  "cells_down": self.ts_cells}
        self.events.sort(key=lambda e: (e[1], e[4]))
        return ReplicationResult(
            index=self.index, span=self.horizon - self.warm, offered=offered,
            failed_req=self.failed_req, failed_time=self.failed_time,
            cell_failed=[c.acc for c in self.cells], cause_failed=dict(self.cause_failed),
            cause_episodes=dict(self.cause_episodes), outages=self.outages,
            day_offered=self.day_offered, day_failed=self.day_failed,
            rpo_exposure=self.rpo_exposure, events=self.events, timeseries=ts,
            slow_req=self.slow_req,
            latency_hist=None if self.lat_hist is None else self.lat_hist.tolist(),
            sim_events=_event_count(self.env))


def _event_count(env) -> int:
    """SimPy's running event id (a counter of scheduled events), for benchmarks."""
    try:
        return next(env._eid)
    except Exception:  # pragma: no cover - private API changed
        return 0


def run_replication(sc: Scenario, index: int, plan: BankPlan | None = None,
                    capacity=None) -> ReplicationResult:
    """Run replication ``index`` of ``sc`` (deterministic for the scenario's seed).

    ``capacity``: a ``sim.capacity.CapacityModel`` to reuse across replications (its caches
    hold no randomness); built from the scenario when it has a ``capacity:`` section.
    """
    # The cyclic garbage collector finds nothing to free in a replication (SimPy drops an
    # event's callbacks once processed, so processes and events die by reference counting; peak
    # RSS is the same with it off), but each full collection walks every live object and they
    # come once per fixed share of new objects: both grow with the bank, so the collector made
    # a year at 1,000 cells cost ~2.5x one at 500 (over 40 % of the CPU time). Paused for the
    # replication, doubling the bank costs ~2.0x (benchmarks P4, docs/performance.md).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return Replication(sc, index, plan, capacity=capacity).run()
    finally:
        if was_enabled:
            gc.enable()
