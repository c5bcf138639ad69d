"""The one chaos -> fault-window rule of the request level: which ``chaos:`` entries hit a cell's
database, and for how long they refuse or stall its writes.

Used by ``sim.request.scenario.from_scenario`` (so by request mode, ``sim.request.mode``) and by
the agreement tests against the fluid engine. The rule follows the fluid engine's failover:

* crash / kill-postmaster / down of the cell's database (or its primary), or
  ``down`` / ``partition`` of the IDC holding the primary: writes refused for ``failover.total``;
* ``pause`` of the primary: writes stall for the pause; if it outlasts ``failover.detection``,
  the stall ends at the detection and writes are refused until ``failover.total`` after the
  pause began (detection already elapsed while paused);
* ``kill-patroni`` of the primary: PostgreSQL serves on for ``failover.detection`` (the ttl);
  held past it, writes are refused from then until ``failover.total`` after the kill; held
  below it, nothing; with a fencing watchdog the refusal starts ``safety_margin`` s before the
  ttl (``sim.scenario.chaos_effects``);
* etcd quorum loss (``etcd`` / ``etcd[quorum]`` crash, down or pause): a refusal window whose
  failover began, or was due to end, while the quorum was lost ends election + promotion after
  the quorum returns; one etcd member, and the relay (credits delayed, not lost): no window;
* ``latency`` on the cell's primary (or database): writes served in the window are answered
  ``latency`` x round trips later (a ``slow`` window, beside the others, not merged with them);
* a calibration's ``outage_seconds[kind]`` (measured on a live run, ``hivesim calibrate``)
  replaces ``failover.total`` for that kind (kill-patroni: the length from when writes stop,
  the ttl or the watchdog's fence),
  ``pause_detection_seconds`` the detection.

App and gateway faults, and latency elsewhere, are not modelled at request level yet: ``unmodelled_chaos``
lists them (request mode reports them, rather than hiding them).
"""

from __future__ import annotations

import math

from sim.request.spec import FaultWindow
from sim.scenario.chaos import hold_seconds
from sim.scenario.chaos_effects import (after_quorum, credit_delay_seconds, delayed_failover, fence_margin,
                                        latency_delay, quorum_loss, quorum_loss_spans)

__all__ = ["REJECT_FAULTS", "outage_for", "fault_windows", "unmodelled_chaos", "credit_delay_events"]

REJECT_FAULTS = ("crash", "kill-postmaster", "down")  # leave the cell without a primary at once


def _hits_primary(scope, cell: int | None = None) -> bool:
    """The target names a cell's primary (or its whole replica set), of ``cell`` if given."""
    return (scope.part == "cell" and scope.tier == "db" and scope.member in (None, "primary")
            and (cell is None or scope.cells is None or cell in scope.cells))


def outage_for(kind: str, duration: float, failover, calibration: dict | None = None,
               fence: float | None = None) -> list[tuple[float, float, str]]:
    """Fault windows (start offset, end offset, 'reject'|'stall') of one chaos entry on a primary
    (the module docstring's rule; ``fence``: the watchdog's margin, ``chaos_effects.fence_margin``)."""
    cal = (calibration or {}).get("outage_seconds", {})
    total = float(cal.get(kind, failover.total))
    if kind == "pause":
        held = duration if duration > 0 else math.inf
        det = float((calibration or {}).get("pause_detection_seconds", failover.mean("detection")))
        if held <= det:
            return [(0.0, held, "stall")]
        total = max(total, det)
        out = [(0.0, det, "stall")]
        if total > det:
            out.append((det, total, "reject"))
        return out
    if kind == "kill-patroni":
        det = float(failover.mean("detection"))
        fence = fence if fence is None else min(fence, det)
        if not delayed_failover(kind, duration, det, fence):
            return []  # Patroni back before its leader key expired
        stop = det - (fence or 0.0)  # writes stop at the fence, or when the key expires
        length = float(cal.get(kind, failover.total - stop))
        return [(stop, stop + length, "reject")] if length > 0 else []
    if kind in REJECT_FAULTS:
        return [(0.0, total, "reject")] if total > 0 else []
    return []


