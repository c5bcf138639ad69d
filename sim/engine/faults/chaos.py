"""The scenario's ``chaos:`` schedule in the simulator: each entry's fault at its time.

What each fault kind stops, for whom and for how long (``duration: 0`` = held until the run
ends; kill-postmaster: down and back at once) is defined once for both engines in
``sim.scenario.chaos`` and ``sim.scenario.chaos_effects``; the target is parsed once at
validation (``entry.scope``) and resolved to servers by scope (``sim.model.resolve``).

* A paused primary stalls writes; past the failover detection time it is replaced (election +
  promotion only: the pause was the detection).
* kill-patroni on a primary: PostgreSQL serves on for the detection time (the ttl); held past
  it, the primary is replaced (election + promotion); a standby's Patroni costs nothing. With a
  fencing watchdog (``live.patroni.watchdog``) PostgreSQL is reset ``safety_margin`` s before the
  ttl: the cell is stalled from then until the failover (as a pause: the stall is the detection).
* etcd quorum loss (every member or ``etcd[quorum]``): no failover completes while it lasts
  (``ReplicaSets.consensus_lost``); one member: nothing.
* The relay (bus) crashed or paused: credits are delayed, not lost: no outage; the episode
  (effect ``credit-delay``) spans the predicted credit delay.
* A bad-change fails every request of its cells. ``latency`` changes no outage figure here
  (recorded as ``slow``).
"""

from __future__ import annotations

from sim.engine.faults.changes import bad_change
from sim.model import resolve_servers
from sim.scenario.chaos import hold_seconds
from sim.scenario.chaos_effects import credit_delay_seconds, delayed_failover, fence_margin, quorum_loss

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
    if target.part == "etcd":
        yield from _etcd(bank, entry, hold, cause)
        return
    if entry.fault == "latency":
        bank.episodes.record(env.now, env.now + hold, entry.target, cause, "slow", 0.0, True)
        return
    if target.part == "bus" and entry.fault in ("crash", "down", "pause"):
        # the relay's outbox keeps the credits: delivered late, none lost
        delay = credit_delay_seconds(hold, bank.sc.live)
        bank.episodes.record(env.now, env.now + delay, entry.target, cause, "credit-delay", 0.0, True)
        return
    servers = resolve_servers(target, bank.plan, lambda ci: bank.cells[ci].primary)
    start = env.now
    if entry.fault == "kill-patroni":
        for s in servers:
            c = bank.cells[bank.plan.servers[s].cell]
            if s == c.primary:  # a standby's PostgreSQL replicates on without its Patroni
                env.process(_patroni_primary(bank, c, s, hold, cause))
        yield env.timeout(hold)
        bank.episodes.record(start, env.now, entry.target, cause, "chaos", 0.0, True)
        return
    if entry.fault == "pause" and target.tier == "db" and len(servers) == 1:
        # a paused primary stalls writes; beyond the failover detection time it is replaced
        c = bank.cells[bank.plan.servers[servers[0]].cell]
        det = c.spec.db.failover.mean("detection")
        c.stall += 1
        bank.replica_sets.update(c, cause)
        yield env.timeout(min(hold, det))
        c.stall -= 1
        if delayed_failover("pause", hold, det):
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


def _patroni_primary(bank, c, s, hold, cause):
    """Patroni killed on the primary ``s``: its leader key expires after the detection (ttl)."""
    det = c.spec.db.failover.mean("detection")
    fence = fence_margin(bank.sc.live, det)
    if not delayed_failover("kill-patroni", hold, det, fence):
        return  # restarted before the key expired (or the watchdog fired): nobody noticed
    if fence:  # the watchdog resets the host: no writes from then until the failover
        yield bank.env.timeout(det - fence)
        c.stall += 1
        bank.replica_sets.update(c, cause)
        yield bank.env.timeout(fence)
        c.stall -= 1
    else:
        yield bank.env.timeout(det)
    c.detected = True  # the key expired: elect and promote now
    bank.server_fail(s, cause)
    bank.replica_sets.update(c, cause)
    yield bank.env.timeout(max(0.0, hold - det))  # held past the fence only: lifted at the expiry
    bank.server_repair(s, cause)


def _etcd(bank, entry, hold, cause):
    """etcd: a lost quorum blocks every failover until it returns; one member changes nothing."""
    env = bank.env
    start = env.now
    if not quorum_loss(entry):
        bank.episodes.record(start, start + hold, entry.target, cause, "none", 0.0, True)
        return
    rs = bank.replica_sets
    rs.consensus_lost += 1
    yield env.timeout(hold)
    rs.consensus_lost -= 1
    if rs.consensus_lost == 0:
        rs.quorum_restored(cause)
    bank.episodes.record(start, env.now, entry.target, cause, "none", 0.0, True)
