"""One replication of the bank under failures: wire the parts, run SimPy to the horizon.

The parts, one concept each: ``streams`` (seeded keyed random streams), ``state`` (a cell's
mutable state), ``replica_set`` (what fails in a cell, failover), ``shared`` (router and bus),
``ledger`` (traffic integrals by cause), ``capacity_overlay`` (slow and shed requests),
``faults/`` (one module per fault family) and ``result`` (what a replication returns).
Servers are shared by the families: each counts its down-holders, and the first failure or the
last repair of a server changes its cell's replica set, app tier, or a shared service.
"""

from __future__ import annotations

import gc

import simpy

from sim.engine import faults
from sim.engine.capacity_overlay import CapacityOverlay
from sim.engine.episodes import DETAIL_REPLICATIONS, EpisodeLog
from sim.engine.ledger import Ledger
from sim.engine.plan_cache import PlanCache
from sim.engine.loop import run_until
from sim.engine.replica_set import ReplicaSets
from sim.engine.result import ReplicationResult
from sim.engine.service_ledger import ServiceLedger
from sim.engine.services import ServiceStates, service_kinds
from sim.engine.shared import SharedServices
from sim.engine.state import CellState
from sim.engine.streams import Streams
from sim.model import BankPlan, build_bank
from sim.profile import DayProfile
from sim.scenario.model import Scenario

__all__ = ["Replication", "run_replication"]

# server roles as small integers (compared at every failure and repair); as before, any other
# role is treated as a bus node
_DB, _APP, _GNS, _BUS, _SVC, _BULK, _BULK_APP = range(7)
_ROLES = {"db": _DB, "app": _APP, "gns": _GNS, "bus": _BUS, "svc": _SVC, "svcdb": _SVC}

# scenario constants a worker's replications share (the day profile's weights take ~100 numpy
# bisection steps; the roles a pass over every server): built once per plan. Neither is changed
# by a replication (``adopt_bulk`` changes its own copy of the roles)
_PROFILES = PlanCache()
_ROLE_OF = PlanCache()


