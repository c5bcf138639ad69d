"""Capacity, shedding and latency of each cell: what a cell at a given capacity does to its traffic.

A cell serves at most the minimum over its tiers:

* **app tier**: ``n_eff = app_up + app_gray * gray.capacity_factor`` nodes, each a ``cores``-
  server queue. Per-node capacity is ``USL(cores) / d_app`` where ``d_app`` is the mix-weighted
  CPU time per transaction (``capacity.demand``), or ``app.capacity_tps`` when no demand is
  given. The load balancer spreads load in proportion to capacity, so every node runs at the
  same utilisation (a gray node lowers the tier's capacity, it does not get a full share).
* **database primary**: one node, capacity ``db_factor * USL(cores) / d_db``; ``db_factor < 1``
  when the primary runs on a weaker replica (``capacity.standby_factor``), 0 when writes stop.

Between two events the engine asks ``CapacityModel.interval_effect`` what a cell at a given
capacity does to the traffic offered in ``[t0, t1)``: requests above capacity are **shed**
(``1 - capacity/offered``, availability-math.md §7), the rest cross the app tier and the
database as a tandem of M/M/c (or Allen-Cunneen G/G/c) queues plus a fixed base latency; those
slower than ``slo.latency`` are **slow**, and all served requests land in a latency histogram
on the fixed bins ``LATENCY_BINS_MS``. The day profile is piecewise constant per hour
(``sim.profile.DayProfile``), so per capacity value one table of 24 hourly results is computed
once and any interval, however long, costs O(24).

``sim.capacity.throughput.throughput_summary(scenario)`` gives summary.json's ``throughput.*``:
peak demand, capacity with everything up and with the worst IDC lost, and the largest daily volume (same profile)
whose peak hour keeps the ``capacity.slo_percentile`` latency within ``slo.latency``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.capacity.hours import add_reduce as _add, excess as _excess, hour_exposure as _hour_exposure
from sim.capacity.latency import EDGES_S, NBINS, IntervalEffect, percentiles_from_hist
from sim.model import BankPlan, build_bank
from sim.profile import DAY, DayProfile
from sim.queueing import Station, tandem_tail, usl_capacity
from sim.scenario.capacity import CapacitySpec
from sim.scenario.model import GrayFailures, Scenario

__all__ = ["CapacityModel", "table_for"]


@dataclass(frozen=True)
class _Tier:
    """One tier of a cell: per-node capacity (tps), cores, service time per core (s)."""

    node_tps: float        # inf = never the bottleneck, no queue modelled
    cores: int

    @property
    def service_time(self) -> float:
        return self.cores / self.node_tps


def _tier_from_demand(d: float, node) -> _Tier:
    if d <= 0:
        return _Tier(math.inf, node.cores)
    return _Tier(usl_capacity(node.cores, node.usl_sigma, node.usl_kappa) / d, node.cores)


def table_for(cm: "CapacityModel", cell: int, capacity_tps: float) -> tuple:
    """The hourly table (shed, slow, histogram) ``cm.interval_effect`` uses at this capacity now."""
    key = (cell, *cm._state_for(cell, capacity_tps))  # _table's own key hashes a dataclass: slower
    tab = cm._table_memo.get(key)
    return tab if tab is not None else cm._table_memo.setdefault(key, cm._table(*key))


class CapacityModel:
    """Capacity, demand and per-interval traffic effects of every cell of a scenario.

    ``plan`` (a ``sim.model.BankPlan``) may be passed to avoid rebuilding the topology.
    All caches are per instance; the model holds no randomness.
    """

    def __init__(self, scenario: Scenario, plan: BankPlan | None = None):
        self.sc = scenario
        self.plan = plan or build_bank(scenario)
        self.spec: CapacitySpec = scenario.capacity or CapacitySpec()
        self.profile = DayProfile.from_spec(scenario.workload.profile)
        self.mean_tps = float(scenario.workload.transactions_per_day)
        self.slo = float(scenario.slo.latency)
        gray = scenario.failures.gray
        self.gray_factor = gray.capacity_factor if gray is not None else GrayFailures.model_fields["capacity_factor"].default
        self._tiers = [self._cell_tiers(c.spec) for c in self.plan.cells]
        # (cell, capacity rounded) -> tier state last asked for (the engine memoises and records)
        self.state_by_cap: dict[tuple[int, float], tuple[float, float]] = {}
        # (cell, app_up, app_gray, db_factor) -> capacity_entry (asked at nearly every event)
        self._cap_memo: dict[tuple, tuple[tuple[int, float], tuple[float, float], float]] = {}
        self._tables: dict[tuple, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._nominal: dict[tuple[float, float], IntervalEffect] = {}
        self._hourly_rate: dict[int, np.ndarray] = {}   # cell -> requests/s in each hour of day
        self._table_memo: dict[tuple, tuple] = {}       # (cell, n_eff, db_factor) -> _table's answer

    # ------------------------------------------------------------------ tiers and capacity
    def _cell_tiers(self, spec) -> tuple[_Tier, _Tier]:
        cap = self.spec
        if cap.demand is None:
            app = _Tier(float(spec.app.capacity_tps), cap.app_node.cores)
            db = _Tier(float(spec.db.capacity_tps) if spec.db.capacity_tps else math.inf, cap.db_node.cores)
            return app, db
        mix = self.sc.workload.mix
        d = cap.demand
        d_app = mix.reads * d.reads.app + mix.intra_cell * d.intra_cell.app + mix.cross_cell * d.cross_cell.app
        d_db = mix.reads * d.reads.db + mix.intra_cell * d.intra_cell.db + mix.cross_cell * d.cross_cell.db
        return _tier_from_demand(d_app, cap.app_node), _tier_from_demand(d_db, cap.db_node)

    def _n_eff(self, cell: int, app_up: int, app_gray: int) -> float:
        spec = self.plan.cells[cell].spec
        if app_up + app_gray < spec.app.min_nodes:
            return 0.0
        return app_up + app_gray * self.gray_factor

    def _capacity(self, cell: int, n_eff: float, db_factor: float) -> float:
        app, db = self._tiers[cell]
        return min(n_eff * app.node_tps, db_factor * db.node_tps if db_factor > 0 else 0.0)

    def cell_capacity_tps(self, cell: int, app_up: int, app_gray: int = 0, db_factor: float = 1.0) -> float:
        """Transactions/s cell ``cell`` serves with ``app_up`` healthy and ``app_gray`` gray app
        nodes and a primary at ``db_factor`` of its usual capacity (0 = writes stopped).

        Minimum over the tiers; below ``app.min_nodes`` live nodes the app tier serves nothing.
        """
        key, state, cap = self.capacity_entry(cell, app_up, app_gray, db_factor)
        self.state_by_cap[key] = state  # interval_effect gets the number: the last state asked wins
        return cap

    def capacity_entry(self, cell: int, app_up: int, app_gray: int = 0, db_factor: float = 1.0) -> tuple:
        """``((cell, capacity rounded), tier state, capacity)``, the state not recorded."""
        memo = self._cap_memo.get((cell, app_up, app_gray, db_factor))
        if memo is None:
            n_eff = self._n_eff(cell, app_up, app_gray)
            cap = self._capacity(cell, n_eff, db_factor)
            memo = self._cap_memo[(cell, app_up, app_gray, db_factor)] = (
                (cell, round(cap, 6)), (n_eff, db_factor), cap)
        return memo

    def nominal_capacity_tps(self, cell: int) -> float:
        """Capacity with every app node healthy and the primary on its usual hardware."""
        return self.cell_capacity_tps(cell, self.plan.cells[cell].spec.app.nodes, 0, 1.0)

    def db_factor_for(self, cell: int, primary: int | None) -> float:
        """``db_factor`` for a cell whose primary is server ``primary`` (None = no primary: 0).

        The cell's first replica (``plan.cells[cell].db[0]``) is the usual primary; any other
        replica serves ``capacity.standby_factor`` of its capacity.
        """
        if primary is None:
            return 0.0
        return 1.0 if primary == self.plan.cells[cell].db[0] else float(self.spec.standby_factor)

    def peak_cell_demand_tps(self, cell: int) -> float:
        """The cell's demand in the busiest hour (a capacity at or above it never sheds)."""
        return self.mean_tps * self.plan.cells[cell].share * float(self.profile.weights.max())

    def bottleneck(self, cell: int) -> str:
        app, db = self._tiers[cell]
        return "db" if db.node_tps < self.plan.cells[cell].spec.app.nodes * app.node_tps else "app"

    # ------------------------------------------------------------------ demand
    def demand_tps(self, t: float) -> float:
        """Bank-wide offered transactions/s at time ``t`` (seconds; hour 0 = midnight)."""
        return self.mean_tps * self.profile.rate_factor(t)

    def cell_demand_tps(self, cell: int, t: float) -> float:
        return self.plan.cells[cell].share * self.demand_tps(t)

    def profile_tps(self) -> list[float]:
        """Bank-wide demand of each hour of the day (24 values, transactions/s)."""
        return [self.mean_tps * float(w) for w in self.profile.weights]

    # ------------------------------------------------------------------ latency
    def _stations(self, cell: int, n_eff: float, db_factor: float, lam: float) -> list[Station]:
        app, db = self._tiers[cell]
        ca2, cs2 = float(self.spec.arrival_cv2), float(self.spec.service_cv2)
        out = []
        if math.isfinite(app.node_tps):
            out.append(Station(c=app.cores, mu=1.0 / app.service_time, lam=lam / n_eff, ca2=ca2, cs2=cs2))
        if math.isfinite(db.node_tps):
            out.append(Station(c=db.cores, mu=db_factor / db.service_time, lam=lam, ca2=ca2, cs2=cs2))
        return out

    def latency_tail(self, cell: int, n_eff: float, db_factor: float, lam: float, t_s) -> np.ndarray:
        """``P(latency > t)`` for served requests at arrival rate ``lam`` (must be below capacity)."""
        return tandem_tail(self._stations(cell, n_eff, db_factor, lam), t_s, offset=float(self.spec.base_latency))

    def _table(self, cell: int, n_eff: float, db_factor: float):
        """Per hour of day: shed fraction, slow fraction of served, histogram of served."""
        share = self.plan.cells[cell].share
        key = (share, self._tiers[cell], round(n_eff, 9), round(db_factor, 9))
        tab = self._tables.get(key)
        if tab is not None:
            return tab
        cap = self._capacity(cell, n_eff, db_factor)
        lam_h = self.mean_tps * share * self.profile.weights
        shed = np.zeros(24)
        slow = np.zeros(24)
        hist = np.zeros((24, NBINS))
        points = np.concatenate([EDGES_S, [self.slo]])
        rho_max = float(self.spec.overload_utilization)
        for h, lam in enumerate(lam_h):
            if cap <= 0.0:
                shed[h] = 1.0
                hist[h, -1] = 1.0  # unused: no request is served
                continue
            served = min(lam, cap)
            shed[h] = 1.0 - served / lam if lam > 0 else 0.0
            # an overloaded cell admits what fits; its queue runs near saturation
            tail = self.latency_tail(cell, n_eff, db_factor, min(served, rho_max * cap), points)
            edges_tail = np.concatenate([[1.0], tail[:-1], [0.0]])
            hist[h] = np.maximum(edges_tail[:-1] - edges_tail[1:], 0.0)
            slow[h] = tail[-1]
        tab = (shed, slow, hist)
        self._tables[key] = tab
        return tab

    def _state_for(self, cell: int, capacity_tps: float) -> tuple[float, float]:
        st = self.state_by_cap.get((cell, round(capacity_tps, 6)))
        if st is not None:
            return st
        # not produced by cell_capacity_tps: treat it as fewer app nodes, database as usual
        nominal_n = float(self.plan.cells[cell].spec.app.nodes)
        if capacity_tps >= self._capacity(cell, nominal_n, 1.0):
            return (nominal_n, 1.0)
        return (capacity_tps / self._tiers[cell][0].node_tps, 1.0)

    def offered_by_hour(self, cell: int, t0: float, t1: float) -> np.ndarray:
        """Requests offered to ``cell`` in [t0, t1), split by hour of day (24 values)."""
        if t1 <= t0:
            return np.zeros(24)
        secs = _hour_exposure(t1) - _hour_exposure(t0)
        if cell not in self._hourly_rate:  # the same product, left to right: (mean * share * weights) * secs
            self._hourly_rate[cell] = self.mean_tps * self.plan.cells[cell].share * self.profile.weights
        return self._hourly_rate[cell] * secs

    def interval_effect(self, cell: int, capacity_tps: float, t0: float, t1: float) -> IntervalEffect:
        """Expected offered, shed, slow requests and latency histogram of ``cell`` over
        [t0, t1) while it has ``capacity_tps`` (O(24) per call after the first at a capacity).

        The tier state behind ``capacity_tps`` is the one ``cell_capacity_tps`` last returned it
        for (two states of equal capacity shed the same; only their latency could differ).
        """
        return self._effect(cell, capacity_tps, self.offered_by_hour(cell, t0, t1))

    def excess_effect(self, cell: int, capacity_tps: float, nominal_tps: float, t0: float,
                      t1: float) -> IntervalEffect:
        """``interval_effect`` at ``capacity_tps`` minus at ``nominal_tps`` (same interval): what a
        degraded period adds to the all-up accounting, the offered requests split once (its
        ``offered`` is 0: the same requests are offered either way)."""
        w = self.offered_by_hour(cell, t0, t1)
        return _excess(w, self._table(cell, *self._state_for(cell, capacity_tps)),
                       self._table(cell, *self._state_for(cell, nominal_tps)))

    def _effect(self, cell: int, capacity_tps: float, w: np.ndarray) -> IntervalEffect:
        """The interval's effect at ``capacity_tps``, given the requests ``w`` offered per hour."""
        n_eff, db_factor = self._state_for(cell, capacity_tps)
        shed_f, slow_f, hist_t = self._table(cell, n_eff, db_factor)
        served = w * (1.0 - shed_f)
        # np.add.reduce is what ndarray.sum calls (same pairwise sum), without the Python wrapper
        return IntervalEffect(float(_add(w)), float(_add(w * shed_f)), float(_add(served * slow_f)),
                              served @ hist_t)

    def nominal_effect(self, t0: float, t1: float) -> IntervalEffect:
        """All cells with everything up over [t0, t1) (e.g. the whole horizon).

        Memoised: every replication asks for the same horizon. Callers must not modify the
        returned histogram in place (copy it).
        """
        key = (t0, t1)
        if key not in self._nominal:
            self._nominal[key] = self._nominal_effect(t0, t1)
        return self._nominal[key]

    def _nominal_effect(self, t0: float, t1: float) -> IntervalEffect:
        total = IntervalEffect(0.0, 0.0, 0.0, np.zeros(NBINS))
        for c in range(len(self.plan.cells)):
            total = total + self.interval_effect(c, self.nominal_capacity_tps(c), t0, t1)
        return total

    def nominal_latency_hist(self, t0: float = 0.0, t1: float | None = None) -> np.ndarray:
        """Request-weighted latency histogram of the whole bank, everything up, over [t0, t1)."""
        return self.nominal_effect(t0, self.sc.simulation.horizon if t1 is None else t1).latency_hist.copy()

    # ------------------------------------------------------------------ sustainable load
    def max_rate_within_slo(self, cell: int, n_eff: float, db_factor: float) -> float:
        """Largest arrival rate (tps) whose ``slo_percentile`` latency stays within slo.latency."""
        cap = self._capacity(cell, n_eff, db_factor)
        if cap <= 0:
            return 0.0
        target = 1.0 - float(self.spec.slo_percentile) / 100.0

        def ok(lam):
            return self.latency_tail(cell, n_eff, db_factor, lam, self.slo) <= target

        if not ok(0.0):
            return 0.0
        hi = cap * (1.0 - 1e-9)
        if ok(hi):
            return hi
        lo = 0.0
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if ok(mid):
                lo = mid
            else:
                hi = mid
            if hi - lo <= 1e-7 * cap:
                break
        return lo

    def idc_loss_states(self, idc: int) -> tuple[list[tuple[float, float]], float]:
        """Per cell (n_eff, db_factor) with IDC ``idc`` lost, and a bank-wide factor.

        A cell whose primary was there runs on the first surviving standby
        (``capacity.standby_factor``); one left with fewer replicas than its write quorum stops
        writes (capacity 0). The bank factor is 0 when the GNS loses its quorum and
        ``1 - mix.cross_cell`` when the bus does (cross-cell transfers fail).
        """
        servers = self.plan.servers
        states = []
        for c in self.plan.cells:
            up = sum(1 for s in c.app if servers[s].idc != idc)
            n_eff = self._n_eff(c.index, up, 0)
            alive = [s for s in c.db if servers[s].idc != idc]
            if len(alive) < c.spec.db.quorum:
                dbf = 0.0
            elif servers[c.db[0]].idc == idc:
                dbf = float(self.spec.standby_factor)
            else:
                dbf = 1.0
            states.append((n_eff, dbf))
        factor = 1.0
        topo = self.sc.topology
        if topo.gns is not None and sum(1 for s in self.plan.gns if servers[s].idc != idc) < topo.gns.quorum:
            factor = 0.0
        elif topo.bus is not None and sum(1 for s in self.plan.bus if servers[s].idc != idc) < topo.bus.quorum:
            factor = 1.0 - self.sc.workload.mix.cross_cell
        return states, factor

    def peak_daily_transactions(self, states: list[tuple[float, float]] | None = None, factor: float = 1.0) -> float:
        """Largest daily volume (same profile) whose peak hour every cell serves within the SLO.

        Traffic cannot move between cells (accounts are mapped), so the most constrained cell
        relative to its share sets the bank's figure.
        """
        if states is None:
            states = [(float(c.spec.app.nodes), 1.0) for c in self.plan.cells]
        peak_w = float(self.profile.weights.max())
        cache: dict = {}
        best = math.inf
        for c, (n_eff, dbf) in zip(self.plan.cells, states):
            key = (self._tiers[c.index], round(n_eff, 9), round(dbf, 9))
            if key not in cache:
                cache[key] = self.max_rate_within_slo(c.index, n_eff, dbf)
            best = min(best, cache[key] / (c.share * peak_w) * DAY)
        return best * factor

    def peak_latency_ms(self) -> dict:
        """p50/p99 latency (ms) of the busiest hour with everything up, bank-wide."""
        peak_h = int(np.argmax(self.profile.weights))
        hist = np.zeros(NBINS)
        for c in self.plan.cells:
            n = float(c.spec.app.nodes)
            shed, _slow, tab = self._table(c.index, n, 1.0)
            hist += c.share * (1.0 - shed[peak_h]) * tab[peak_h]
        p50, p99 = percentiles_from_hist(hist, [50, 99])
        return {"p50": p50, "p99": p99}
