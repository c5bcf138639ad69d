"""The availability timeline: replication 0 (or a live run) bucket by bucket, faults shaded by cause.

Top panel: share of requests served per bucket on a logit axis (90 %, 99 %, 99.9 % ... equally
spaced) with the SLO line. Bottom panel: offered, failed and slow requests per second (log axis).
Fault periods from events.csv are shaded on both panels in their cause's colour. Long runs are
re-binned to days and, past ``MAX_SHADED`` periods, only the costliest periods are shaded (the
plot says so): a year has thousands of episodes, and a readable picture beats a complete wash.
"""

from __future__ import annotations

import math

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import NullLocator

from sim.report.plots import Skip, nines_of, pct_formatter
from sim.results.reader import Run

__all__ = ["timeline", "time_axis", "cause_colors", "merge_periods", "largest_faults", "shade_faults",
           "MAX_SHADED", "NOISE"]

_PALETTE = ["#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#7f7f7f",
            "#2ca02c", "#1f77b4"]


def time_axis(span_s: float) -> tuple[float, str]:
    """(divisor, label) for a time axis of this span: seconds, minutes, hours or days."""
    if span_s > 3 * 86400:
        return 86400.0, "time since start (days)"
    if span_s > 3 * 3600:
        return 3600.0, "time since start (hours)"
    if span_s > 600:
        return 60.0, "time since start (minutes)"
    return 1.0, "time since start (s)"


def cause_colors(causes) -> dict:
    return {c: _PALETTE[i % len(_PALETTE)] for i, c in enumerate(sorted(set(causes)))}


def _rep0_faults(run: Run) -> list[dict]:
    """Fault episodes with an effect on traffic in replication 0 (what the timeline shows)."""
    ev = run.events(replication=0) or []
    out = [e for e in ev if str(e.get("effect")) != "none"]
    if not out and run.kind == "live" and isinstance(run.get("faults"), list):
        for f in run.get("faults"):  # live runs also list injected faults in summary.json
            if isinstance(f, dict) and isinstance(f.get("start"), (int, float)):
                end = f.get("end") if isinstance(f.get("end"), (int, float)) else f["start"]
                out.append({"start_s": float(f["start"]), "end_s": float(end), "cause": str(f.get("kind", "fault")),
                            "target": str(f.get("target", ""))})
    return out


AXES_SHARE = 0.68  # the timeline panels' share of the figure width (the legend takes the rest)
NOISE = 1e-9  # a rate below this share of the peak offered rate is float noise, not requests
MAX_SHADED = 40  # beyond this, shading every episode turns a year-long axis into a solid wash


def merge_periods(faults: list[dict]) -> list[dict]:
    """Overlapping episodes of one cause become one fault period (a global bad change is one
    episode per cell in events.csv, but one period on a timeline); impact = sum of the parts."""
    out = []
    by_cause: dict[str, list[dict]] = {}
    for e in faults:
        by_cause.setdefault(str(e.get("cause")), []).append(e)
    for cause, eps in by_cause.items():
        eps.sort(key=lambda e: e["start_s"])
        cur = None
        for e in eps:
            ff = e.get("failed_fraction")
            imp = (e["end_s"] - e["start_s"]) * (ff if isinstance(ff, (int, float)) else 1.0)
            if cur is not None and e["start_s"] <= cur["end_s"]:
                cur["end_s"] = max(cur["end_s"], e["end_s"])
                cur["impact"] += imp
                cur["episodes"] += 1
            else:
                cur = {"start_s": e["start_s"], "end_s": e["end_s"], "cause": cause, "impact": imp, "episodes": 1}
                out.append(cur)
    return sorted(out, key=lambda p: p["start_s"])


def largest_faults(faults: list[dict], limit: int = MAX_SHADED) -> list[dict]:
    """The ``limit`` episodes that cost the most traffic (duration x failed fraction)."""
    if len(faults) <= limit:
        return faults
    def impact(e):
        if "impact" in e:
            return e["impact"]
        ff = e.get("failed_fraction")
        return (e["end_s"] - e["start_s"]) * (ff if isinstance(ff, (int, float)) else 1.0)
    return sorted(faults, key=impact, reverse=True)[:limit]


