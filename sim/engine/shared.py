"""The shared services every cell depends on: the global router (GNS) and the message bus.

The router is down when fewer than its quorum of replicas are up, or for ``gns.failover``
seconds after losing a replica (clients reconnect: a "blip"; drawn per blip from the stream
``gns.failover`` when written as a distribution); then every request fails. The bus
is down below its quorum; then every cross-cell transfer fails. Both are flags on the ledger,
which the traffic formulas read.
"""

from __future__ import annotations

__all__ = ["SharedServices"]


class SharedServices:
    """Router (GNS) and bus replicas up, and the ledger's router/bus flags."""

    def __init__(self, env, topology, plan, ledger, episodes):
        self.env = env
        self.ledger = ledger
        self.episodes = episodes
        self.gns_spec = topology.gns
        self.gns_up = len(plan.gns)
        self.gns_quorum = topology.gns.quorum if topology.gns else 0
        self.bus_up = len(plan.bus)
        self.bus_quorum = topology.bus.quorum if topology.bus else 0
        self.gns_blip = 0
        self._start: dict[str, float] = {}
        self.streams = None   # set by the replication; used only for a blip given as a distribution
        self.rng = None

    def changed(self, cause):
        # per-cell figures need no flush: the ledger's global integrals carry router/bus state
        led = self.ledger
        now = self.env.now
        led.advance(now)
        gd = (self.gns_quorum > 0 and self.gns_up < self.gns_quorum) or self.gns_blip > 0
        bd = self.bus_quorum > 0 and self.bus_up < self.bus_quorum
        if gd and not led.router_down:
            led.router_cause = cause
            self._start["gns"] = now
        if bd and not led.bus_down:
            led.bus_cause = cause
            self._start["bus"] = now
        if not gd and led.router_down:
            self.episodes.record(self._start.get("gns", 0.0), now, "gns", led.router_cause,
                                 "bank-down", 1.0, True)
        if not bd and led.bus_down:
            self.episodes.record(self._start.get("bus", 0.0), now, "bus", led.bus_cause,
                                 "cross-cell-down", led.cross_cell, True)
        led.router_down, led.bus_down = gd, bd
        led.recompute(now, cause)

    def gns_fail(self, cause):
        self.gns_up -= 1
        svc = self.gns_spec
        fo = svc.failover
        if (not isinstance(fo, float) or fo > 0) and self.gns_up >= self.gns_quorum:
            if not isinstance(fo, float):
                if self.rng is None:
                    self.rng = self.streams.stream("gns.failover")
                fo = fo.sampler().draw(self.rng)
            self.env.process(self._gns_blip(fo, cause))
        self.changed(cause)

    def gns_repair(self, cause):
        self.gns_up += 1
        self.changed(cause)

    def bus_fail(self, cause):
        self.bus_up -= 1
        self.changed(cause)

    def bus_repair(self, cause):
        self.bus_up += 1
        self.changed(cause)

    def _gns_blip(self, d, cause):
        self.gns_blip += 1
        self.changed(cause)
        yield self.env.timeout(d)
        self.gns_blip -= 1
        self.changed(cause)

    def close(self, horizon: float):
        """At the horizon: the router's or bus's episode if one is still open."""
        led = self.ledger
        for name, down, cause, eff, frac in (("gns", led.router_down, led.router_cause, "bank-down", 1.0),
                                              ("bus", led.bus_down, led.bus_cause, "cross-cell-down",
                                               led.cross_cell)):
            if down:
                self.episodes.record(self._start.get(name, 0.0), horizon, name, cause, eff, frac, True)
