"""What a chaos entry does to service, once for both simulator engines (fluid and request mode).

``sim.scenario.chaos`` defines the kinds and targets; this module holds the rules that both
``sim.engine.faults.chaos`` (fluid) and ``sim.request.faults`` (request mode) read, so a fault
means one thing to both:

* **etcd quorum loss**: ``crash`` / ``down`` / ``pause`` of ``etcd`` (every member) or
  ``etcd[quorum]`` (a majority). While it lasts no failover can complete: a primary lost
  meanwhile stays lost until quorum returns, then election + promotion. Writes go on while the
  primary is healthy. One member (``etcd[k]``): nothing.
* **kill-patroni on a primary**: PostgreSQL serves on for the ttl (the simulator's ttl is the
  cell's ``db.failover.detection``: the time to notice a lost leader, which for Patroni is the
  leader key's lifetime); held past it, the primary is replaced (election + promotion); held
  below it, Patroni is back before its key expires and nothing is seen.
  With a fencing watchdog (``live.patroni.watchdog``: ``emulated``) the primary's PostgreSQL is
  reset ``safety_margin`` s before the key expires (``fence_margin``): writes stop then, the
  failover follows at the ttl as before. Held past the fence but lifted before the ttl is taken as
  the same failover (the restarted Patroni finds its PostgreSQL gone; not measured live).
* **pause of a primary**: writes stall for the pause; held past the detection it is replaced
  (election + promotion; the pause was the detection), as kill-patroni but stalled meanwhile.
* **relay / bus crash or pause**: cross-cell credits wait in the outbox and are delivered when
  it is back: no request fails. The predicted figure is the credit delay: the hold plus the
  relay's poll interval (``live.relay_interval`` when the scenario has a live section, else 0).
  (The live bank's supervisor restarts a crashed relay after ``live.restart_delay`` whatever the
  hold; the simulator takes the scenario's hold as written.)
* **latency on a cell's primary**: nothing stops; each write of the cell is slower by
  ``latency`` x its round trips to the primary (``ROUND_TRIPS``, the least a write pays, unless a
  calibration's fitted ``latency_factor.latency`` says more: live, a transfer paid ~64 x).
  Request mode adds it to each write's answer (a write slowed past the client's timeout fails).
  The fluid engine records the window as ``slow`` only: its latency SLO accounting lives in the
  capacity overlay, which does not see chaos latency yet.
"""

from __future__ import annotations

import math

__all__ = ["QUORUM_KINDS", "CREDIT_DELAY", "ROUND_TRIPS", "quorum_loss", "quorum_loss_spans", "merge_spans", "after_quorum",
           "delayed_failover", "fence_margin", "credit_delay_seconds", "latency_delay"]

QUORUM_KINDS = ("crash", "down", "pause")  # etcd faults that stop a member
CREDIT_DELAY = "credit-delay"  # the events.csv effect of a relay/bus fault's rows (summary.json chaos.*)
# round trips to the primary a write pays a latency fault's latency without a fitted factor (the
# floor): both simulator engines, and the calibration's replay and fit (sim.calibration.replay, .fit)
ROUND_TRIPS = 1.0


def quorum_loss(entry) -> bool:
    """Whether ``entry`` takes etcd's quorum away (every member, or a majority)."""
    t = entry.scope
    return t.part == "etcd" and (t.quorum or t.index is None) and entry.fault in QUORUM_KINDS


def quorum_loss_spans(chaos, run_end: float) -> list[tuple[float, float]]:
    """The merged (start, end) spans of the schedule's etcd quorum losses in a run ending at
    ``run_end`` (``duration: 0`` holds until the run ends)."""
    from sim.scenario.chaos import hold_seconds
    spans = merge_spans((float(e.at), float(e.at) + hold_seconds(e, run_end)) for e in chaos if quorum_loss(e))
    return [(a, b) for a, b in spans if b > a]


def merge_spans(spans) -> list[tuple[float, float]]:
    """``(start, end)`` spans sorted and merged where they overlap or touch."""
    out: list[list[float]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def after_quorum(t: float, spans, catch_up: float) -> float:
    """When a failover due to complete at ``t`` completes, given the quorum-loss ``spans``: at
    ``t``, or, if quorum is lost then, ``catch_up`` (election + promotion) after it returns."""
    for a, b in spans:
        if a <= t < b:
            return b + catch_up
    return t


def delayed_failover(kind: str, hold: float, detection: float, fence: float | None = None) -> bool | None:
    """For a fault on a primary that does not kill PostgreSQL at once (``pause``,
    ``kill-patroni``): True when held past the detection (ttl) so the primary is replaced after
    it, False when ridden out; None for the other kinds. ``hold`` 0 or inf = until the run ends.
    A kill-patroni held past a watchdog's ``fence`` (``fence_margin``) before the ttl counts too."""
    if kind not in ("pause", "kill-patroni"):
        return None
    held = hold if hold > 0 else math.inf
    if kind == "kill-patroni" and fence:
        return held > detection - fence
    return held > detection


def fence_margin(live, detection: float | None = None) -> float | None:
    """Seconds before the leader key's expiry that a fencing watchdog resets a primary whose
    Patroni died (``live.patroni.safety_margin`` when ``watchdog`` is ``emulated``; None: no
    fence, PostgreSQL serves on until the key expires). ``detection`` (the ttl) caps it."""
    patroni = getattr(live, "patroni", None)
    if patroni is None or getattr(patroni, "watchdog", "off") == "off":
        return None
    margin = float(patroni.safety_margin)
    return min(margin, detection) if detection is not None else margin


def credit_delay_seconds(hold: float, live) -> float:
    """Predicted delay of cross-cell credits for a relay/bus crash or pause held ``hold`` s."""
    interval = float(live.relay_interval) if live is not None else 0.0
    return round(float(hold) + interval, 3)


def latency_delay(entry, calibration: dict | None = None) -> float:
    """Seconds a ``latency`` fault adds to each write on the slowed path: latency x round trips
    (``ROUND_TRIPS``, or the calibration's fitted ``latency_factor.latency``)."""
    trips = float(((calibration or {}).get("latency_factor") or {}).get("latency", ROUND_TRIPS))
    return float(entry.latency) * trips
