"""Independent component failures: servers, disks, database and app processes, router and bus nodes.

Every server draws its own times to failure and to repair (``failures.components``). The first
failure is drawn from the residual life (the system is in steady state at time 0). DB servers
of a cell may share repair crews (``db.repair_crews``). With ``common_cause_beta`` > 0, a share
beta of DB server failures take the whole replica set instead (``correlated``), so each replica's
own rate falls to (1 - beta)/MTBF. A service's nodes fail as app nodes and its own replicas as
DB replicas (``sim.engine.services.TIER``); common cause takes cells' sets only. Each server's
models are the bank's with its cell's, service's and replica's overrides applied
(``sim.scenario.failure_models.resolve``); ``failures.crews`` adds a pool of repair crews per
tier (for the bank or per IDC), taken after the set's own crews.

Crew-free components with exponential laws (nearly all) draw their whole timelines before the
run (``timed``: counter-based, keyed by ``scope/cause``, no stream seeded); where a service's
nodes only matter through ``needs``, ``bulk_nodes`` keeps them off SimPy's queue altogether.
Every other component draws from its keyed ``random.Random`` stream, event by event.
"""

from __future__ import annotations

from functools import partial
from math import log as _log
from heapq import heappush

import simpy
from simpy.events import NORMAL, Event

from sim.distributions import Sampler
from sim.engine.faults import bulk_apps, bulk_nodes, timed
from sim.engine.plan_cache import PlanCache
from sim.engine.services import TIER
from sim.model.plan import override_layers
from sim.scenario.failure_models import resolve

__all__ = ["start", "drawer"]


def start(bank) -> None:
    sc, plan, env = bank.sc, bank.plan, bank.env
    crews_for = {}
    for c in plan.cells:
        cr = c.spec.db.repair_crews
        if cr != "unlimited":
            crews_for[c.index] = simpy.Resource(env, capacity=cr)
    entries = _entries(sc, plan)
    # service nodes that only matter through needs: drawn in bulk (``bulk_nodes``)
    prep = bulk_nodes.prepare(sc, plan, entries) if bank.services is not None else None
    bulk = prep.bulk if prep is not None else ()
    components, crewed, chosen, apps = _steps(sc, plan, entries, bulk)
    for spec in components:  # no queue for a crew, no process needed
        _Component(bank, spec)
    for pos in crewed:
        srv, tier, name, ttf, ttr = entries[pos]
        crews = crews_for.get(srv.cell) if srv.role == "db" else _own_crews(bank, srv, crews_for)
        tier_crew = _tier_crews(bank, srv, tier, crews_for)
        if tier_crew is not None:  # its set's crew first, then its tier's: one order, no deadlock
            crews = (crews, tier_crew) if crews is not None else tier_crew
        env.process(_component(bank, srv.index, ttf, ttr, name, crews))
    timed.start(bank, chosen)  # crew-free exponential components: pre-drawn timelines
    if apps:  # app nodes that only matter through min_nodes and capacity (``bulk_apps``)
        bank.adopt_bulk_apps(bulk_apps.BulkApps(bank, apps))
    if bulk:
        bank.adopt_bulk(bulk_nodes.BulkNodes(bank, prep))


# each server's failure families depend only on the scenario, so the replications of a worker
# resolve their servers' overrides once
_ENTRIES = PlanCache()
_STEPS = PlanCache()


def _steps(sc, plan, entries, bulk) -> tuple[list, list, list, list]:
    """The entries not drawn in bulk, sorted: ``(components, crewed, timed, apps)``.

    ``components``: a ``_Component`` spec (its stream key, exponential rates) per crew-free
    component with a law other than exponential; ``crewed``: the positions in ``entries`` of
    those with crews (a process each); ``timed``: the entries of crew-free exponential
    components (``timed``: pre-drawn timelines); ``apps``: those of the app nodes of cells
    whose every app component is such (``bulk_apps``). Which is which depends only on the
    scenario, so the replications of a worker sort the entries once.
    """
    return _STEPS.get(plan, (sc.failures, sc.topology, sc.capacity, entries, bulk),
                      lambda: _build_steps(sc, plan, entries, bulk))


