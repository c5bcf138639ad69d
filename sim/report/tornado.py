"""The sensitivity tornado: how far each input's low and high end move downtime and cost from the base.

Reads only the sensitivity document (``sim.readers.sensitivity.tabulate``). Left panel: the
difference in downtime minutes per year from the base, one bar per end, with the paired 95 %
interval of the per-replication differences (common random numbers); right panel: the difference
in cost per account per year (exact: cost has no randomness), when the runs have cost figures.
Keys are sorted by effect, the largest on top; each label also gives the nines at both ends.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from sim.report.plots import nines_of  # noqa: F401  (also selects the Agg backend)
from sim.results.lookup import finite_number

__all__ = ["tornado_figure"]

_DOWN, _COST, _NINES = ("delta.downtime_minutes_per_year.mean", "delta.cost.per_account_per_year",
                        "availability.request.nines")
_COLORS = {"low": "#1f77b4", "high": "#ff7f0e"}


def _fmt_nines(v) -> str:
    v = finite_number(v)
    return "-" if v is None else f"{v:.2f}"


def tornado_figure(body: dict, title: str):
    """The tornado of a sensitivity document (module docstring)."""
    keys = body.get("keys") or []
    has_cost = any(finite_number(e[end].get(_COST)) is not None for e in keys for end in ("low", "high")
                   if e[end].get("status") == "ok")
    fig = Figure(figsize=(11 if has_cost else 8.5, 1.6 + 0.75 * max(len(keys), 1)), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True, width_ratios=[3, 2]) if has_cost else [fig.subplots()]
    y = np.arange(len(keys))[::-1]  # the largest effect on top
    labels = []
    for yi, e in zip(y, keys):
        lo, hi = e["low"], e["high"]
        labels.append(f"{e['key'].rsplit('.', 2)[-2] + '.' if e['key'].count('.') else ''}{e['key'].rsplit('.', 1)[-1]}"
                      f"\n{lo['value']} | {hi['value']}  (nines {_fmt_nines(lo.get(_NINES))} | "
                      f"{_fmt_nines(hi.get(_NINES))})")
        for off, end in ((0.18, "low"), (-0.18, "high")):
            s = e[end]
            if s.get("status") != "ok":
                continue
            dd = s.get("delta.downtime_minutes_per_year.mean") or {}
            m = finite_number(dd.get("mean"))
            if m is None:
                continue
            iv = dd.get("interval")
            xerr = [[m - iv[0]], [iv[1] - m]] if iv else None
            axes[0].barh(yi + off, m, height=0.34, color=_COLORS[end], alpha=0.85,
                         label=f"{end} end" if yi == y[0] else None)
            axes[0].errorbar([m], [yi + off], xerr=xerr, fmt="none", ecolor="black", capsize=3, lw=1)
            if has_cost and finite_number(s.get(_COST)) is not None:
                axes[1].barh(yi + off, s[_COST], height=0.34, color=_COLORS[end], alpha=0.85)
    method = next((e[end]["delta.downtime_minutes_per_year.mean"].get("method") for e in keys for end in ("low", "high")
                   if e[end].get("status") == "ok"), "paired")
    n = next((e[end]["delta.downtime_minutes_per_year.mean"].get("n") for e in keys for end in ("low", "high")
              if e[end].get("status") == "ok"), None)
    how = f"paired (n={n})" if method == "paired" and n else "unpaired (no interval)"
    axes[0].axvline(0, color="black", lw=0.8)
    axes[0].set_yticks(y)
    axes[0].set_yticklabels(labels, fontsize=8)
    base = body.get("base") or {}
    bd = finite_number(base.get("downtime_minutes_per_year.mean"))
    axes[0].set_xlabel("Δ downtime vs the base, minutes per year (request-weighted)"
                       + (f"; base {bd:.3g} min/yr, {_fmt_nines(base.get(_NINES))} nines" if bd is not None else ""))
    axes[0].set_title(f"Downtime: bar = 95% CI of the per-replication differences, {how}", fontsize=9)
    axes[0].grid(axis="x", alpha=0.3)
    axes[0].legend(fontsize=8, loc="best")
    if has_cost:
        axes[1].axvline(0, color="black", lw=0.8)
        axes[1].set_xlabel("Δ IT cost per account per year (exact)")
        axes[1].set_title("Cost", fontsize=9)
        axes[1].grid(axis="x", alpha=0.3)
    fig.suptitle(f"Sensitivity of {title}: each input at its low and high end, the others at the base "
                 "(same seed: common random numbers)", fontsize=10)
    return fig
