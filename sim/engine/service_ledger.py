"""The traffic ledger of a bank whose cells have services: the ledger's formulas, per path.

``sim.engine.ledger`` accounts a bank whose cell c fails fractions w_c of its writes and r_c of
its reads. With services (``sim.scenario.services``) each transaction type t has a path, and
a cell's type t fails when its front tier and db fail it (w_c or r_c as before: ``b_c,t``) or
when some service on the path is down for it (``p_c,t`` in {0, 1}; a service is up when
``needs`` of its nodes are up and, with ``database: own``, its own set serves the type: writes
for transfers, a replica for reads; a down service whose ``fallback`` is up counts as up).
The two are independent per request, so the type fails with ``1 - (1 - b)(1 - p)``. Types
that are ``like`` the same kind add up, weighted by share q_t within the kind:

    r_c = sum_{t like reads}      q_t (1 - (1 - r_c^db)(1 - p_c,t))
    w_c = sum_{t like intra_cell} q_t (1 - (1 - w_c^db)(1 - p_c,t))
    x_c = sum_{t like cross_cell} q_t (1 - (1 - w_c^db)(1 - p_c,t))      (the source's side)
    d_c = w_c^db                                                      (the credit's side)

A cross-cell transfer calls its path in the source cell; its credit needs the destination cell
writable (front tier and db), as without services. With Sr, Sw, Sx, Sd the share-weighted sums
over cells, the bank's failed fraction is::

    F = 1                                              router (GNS) down
    F = reads Sr + intra Sw + cross (1 - (1 - Sx)(1 - Sd))    bus up
    F = reads Sr + intra Sw + cross                           bus down

which is the ledger's formula with Sx and Sd for the two Sw of a cross-cell transfer: without
services x_c = d_c = w_c and it is the same. Cell c's own figure over an interval is, with the
ledger's integrals (dD: R weighted by Sd over bus-up time)::

    dG + (reads r_c + intra w_c + cross) dN - cross (1 - x_c)(dB - dD)

still O(1) per event: the inherited ``advance`` integrates Sd (kept in ``writes_failed``).
"""

from __future__ import annotations

from sim.engine.ledger import Ledger

__all__ = ["ServiceLedger"]