def shade_faults(ax, faults: list[dict], div: float, colors: dict, with_labels: bool = False,
                 total: dict | None = None) -> list:
    """Shade each fault period (at least a hairline wide) in its cause's colour; legend handles back.

    ``total`` (cause -> episodes before any selection) makes the legend say "k of n shown".
    """
    handles = []
    for cause, col in colors.items():
        spans = [(e["start_s"] / div, max(e["end_s"] - e["start_s"], 0.0) / div) for e in faults
                 if str(e.get("cause")) == cause]
        n_all = (total or {}).get(cause, len(spans))
        if spans:
            rgb = matplotlib.colors.to_rgb(col)
            # edge line keeps sub-pixel episodes (a 30 s failover on a 365-day axis) visible
            ax.broken_barh(spans, (0, 1), transform=ax.get_xaxis_transform(), facecolors=(*rgb, 0.25),
                           edgecolors=(*rgb, 0.7), linewidth=0.8, zorder=0)
        label = (f"fault: {cause} ({n_all} period{'s' if n_all != 1 else ''})" if n_all == len(spans)
                 else f"fault: {cause} ({len(spans)} of {n_all} periods shown)")
        handles.append(Patch(facecolor=col, edgecolor=col, alpha=0.5, label=label))
    if with_labels:
        # label the longest few periods by cause in one row just above the panel, where no data
        # are drawn (a live run's dips reach the panel's foot); a label that would touch one
        # already placed is left out, never stacked
        lo, hi = ax.get_xlim() if ax.get_xlim() != (0.0, 1.0) else (0.0, max((e["end_s"] for e in faults), default=1) / div)
        axis_pt = ax.figure.get_figwidth() * 72 * AXES_SHARE
        placed: list[tuple[float, float]] = []
        for e in sorted(faults, key=lambda e: e["end_s"] - e["start_s"], reverse=True)[:12]:
            text = str(e.get("cause"))
            f0 = (e["start_s"] / div - lo) / ((hi - lo) or 1.0)
            f1 = f0 + (len(text) * 7 * 0.62 + 6) / axis_pt  # 7 pt text: ~0.6 em per character
            if len(placed) == 5 or f1 > 1.0 or any(f0 < b1 and a0 < f1 for a0, b1 in placed):
                continue
            placed.append((f0, f1))
            ax.annotate(text, xy=(e["start_s"] / div, 1.0), xycoords=ax.get_xaxis_transform(), xytext=(0, 2),
                        textcoords="offset points", va="bottom", ha="left", fontsize=7,
                        color=colors.get(text, "k"), annotation_clip=False)
    return handles


