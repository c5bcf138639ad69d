"""summary.json's ``throughput.*``: peak demand, capacity all up and with the worst IDC lost,
and the largest daily volume whose peak hour keeps the latency SLO (no simulation needed).
With services inside cells, ``throughput.services`` adds the paths' capacity (``sim.capacity.paths``)."""

from __future__ import annotations

import math

from sim.capacity.model import CapacityModel
from sim.profile import DAY
from sim.scenario.model import Scenario

__all__ = ["throughput_summary"]

def throughput_summary(scenario: Scenario, model: CapacityModel | None = None) -> dict:
    """summary.json ``throughput.*`` for a scenario (no simulation needed)."""
    m = model or CapacityModel(scenario)
    profile = m.profile_tps()
    peak = max(profile)
    cells = range(len(m.plan.cells))
    cap = sum(m.nominal_capacity_tps(c) for c in cells)
    pdt = m.peak_daily_transactions()
    worst = None
    for i, name in enumerate(m.plan.idcs):
        states, factor = m.idc_loss_states(i)
        cap_i = factor * sum(m._capacity(c, n, f) for c, (n, f) in zip(cells, states))
        pdt_i = m.peak_daily_transactions(states, factor)
        if worst is None or (pdt_i, cap_i) < (worst[1], worst[2]):
            worst = (name, pdt_i, cap_i)
    if len(m.plan.idcs) < 2:
        worst = (m.plan.idcs[0], 0.0, 0.0)  # one data centre: losing it loses everything
    out = {
        "transactions_per_day": m.mean_tps * DAY,
        "peak_tps_demand": peak,
        "capacity_tps": cap,
        "capacity_tps_n_minus_1_idc": worst[2],
        "worst_idc": worst[0],
        "peak_daily_transactions": pdt,
        "peak_daily_transactions_n_minus_1_idc": worst[1],
        "headroom": cap / peak if peak > 0 else math.inf,
        "headroom_n_minus_1_idc": worst[2] / peak if peak > 0 else math.inf,
        "bottleneck": sorted({m.bottleneck(c) for c in cells}),
        "latency_ms_at_peak": m.peak_latency_ms(),
        "profile_tps": profile,
    }
    if m.plan.has_services:
        from sim.capacity.paths import services_summary
        out["services"] = services_summary(scenario, m.plan)
    return out