class ServiceLedger(Ledger):
    """``Ledger`` with a source side (x_c) and a credit side (d_c) for cross-cell transfers.

    ``writes_failed`` here is Sd, so ``advance`` accumulates the credit integral (dD) the cells
    need; Sw (intra-cell transfers) is ``intra_failed`` and Sx is ``source_failed``.
    """

    def __init__(self, profile, kinds, warmup, horizon, timeseries_step, episodes, ncells: int):
        super().__init__(profile, kinds, warmup, horizon, timeseries_step, episodes)
        self.intra_failed = 0.0
        self.source_failed = 0.0
        self.cell_x = [0.0] * ncells
        self.cell_d = [0.0] * ncells
        self.cause_source: dict[str, float] = {}
        self.cause_credit: dict[str, float] = {}
        self.services = None  # sim.engine.services.ServiceStates: combines paths with w, r
        self.base_w = [0.0] * ncells  # what each cell's front tier and db fail (set_cell's w, r)
        self.base_r = [0.0] * ncells

    def recompute(self, now: float, cause: str):
        was = self.failed_fraction > 0.0
        if self.router_down:
            F = 1.0
        else:
            x = self.cross_cell
            cross = x if self.bus_down else x * (1.0 - (1.0 - self.source_failed) * (1.0 - self.writes_failed))
            F = self.reads * self.reads_failed + self.intra_cell * self.intra_failed + cross
        self.failed_fraction = F if F > 1e-15 else 0.0
        if not was and self.failed_fraction > 0.0 and now >= self.warm:
            self.outages += 1
            self.cause_episodes[cause] = self.cause_episodes.get(cause, 0) + 1

    def _allocate(self, failed):
        cf = self.cause_failed
        if self.router_down:
            cf[self.router_cause] = cf.get(self.router_cause, 0.0) + failed
            return
        weights: dict[str, float] = {}
        if self.bus_down:
            weights[self.bus_cause] = self.cross_cell
            cross = 0.0
        else:
            cross = self.cross_cell * (1.0 - (1.0 - self.source_failed) * (1.0 - self.writes_failed))
        both = self.source_failed + self.writes_failed
        for table in (self.cause_source, self.cause_credit):
            for c, v in table.items():
                weights[c] = weights.get(c, 0.0) + (cross * v / both if both > 0 else 0.0)
        for c, v in self.cause_writes.items():
            weights[c] = weights.get(c, 0.0) + self.intra_cell * v
        self._share_out(weights, failed)

    def flush_cell(self, c):
        g0, n0, b0, a0 = c.snap
        dN = self.offered_routed - n0
        dB = self.offered_bus_up - b0
        dD = self.offered_bus_up_writes_failed - a0
        x = self.cross_cell
        c.acc += (self.offered_router_down - g0
                  + (self.reads * c.reads_failed + self.intra_cell * c.writes_failed + x) * dN
                  - x * (1.0 - self.cell_x[c.index]) * (dB - dD))
        c.snap = (self.offered_router_down, self.offered_routed, self.offered_bus_up,
                  self.offered_bus_up_writes_failed)

    def update_cell(self, c, w: float, r: float, cause: str, now: float):
        """``set_cell`` from the cell's replica set (``ReplicaSets.update``, at nearly every event).

        Its services report their own changes through ``set_cell``, so with the same w and r
        as last time nothing can have changed.
        """
        if w != self.base_w[c.index] or r != self.base_r[c.index]:
            self.set_cell(c, w, r, cause, now)

    def set_cell(self, c, w: float, r: float, cause: str, now: float):
        """Cell ``c``'s front tier and db now fail w of its writes and r of its reads."""
        i = c.index
        self.base_w[i], self.base_r[i] = w, r
        w_e, r_e, x_e, d_e = self.services.effective(i, w, r)
        ow, o_r, ox, od = c.writes_failed, c.reads_failed, self.cell_x[i], self.cell_d[i]
        if w_e == ow and r_e == o_r and x_e == ox and d_e == od:
            return
        self.advance(now)
        self.flush_cell(c)
        s = c.share
        # written out field by field (no tuples, no zip): this runs at every maintenance edge;
        # the fractions are never negative, so "any above 0" is "impaired"
        old_impaired = ow > 0.0 or o_r > 0.0 or ox > 0.0 or od > 0.0
        new_impaired = w_e > 0.0 or r_e > 0.0 or x_e > 0.0 or d_e > 0.0
        cw, cr, cs, cd = self.cause_writes, self.cause_reads, self.cause_source, self.cause_credit
        if old_impaired:
            k = c.cause
            cw[k] = cw.get(k, 0.0) - s * ow
            cr[k] = cr.get(k, 0.0) - s * o_r
            cs[k] = cs.get(k, 0.0) - s * ox
            cd[k] = cd.get(k, 0.0) - s * od
        self.intra_failed += s * (w_e - ow)
        self.reads_failed += s * (r_e - o_r)
        self.source_failed += s * (x_e - ox)
        self.writes_failed += s * (d_e - od)
        if new_impaired and not old_impaired:
            self.impaired_cells += 1
            c.cause = cause
            c.episode_start = now
            c.episode_cause = cause
        elif old_impaired and not new_impaired:
            self.impaired_cells -= 1
            self._episode(c, now, (ow, o_r, ox, od))
            c.episode_start = None
        if new_impaired:
            k = c.cause
            cw[k] = cw.get(k, 0.0) + s * w_e
            cr[k] = cr.get(k, 0.0) + s * r_e
            cs[k] = cs.get(k, 0.0) + s * x_e
            cd[k] = cd.get(k, 0.0) + s * d_e
        if self.impaired_cells == 0:  # exact zero, no float drift while all is well
            self.writes_failed = self.reads_failed = self.intra_failed = self.source_failed = 0.0
            cw.clear()
            cr.clear()
            cs.clear()
            cd.clear()
        c.writes_failed, c.reads_failed = w_e, r_e
        self.cell_x[i], self.cell_d[i] = x_e, d_e
        if self.ts_step is not None:
            k = int((now - self.warm) // self.ts_step)
            if 0 <= k < len(self.ts_cells) and self.impaired_cells > self.ts_cells[k]:
                self.ts_cells[k] = self.impaired_cells
        self.recompute(now, cause)

    def _episode(self, c, end, fractions):
        effect = "cell-down" if fractions[1] >= 1.0 else "writes-down" if fractions[1] <= 0.0 else "path-down"
        self.episodes.record(c.episode_start, end, c.name, c.episode_cause, effect,
                             c.share * max(fractions), True)

    def close_cell(self, c, horizon: float):
        self.flush_cell(c)
        if c.episode_start is not None:
            i = c.index
            self._episode(c, horizon, (c.writes_failed, c.reads_failed, self.cell_x[i], self.cell_d[i]))
