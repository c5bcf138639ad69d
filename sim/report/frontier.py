"""The sweep's frontier plot: cost per account vs nines with 95 % CI bars, Pareto points marked.

Below it, when the variants were compared with the first one (``sim.readers.sweep_table``), a
second panel: each variant's difference in downtime from the first variant against cost, with the
paired 95 % interval (common random numbers; "paired (n=..)") or, unpaired, the difference alone.
Paired intervals are much narrower than either variant's own: they show which differences are real.

Without cost figures in the runs there is no frontier; the plot then shows downtime minutes per
year (with CIs) against the first swept key, one line per combination of the other keys, and its
title says so. Reads only the sweep table rows (``sim.readers.sweep.table_rows``); keys and axes come from
the key registry (``sim.results.schema``).
"""

from __future__ import annotations

import json

import numpy as np
from matplotlib.figure import Figure
from matplotlib.transforms import ScaledTranslation

from sim.report.plots import nines_of  # also selects the Agg backend
from sim.results.lookup import finite_number
from sim.results.schema import COST_KEY, NINES_KEY

from sim.results.formatting import compact
__all__ = ["frontier_figure"]

_DELTA = "vs_first.downtime_minutes_per_year.mean"


def _delta_panel(ax, rows: list[dict], fig) -> None:
    """Each variant's downtime minus the first variant's, vs cost, with its paired interval."""
    ok = [r for r in rows if r["status"] == "ok" and finite_number(r.get(COST_KEY)) is not None
          and finite_number(r.get(_DELTA)) is not None]
    ref = rows[0]["variant"] if rows else "the first variant"
    methods = sorted({r.get("vs_first.method") or "unpaired" for r in ok[1:] if r is not rows[0]})
    groups: dict = {}
    for i, r in enumerate(ok):
        groups.setdefault(round(r[COST_KEY], 12), []).append(i)
    # equal costs side by side, as in the panel above (on screen, not in data)
    moved = {i: ax.transData + ScaledTranslation((j - (len(g) - 1) / 2) * 9 / 72, 0, fig.dpi_scale_trans)
             for g in groups.values() for j, i in enumerate(g)}
    for i, r in enumerate(ok):
        x, d = r[COST_KEY], r[_DELTA]
        lo, hi = finite_number(r.get(f"{_DELTA}_lo")), finite_number(r.get(f"{_DELTA}_hi"))
        yerr = [[max(d - lo, 0)], [max(hi - d, 0)]] if lo is not None and hi is not None else None
        sig = r.get("vs_first.significant")
        ax.errorbar([x], [d], yerr=yerr, fmt="o", capsize=3, color="#d62728" if sig else "#7f7f7f",
                    transform=moved[i])
        ax.annotate(r["variant"], (x, d), xycoords=moved[i], textcoords="offset points", xytext=(6, 3), fontsize=7)
        ax.update_datalim([(x, d if lo is None else lo), (x, d if hi is None else hi)])
    ax.autoscale_view()
    ax.axhline(0, color="black", lw=0.8)
    ax.set_ylabel(f"Δ downtime vs {ref}\n(min/yr; red: significant)", fontsize=9)
    ax.set_title(f"Difference from {ref}, {', '.join(methods) or 'paired'}: bar = 95% CI of the "
                 "per-replication differences (common random numbers)", fontsize=9)
    ax.grid(alpha=0.3)


