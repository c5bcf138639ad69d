"""The one chaos -> fault-window rule of the request level: which ``chaos:`` entries hit a cell's
database, and for how long they refuse or stall its writes.

Used by ``sim.request.scenario.from_scenario`` (so by request mode, ``sim.request.mode``) and by
the agreement tests against the fluid engine. The rule follows the fluid engine's failover:

* crash / kill-postmaster / kill-patroni / down of the cell's database (or its primary), or
  ``down`` / ``partition`` of the IDC holding the primary: writes refused for ``failover.total``;
* ``pause`` of the primary: writes stall for the pause; if it outlasts ``failover.detection``,
  the stall ends at the detection and writes are refused until ``failover.total`` after the
  pause began (detection already elapsed while paused);
* a calibration's ``outage_seconds[kind]`` (measured on a live run, ``hivesim calibrate``)
  replaces ``failover.total`` for that kind, ``pause_detection_seconds`` the detection.

App, gateway, etcd and latency faults are not modelled at request level yet:
``unmodelled_chaos`` lists them (request mode reports them, rather than hiding them).
"""

from __future__ import annotations

import math

from sim.request.spec import FaultWindow

__all__ = ["REJECT_FAULTS", "outage_for", "fault_windows", "unmodelled_chaos"]

REJECT_FAULTS = ("crash", "kill-postmaster", "kill-patroni", "down")  # leave the cell without a primary


def _hits_primary(scope, cell: int | None = None) -> bool:
    """The target names a cell's primary (or its whole replica set), of ``cell`` if given."""
    return (scope.part == "cell" and scope.tier == "db" and scope.member in (None, "primary")
            and (cell is None or scope.cells is None or cell in scope.cells))


def outage_for(kind: str, duration: float, failover, calibration: dict | None = None) -> list[tuple[float, float, str]]:
    """Fault windows (start offset, end offset, 'reject'|'stall') of one chaos entry on a primary
    (the module docstring's rule)."""
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
    if kind in REJECT_FAULTS:
        return [(0.0, total, "reject")] if total > 0 else []
    return []


def fault_windows(sc, cell: int, t0: float, t1: float, calibration: dict | None = None) -> list[FaultWindow]:
    """The request engine's fault windows for ``cell`` in the window [t0, t1) of scenario ``sc``
    (offsets from t0; faults that began before t0 are clipped to the window, overlapping ones
    merged: a reject wins over a stall)."""
    db = sc.topology.cells.specs()[cell].db  # the cell's own spec, overrides applied
    primary_idc = (db.placement or sc.topology.idc_names)[0]
    spans: list[tuple[float, float, str]] = []
    for c in sc.chaos:
        hits_cell = _hits_primary(c.scope, cell)
        hits_idc = c.scope.part == "idc" and c.scope.idc == primary_idc and c.fault in ("down", "partition")
        if not (hits_cell or hits_idc):
            continue
        kind = "down" if hits_idc else c.fault
        for a, b, what in outage_for(kind, c.duration, db.failover, calibration):
            a, b = max(c.at + a, t0), min(c.at + b, t1)
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
    return [FaultWindow(a, b, w) for a, b, w in merged if b > a]


def unmodelled_chaos(sc) -> list[str]:
    """Chaos entries the request level does not turn into fault windows (reported, not hidden)."""
    out = []
    for c in sc.chaos:
        db_hit = _hits_primary(c.scope) and (c.fault in REJECT_FAULTS or c.fault == "pause")
        idc_hit = c.scope.part == "idc" and c.fault in ("down", "partition")
        if not (db_hit or idc_hit):
            out.append(f"{c.fault} {c.target} at {c.at:g}s")
    return out