def _rebin(t0: np.ndarray, t1: np.ndarray, cols: list[np.ndarray], max_bins: int = 1500):
    """Merge adjacent buckets (sums) so a year of hourly buckets draws as ~daily bars."""
    n = len(t0)
    if n <= max_bins:
        return t0, t1, cols
    step = float(t1[0] - t0[0])
    k = int(math.ceil(n / max_bins))
    if step > 0 and 86400.0 % step == 0 and n * step / 86400.0 <= max_bins:
        k = max(k, int(86400.0 // step))  # whole days read best
    m = int(math.ceil(n / k))
    pad = m * k - n
    out = [np.pad(c, (0, pad)).reshape(m, k).sum(axis=1) for c in cols]
    return t0[::k], np.append(t0[k::k], t1[-1]), out


def _runs(values: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge equal neighbours of a step series (a year of hourly 100 % buckets is one step)."""
    if len(values) < 2:
        return values, edges
    keep = np.concatenate([[True], values[1:] != values[:-1]])
    return values[keep], np.append(edges[:-1][keep], edges[-1])


def timeline(run: Run) -> Figure:
    """Availability per bucket (logit axis) and traffic, replication 0, fault periods shaded by cause."""
    ts = run.timeseries()
    if not ts:
        raise Skip("no timeseries.csv")
    ts = [r for r in ts if r.get("replication") in (0, 0.0)] or ts
    t0 = np.array([r["t_start_s"] for r in ts], float)
    t1 = np.array([r["t_end_s"] for r in ts], float)
    ff = np.array([r["failed_fraction"] or 0.0 for r in ts], float)
    offered = np.array([r.get("offered_requests") or 0.0 for r in ts], float)
    failed = np.array([r.get("failed_requests") or 0.0 for r in ts], float)
    slow = np.array([r.get("slow_requests") or 0.0 for r in ts], float)
    div, xlabel = time_axis(float(t1.max() - t0.min()))
    all_faults = merge_periods(_rep0_faults(run))
    faults = largest_faults(all_faults)
    colors = cause_colors(str(e.get("cause")) for e in all_faults)
    per_cause = {c: sum(str(e.get("cause")) == c for e in all_faults) for c in colors}
    slo = run.slo_availability()

    # long runs (a year of hourly buckets) are drawn per day: thousands of hairline dips read as a wash
    b0, b1, (offered, failed, slow, ffw) = _rebin(t0, t1, [offered, failed, slow, ff * (t1 - t0)])
    if len(b0) < len(t0):
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.where(offered > 0, 1.0 - failed / offered, 1.0 - ffw / (b1 - b0))
    else:
        a = 1.0 - np.clip(ff, 0.0, 1.0)
    a = np.clip(a, 0.0, 1.0)
    per = _bucket(float(b1[0] - b0[0]))

    fig = Figure(figsize=(11, 6.8), layout="constrained")
    ax, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    top_n = max(6, int(math.ceil(nines_of(slo))) + 2) if slo else 6
    cap = 1.0 - 10.0 ** -top_n
    low = float(min(max(a.min(), 0.01), 0.99))
    x = np.append(b0, b1[-1]) / div
    ya, xa = _runs(np.clip(a, low, cap), x)
    ax.stairs(ya, xa, baseline=None, color="#1f77b4", lw=1.0,
              label=f"requests served per {per} (top edge: none failed)")
    dips = a < 1.0
    if dips.any() and len(a) > 200:  # one-bucket dips are thin on a long axis: mark them
        ax.plot(((b0 + b1) / 2)[dips] / div, np.clip(a[dips], low, cap), "v", ms=3, color="#1f77b4",
                label=f"{per} with failed requests")
    ax.set_yscale("logit")
    ax.set_ylim(low * 0.999 if low < 0.5 else low - (1 - low) * 0.5, cap)
    ax.yaxis.set_major_formatter(pct_formatter())
    ax.yaxis.set_minor_locator(NullLocator())  # logit minor ticks cost seconds to lay out and add nothing
    if slo:
        ax.axhline(slo, color="k", ls="--", lw=1, label=f"SLO {100 * slo:g}%")
    handles = shade_faults(ax, faults, div, colors, with_labels=True, total=per_cause)
    ax.set_ylabel("requests served (%, logit scale)")
    what = "live run, per-second buckets" if run.kind == "live" else "replication 0, the example year"
    shown = "" if len(faults) == len(all_faults) else f" (the {len(faults)} costliest of {len(all_faults)} periods)"
    ax.set_title(f"Availability timeline: {run.name} ({what})\nfault periods shaded by cause{shown}", fontsize=11,
                 pad=14)
    h, _ = ax.get_legend_handles_labels()
    ax.legend(handles=h + handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title="legend",
              title_fontsize=8)

    width = np.maximum(b1 - b0, 1e-9)
    offered, failed, slow = offered / width, failed / width, slow / width
    # float noise (2e-26 slow requests/s from the capacity overlay's sums) is no series: below one
    # request per billion offered, a rate is drawn as none and gets no legend entry
    noise = NOISE * max(float(offered.max()), 1.0)
    failed, slow = np.where(failed > noise, failed, 0.0), np.where(slow > noise, slow, 0.0)
    ax2.stairs(offered, x, baseline=None, color="#2ca02c", lw=1, label=f"offered requests/s (mean per {per})")
    if (failed > 0).any():
        ax2.plot(((b0 + b1) / 2)[failed > 0] / div, failed[failed > 0], "o", ms=3, color="#d62728",
                 label=f"failed requests/s (mean per {per})")
    if (slow > 0).any():  # slower than slo.latency: served, but counted against request_slo
        ax2.plot(((b0 + b1) / 2)[slow > 0] / div, slow[slow > 0], "s", ms=3, color="#ff7f0e",
                 label=f"slow requests/s (> SLO latency, mean per {per})")
    if offered.max() > 0:
        ax2.set_yscale("log")
        pos = np.concatenate([offered[offered > 0], failed[failed > 0], slow[slow > 0]])
        ax2.set_ylim(max(pos.min() * 0.5, offered.max() * 1e-7), offered.max() * 2)
        ax2.yaxis.set_minor_locator(NullLocator())
    shade_faults(ax2, faults, div, colors)
    ax2.set_ylabel("requests per second (log scale)")
    ax2.set_xlabel(xlabel)
    ax2.set_xlim(x[0], x[-1])
    ax2.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return fig


def _bucket(step: float) -> str:
    from sim.units import format_duration
    return format_duration(step)
