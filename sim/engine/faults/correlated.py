"""Correlated failures: a group of servers fails together and comes back together.

Groups: a cell's whole replica set (common cause, rate beta/MTBF), a rack, a power domain
(``racks_per_power_domain`` racks), an IDC (or an IDC cut off by a partition) and a region.
Each group draws its own event times and durations from the stream keyed by its scope.
"""

from __future__ import annotations

from sim.distributions import Sampler
from sim.engine.plan_cache import PlanCache

__all__ = ["start"]


def start(bank) -> None:
    for members, held, rate, dur, cause, target in _groups(bank):
        bank.env.process(_group(bank, members, held, rate, dur, cause, target))


# a scenario's groups, their members and samplers hold no randomness, so a worker's replications
# build them once (an IDC's or a power domain's member list costs a pass over every server)
_GROUPS = PlanCache()


def _groups(bank) -> list[tuple]:
    """``(members, held, rate, duration sampler, cause, target)`` per group, in start order."""
    sc, plan = bank.sc, bank.plan
    bulk = bank.bulk.servers if bank.bulk is not None else None
    return _GROUPS.get(plan, (sc.failures, bulk), lambda: _build_groups(sc, plan, bulk))


def _build_groups(sc, plan, bulk) -> list[tuple]:
    comp = sc.failures.components
    corr = sc.failures.correlated
    beta = corr.common_cause_beta
    out = []
    if beta > 0 and comp.server and "db" in comp.server_roles:
        fd = comp.server
        out += [(c.db, beta / fd.mean_ttf, Sampler.ttr(fd), "common-cause", f"cell[{c.index}].db")
                for c in plan.cells]
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
            out.append((members, ev.rate, Sampler(ev.distribution, ev.duration, 1.0, ev.sigma), cause, target))
    # bulk-drawn service nodes (``bulk_nodes``) are held all at once: each service they belong
    # to is looked at once per event, after all of them (holds only grow, then only shrink)
    in_bulk = frozenset(bulk or ())
    split = [([s for s in members if s not in in_bulk], [s for s in members if s in in_bulk], *rest)
             for members, *rest in out]
    return split


def _group(bank, members, held, rate, dur: Sampler, cause, target):
    env = bank.env
    rng = bank.stream(f"{target}/{cause}")
    bulk = bank.bulk
    while True:
        yield env.timeout(rng.expovariate(rate))
        start = env.now
        for s in members:
            bank.server_fail(s, cause)
        if held:
            bulk.hold_many(held, True, cause)
        yield env.timeout(dur.draw(rng))
        for s in members:
            bank.server_repair(s, cause)
        if held:
            bulk.hold_many(held, False, cause)
        bank.episodes.record(start, env.now, target, cause, "group", 0.0, False)