def _build_steps(sc, plan, entries, bulk) -> tuple[list, list, list, list]:
    crew_cells = {c.index for c in plan.cells if c.spec.db.repair_crews != "unlimited"}
    spec = sc.failures.crews
    components, crewed, chosen = [], [], []
    apps_apart = set()  # cells with an app component that is not crew-free exponential
    for pos, (srv, tier, name, ttf, ttr) in enumerate(entries):
        if srv.index in bulk:
            continue
        crews = ((srv.role == "db" and srv.cell in crew_cells)
                 or (srv.role == "svcdb" and plan.db_spec_of(srv.index).repair_crews != "unlimited")
                 or (spec is not None and getattr(spec, tier, "unlimited") != "unlimited"))
        if crews:
            crewed.append(pos)
        elif bulk_nodes.exponential(ttf) and bulk_nodes.exponential(ttr):
            chosen.append(entries[pos])
            continue
        else:
            rate = [1.0 / f.mean if bulk_nodes.exponential(f) else None for f in (ttf, ttr)]
            components.append((srv.index, srv.scope, name, f"{srv.scope}/{name}", ttf, ttr, *rate))
        if srv.role == "app":
            apps_apart.add(srv.cell)
    if not bulk_apps.eligible(sc):
        return components, crewed, chosen, []
    in_bulk = [e[0].role == "app" and e[0].cell not in apps_apart for e in chosen]
    return (components, crewed, [e for e, b in zip(chosen, in_bulk) if not b],
            [e for e, b in zip(chosen, in_bulk) if b])


def _entries(sc, plan) -> list[tuple]:
    """``(server, tier, cause, ttf sampler, ttr sampler)`` per failure family of each server."""
    return _ENTRIES.get(plan, (sc.failures, sc.topology), lambda: _build_entries(sc, plan))


def _build_entries(sc, plan) -> list[tuple]:
    comp = sc.failures.components
    beta = sc.failures.correlated.common_cause_beta
    out = []
    samplers: dict[tuple, tuple] = {}
    for srv in plan.servers:
        kinds = []
        tier = TIER.get(srv.role, srv.role)
        fm = resolve(comp, *override_layers(sc.topology, plan, srv))
        if fm["server"] and tier in comp.server_roles:
            kinds.append(("server", fm["server"], None))
        if tier == "db":
            if fm["disk"]:
                kinds.append(("disk", fm["disk"], plan.db_spec_of(srv.index).rebuild))
            if fm["db_process"]:
                kinds.append(("db-process", fm["db_process"], None))
        elif tier == "app" and fm["app_process"]:
            kinds.append(("app-process", fm["app_process"], None))
        elif srv.role == "gns" and fm["router_node"]:
            kinds.append(("router-node", fm["router_node"], None))
        elif srv.role == "bus" and fm["bus_node"]:
            kinds.append(("bus-node", fm["bus_node"], None))
        for cause, fd, repair_mean in kinds:
            common_cause = cause == "server" and srv.role == "db" and beta > 0
            if common_cause and beta >= 1:
                continue  # every DB server failure is a common-cause one
            # samplers hold no state: one pair per (family, failure model, repair time) serves every
            # server it applies to; the model object is kept in the value so its id stays unique
            key = (cause, common_cause, repair_mean, id(fd))
            pair = samplers.get(key)
            if pair is None:
                ttf = Sampler.ttf(fd)
                if common_cause:
                    ttf = Sampler(fd.distribution, fd.mean_ttf / (1.0 - beta), fd.shape, fd.sigma)
                pair = samplers[key] = (ttf, Sampler.ttr(fd, repair_mean), fd)
            name = f"{srv.role}-{cause}" if cause == "server" else cause
            out.append((srv, tier, name, pair[0], pair[1]))
    return out


def drawer(sampler: Sampler, rng):
    """``sampler.draw(rng)`` as a function of no argument, bound once per process.

    The same draws: an exponential binds ``rng.expovariate`` to the rate ``Sampler.draw`` would
    compute (one Python call fewer per event); every other distribution calls ``Sampler.draw``.
    """
    if sampler.kind == "exponential" and sampler.mean > 0:
        return partial(rng.expovariate, 1.0 / sampler.mean)
    return partial(sampler.draw, rng)


def _tier_crews(bank, srv, tier, crews_for):
    """The tier's crews (``failures.crews``), for the bank or the server's IDC."""
    spec = bank.sc.failures.crews
    cr = getattr(spec, tier, "unlimited") if spec is not None else "unlimited"
    if cr == "unlimited":
        return None
    key = ("tier", tier, srv.idc if spec.per == "idc" else None)
    if key not in crews_for:
        crews_for[key] = simpy.Resource(bank.env, capacity=cr)
    return crews_for[key]


def _own_crews(bank, srv, crews_for):
    """A service's own replica set repairs with its own crews (``db.repair_crews``)."""
    if srv.role != "svcdb":
        return None
    key = (srv.cell, srv.service)
    if key not in crews_for:
        cr = bank.plan.db_spec_of(srv.index).repair_crews
        crews_for[key] = None if cr == "unlimited" else simpy.Resource(bank.env, capacity=cr)
    return crews_for[key]