def fault_windows(sc, cell: int, t0: float, t1: float, calibration: dict | None = None) -> list[FaultWindow]:
    """The request engine's fault windows for ``cell`` in the window [t0, t1) of scenario ``sc``
    (offsets from t0; faults that began before t0 are clipped to the window, overlapping ones
    merged: a reject wins over a stall)."""
    db = sc.topology.cells.specs()[cell].db  # the cell's own spec, overrides applied
    primary_idc = (db.placement or sc.topology.idc_names)[0]
    lost = quorum_loss_spans(sc.chaos, sc.simulation.horizon)
    catch_up = float(db.failover.mean("election") + db.failover.mean("promotion"))
    spans: list[tuple[float, float, str]] = []
    slow: list[FaultWindow] = []
    for c in sc.chaos:
        hits_cell = _hits_primary(c.scope, cell)
        if hits_cell and c.fault == "latency":
            a, b = max(c.at, t0), min(c.at + hold_seconds(c, sc.simulation.horizon), t1)
            if b > a:
                slow.append(FaultWindow(a - t0, b - t0, "slow", latency_delay(c, calibration)))
            continue
        hits_idc = c.scope.part == "idc" and c.scope.idc == primary_idc and c.fault in ("down", "partition")
        if not (hits_cell or hits_idc):
            continue
        kind = "down" if hits_idc else c.fault
        for a, b, what in outage_for(kind, c.duration, db.failover, calibration, fence_margin(sc.live)):
            a, b = c.at + a, c.at + b
            if what == "reject" and lost:  # a refusal is a failover: it needs etcd's quorum
                begun_lost = after_quorum(a, lost, catch_up)
                b = begun_lost if begun_lost != a else after_quorum(b, lost, catch_up)
            a, b = max(a, t0), min(b, t1)
            if b > a:
                spans.append((a - t0, b - t0, what))
    spans.sort()
    merged: list[list] = []
    for a, b, what in spans:
        if merged and a < merged[-1][1]:
            last = merged[-1]
            if what == last[2]:
                last[1] = max(last[1], b)
                continue
            if what == "reject":
                last[1] = a
                if last[1] <= last[0]:
                    merged.pop()
            else:
                a = last[1]
                if b <= a:
                    continue
        merged.append([a, b, what])
    return [FaultWindow(a, b, w) for a, b, w in merged if b > a] + slow


def unmodelled_chaos(sc) -> list[str]:
    """Chaos entries the request level does not turn into fault windows (reported, not hidden)."""
    out = []
    for c in sc.chaos:
        db_hit = _hits_primary(c.scope) and (c.fault in REJECT_FAULTS or c.fault in ("pause", "kill-patroni", "latency"))
        idc_hit = c.scope.part == "idc" and c.fault in ("down", "partition")
        # no outage is a model too: etcd (a quorum loss only delays failovers, above), the relay,
        # a synchronous standby's Patroni (its PostgreSQL replicates on)
        no_outage = (c.scope.part == "etcd" or (c.scope.part == "bus" and c.fault in ("crash", "down", "pause"))
                     or (c.fault == "kill-patroni" and c.scope.member == "sync_standby"))
        if not (db_hit or idc_hit or no_outage or quorum_loss(c)):
            out.append(f"{c.fault} {c.target} at {c.at:g}s")
    return out


def credit_delay_events(sc, lanes: int) -> list[tuple]:
    """events.csv rows (effect ``credit-delay``, spanning the predicted delay of cross-cell
    credits) of each relay/bus crash or pause, for the first ``lanes`` replications; the same
    rows as the fluid engine's (``sim.engine.faults.chaos``). No request fails for them."""
    out = []
    for c in sc.chaos:
        if c.scope.part == "bus" and c.fault in ("crash", "down", "pause"):
            delay = credit_delay_seconds(hold_seconds(c, sc.simulation.horizon), sc.live)
            out += [(lane, float(c.at), c.at + delay, delay, c.target, f"chaos:{c.fault}", "credit-delay", 0.0)
                    for lane in range(lanes)]
    return out
