"""Independent component failures: servers, disks, database and app processes, router and bus nodes.

Every server draws its own times to failure and to repair (``failures.components``). The first
failure is drawn from the residual life (the system is in steady state at time 0). DB servers
of a cell may share repair crews (``db.repair_crews``). With ``common_cause_beta`` > 0, a share
beta of DB server failures take the whole replica set instead (``correlated``), so each replica's
own rate falls to (1 - beta)/MTBF.
"""

from __future__ import annotations

from functools import partial

import simpy

from sim.distributions import Sampler

__all__ = ["start", "drawer"]


def start(bank) -> None:
    sc, plan, env = bank.sc, bank.plan, bank.env
    comp = sc.failures.components
    beta = sc.failures.correlated.common_cause_beta
    crews_for = {}
    for c in plan.cells:
        cr = c.spec.db.repair_crews
        if cr != "unlimited":
            crews_for[c.index] = simpy.Resource(env, capacity=cr)
    samplers: dict[tuple, tuple[Sampler, Sampler]] = {}
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
            common_cause = cause == "server" and srv.role == "db" and beta > 0
            if common_cause and beta >= 1:
                continue  # every DB server failure is a common-cause one
            # samplers hold no state: one pair per (family, repair time) serves every server
            key = (cause, common_cause, repair_mean)
            pair = samplers.get(key)
            if pair is None:
                ttf = Sampler.ttf(fd)
                if common_cause:
                    ttf = Sampler(fd.distribution, fd.mean_ttf / (1.0 - beta), fd.shape, fd.sigma)
                pair = samplers[key] = (ttf, Sampler.ttr(fd, repair_mean))
            crews = crews_for.get(srv.cell) if srv.role == "db" else None
            env.process(_component(bank, srv.index, pair[0], pair[1],
                                   f"{srv.role}-{cause}" if cause == "server" else cause, crews))


def drawer(sampler: Sampler, rng):
    """``sampler.draw(rng)`` as a function of no argument, bound once per process.

    The same draws: an exponential binds ``rng.expovariate`` to the rate ``Sampler.draw`` would
    compute (one Python call fewer per event); every other distribution calls ``Sampler.draw``.
    """
    if sampler.kind == "exponential" and sampler.mean > 0:
        return partial(rng.expovariate, 1.0 / sampler.mean)
    return partial(sampler.draw, rng)


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
        if crews is not None:
            with crews.request() as req:
                yield req
                yield timeout(draw_ttr())
        else:
            yield timeout(draw_ttr())
        repair(s, cause)
        if episodes.detail:
            episodes.record(start, env.now, scope, cause, "none", 0.0, False)
        yield timeout(draw_ttf())