class Replication:
    """One replication: build the bank's state and fault processes, run, return the figures."""

    def __init__(self, sc: Scenario, index: int, plan: BankPlan | None = None,
                 detail: bool | None = None, timeseries: bool | None = None, capacity=None):
        self.sc = sc
        self.plan = plan or build_bank(sc)
        self.index = index
        self.env = simpy.Environment()
        self.streams = Streams(sc.simulation.seed, index)
        self.stream = self.streams.stream
        sim = sc.simulation
        self.horizon = sim.horizon
        self.warm = sim.warmup
        want_ts = index == 0 if timeseries is None else timeseries
        self.episodes = EpisodeLog(index, sim.warmup,
                                   index < DETAIL_REPLICATIONS if detail is None else detail)
        ts_step = sim.timeseries_step if want_ts else None
        spec = sc.workload.profile
        profile = _PROFILES.get(self.plan, (spec,), lambda: DayProfile.from_spec(spec))
        if self.plan.has_services:  # services inside cells: sim.engine.services
            self.ledger = ServiceLedger(profile, service_kinds(sc), sim.warmup, sim.horizon, ts_step,
                                        self.episodes, len(self.plan.cells))
        else:
            self.ledger = Ledger(profile, sc.workload.mix, sim.warmup, sim.horizon, ts_step, self.episodes)
        self.server_down = [0] * len(self.plan.servers)  # holders of each server's failure
        self.gray: set[int] = set()                      # servers in a gray failure
        self.cells = [CellState(c) for c in self.plan.cells]
        # per server, what its first failure or last repair changes: looked up once, not per event
        roles = _ROLE_OF.get(self.plan, (), lambda: [_ROLES.get(srv.role, _BUS) for srv in self.plan.servers])
        self._role = list(roles)
        self._cell = [self.cells[srv.cell] if srv.cell is not None else None for srv in self.plan.servers]
        # ``handlers``' answers, bound once per replication rather than once per component
        self._app_handlers = (self.app_fail, self.app_repair)
        self._server_handlers = (self.server_fail, self.server_repair)
        self.replica_sets = ReplicaSets(self.env, self.cells, self.ledger, self.streams,
                                        self.server_down, sim.warmup)
        self.shared = SharedServices(self.env, sc.topology, self.plan, self.ledger, self.episodes)
        self.shared.streams = self.streams
        self.services = ServiceStates(self) if self.plan.has_services else None
        self.replica_sets.always_set = self.services is not None
        self.bulk = None
        self.bulk_apps = None
        self.capacity = None
        if sc.capacity is not None:
            if capacity is None:
                from sim.capacity import CapacityModel
                capacity = CapacityModel(sc, self.plan)
            self.capacity = CapacityOverlay(capacity, self.plan, sc, self.env, self.ledger,
                                            self.server_down, self.gray)
            self.replica_sets.capacity = self.capacity

    # ------------------------------------------------------------------ servers
    def server_fail(self, s: int, cause: str):
        """One more holder of server ``s``'s failure; the first one takes it down."""
        down = self.server_down
        down[s] += 1
        if down[s] > 1:
            return
        role = self._role[s]
        if role == _DB:
            self.replica_sets.replica_changed(self._cell[s], -1, cause)
        elif role == _APP:
            c = self._cell[s]
            c.app_up -= 1
            self.replica_sets.app_changed(c, c.app_up == c.app_min - 1, cause)
        elif role == _BULK_APP:
            self.bulk_apps.held(s, True, cause)
        elif role == _SVC:
            self.services.server(s, -1, cause)
        elif role == _BULK:
            self.bulk.held(s, True, cause)
        elif role == _GNS:
            self.shared.gns_fail(cause)
        else:
            self.shared.bus_fail(cause)

    def server_repair(self, s: int, cause: str):
        """One holder of server ``s``'s failure fewer; the last one brings it back."""
        down = self.server_down
        down[s] -= 1
        if down[s] > 0:
            return
        role = self._role[s]
        if role == _DB:
            self.replica_sets.replica_changed(self._cell[s], +1, cause)
        elif role == _APP:
            c = self._cell[s]
            c.app_up += 1
            self.replica_sets.app_changed(c, c.app_up == c.app_min, cause)
        elif role == _BULK_APP:
            self.bulk_apps.held(s, False, cause)
        elif role == _SVC:
            self.services.server(s, +1, cause)
        elif role == _BULK:
            self.bulk.held(s, False, cause)
        elif role == _GNS:
            self.shared.gns_repair(cause)
        else:
            self.shared.bus_repair(cause)

    def handlers(self, s: int):
        """``(fail, repair)`` for a component of server ``s``: an app node's (its role is fixed;
        ~3/4 of a webank year's component steps) skip the dispatch on the role."""
        return self._app_handlers if self._role[s] == _APP else self._server_handlers

    def app_fail(self, s: int, cause: str):
        """``server_fail`` of an app node."""
        down = self.server_down
        down[s] += 1
        if down[s] == 1:
            c = self._cell[s]
            c.app_up -= 1
            self.replica_sets.app_changed(c, c.app_up == c.app_min - 1, cause)

    def app_repair(self, s: int, cause: str):
        """``server_repair`` of an app node."""
        down = self.server_down
        down[s] -= 1
        if down[s] == 0:
            c = self._cell[s]
            c.app_up += 1
            self.replica_sets.app_changed(c, c.app_up == c.app_min, cause)

    def adopt_bulk(self, bulk):
        """Service nodes drawn in bulk (``faults.bulk_nodes``): their holders go to ``bulk``."""
        self.bulk = bulk
        for s in bulk.servers:
            self._role[s] = _BULK

    def adopt_bulk_apps(self, bulk_apps):
        """App nodes drawn in bulk (``faults.bulk_apps``): their holders go to ``bulk_apps``, and
        the capacity overlay replays their steps before each change of their cell."""
        self.bulk_apps = bulk_apps
        for s in bulk_apps.servers:
            self._role[s] = _BULK_APP
        if self.capacity is not None:
            self.capacity.bulk_apps = bulk_apps

    # ------------------------------------------------------------------ run
    def run(self) -> ReplicationResult:
        faults.start_all(self)
        run_until(self.env, self.horizon)
        # what is left on the queue is past the horizon and never runs; dropped now, the
        # components, processes and timeouts on it die by reference counting (each refers to
        # the bank, which refers to the queue: a cycle the collector would otherwise walk after
        # the replication, ~20,000 objects, ~10 % of a webank year's CPU)
        self.env._queue.clear()
        led = self.ledger
        led.advance(self.horizon)
        if self.bulk_apps is not None:
            self.bulk_apps.finish(self.horizon)
        if self.capacity is not None:
            self.capacity.close(self.cells)
        for c in self.cells:
            led.close_cell(c, self.horizon)
        self.replica_sets.close(self.horizon)
        if self.services is not None:
            self.services.close(self.horizon)
        self.shared.close(self.horizon)
        ts = None
        if led.ts_step is not None:
            ts = {"step": led.ts_step, "offered": led.ts_offered, "failed": led.ts_failed,
                  "slow": led.ts_slow, "cells_down": led.ts_cells}
        cap = self.capacity
        return ReplicationResult(
            index=self.index, span=self.horizon - self.warm,
            offered=led.profile.integral(self.warm, self.horizon),
            failed_req=led.failed_req, failed_time=led.failed_time,
            cell_failed=[c.acc for c in self.cells], cause_failed=dict(led.cause_failed),
            cause_episodes=dict(led.cause_episodes), outages=led.outages,
            day_offered=led.day_offered, day_failed=led.day_failed,
            rpo_exposure=self.replica_sets.rpo_exposure, events=self.episodes.sorted(),
            timeseries=ts, slow_req=cap.slow_req if cap is not None else 0.0,
            latency_hist=None if cap is None else cap.lat_hist.tolist(),
            sim_events=_event_count(self.env))


