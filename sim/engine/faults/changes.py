"""Bad changes: the share of production changes that break service, and how far they spread.

Changes arrive as a Poisson process of rate ``deploys x bad_fraction`` (only the bad ones are
drawn: a good deploy changes no figure), optionally only in business hours. A ``global``
rollout hits every cell; a ``canary`` one hits ``canary_cells`` random cells, and with
``escape_probability`` escapes to all the others after the detection time. A change fails its
``impact`` share of an affected cell's requests until detected and rolled back. Overlapping
changes on one cell each fail their own share of what is left (``replica_set``).
"""

from __future__ import annotations

from sim.profile import DAY

__all__ = ["start", "bad_change", "business_time_to_real"]


def start(bank) -> None:
    if bank.sc.failures.changes:
        bank.env.process(_changes(bank, bank.sc.failures.changes))


def business_time_to_real(now: float, gap_business: float, open_s: float, close_s: float) -> float:
    """Real time at which ``gap_business`` seconds of open-close business time have passed."""
    day, tod = divmod(now, DAY)
    span = close_s - open_s
    b_now = day * span + min(max(tod - open_s, 0.0), span)
    b = b_now + gap_business
    d, rem = divmod(b, span)
    t = d * DAY + open_s + rem
    return max(t, now)


def _changes(bank, ch):
    env = bank.env
    rng = bank.stream("changes")
    rate = ch.deploys * ch.bad_fraction
    if rate <= 0:
        return
    n = len(bank.cells)
    open_h, close_h = ch.business_hours
    open_s, close_s = open_h * 3600.0, close_h * 3600.0
    # the whole day's rate of changes falls in the business hours
    business_rate = rate * 24.0 / (close_h - open_h)
    while True:
        if ch.business_hours_only:
            t = business_time_to_real(env.now, rng.expovariate(business_rate), open_s, close_s)
        else:
            t = env.now + rng.expovariate(rate)
        yield env.timeout(t - env.now)
        d = ch.detection + ch.rollback
        if ch.rollout == "global":
            env.process(bad_change(bank, list(range(n)), d, "bad-change-global"))
        else:
            k = min(ch.canary_cells, n)
            canary = rng.sample(range(n), k)
            if rng.random() < ch.escape_probability:
                env.process(bad_change(bank, canary, d + ch.detection, "bad-change-escaped"))
                rest = [i for i in range(n) if i not in set(canary)]
                env.process(bad_change(bank, rest, d, "bad-change-escaped", delay=ch.detection))
            else:
                env.process(bad_change(bank, canary, d, "bad-change-canary"))


def bad_change(bank, cells, d, cause, delay=0.0, impact=None):
    """Process: cells ``cells`` fail ``impact`` of their requests for ``d`` seconds."""
    env = bank.env
    if delay:
        yield env.timeout(delay)
    imp = bank.sc.failures.changes.impact if impact is None else impact
    start = env.now
    for i in cells:
        c = bank.cells[i]
        c.bad_impacts.append(imp)
        c.bad += 1
        bank.replica_sets.update(c, cause)
    yield env.timeout(d)
    for i in cells:
        c = bank.cells[i]
        c.bad_impacts.remove(imp)
        c.bad -= 1
        bank.replica_sets.update(c, cause)
    target = "cell[*]" if len(cells) == len(bank.cells) else ",".join(f"cell[{i}]" for i in cells[:8])
    bank.episodes.record(start, env.now, target, cause, "change", 0.0, False)
