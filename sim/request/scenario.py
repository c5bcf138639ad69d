"""Map a scenario onto request-level windows: ``from_scenario(scenario, window, cells)``.

A deliberately small first mapping (the calibration issue refines it):

* rate: the bank's mean offered load x the day profile (``sim.profile.DayProfile``, the same
  one the fluid engine integrates), split equally over ``topology.cells.count`` cells;
* app tier: ``app.nodes x app_threads`` servers, each ``app_threads / app.capacity_tps`` seconds
  per transaction (so the tier's capacity is ``nodes x capacity_tps``);
* database tier: ``db_pool`` connection slots, ``db_pool / db.capacity_tps`` seconds each;
* faults: ``chaos`` entries inside the window that hit the cell's database become fault windows:
  crash / kill-postmaster / kill-patroni / down of the database or its primary, or ``down`` /
  ``partition`` of the IDC holding the primary -> writes refused for ``failover.total``;
  ``pause`` of the primary -> writes stall for the pause (up to ``failover.detection``), then are
  refused until the failover completes.
"""

from __future__ import annotations

import math

import numpy as np

from sim.errors import HivesimError
from sim.profile import DayProfile
from sim.request.spec import FaultWindow, RequestSpec, RetryPolicy, Tier

__all__ = ["from_scenario", "day_profile"]

_DB_FAULTS = ("crash", "kill-postmaster", "kill-patroni", "down")


def day_profile(scenario, seconds: np.ndarray) -> np.ndarray:
    """Relative load (mean 1 over a day) at the given seconds: the fluid engine's own profile."""
    prof = DayProfile.from_spec(scenario.workload.profile)
    return np.array([prof.rate_factor(float(t)) for t in np.atleast_1d(seconds)])


def _cell_faults(scenario, cell: int, t0: float, t1: float) -> list[FaultWindow]:
    from sim.scenario.model import CHAOS_TARGET_RE
    db = scenario.topology.cells.template.db
    fo = db.failover
    idcs = scenario.topology.idc_names
    primary_idc = (db.placement or idcs)[0]
    out = []
    for c in scenario.chaos:
        m = CHAOS_TARGET_RE.match(c.target)
        hits_cell = m.group("cell") in ("*", str(cell)) and m.group("tier") == "db" and \
            m.group("member") in (None, "primary")
        hits_idc = m.group("idc") == primary_idc and c.fault in ("down", "partition")
        if not (hits_cell or hits_idc) or not t0 <= c.at < t1:
            continue
        at = c.at - t0
        if c.fault == "pause" and hits_cell:
            held = c.duration if c.duration > 0 else math.inf
            if held <= fo.detection:
                out.append(FaultWindow(at, at + held, "stall"))
            else:
                out.append(FaultWindow(at, at + fo.detection, "stall"))
                out.append(FaultWindow(at + fo.detection, at + fo.total, "reject"))
        elif c.fault in _DB_FAULTS or hits_idc:
            out.append(FaultWindow(at, at + fo.total, "reject"))
    return out


def from_scenario(scenario, window: tuple[float, float] = (0.0, 300.0), cells=1, *,
                  app_threads: int = 8, db_pool: int = 16, db_capacity_tps: float = 2000.0,
                  timeout: float = 30.0, retry: RetryPolicy | None = None,
                  warmup: float = 0.0) -> list[RequestSpec]:
    """One ``RequestSpec`` per cell (``cells``: a count from cell 0, or a list of indices)."""
    t0, t1 = float(window[0]), float(window[1])
    if not t1 > t0:
        raise HivesimError(f"request window: end ({t1}) must be after start ({t0})")
    ncells = scenario.topology.cells.count
    idx = list(range(cells)) if isinstance(cells, int) else list(cells)
    if not idx or any(not 0 <= i < ncells for i in idx):
        raise HivesimError(f"request window: cells must be within 0-{ncells - 1}, got {cells}")
    tmpl = scenario.topology.cells.template
    secs = t0 + np.arange(math.ceil(t1 - t0)) + 0.5
    rate = scenario.workload.transactions_per_day * day_profile(scenario, secs) / ncells
    tiers = (Tier("app", tmpl.app.nodes * app_threads, app_threads / tmpl.app.capacity_tps),
             Tier("db", db_pool, db_pool / (tmpl.db.capacity_tps or db_capacity_tps)))
    mix = scenario.workload.mix
    writes = (mix.intra_cell + mix.cross_cell) if tmpl.db.reads_during_failover else 1.0
    if retry is None:  # the gateway retries through a failover, within its expected length
        retry = RetryPolicy(max_attempts=100, backoff=0.1, max_backoff=1.0,
                            deadline=tmpl.db.failover.total + 5.0, attempt_timeout=5.0)
    return [RequestSpec(rate=tuple(float(r) for r in rate), tiers=tiers, horizon=t1 - t0, warmup=warmup,
                        timeout=timeout, retry=retry, faults=tuple(_cell_faults(scenario, c, t0, t1)),
                        write_fraction=writes) for c in idx]
