"""Correlated failures: a group of servers fails together and comes back together.

Groups: a cell's whole replica set (common cause, rate beta/MTBF), a rack, a power domain
(``racks_per_power_domain`` racks), an IDC (or an IDC cut off by a partition) and a region.
Each group draws its own event times and durations from the stream keyed by its scope.
"""

from __future__ import annotations

from sim.distributions import Sampler

__all__ = ["start"]


def start(bank) -> None:
    sc, plan, env = bank.sc, bank.plan, bank.env
    comp = sc.failures.components
    corr = sc.failures.correlated
    beta = corr.common_cause_beta
    if beta > 0 and comp.server and "db" in comp.server_roles:
        fd = comp.server
        for c in plan.cells:
            env.process(_group(bank, c.db, beta / fd.mean_ttf, Sampler.ttr(fd), "common-cause",
                               f"cell[{c.index}].db"))
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
            env.process(_group(bank, members, ev.rate, dur, cause, target))


def _group(bank, members, rate, dur: Sampler, cause, target):
    env = bank.env
    rng = bank.stream(f"{target}/{cause}")
    # bulk-drawn service nodes (``bulk_nodes``) are held all at once: each service they belong
    # to is looked at once per event, after all of them (holds only grow, then only shrink)
    bulk = bank.bulk
    held = [s for s in members if bulk is not None and s in bulk.group_of]
    if held:
        members = [s for s in members if s not in bulk.group_of]
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
