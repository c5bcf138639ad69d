"""What each recorded live fault does to the replayed traffic: its model class and effect.

One place turns a recorded fault (``kind`` and ``target`` as the schedule wrote them, its start
and the time it was lifted) and the run's echoed live constants (Patroni's ``ttl``,
``live.restart_delay``, ``live.relay_interval``) into a :class:`FaultEffect`; the fit
(``sim.calibration.fit``) and the prediction (``sim.calibration.predict``) both read it, so a
fault means the same to both.

Effects on the closed-loop replay (``sim.calibration.replay``):

* ``outage``: the named cells (``None``: every cell) have no usable primary or app server; the
  gateway retries inside its deadline (a failover, a short pause ridden out, a partition, an
  app server restarted by the supervisor, etcd's quorum lost);
* ``error``: requests fail at once and the client sees an unknown outcome (a crashed gateway
  refused connections until its spare served, in runs recorded before its supervisor held the
  port, 20261204T16; a bad change answers 500): it looks the key up, backs off and retries;
* ``hold``: requests wait until it ends, then are served (a paused gateway: the kernel queues
  the connections; its length is the fault's own, ``fixed``: not calibrated; a crashed gateway
  whose supervisor holds its port: the takeover by its spare, fitted);
* ``slow``: ``latency`` x a fitted factor (the round trips per request that pay it) added to
  each request of the named cells; one slowed past the gateway's deadline fails;
* ``none``: users see nothing (the relay: cross-cell credits are delayed, not lost; one etcd
  member of three). A relay fault's predicted figure is the credit delay.

Model classes (the calibration's keys): a fault on a cell's database keeps its kind as the name
(``kill-postmaster``, ``crash``, ``kill-patroni``, ``partition``, ``latency``, ``pause`` for a
pause beyond the ttl, which fails over), except ``pause-short`` (held below the ttl: Patroni
rides it out, requests stall); a fault elsewhere is ``KIND@FORM`` (``crash@gns``, or
``crash@gns+held-port`` where the record says its supervisor held the port, ``pause@bus``,
``bad-change@app``, ``down@idc``, ``crash@etcd`` for one member, ``crash@etcd-quorum``), except
``standby-loss``: a standby crashed or killed (commits wait until Patroni drops the dead
synchronous standby); an IDC lost with only standbys is ``down@idc-standby``, or
``down@idc-standby+etcd-leader`` when etcd's leader died there too. A class's length is either
fitted whole (``outage_seconds``: a failover's length does not depend
on the hold) or the fault's own hold plus a fitted extra (``outage_extra_seconds``: what stops
ends when the fault is lifted). kill-patroni's outage starts ``ttl`` after the kill (the leader
key expires first; PostgreSQL serves on meanwhile), or ``ttl - safety_margin`` after it when the
run's Patroni had a fencing watchdog (``live.patroni.watchdog``): its length counts from then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sim.scenario.chaos import parse_target
from sim.scenario.chaos_effects import fence_margin

__all__ = ["FaultEffect", "fault_effect", "HELD_BASE", "STANDBY_LOSS", "run_constants"]

# A synchronous standby killed (its host crashed, its IDC lost): with synchronous_node_count 2
# every standby is synchronous, so strict synchronous mode blocks the primary's commits until its
# Patroni drops the dead one from the set on its next loop (live: stalls of 0.65-4.9 s, longer when
# etcd's leader died with it). The stall does not depend on the hold: fitted whole. (The simulator's
# engines do not model it: a standby's failure costs them nothing while the quorum holds.)
STANDBY_LOSS = "standby-loss"
STANDBY_KILLS = ("crash", "down", "kill-postmaster")

# classes whose effect lasts the fault's hold plus a fitted extra (the rest are fitted whole)
HELD_BASE = frozenset({"pause-short", "partition", "bad-change@app", "pause@app", "pause@gns", "down@idc",
                       "crash@etcd-quorum", "down@etcd-quorum", "pause@etcd-quorum",
                       "crash@etcd-all", "down@etcd-all", "pause@etcd-all"})


@dataclass(frozen=True)
class FaultEffect:
    """One recorded fault as the replay models it (see the module docstring)."""

    cls: str                          # the model class: the calibration's key
    effect: str                       # outage | error | hold | slow | none
    cells: tuple[int, ...] | None     # the cells it acts on (None: every cell)
    start: float                      # s: when the fault started (recorded)
    hold: float                       # s: how long it was held (lifted - start; 0 if instantaneous)
    delay: float = 0.0                # s: the effect starts this long after the fault
    latency: float = 0.0              # s: added per request (``slow``)
    credit_delay: float | None = None  # s: predicted delay of cross-cell credits (relay faults)
    fixed: bool = False               # its length is the hold itself: nothing to calibrate
    # its end is not a Patroni HA loop's (an app server the supervisor restarts): the replay adds
    # no loop_wait jitter to it
    exact_end: bool = False
    # the process died at the start (a crashed gateway): the requests in flight through it fail
    # then, whatever the fitted length of what follows (connections refused until its restart,
    # crash@gns; or held in the backlog by its supervisor, crash@gns+held-port)
    resets: bool = False
    # ``slow``: whether the added latency is paid holding a database connection (a slowed database
    # or network); an app server's own injected latency is paid before it takes one
    pooled: bool = True

    @property
    def fitted(self) -> bool:
        """Whether the calibration holds a figure for this class: a length (outage, error, hold)
        or, for ``slow``, the round trips per request that pay the added latency."""
        return self.effect in ("outage", "error", "hold", "slow") and not self.fixed

    @property
    def acts(self) -> bool:
        """Whether it changes the replayed requests at all: a calibrated figure or its own hold."""
        return self.fitted or self.fixed

    @property
    def held_base(self) -> bool:
        return self.cls in HELD_BASE

    def window(self, params: dict) -> tuple[float, float] | None:
        """(start, end) of the effect given the class's fitted figure ``params[cls]`` (seconds:
        the whole length, or the extra beyond the hold for ``held_base`` classes)."""
        if self.effect == "slow":
            return (self.start, self.start + self.hold) if self.hold > 0 else None
        g = 0.0 if self.fixed else float(params[self.cls])
        length = max(0.0, self.hold + g) if self.held_base else g
        if length <= 0:
            return None
        a = self.start + self.delay
        return a, a + length


def run_constants(run) -> dict:
    """The live constants the recorded run echoes, which the effects use."""
    live = run.scenario.live
    return {"ttl": float(live.patroni.ttl), "loop_wait": float(live.patroni.loop_wait),
            "fence": fence_margin(live, float(live.patroni.ttl)),
            "restart_delay": float(live.restart_delay), "relay_interval": float(live.relay_interval),
            "cells": int(run.scenario.topology.cells.count)}


def _latency_of(run, fault: dict) -> float:
    """The added latency (s) the schedule gave a latency fault (matched by kind, target and start)."""
    best, dist = 0.0, None
    for c in run.scenario.chaos:
        if c.fault == fault["kind"] and str(c.target) == fault["target"]:
            d = abs(float(c.at) - float(fault["start"]))
            if dist is None or d < dist:
                best, dist = float(getattr(c, "latency", 0.0) or 0.0), d
    return best


def fault_effect(run, fault: dict, consts: dict | None = None) -> FaultEffect:
    """The :class:`FaultEffect` of one recorded fault (``run.faults`` entry) of ``run``."""
    c = consts or run_constants(run)
    kind, text = fault["kind"], fault["target"]
    start = float(fault["start"])
    end = fault.get("end")
    hold = max(0.0, float(end) - start) if end is not None else 0.0
    t = parse_target(text)
    form = t.form
    if t.part == "cell":
        cells = tuple(t.cell_indices(c["cells"]))
        if form == "db" and t.member in (None, "primary"):
            if kind == "latency":
                return FaultEffect("latency", "slow", cells, start, hold, latency=_latency_of(run, fault))
            if kind == "pause":
                cls = "pause" if hold >= c["ttl"] or hold == 0 else "pause-short"
                return FaultEffect(cls, "outage", cells, start, hold)
            if kind == "kill-patroni":
                # PostgreSQL serves on until the leader key expires, or until the watchdog's fence
                # safety_margin before it; lifted before that: no failover
                stop = c["ttl"] - (c.get("fence") or 0.0)
                if 0 < hold < stop:
                    return FaultEffect(kind, "none", cells, start, hold)
                return FaultEffect(kind, "outage", cells, start, hold, delay=stop)
            return FaultEffect(kind, "outage", cells, start, hold)
        if form == "db":  # a standby: the primary serves on
            if kind in STANDBY_KILLS:
                return FaultEffect(STANDBY_LOSS, "outage", cells, start, hold)
            return FaultEffect(f"{kind}@db-standby", "outage", cells, start, hold)
        if form == "app":
            if kind == "latency":
                return FaultEffect("latency@app", "slow", cells, start, hold, latency=_latency_of(run, fault),
                                   pooled=False)
            if kind == "bad-change":
                return FaultEffect("bad-change@app", "error", cells, start, hold)
            return FaultEffect(f"{kind}@app", "outage", cells, start, hold, exact_end=True)
        return FaultEffect(f"{kind}@cell", "outage", cells, start, hold)
    if form == "gns":
        # a frozen gateway holds requests exactly as long as it is frozen (the kernel queues them;
        # those in flight when it froze fail when it thaws if their deadline ran out meanwhile):
        # a fitted length would only absorb how many were in flight (kinds-a: 2 failed, kinds-b: 13)
        if kind == "pause":
            return FaultEffect(f"{kind}@gns", "hold", None, start, hold, fixed=True)
        if kind in ("crash", "down") and _port_held(fault):
            # its supervisor held the port: the requests in flight fail, the connections made
            # until the spare serves wait in the backlog (a hold of fitted length, the takeover;
            # live: stalls of 0.15-0.21 s, 0 or 1 failed, against 10-27 refused before)
            return FaultEffect(f"{kind}@gns+held-port", "hold", None, start, hold, resets=True)
        return FaultEffect(f"{kind}@gns", "error", None, start, hold, resets=kind != "bad-change")
    if form == "bus":
        # the relay: credits wait in the outbox; a crashed relay is restarted by the supervisor
        stopped = hold if kind == "pause" else min(hold, c["restart_delay"]) if hold else c["restart_delay"]
        return FaultEffect(f"{kind}@bus", "none", None, start, hold,
                           credit_delay=round(stopped + c["relay_interval"], 3))
    if form == "etcd":
        if t.quorum or t.index is None:
            return FaultEffect(f"{kind}@etcd-{'quorum' if t.quorum else 'all'}", "outage", None, start, hold)
        return FaultEffect(f"{kind}@etcd", "none", None, start, hold)
    # an IDC: what was killed there is in the injector's record. A cell stops where its app server
    # or its leader died there; where only standbys died the primary serves on, its commits waiting
    # until Patroni drops the dead synchronous standby: down@idc-standby, fitted whole, a class of
    # its own (the IDC's etcd member dies with the standbys), split by whether that member was
    # etcd's leader (below). (An IDC that took a leader in one cell and standbys in others is
    # down@idc of the first: the others' stall is not modelled per cell.) A member whose role is not
    # known counts as a leader.
    named, stopped = _cells_hit(fault)
    if named and not stopped:
        # with etcd's leader gone too, the primary's Patroni cannot write the new synchronous set
        # until etcd has elected another leader and its client has found it: kinds-a
        # 20261203T233943Z (etcd2 the leader) stalled 4.6 s, 73 failed; 20261203T233041Z (a
        # follower) 0.19 s, 0 failed; kinds-b 20261203T144415Z (leader) 4.9 s, 79 failed
        cls = f"{kind}@idc-standby" + ("+etcd-leader" if _etcd_leader_hit(fault) else "")
        return FaultEffect(cls, "outage", tuple(sorted(named)), start, hold)
    # what stops there comes back when the IDC does: a leader lifted before the ttl restarts with
    # its leader key still valid (live: recovery 16.4 and 15.9 s after 15 s holds in kinds-a, 10.9
    # and 11.9 s after 12 s in kinds-b), so the outage is the hold plus a fitted extra; held past
    # the ttl, the key expires and a standby takes over then (the hold counts up to the ttl)
    return FaultEffect(f"{kind}@idc", "outage", tuple(sorted(stopped)) or None, start, min(hold, c["ttl"]))


def _cells_hit(fault: dict) -> tuple[set[int], set[int]]:
    """(cells where something died, cells left without their leader or an app server) of an IDC
    fault, from the record's ``hit`` list (``{"name", "kind", "cell", "role"}``, since 20261203T14)
    or, in older records, from its ``detail`` text: "app-c0-0: SIGKILL ...", "c1-m2 [replica]:
    SIGKILL ..." (roles since 20261203T11; before them every named cell counts as stopped)."""
    named: set[int] = set()
    stopped: set[int] = set()
    if "hit" in fault:
        for h in fault["hit"] or ():
            if h.get("kind") in ("db", "app") and h.get("cell") is not None:
                named.add(int(h["cell"]))
                if h["kind"] == "app" or h.get("role") in (None, "leader"):
                    stopped.add(int(h["cell"]))
        return named, stopped
    detail = str(fault.get("detail") or "")
    stopped = {int(c) for c in _APP_RE.findall(detail)}
    named = set(stopped)
    for cell, role in _DB_RE.findall(detail):
        named.add(int(cell))
        if role in ("", "leader", "unknown"):
            stopped.add(int(cell))
    return named, stopped


def _port_held(fault: dict) -> bool:
    """Whether the process the fault killed had its port held by its supervisor (the record's
    ``hit``, since 20261204T16; earlier runs refused connections while it restarted)."""
    return any(h.get("port_held") for h in fault.get("hit") or ())


def _etcd_leader_hit(fault: dict) -> bool:
    """Whether the fault killed etcd's leader (the record's ``hit`` list; older records: its
    ``detail`` text, "etcd2 [leader]: SIGKILL ...")."""
    if "hit" in fault:
        return any(h.get("kind") == "etcd" and h.get("role") == "leader" for h in fault["hit"] or ())
    return bool(_ETCD_LEADER_RE.search(str(fault.get("detail") or "")))


# fault-record names of what an IDC fault killed in records without ``hit`` (loadtests/cluster:
# app-c<cell>-<k>, c<cell>-m<k>, a member with the role it had: "c1-m2 [sync_standby]:")
_APP_RE = re.compile(r"\bapp-c(\d+)-\d+:")
_DB_RE = re.compile(r"(?<![-\w])c(\d+)-m\d+(?: \[(\w+)\])?:")
_ETCD_LEADER_RE = re.compile(r"\betcd\d+ \[leader\]:")
