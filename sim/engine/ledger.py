"""The traffic ledger: requests offered and failed between two state changes, by cause.

Between two events the bank's state is constant, so what failed in that interval follows from
the day profile's exact integral ``R`` over it (availability-math.md §5). Cell c serves share
s_c of the accounts and fails fractions w_c of its writes and r_c of its reads. With the mix
(``reads``, ``intra_cell``, ``cross_cell``), ``writes_failed`` = sum s_c w_c and
``reads_failed`` = sum s_c r_c, the bank's failed fraction is::

    F = 1                                                    if the router (GNS) is down
    F = reads Sr + intra_cell Sw + cross_cell (1 - (1 - Sw)^2)     otherwise, bus up
    F = reads Sr + intra_cell Sw + cross_cell                      bus down

(a cross-cell transfer needs its source and its destination cell writable, the destination
drawn by share, and the bus.) The bank adds F x R per interval: O(1) per event.

Each cell's own figure (its customers' view) is kept exactly with O(1) work per event too:
the ledger keeps four global integrals of R (router down; routed; routed with the bus up; and
that weighted by Sw), and a cell snapshots them at each of its own changes (``flush_cell``):
between two of its changes its w and r are constant, so its failed integral is a linear
combination of the integrals' growth.
"""

from __future__ import annotations

import math

from sim.profile import DAY, DayProfile

__all__ = ["Ledger"]


_OFFERED: dict[tuple, tuple[float, ...]] = {}


def _offered(profile: DayProfile, warmup: float, horizon: float, step: float) -> tuple[float, ...]:
    """Offered traffic per bucket of ``step`` seconds after warm-up (the last one may be short).

    The same for every replication of a scenario (8,760 hourly buckets a year): cached.
    """
    key = (tuple(profile.weights.tolist()), warmup, horizon, step)
    out = _OFFERED.get(key)
    if out is None:
        if len(_OFFERED) >= 32:
            _OFFERED.clear()
        nb = max(1, math.ceil((horizon - warmup) / step - 1e-9))
        out = _OFFERED[key] = tuple(profile.integral(warmup + b * step, min(horizon, warmup + (b + 1) * step))
                                    for b in range(nb))
    return out


