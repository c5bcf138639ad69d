"""summary.json's ``throughput.*``: peak demand, capacity all up and with the worst IDC lost (in
all and per tier), headroom, and the largest daily volume whose peak hour keeps the latency SLO
(no simulation needed).
With services inside cells, ``throughput.services`` adds the paths' capacity (``sim.capacity.paths``)
and the headline figures fold it in: a cell serves ``min(front tier/db capacity, services' mix
capacity)``; ``by_tier.services`` reports the services' own figure, and a binding service is
named in ``bottleneck`` as ``service:NAME``. The peak daily volume is also bounded by the services:
the busiest hour's demand of each cell must stay at or below its services' capacity (the services
have no latency model, so this bound is at full utilisation, not at the latency SLO).

Why losing an IDC may leave the capacity unchanged: a cell serves ``min(app tier, database
primary)`` (``sim.capacity.model``). Losing an IDC removes that IDC's app nodes (the app tier
drops in proportion) and moves primaries that were there to a surviving standby, which serves
``capacity.standby_factor`` of the primary's capacity (1 = the same hardware). When the database
primary is the bottleneck and the standbys are as strong as the primaries, the cell's capacity
does not move even though a third of its app nodes are gone. That is what the reference banks
showed before their demands came from measurement (the app tier was over-provisioned against an
assumed demand). ``by_tier`` now reports each tier's capacity all up and with the worst IDC lost,
so a drop of the serving tiers is visible even when another tier is the bottleneck.

``sized_by_demand``: a bank whose capacity with one IDC lost is more than ``SIZED_HEADROOM``
(10x) its peak-hour demand is not sized by its demand; either its fleet or its demand per
transaction is off (the validation page, ``sim.report.validation``, says which).
"""

from __future__ import annotations

import math

from sim.capacity.model import CapacityModel
from sim.profile import DAY
from sim.scenario.model import Scenario

__all__ = ["throughput_summary", "tier_capacity", "SIZED_HEADROOM"]

# Above this N-1 headroom at the peak hour a bank is not sized by its demand. ASSUMPTION: the
# issue's "~10x"; capacity planners keep 1.5-3x over the peak after losing a site, so 10x leaves a
# factor of 3 or more for growth or a demand underestimate before we call the fleet unexplained.
SIZED_HEADROOM = 10.0


def tier_capacity(m: CapacityModel, states: list[tuple[float, float]] | None = None,
                  factor: float = 1.0) -> dict[str, float]:
    """Bank-wide capacity of each tier (tx/s): the sum over cells of ``n_eff x node`` (app) and
    ``db_factor x primary`` (db), for the given per-cell states (None = everything up)."""
    out = {"app": 0.0, "db": 0.0}
    for c in m.plan.cells:
        n_eff, dbf = states[c.index] if states is not None else (float(c.spec.app.nodes), 1.0)
        app, db = m._tiers[c.index]
        out["app"] += n_eff * app.node_tps
        out["db"] += dbf * db.node_tps if dbf > 0 else 0.0
    return {k: factor * v for k, v in out.items()}


def _services_bound(m: CapacityModel, svc: list[tuple[float, str | None]], factor: float) -> float:
    """Largest daily volume whose busiest hour no cell's services exceed (inf: none binds)."""
    peak_w = float(m.profile.weights.max())
    best = math.inf
    for c, (cap, _) in zip(m.plan.cells, svc):
        if math.isfinite(cap):
            best = min(best, cap / (c.share * peak_w) * DAY)
    return best * factor


def throughput_summary(scenario: Scenario, model: CapacityModel | None = None) -> dict:
    """summary.json ``throughput.*`` for a scenario (no simulation needed)."""
    m = model or CapacityModel(scenario)
    profile = m.profile_tps()
    peak = max(profile)
    cells = range(len(m.plan.cells))
    has_services = m.plan.has_services
    if has_services:
        from sim.capacity.paths import cell_mix_capacity
    no_services = [(math.inf, None)] * len(m.plan.cells)

    def figures(states, factor, lost):
        """(peak daily transactions, capacity, tier capacities, services per cell) in one state."""
        svc = cell_mix_capacity(scenario, m.plan, lost) if has_services else no_services
        cap = factor * sum(min(m._capacity(c, n, f), s[0]) for c, (n, f), s in zip(cells, states, svc))
        pdt = min(m.peak_daily_transactions(states, factor), _services_bound(m, svc, factor))
        tiers = tier_capacity(m, states, factor)
        if has_services:
            tiers["services"] = factor * sum(s[0] for s in svc)
        return pdt, cap, tiers, svc

    up_states = [(float(c.spec.app.nodes), 1.0) for c in m.plan.cells]
    pdt, cap, all_up, svc_up = figures(up_states, 1.0, None)
    worst = None
    for i, name in enumerate(m.plan.idcs):
        states, factor = m.idc_loss_states(i)
        pdt_i, cap_i, tiers_i, _ = figures(states, factor, i)
        if worst is None or (pdt_i, cap_i) < (worst[1], worst[2]):
            worst = (name, pdt_i, cap_i, tiers_i)
    if len(m.plan.idcs) < 2:
        # one data centre: losing it loses everything
        worst = (m.plan.idcs[0], 0.0, 0.0, {t: 0.0 for t in all_up})
    head_n1 = worst[2] / peak if peak > 0 else math.inf
    bottleneck = set()
    for c, (cap_s, which) in zip(cells, svc_up):
        # a cell's services bind when they serve less than its front tier/db
        bottleneck.add(f"service:{which}" if cap_s < m.nominal_capacity_tps(c) else m.bottleneck(c))
    out = {
        "transactions_per_day": m.mean_tps * DAY,
        "peak_tps_demand": peak,
        "capacity_tps": cap,
        "capacity_tps_n_minus_1_idc": worst[2],
        "worst_idc": worst[0],
        "peak_daily_transactions": pdt,
        "peak_daily_transactions_n_minus_1_idc": worst[1],
        "headroom": cap / peak if peak > 0 else math.inf,
        "headroom_n_minus_1_idc": head_n1,
        "by_tier": {t: {"capacity_tps": all_up[t], "capacity_tps_n_minus_1_idc": worst[3][t]} for t in all_up},
        "sized_by_demand": bool(head_n1 <= SIZED_HEADROOM),
        "bottleneck": sorted(bottleneck),
        "latency_ms_at_peak": m.peak_latency_ms(),
        "profile_tps": profile,
    }
    if has_services:
        from sim.capacity.paths import services_summary
        out["services"] = services_summary(scenario, m.plan)
    return out
