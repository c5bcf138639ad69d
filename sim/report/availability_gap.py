"""The validation page's availability gap: where a reference bank's simulated downtime lies, by
cause, and the value each failure assumption alone would need for the simulated mean to meet the
published figure.

Input: the downtime by cause that ``sim.report.validation --simulate`` stores per bank
(``outages.by_cause.<cause>.downtime_minutes_per_year`` of summary.json, request-weighted). The
causes add up to the bank's downtime (``sim.engine.ledger`` splits each failed request to one cause).

What each assumption "would need" is a first-order figure, and the page says so: a cause's
downtime is taken as proportional to the rate (or duration) that drives it. That holds while
outages of one cause rarely overlap (a few per cell-year, each minutes long: the regime of these
banks), and it ignores the second-order part of quorum losses (two failures in one set), which is
where the rate's square enters; so a needed value is an estimate to check with ``hivesim
sensitivity --solve KEY=LO,HI --target availability.request.mean>=...`` (issue 13's what-if), not
a result. A lever whose causes hold less downtime than the gap cannot close it alone.

The published target is the measured figure where one exists (webank-2021: 99.99975 %), else the
bank's claim (``> 99.999 %``: five nines); a bank at or above its target has no gap to explain.
"""

from __future__ import annotations

from sim.units import YEAR as SECONDS_PER_YEAR

__all__ = ["AVAILABILITY_LEVERS", "target_availability", "lever_values", "gap_lines"]

MINUTES_PER_YEAR = 525_600.0

# (label, dotted key under failures., scale from the model's unit to the shown unit, cause test)
AVAILABILITY_LEVERS = (
    ("server crashes per machine per year", "components.server.rate", SECONDS_PER_YEAR,
     lambda c: c.endswith("-server")),
    ("disk failures per disk per year", "components.disk.rate", SECONDS_PER_YEAR, lambda c: c == "disk"),
    ("rack failures per rack per year", "correlated.rack.rate", SECONDS_PER_YEAR, lambda c: c == "rack"),
    ("power-domain failures per domain per year", "correlated.power.rate", SECONDS_PER_YEAR,
     lambda c: c == "power"),
    ("IDC outages per IDC per year", "correlated.idc.rate", SECONDS_PER_YEAR, lambda c: c == "idc"),
    ("IDC partitions per year", "correlated.partition.rate", SECONDS_PER_YEAR, lambda c: c == "partition"),
    ("bad fraction of changes", "changes.bad_fraction", 1.0, lambda c: c.startswith("bad-change")),
    ("canary escape probability", "changes.escape_probability", 1.0, lambda c: c == "bad-change-escaped"),
    ("planned switchover, seconds", "maintenance.duration", 1.0, lambda c: c == "maintenance"),
)


def target_availability(published: dict) -> tuple[float, str] | None:
    """(availability to meet, what it is) from a bank's PUBLISHED row; None without a figure."""
    if published.get("availability"):
        return float(published["availability"]), "measured"
    if "99.999" in (published.get("availability_note") or ""):
        return 0.99999, "claimed"
    return None


def _get(data, key: str):
    for part in key.split("."):
        if not isinstance(data, dict) or data.get(part) is None:
            return None
        data = data[part]
    return data


def lever_values(failures: dict, by_cause: dict[str, float], gap_minutes: float) -> list[tuple]:
    """(label, value today, downtime min/yr of its causes, value needed alone or None) per lever
    the scenario sets (value > 0) and whose causes hold any downtime."""
    out = []
    for label, key, scale, is_cause in AVAILABILITY_LEVERS:
        now = _get(failures, key)
        if not isinstance(now, (int, float)) or isinstance(now, bool) or now <= 0:
            continue
        held = sum(v for c, v in by_cause.items() if is_cause(c))
        if held <= 0:
            continue
        # first order: the causes' downtime scales with the lever; below the gap it cannot close it
        need = now * (held - gap_minutes) / held if held > gap_minutes else None
        out.append((label, now * scale, held, None if need is None else need * scale))
    return sorted(out, key=lambda r: -r[2])


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def gap_lines(name: str, availability: dict | None, published: dict, failures: dict) -> list[str]:
    """The page's lines for one bank (empty when it has no target or no stored cause split)."""
    target = target_availability(published)
    if not target or not availability or not availability.get("by_cause"):
        return []
    want, what = target
    mean, (lo, hi) = availability["mean"], availability["ci95"]
    down, want_down = (1 - mean) * MINUTES_PER_YEAR, (1 - want) * MINUTES_PER_YEAR
    head = (f"**{name}**: simulated {100 * mean:.5f} % = {down:.2f} min/yr [{(1 - hi) * MINUTES_PER_YEAR:.2f}, "
            f"{(1 - lo) * MINUTES_PER_YEAR:.2f}]; {what} {100 * want:.5f} % = {want_down:.2f} min/yr.")
    if down <= want_down:
        return [head + " The simulated mean meets it: no gap to explain.", ""]
    gap = down - want_down
    by_cause = availability["by_cause"]
    out = [head + f" Gap {gap:.2f} min/yr ({down / want_down:.1f}x the {what} downtime).", "",
           "| cause | downtime min/yr | share |", "|---|---|---|"]
    total = sum(by_cause.values()) or 1.0
    for cause, v in sorted(by_cause.items(), key=lambda kv: -kv[1]):
        if v > 0:
            out.append(f"| {cause} | {v:.3f} | {100 * v / total:.0f} % |")
    levers = lever_values(failures, by_cause, gap)
    if levers:
        out += ["", "Each assumption alone would need (first order: its causes' downtime in proportion; "
                "check with `hivesim sensitivity --solve`):", "",
                "| assumption | today | its causes' downtime min/yr | needed alone |", "|---|---|---|---|"]
        out += [f"| {label} | {_fmt(now)} | {held:.2f} | {'cannot alone' if need is None else _fmt(need)} |"
                for label, now, held, need in levers]
    return out + [""]