class Ledger:
    """Failed, offered and per-cause integrals of one replication."""

    def __init__(self, profile: DayProfile, mix, warmup: float, horizon: float,
                 timeseries_step: float | None, episodes):
        self.profile = profile
        self.reads, self.intra_cell, self.cross_cell = mix.reads, mix.intra_cell, mix.cross_cell
        self.warm = warmup
        self.horizon = horizon
        self.episodes = episodes
        # the shared services' state, set by sim.engine.shared
        self.router_down = False
        self.bus_down = False
        self.router_cause = self.bus_cause = ""
        # what fails now
        self.writes_failed = 0.0   # Sw: share-weighted fraction of the bank's writes failing
        self.reads_failed = 0.0    # Sr: the same for reads
        self.failed_fraction = 0.0  # F above
        self.impaired_cells = 0
        self.cause_writes: dict[str, float] = {}  # Sw split by the cause holding each cell
        self.cause_reads: dict[str, float] = {}
        # totals
        self.last_t = 0.0
        self.failed_req = 0.0
        self.failed_time = 0.0
        self.cause_failed: dict[str, float] = {}
        self.cause_episodes: dict[str, int] = {}
        self.outages = 0
        # global integrals of R, snapshotted by each cell (see module docstring)
        self.offered_router_down = 0.0
        self.offered_routed = 0.0
        self.offered_bus_up = 0.0
        self.offered_bus_up_writes_failed = 0.0
        self.day_offered = list(_offered(profile, warmup, horizon, DAY))
        self.day_failed = [0.0] * len(self.day_offered)
        self.ts_step = timeseries_step
        if timeseries_step is not None:
            self.ts_offered = list(_offered(profile, warmup, horizon, timeseries_step))
            nb = len(self.ts_offered)
            self.ts_failed = [0.0] * nb
            self.ts_slow = [0.0] * nb
            self.ts_cells = [0] * nb

    # ------------------------------------------------------------------ spreading over buckets
    def spread(self, arr, step, a, b, amount_per_weight, whole=None):
        """Add amount_per_weight x profile integral over [a, b) into buckets of width step.

        ``whole``: that integral over [a, b), when the caller has it: an interval within one
        bucket (most) then adds amount_per_weight x whole, which is what integrating it again
        gives (the same function of the same bounds), without integrating it again.
        """
        base = self.warm
        k = int((a - base) // step)
        n = len(arr)
        if whole is not None and a < b and k < n and b <= base + (k + 1) * step:
            arr[k] += amount_per_weight * whole
            return
        prof = self.profile
        while a < b and k < n:
            end = min(b, base + (k + 1) * step)
            arr[k] += amount_per_weight * prof.integral(a, end)
            a = end
            k += 1

    def add_failed(self, amount: float, a: float, b: float, cause: str) -> None:
        """Requests failed outside the outage accounting (capacity shedding over [a, b))."""
        R = self.profile.integral(a, b)
        self.failed_req += amount
        self.spread(self.day_failed, DAY, a, b, amount / R, R)
        if self.ts_step is not None:
            self.spread(self.ts_failed, self.ts_step, a, b, amount / R, R)
        self.cause_failed[cause] = self.cause_failed.get(cause, 0.0) + amount

    # ------------------------------------------------------------------ the interval just ended
    def advance(self, now: float):
        """Account the interval since the last state change at the current failed fraction."""
        t0 = self.last_t
        if now <= t0:
            return
        self.last_t = now
        a = t0 if t0 > self.warm else self.warm
        if now <= a:
            return
        R = self.profile.integral(a, now)
        F = self.failed_fraction
        if self.router_down:
            self.offered_router_down += R
        else:
            self.offered_routed += R
            if not self.bus_down:
                self.offered_bus_up += R
                self.offered_bus_up_writes_failed += self.writes_failed * R
        if F > 0.0:
            self.failed_req += F * R
            self.failed_time += F * (now - a)
            self.spread(self.day_failed, DAY, a, now, F, R)
            if self.ts_step is not None:
                self.spread(self.ts_failed, self.ts_step, a, now, F, R)
            self._allocate(F * R)

    def _allocate(self, failed):
        """Split failed requests over the causes holding the cells, router and bus."""
        cf = self.cause_failed
        if self.router_down:
            cf[self.router_cause] = cf.get(self.router_cause, 0.0) + failed
            return
        weights = {}
        if self.bus_down:
            weights[self.bus_cause] = self.cross_cell
            cross = 0.0
        else:
            cross = self.cross_cell * (1.0 - (1.0 - self.writes_failed) ** 2)
        sw = self.writes_failed
        for c, v in self.cause_writes.items():
            weights[c] = weights.get(c, 0.0) + self.intra_cell * v + (cross * v / sw if sw > 0 else 0.0)
        self._share_out(weights, failed)

    def _share_out(self, weights: dict, failed: float):
        """Add the reads' causes to ``weights`` and split ``failed`` over them in proportion
        (``other`` when no cause holds any traffic); the services ledger shares this last step."""
        cf = self.cause_failed
        for c, v in self.cause_reads.items():
            weights[c] = weights.get(c, 0.0) + self.reads * v
        tot = sum(weights.values())
        if tot <= 0:
            cf["other"] = cf.get("other", 0.0) + failed
            return
        for c, v in weights.items():
            cf[c] = cf.get(c, 0.0) + failed * v / tot

    # ------------------------------------------------------------------ state changes
    def recompute(self, now: float, cause: str):
        """The bank's failed fraction after a change; count an outage when one starts."""
        was = self.failed_fraction > 0.0
        if self.router_down:
            F = 1.0
        else:
            sw = self.writes_failed
            x = self.cross_cell
            cross = x if self.bus_down else x * (1.0 - (1.0 - sw) * (1.0 - sw))
            F = self.reads * self.reads_failed + self.intra_cell * sw + cross
        self.failed_fraction = F if F > 1e-15 else 0.0
        if not was and self.failed_fraction > 0.0 and now >= self.warm:
            self.outages += 1
            self.cause_episodes[cause] = self.cause_episodes.get(cause, 0) + 1

    def flush_cell(self, c):
        """Add the cell's own failed integral since its last change (its w, r were constant)."""
        g0, n0, b0, a0 = c.snap
        dG = self.offered_router_down - g0
        dN = self.offered_routed - n0
        dB = self.offered_bus_up - b0
        dA = self.offered_bus_up_writes_failed - a0
        x = self.cross_cell
        c.acc += (dG + (self.reads * c.reads_failed + self.intra_cell * c.writes_failed + x) * dN
                  - x * (1.0 - c.writes_failed) * (dB - dA))
        c.snap = (self.offered_router_down, self.offered_routed, self.offered_bus_up,
                  self.offered_bus_up_writes_failed)

    def set_cell(self, c, w: float, r: float, cause: str, now: float):
        """Cell ``c`` now fails fractions w of its writes and r of its reads."""
        if w == c.writes_failed and r == c.reads_failed:
            return
        self.advance(now)
        self.flush_cell(c)
        s = c.share
        old_impaired = c.writes_failed > 0.0 or c.reads_failed > 0.0
        new_impaired = w > 0.0 or r > 0.0
        if old_impaired:
            self.cause_writes[c.cause] = self.cause_writes.get(c.cause, 0.0) - s * c.writes_failed
            self.cause_reads[c.cause] = self.cause_reads.get(c.cause, 0.0) - s * c.reads_failed
        self.writes_failed += s * (w - c.writes_failed)
        self.reads_failed += s * (r - c.reads_failed)
        if new_impaired and not old_impaired:
            self.impaired_cells += 1
            c.cause = cause
            c.episode_start = now
            c.episode_cause = cause
        elif old_impaired and not new_impaired:
            self.impaired_cells -= 1
            self.episodes.record(c.episode_start, now, c.name, c.episode_cause,
                                 "cell-down" if c.reads_failed >= 1.0 else "writes-down",
                                 s * max(c.writes_failed, c.reads_failed), True)
            c.episode_start = None
        if new_impaired:
            self.cause_writes[c.cause] = self.cause_writes.get(c.cause, 0.0) + s * w
            self.cause_reads[c.cause] = self.cause_reads.get(c.cause, 0.0) + s * r
        if self.impaired_cells == 0:  # exact zero, no float drift while all is well
            self.writes_failed = self.reads_failed = 0.0
            self.cause_writes.clear()
            self.cause_reads.clear()
        c.writes_failed, c.reads_failed = w, r
        if self.ts_step is not None:
            k = int((now - self.warm) // self.ts_step)
            if 0 <= k < len(self.ts_cells) and self.impaired_cells > self.ts_cells[k]:
                self.ts_cells[k] = self.impaired_cells
        self.recompute(now, cause)

    def close_cell(self, c, horizon: float):
        """At the horizon: the cell's last figure, and its episode if one is still open."""
        self.flush_cell(c)
        if c.episode_start is not None:
            self.episodes.record(c.episode_start, horizon, c.name, c.episode_cause,
                                 "cell-down" if c.reads_failed >= 1.0 else "writes-down",
                                 c.share * max(c.writes_failed, c.reads_failed), True)
