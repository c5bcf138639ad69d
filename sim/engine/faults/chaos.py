"""The scenario's ``chaos:`` schedule in the simulator: each entry's fault at its time.

The semantics of each fault kind (what stops, for how long, what ``duration: 0`` means) are
defined once for both engines in ``sim.scenario.chaos``; this module applies them to the
simulated bank. A paused primary stalls writes; past the failover detection time it is
replaced (election + promotion only: the pause was the detection). A bad-change fails every
request of its cells. ``latency`` and etcd faults change no outage figure here (recorded only).
"""

from __future__ import annotations

from sim.engine.faults.changes import bad_change
from sim.scenario.model import CHAOS_TARGET_RE

__all__ = ["start"]


def start(bank) -> None:
    for entry in bank.sc.chaos:
        bank.env.process(_chaos(bank, entry))


def _chaos(bank, entry):
    env = bank.env
    plan = bank.plan
    yield env.timeout(entry.at)
    m = CHAOS_TARGET_RE.match(entry.target)
    cause = f"chaos:{entry.fault}"
    dur = entry.duration
    servers: list[int] = []
    if m.group("cell") is not None:
        cells = range(len(bank.cells)) if m.group("cell") == "*" else [int(m.group("cell"))]
        if entry.fault == "bad-change":
            yield from bad_change(bank, list(cells), dur or 600.0, cause, impact=1.0)
            return
        for ci in cells:
            c = bank.cells[ci]
            tier, member = m.group("tier"), m.group("member")
            if tier == "db":
                if member in (None, "primary"):
                    if member is None:
                        servers += c.db
                    elif c.primary is not None:
                        servers.append(c.primary)
                elif member == "sync_standby":
                    servers += [s for s in c.db if s != c.primary][:1]
                else:
                    k = int(member.split("[")[1].rstrip("]"))
                    if k < len(c.db):
                        servers.append(c.db[k])
            elif tier == "app":
                if member is None:
                    servers += c.app
                else:
                    k = int(member.split("[")[1].rstrip("]"))
                    if k < len(c.app):
                        servers.append(c.app[k])
            else:
                servers += c.db + c.app
    elif m.group("idc") is not None:
        ii = plan.idc_index(m.group("idc"))
        servers = [s.index for s in plan.servers if s.idc == ii]
    elif entry.target in ("gns", "gateway"):
        servers = list(plan.gns)
    elif entry.target in ("bus", "relay"):
        servers = list(plan.bus)
    else:  # etcd: the consensus store only matters when a failover is needed; not modelled
        bank.episodes.record(env.now, env.now + dur, entry.target, cause, "none", 0.0, True)
        return
    if entry.fault == "latency":
        bank.episodes.record(env.now, env.now + dur, entry.target, cause, "slow", 0.0, True)
        return
    start = env.now
    if entry.fault == "pause" and m.group("cell") is not None and len(servers) == 1:
        # a paused primary stalls writes; beyond the failover detection time it is replaced
        c = bank.cells[plan.servers[servers[0]].cell]
        det = c.spec.db.failover.detection
        c.stall += 1
        bank.replica_sets.update(c, cause)
        yield env.timeout(min(dur, det))
        c.stall -= 1
        if dur > det:
            c.detected = True  # the stall was the detection time: elect and promote now
            bank.server_fail(servers[0], cause)
            bank.replica_sets.update(c, cause)
            yield env.timeout(dur - det)
            bank.server_repair(servers[0], cause)
        else:
            bank.replica_sets.update(c, cause)
        bank.episodes.record(start, env.now, entry.target, cause, "chaos", 0.0, True)
        return
    if dur <= 0:
        fd = bank.sc.failures.components.server
        dur = fd.mttr if fd else 3600.0
    for s in servers:
        bank.server_fail(s, cause)
    yield env.timeout(dur)
    for s in servers:
        bank.server_repair(s, cause)
    bank.episodes.record(start, env.now, entry.target, cause, "chaos", 0.0, True)