def _event_count(env) -> int:
    """SimPy's running event id (a counter of scheduled events), for benchmarks."""
    return next(env._eid)


# Scenario fingerprint -> (plan, capacity model). Both are deterministic functions of the
# scenario and hold no randomness (the capacity model's caches are queueing tables, ~40 ms to
# build for webank-2023: as long as a replication), so the replications of a scenario that one
# process runs share them, whoever calls (the runner passes its own, built the same way).
_MODELS: dict[str, tuple] = {}


def _models(sc: Scenario, plan: BankPlan | None, capacity):
    if plan is not None and (capacity is not None or sc.capacity is None):
        return plan, capacity
    from sim.scenario import scenario_sha256
    key = scenario_sha256(sc)
    if key not in _MODELS:
        if len(_MODELS) >= 8:
            _MODELS.clear()
        built = plan or build_bank(sc)
        cm = None
        if sc.capacity is not None:
            from sim.capacity import CapacityModel
            cm = CapacityModel(sc, built)
        _MODELS[key] = (built, cm)
    cached_plan, cached_cm = _MODELS[key]
    return plan or cached_plan, capacity or cached_cm


def run_replication(sc: Scenario, index: int, plan: BankPlan | None = None,
                    capacity=None) -> ReplicationResult:
    """Run replication ``index`` of ``sc`` (deterministic for the scenario's seed).

    ``plan`` and ``capacity`` (a ``sim.model.BankPlan`` and a ``sim.capacity.CapacityModel``,
    reusable across replications: they hold no randomness) are built from the scenario when not
    given, once per scenario and process.
    """
    # The cyclic garbage collector finds nothing to free in a replication (SimPy drops an
    # event's callbacks once processed, so processes and events die by reference counting; peak
    # RSS is the same with it off), but each full collection walks every live object and they
    # come once per fixed share of new objects: both grow with the bank, so the collector made
    # a year at 1,000 cells cost ~2.5x one at 500 (over 40 % of the CPU time). Paused for the
    # replication, doubling the bank costs ~2.0x (benchmarks P4, docs/performance.md). What the
    # replication leaves in cycles is collected after it, in the next young collection: little,
    # since ``run`` drops the queue (benchmarks/year_cpu.py times that collection too).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        plan, capacity = _models(sc, plan, capacity)
        return Replication(sc, index, plan, capacity=capacity).run()
    finally:
        if was_enabled:
            gc.enable()