def frontier_figure(rows: list[dict], title: str, swept_keys: list[str]):
    """Cost per account vs nines with CI bars, Pareto points marked; without cost: downtime vs a swept key."""
    ok = [r for r in rows if r["status"] == "ok"]
    has_cost = any(finite_number(r.get(COST_KEY)) is not None for r in ok)
    paired = has_cost and len(ok) > 1 and any(finite_number(r.get(_DELTA)) is not None for r in ok[1:])
    fig = Figure(figsize=(9.5, 8.4 if paired else 5.8), layout="constrained")
    if paired:
        ax, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    else:
        ax = fig.subplots()
    if has_cost:
        pts = [r for r in ok if finite_number(r.get(COST_KEY)) is not None and finite_number(r.get("availability.request.mean")) is not None]
        x = np.array([r[COST_KEY] for r in pts], float)
        # variants of equal cost (seeds of one design) would hide each other's CI bars: spread them
        # a few points sideways on screen, not in data (the cost axis stays true)
        groups: dict = {}
        for i, xv in enumerate(x):
            groups.setdefault(round(xv, 12), []).append(i)
        dodged = any(len(g) > 1 for g in groups.values())
        moved = {i: ax.transData + ScaledTranslation((j - (len(g) - 1) / 2) * 9 / 72, 0, fig.dpi_scale_trans)
                 for g in groups.values() for j, i in enumerate(g)}
        mid = np.array([nines_of(r["availability.request.mean"]) for r in pts])
        ci = [r.get("availability.request.nines_ci95") or [None, None] for r in pts]
        lo = np.array([c[0] if finite_number(c[0]) is not None else m for c, m in zip(ci, mid)])
        hi_raw = [c[1] if len(c) > 1 else None for c in ci]
        top = max([v for v in mid] + [v for v in hi_raw if finite_number(v) is not None] + [0]) + 1
        hi = np.array([v if finite_number(v) is not None else top for v in hi_raw])
        unb = np.array([finite_number(v) is None for v in hi_raw])
        par = {i for i, r in enumerate(pts) if r.get("pareto")}
        for i in range(len(pts)):
            ax.errorbar(x[i], mid[i], yerr=[[max(mid[i] - lo[i], 0)], [max(hi[i] - mid[i], 0)]], fmt="o",
                        color="#1f77b4", capsize=3, transform=moved[i],
                        label=None if i else "variant: nines of the mean, bar = 95% CI (arrow: unbounded)")
            if unb[i]:
                ax.plot(x[i], hi[i], "^", color="#1f77b4", transform=moved[i])
            if i in par:
                ax.plot(x[i], pts[i][NINES_KEY], "*", ms=14, mfc="none", mec="#d62728", mew=1.5, transform=moved[i],
                        label=None if i != min(par) else "Pareto-optimal, drawn at its pessimistic nines (CI lower end)")
            if pts[i].get("target.choice") == "best":
                ax.plot(x[i], mid[i], "o", ms=16, mfc="none", mec="#2ca02c", mew=2, transform=moved[i],
                        label="cheapest variant meeting the target (sweep --target)")
            ax.update_datalim([(x[i], lo[i]), (x[i], hi[i])])  # shifted artists are not autoscaled
        ax.autoscale_view()
        if par:
            order = sorted(par, key=lambda i: x[i])
            ax.plot(x[order], [pts[i][NINES_KEY] for i in order], "-", color="#d62728", lw=1, alpha=0.6)
        for g in groups.values():  # one label block per cost: the group's variants, left to right
            last = g[-1]
            ax.annotate("\n".join(pts[i]["variant"] for i in g), (x[last], max(mid[i] for i in g)),
                        xycoords=moved[last], textcoords="offset points", xytext=(7, 4), fontsize=7, va="bottom")
        ax.margins(x=0.12)  # room for the variant labels at the right edge
        cur = next((r.get("cost.currency") for r in pts if r.get("cost.currency")), "currency units")
        ax.set_xlabel(f"IT cost per account per year ({cur})"
                      + ("; variants of equal cost drawn a few points apart, labelled left to right" if dodged else ""))
        ax.set_ylabel("availability, nines = -log10(1 - A), request-weighted")
        ax.set_title(f"Cost vs availability frontier: {title}")
        if paired:
            _delta_panel(ax2, rows, fig)
            ax2.set_xlabel(ax.get_xlabel())
            ax.set_xlabel("")
    else:
        key = swept_keys[0] if swept_keys else None
        col = f"scenario.{key}" if key else "variant"
        xs_raw = [r.get(col) if key else r["variant"] for r in ok]
        numeric = all(finite_number(v) is not None for v in xs_raw)
        cats = list(dict.fromkeys(json.dumps(v) if not isinstance(v, str) else v for v in xs_raw))
        # one series per combination of the other swept keys
        others = [f"scenario.{k}" for k in swept_keys[1:]]
        groups: dict = {}
        for r, xv in zip(ok, xs_raw):
            g = ", ".join(f"{k.rsplit('.', 1)[-1]}={compact(r.get(k))}" for k in others) or "variants"
            groups.setdefault(g, []).append((xv, r))
        for g, items in groups.items():
            xv = np.array([float(v) if numeric else cats.index(json.dumps(v) if not isinstance(v, str) else v)
                           for v, _ in items])
            m = np.array([finite_number(r.get("downtime_minutes_per_year.mean")) or 0.0 for _, r in items])
            ci = [r.get("downtime_minutes_per_year.ci95") or [mm, mm] for (_, r), mm in zip(items, m)]
            order = np.argsort(xv)
            ax.errorbar(xv[order], m[order], yerr=[np.maximum(m - [c[0] for c in ci], 0)[order],
                                                   np.maximum(np.array([c[1] for c in ci]) - m, 0)[order]],
                        fmt="o-", capsize=3, label=f"{g}: mean, bar = 95% CI")
        if not numeric:
            ax.set_xticks(range(len(cats)))
            ax.set_xticklabels(cats, rotation=20, ha="right", fontsize=8)
        ax.set_xlabel(f"{key} (swept)" if key else "variant")
        if numeric and all(float(v).is_integer() for v in xs_raw):
            from matplotlib.ticker import MaxNLocator
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        means = [finite_number(r.get("downtime_minutes_per_year.mean")) for r in ok]
        pos = [m for m in means if m is not None and m > 0]
        log = len(pos) == len(means) and pos and max(pos) / min(pos) > 30
        if log:  # redundancy moves downtime by orders of magnitude: a linear axis hides all but one point
            ax.set_yscale("log")
        ax.set_ylabel("downtime (minutes per year, request-weighted" + (", log scale)" if log else ")"))
        ax.set_title(f"Downtime vs {key.rsplit('.', 1)[-1] if key else 'variant'}: {title}\n"
                     "(no cost.* figures in these runs, so no cost frontier: downtime vs a swept parameter instead)",
                     fontsize=10)
        if not log:
            ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return fig
