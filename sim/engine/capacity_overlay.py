"""The capacity model's overlay on a replication: slow and shed requests, latency histogram.

The all-up traffic of the whole horizon is accounted once (``CapacityModel.nominal_effect``);
while a cell runs below its nominal capacity (lost or gray app nodes, a primary on a weaker or
gray replica) the overlay adds the difference between the degraded and the nominal interval
effect. Periods when a cell is already failing (w or r > 0) are left to the outage accounting.
"""

from __future__ import annotations

import math
import weakref

from sim.capacity.hours import excess_many
from sim.capacity.model import table_for
from sim.profile import DAY

__all__ = ["CapacityOverlay"]


# capacity model -> {(warm-up, horizon, step): slow requests per bucket}: the all-up bank's slow
# requests are the same in every replication (8,760 hourly buckets a year)
_NOMINAL_SLOW: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _nominal_slow_timeseries(cm, plan, led, nominal_cap, mean_tps) -> tuple[float, ...]:
    """Slow requests of the all-up bank per timeseries bucket (the day repeats hour by hour)."""
    memo = _NOMINAL_SLOW.setdefault(cm, {})
    key = (led.warm, led.horizon, led.ts_step)
    if key in memo:
        return memo[key]
    per_hour = [sum(cm.interval_effect(c.index, nominal_cap[c.index], h * 3600.0,
                                       (h + 1) * 3600.0).slow for c in plan.cells) / mean_tps
                for h in range(24)]
    step, base = led.ts_step, led.warm
    out = []
    for k in range(len(led.ts_slow)):
        a, b = base + k * step, min(led.horizon, base + (k + 1) * step)
        total = 0.0
        while a < b:  # split the bucket at hour boundaries
            h_end = (math.floor(a / 3600.0) + 1) * 3600.0
            end = min(b, h_end)
            total += per_hour[int((a % DAY) // 3600.0)] * (end - a) / 3600.0
            a = end
        out.append(total)
    memo[key] = tuple(out)
    return memo[key]


# capacity model -> {cell: {(app_up, primary): CapacityOverlay._entry}}: without gray nodes the
# answer depends on the pair alone, and the same for every replication of the scenario (a dict
# per cell: the look-up at each app node's step hashes the pair, not a (cell, pair) tuple too)
_ANSWERS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class CapacityOverlay:
    """Slow requests, shed requests and latency of one replication under the capacity model."""

    def __init__(self, cm, plan, sc, env, ledger, server_down, gray: set):
        self.cm = cm
        self.plan = plan
        self.env = env
        self.ledger = ledger
        self.server_down = server_down
        self.gray = gray
        self.mean_tps = float(sc.workload.transactions_per_day)
        # (cell, table, nominal table) -> (table, nominal table, starts, ends) of periods that
        # shed nothing, accounted at the close; table -> (table, sheds anything)
        self._deferred: dict[tuple, tuple] = {}
        self._shed_memo: dict[int, tuple] = {}
        # (cell, its tier state, the nominal one) -> its spans in _deferred, or False (sheds)
        self._spans: dict[tuple, tuple | bool] = {}
        # per cell, (app_up, primary) -> _entry, without gray nodes (a function of the pair)
        store = _ANSWERS.setdefault(cm, {})
        self._answers = [store.setdefault(c.index, {}) for c in plan.cells]
        self.bulk_apps = None  # ``faults.bulk_apps.BulkApps``, when app nodes are drawn in bulk
        self.state_by_cap = cm.state_by_cap
        self.nominal_cap = [cm.nominal_capacity_tps(c.index) for c in plan.cells]
        self._nominal_key = [(c.index, round(cap, 6)) for c, cap in zip(plan.cells, self.nominal_cap)]
        # a capacity this close to nominal counts as nominal (precomputed: compared at every event)
        self._nominal_floor = [cap * (1 - 1e-12) for cap in self.nominal_cap]
        led = ledger
        nominal = cm.nominal_effect(led.warm, led.horizon)
        self.lat_hist = nominal.latency_hist.copy()
        self.slow_req = nominal.slow / self.mean_tps
        if led.ts_step is not None:
            led.ts_slow[:] = _nominal_slow_timeseries(cm, plan, led, self.nominal_cap, self.mean_tps)
        shed = nominal.shed / self.mean_tps
        if shed > 0:  # under-provisioned at peak: every day sheds
            led.failed_req += shed
            total = sum(led.day_offered)
            for d, off in enumerate(led.day_offered):
                led.day_failed[d] += shed * off / total
            if led.ts_step is not None:
                tot = sum(led.ts_offered)
                for k, off in enumerate(led.ts_offered):
                    led.ts_failed[k] += shed * off / tot
            led.cause_failed["capacity"] = shed

    def _entry(self, c, app_up: int, primary) -> tuple:
        """The model's ``capacity_entry`` for the cell with ``app_up`` nodes up and ``primary``,
        its gray nodes now, its capacity None when nominal."""
        cm = self.cm
        gray = self.gray
        dbf = cm.db_factor_for(c.index, primary)
        if gray:
            down = self.server_down
            app_gray = sum(1 for s in c.app if s in gray and down[s] == 0)
            if primary in gray:
                dbf *= cm.gray_factor
        else:
            app_gray = 0
        key, state, cap = cm.capacity_entry(c.index, app_up - app_gray, app_gray, dbf)
        return key, state, None if cap >= self._nominal_floor[c.index] else cap

    def refresh(self, c):
        """After a change in cell ``c``: open or close its below-nominal period."""
        now = self.env._now  # ``now``, without the property's call
        bulk = self.bulk_apps
        if bulk is not None:
            # app nodes drawn in bulk: their steps since the cell's last change. The test is
            # inline: most changes (~4 in 5) have no step of the cell to replay
            t = bulk.by_cell[c.index]
            if t is not None and t.k < t.n and t.T[t.k] < now:
                bulk.replay_before(t, now)
        if c.writes_failed > 0.0 or c.reads_failed > 0.0:
            c.cap_failing = True
            new = key = None  # a failing cell is left to the outage accounting
        else:
            c.cap_failing = False
            c.cap_primary = c.primary
            if self.gray:
                entry = self._entry(c, c.app_up, c.primary)
                self.state_by_cap[entry[0]] = entry[1]  # as cell_capacity_tps records it
                c.cap_asked = None
            else:  # ``_answer`` with its common case (the pair last asked) first, no call
                entry = (c.cap_answer if (c.app_up, c.primary) == c.cap_asked
                         else self._answer(c, c.app_up, c.primary))
            key, new = entry[0], entry[2]
        if new != c.cap:
            self._change(c, key, new, now)

    def replay(self, c, at: float):
        """An app node's step at ``at`` (drawn in bulk: ``faults.bulk_apps``) between two changes
        of cell ``c``: the cell otherwise as at its last ``refresh`` (no gray nodes)."""
        if c.cap_failing:
            return  # left to the outage accounting, whatever its nodes
        entry = self._answer(c, c.app_up, c.cap_primary)
        if entry[2] != c.cap:
            self._change(c, entry[0], entry[2], at)

    def _answer(self, c, app_up: int, primary) -> tuple:
        # without gray nodes the capacity depends only on (app_up, primary): when they are
        # what this cell last asked the model for, so is the answer (and the model's record
        # of which state gave that capacity is already this one), so it is not asked again;
        # other answers are memoised per model and pair (a look-up, not three calls)
        asked = (app_up, primary)
        if asked == c.cap_asked:
            return c.cap_answer
        answers = self._answers[c.index]
        entry = answers.get(asked)
        if entry is None:
            entry = answers[asked] = self._entry(c, app_up, primary)
        self.state_by_cap[entry[0]] = entry[1]
        c.cap_answer, c.cap_asked = entry, asked
        return entry

    def _change(self, c, key, new, now: float):
        if c.cap is not None:
            self.close_period(c, now)
        c.cap = new
        c.cap_key = key  # the model's (cell, capacity rounded): which state its tables follow
        c.cap_since = now if new is not None else None

    def close_period(self, c, now: float):
        """Account the cell's below-nominal period up to ``now``."""
        led = self.ledger
        a = c.cap_since
        if led.warm > a:  # max(cap_since, warm), without the call (~3,000 periods a year)
            a = led.warm
        if now <= a:
            return
        cm = self.cm
        i = c.index
        if led.ts_step is None:
            # a period that sheds nothing changes only the horizon's totals (slow requests and
            # the histogram, linear in the requests offered per hour): kept, summed at the close.
            # Its tables follow the tier states now recorded for its capacity and the nominal one
            sbc = self.state_by_cap
            states = (i, sbc[c.cap_key], sbc[self._nominal_key[i]])
            spans = self._spans.get(states)
            if spans is None:
                spans = self._spans[states] = self._deferred_for(i, c.cap)
            if spans:
                spans[2].append(a)
                spans[3].append(now)
                return
        eff = cm.excess_effect(i, c.cap, self.nominal_cap[i], a, now)
        self.slow_req += eff.slow / self.mean_tps
        self.lat_hist += eff.latency_hist
        if led.ts_step is not None and eff.slow != 0.0:
            led.spread(led.ts_slow, led.ts_step, a, now,
                       eff.slow / self.mean_tps / led.profile.integral(a, now))
        shed = eff.shed / self.mean_tps
        if shed > 0:
            c.acc += shed / c.share
            led.add_failed(shed, a, now, "capacity")

    def _deferred_for(self, i: int, cap: float):
        """The spans kept for cell ``i`` at ``cap`` (tables as ``excess_effect`` finds them now),
        False when either table sheds (its periods are accounted one by one)."""
        cm = self.cm
        tab, nom = table_for(cm, i, cap), table_for(cm, i, self.nominal_cap[i])
        key = (i, id(tab), id(nom))
        spans = self._deferred.get(key)
        if spans is None and not (self._sheds(tab) or self._sheds(nom)):
            spans = self._deferred[key] = (tab, nom, [], [])
        return spans if spans is not None else False

    def _sheds(self, table) -> bool:
        key = id(table)
        if key not in self._shed_memo:
            self._shed_memo[key] = (table, bool(table[0].any()))
        return self._shed_memo[key][1]

    def close(self, cells):
        for c in cells:
            if c.cap is not None:
                self.close_period(c, self.env._now)
        batches = [(i, tab, nom, t0s, t1s) for (i, _, _), (tab, nom, t0s, t1s)
                   in sorted(self._deferred.items(), key=lambda kv: kv[0][0])]
        for eff in excess_many(self.cm, batches):
            self.slow_req += eff.slow / self.mean_tps
            self.lat_hist += eff.latency_hist
        self._deferred.clear()
