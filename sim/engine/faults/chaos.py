"""The scenario's ``chaos:`` schedule in the simulator: each entry's fault at its time.

What each fault kind stops, for whom and for how long (``duration: 0`` = held until the run
ends; kill-postmaster: down and back at once) is defined once for both engines in
``sim.scenario.chaos``; the target is parsed once at validation (``entry.scope``) and resolved
to servers by scope (``sim.model.resolve``). A paused primary stalls writes; past the failover
detection time it is replaced (election + promotion only: the pause was the detection). A
bad-change fails every request of its cells. ``latency`` and etcd faults change no outage
figure here (recorded only).
"""

from __future__ import annotations

from sim.engine.faults.changes import bad_change
from sim.model import resolve_servers
from sim.scenario.chaos import hold_seconds

__all__ = ["start"]


def start(bank) -> None:
    for entry in bank.sc.chaos:
        bank.env.process(_chaos(bank, entry))


def _chaos(bank, entry):
    env = bank.env
    yield env.timeout(entry.at)
    target, cause = entry.scope, f"chaos:{entry.fault}"
    hold = hold_seconds(entry, bank.horizon)
    if entry.fault == "bad-change":  # a cell's whole app tier answers errors
        yield from bad_change(bank, target.cell_indices(len(bank.cells)), hold, cause, impact=1.0)
        return
    if target.part == "etcd":  # the consensus store only matters in a failover; not modelled
        bank.episodes.record(env.now, env.now + hold, entry.target, cause, "none", 0.0, True)
        return
    if entry.fault == "latency":
        bank.episodes.record(env.now, env.now + hold, entry.target, cause, "slow", 0.0, True)
        return
    servers = resolve_servers(target, bank.plan, lambda ci: bank.cells[ci].primary)
    start = env.now
    if entry.fault == "pause" and target.tier == "db" and len(servers) == 1:
        # a paused primary stalls writes; beyond the failover detection time it is replaced
        c = bank.cells[bank.plan.servers[servers[0]].cell]
        det = c.spec.db.failover.mean("detection")
        c.stall += 1
        bank.replica_sets.update(c, cause)
        yield env.timeout(min(hold, det))
        c.stall -= 1
        if hold > det:
            c.detected = True  # the stall was the detection time: elect and promote now
            bank.server_fail(servers[0], cause)
            bank.replica_sets.update(c, cause)
            yield env.timeout(hold - det)
            bank.server_repair(servers[0], cause)
        else:
            bank.replica_sets.update(c, cause)
        bank.episodes.record(start, env.now, entry.target, cause, "chaos", 0.0, True)
        return
    for s in servers:
        bank.server_fail(s, cause)
    yield env.timeout(hold)
    for s in servers:
        bank.server_repair(s, cause)
    bank.episodes.record(start, env.now, entry.target, cause, "chaos", 0.0, True)