class _Component(Event):
    """``_component`` without crews, as one event rescheduled on SimPy's queue (no process).

    A SimPy process per component costs a generator resumption, a ``Timeout`` and a
    ``Process._resume`` per failure and repair; here the component is its own event, its step
    one method call. Its first failure is drawn at creation (its stream is its own, so when
    it draws changes no value) and scheduled right away, without the process's start event;
    then each delay after the failure or repair it follows, pushed on the queue as
    ``env.schedule`` pushes it. A step due at or after the horizon would never be processed
    (the run stops first: ``sim.engine.loop``), so it is not pushed, but its event id is taken
    all the same: every later event keeps its id, its order and ``sim_events`` its count.
    """

    def __init__(self, bank, spec: tuple):
        """``spec``: ``(server, scope, cause, stream key, ttf, ttr, ttf rate, ttr rate)``, the
        rates those of exponential laws (drawn inline: random.Random.expovariate's formula, the
        same float operations on the same draw, one Python call per step fewer), else None."""
        # Event.__init__ is not called: this event is never triggered, only scheduled
        self.env = env = bank.env
        self.queue, self.eid, self.horizon = env._queue, env._eid, bank.horizon
        s, self.scope, self.cause, key, ttf, ttr, self.ttf_rate, self.ttr_rate = spec
        self.s = s
        self._ok, self._value = True, None
        rng = bank.stream(key)
        self.rand = rng.random
        self.draw_ttf = drawer(ttf, rng) if self.ttf_rate is None else None
        self.draw_ttr = drawer(ttr, rng) if self.ttr_rate is None else None
        self.fail, self.repair = bank.handlers(s)
        # whether raw episodes are kept is fixed for the replication: read once, not per repair
        self.episodes = bank.episodes if bank.episodes.detail else None
        # an exponential's residual life is the law itself: ``draw_residual``'s expovariate inline
        rate = self.ttf_rate
        t = env._now + (-_log(1.0 - rng.random()) / rate if rate is not None else ttf.draw_residual(rng))
        if t < self.horizon:
            self.callbacks = self._on_fail
            heappush(self.queue, (t, NORMAL, next(self.eid), self))
        else:
            next(self.eid)

    # each step pushes the next one itself, as ``env.schedule`` would (written out in both: a
    # step is the commonest event of a year, and a call per step to share five lines cost more)
    def _failed(self):
        self.start = now = self.env._now
        self.fail(self.s, self.cause)
        rate = self.ttr_rate
        t = now + (-_log(1.0 - self.rand()) / rate if rate is not None else self.draw_ttr())
        if t < self.horizon:
            self.callbacks = self._on_repair  # step() took the list; the next step fires it
            heappush(self.queue, (t, NORMAL, next(self.eid), self))
        else:
            next(self.eid)

    def _repaired(self):
        now = self.env._now
        self.repair(self.s, self.cause)
        if self.episodes is not None:
            self.episodes.record(self.start, now, self.scope, self.cause, "none", 0.0, False)
        rate = self.ttf_rate
        t = now + (-_log(1.0 - self.rand()) / rate if rate is not None else self.draw_ttf())
        if t < self.horizon:
            self.callbacks = self._on_fail
            heappush(self.queue, (t, NORMAL, next(self.eid), self))
        else:
            next(self.eid)

    # The two callback lists a component alternates, shared by all of them: step() only
    # iterates an event's list and calls ``callback(event)``, the event being the component, so
    # the plain functions serve as its methods. No list nor bound method per component, hence
    # no cycle (component -> list -> bound method -> component) to leave to the cycle collector.
    _on_fail = [_failed]
    _on_repair = [_repaired]


def _component(bank, s, ttf: Sampler, ttr: Sampler, cause, crews=None):
    env = bank.env
    scope = bank.plan.servers[s].scope
    rng = bank.stream(f"{scope}/{cause}")
    draw_ttf, draw_ttr = drawer(ttf, rng), drawer(ttr, rng)
    timeout, fail, repair, episodes = env.timeout, bank.server_fail, bank.server_repair, bank.episodes
    yield timeout(ttf.draw_residual(rng))
    while True:
        start = env.now
        fail(s, cause)
        if isinstance(crews, tuple):  # a set's crew and its tier's, taken in that order
            with crews[0].request() as req:
                yield req
                with crews[1].request() as req2:
                    yield req2
                    yield timeout(draw_ttr())
        elif crews is not None:
            with crews.request() as req:
                yield req
                yield timeout(draw_ttr())
        else:
            yield timeout(draw_ttr())
        repair(s, cause)
        if episodes.detail:
            episodes.record(start, env.now, scope, cause, "none", 0.0, False)
        yield timeout(draw_ttf())
