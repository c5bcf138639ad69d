"""The report's plots, each drawn from the files of one run directory (the results contract).

The timeline has its own module (``sim.report.timeline``); the report's list of plots is
``sim.report.PLOTS``.

Every function takes a ``Run`` and returns a matplotlib ``Figure`` (or ``None`` with a reason when
the run lacks the data). Figures are made with the object API on the Agg backend (no pyplot global
state), so plotting is safe in worker processes and tests. Every plot has a title, axis labels with
units and a legend; time plots shade fault periods coloured by cause.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")  # headless: files only, never a window

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from sim.results.reader import Run, downtime_budget_minutes  # noqa: E402

__all__ = ["Skip", "downtime_cdf", "cell_nines", "demand_capacity", "latency", "cost_breakdown",
           "replication_downtimes", "cdf_scale", "ecdf_xy", "pct_formatter", "nines_of"]


class Skip(Exception):
    """A plot that cannot be drawn for this run (the reason goes into the report)."""


def nines_of(a: float, cap: float = 12.0) -> float:
    """-log10(1 - a), capped (an interval end at 1.0 has infinitely many nines)."""
    return cap if a >= 1.0 - 10 ** -cap else -math.log10(1.0 - a)


def pct_formatter(digits: int | None = None):
    """Percent tick labels with as many decimals as the value needs (99.999 %)."""
    def f(y, _pos):
        if y <= 0 or y >= 1:
            return f"{100 * y:g}%"
        d = digits if digits is not None else max(0, round(-math.log10(1 - y)) - 2)
        return f"{100 * y:.{d}f}%"
    return FuncFormatter(f)


def replication_downtimes(run: Run) -> tuple[np.ndarray, str]:
    """Per-replication downtime minutes/year: replications.csv, else rebuilt from events.csv."""
    reps = run.replications()
    if reps:
        return np.array([r["downtime_minutes"] for r in reps], float), "replications.csv"
    ev, n, years = run.events(), run.get("run.replications"), run.horizon_years()
    if ev is None or not isinstance(n, (int, float)) or not years:
        raise Skip("no replications.csv, and events.csv / run.replications / run.horizon_days missing")
    # events.csv lists every episode with an effect for all replications, so per-replication
    # downtime is sum(duration x failed fraction); it is time-weighted (not request-weighted).
    d = np.zeros(int(n))
    for e in ev:
        if str(e.get("effect")) != "none" and e.get("failed_fraction") is not None:
            d[int(e["replication"])] += (e["end_s"] - e["start_s"]) * e["failed_fraction"] / 60.0
    return d / years, "events.csv (time-weighted; replications.csv absent)"


def cdf_scale(values) -> tuple[bool, float]:
    """(log x-axis?, floor) for downtime CDFs: log when the values span more than 100x, as a
    centralised bank next to a cell-based one does; zeros are then drawn at ``floor``."""
    v = np.asarray(values, float)
    pos = v[v > 0]
    if pos.size < 2 or pos.max() / pos.min() <= 100:
        return False, 0.0
    return True, float(pos.min()) / 2


def ecdf_xy(d, floor: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Step coordinates of an empirical CDF starting at (floor, 0)."""
    xs = np.maximum(np.sort(np.asarray(d, float)), floor) if floor > 0 else np.sort(np.asarray(d, float))
    ys = np.arange(1, len(xs) + 1) / len(xs)
    return np.concatenate([[floor], xs]), np.concatenate([[0.0], ys])


def downtime_cdf_axes(ax, log: bool, floor: float, weighting: str) -> None:
    """Axes of a downtime ECDF (this report's and ``hivesim compare``'s): a log x axis from
    ``floor`` when the values lie orders of magnitude apart (``cdf_scale``; a linear axis would
    squeeze the smaller ones into the corner), y as the share of years in %."""
    if log:
        ax.set_xscale("log")
        ax.set_xlim(left=floor)
    else:
        ax.set_xlim(left=0)
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{100 * y:.0f}%"))
    ax.set_xlabel(f"downtime (minutes per year, {weighting}" + (", log scale)" if log else ")"))
    ax.set_ylabel("share of simulated years with at most this downtime (%)")


def downtime_cdf(run: Run) -> Figure:
    """Empirical CDF of annual downtime minutes over replications, with the SLO budget line."""
    d, src = replication_downtimes(run)
    if len(d) < 2:
        raise Skip(f"only {len(d)} replication: no distribution to draw")
    budget = downtime_budget_minutes(run.slo_availability())
    fig = Figure(figsize=(9, 5), layout="constrained")
    ax = fig.subplots()
    log, floor = cdf_scale(d)
    ax.step(*ecdf_xy(d, floor), where="post", color="#1f77b4", lw=1.5, label=f"replications (n={len(d)})")
    ax.axvline(float(np.mean(d)), color="#2ca02c", ls=":", lw=1.2, label=f"mean {np.mean(d):.3g} min/yr")
    if budget is not None:
        over = float(np.mean(d > budget))
        ax.axvline(budget, color="#d62728", ls="--", lw=1.5,
                   label=f"SLO budget {budget:.3g} min/yr; {100 * over:.0f}% of years exceed it")
    downtime_cdf_axes(ax, log, floor, "request-weighted" if src == "replications.csv" else "time-weighted")
    ax.set_title(f"Annual downtime across replications: {run.name}\n(source: {src})", fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    return fig


def _bank_and_slo_lines(run: Run, line) -> None:
    """The bank's nines and the SLO's as reference lines (``line``: ``ax.axhline`` or ``ax.axvline``)."""
    bank = run.get("availability.request.nines")
    if isinstance(bank, (int, float)) and math.isfinite(bank):
        line(bank, color="#2ca02c", lw=1.2, label=f"bank, request-weighted (pessimistic end) {bank:.2f}")
    slo = run.slo_availability()
    if slo:
        line(nines_of(slo), color="#d62728", ls="--", lw=1.2, label=f"SLO {100 * slo:g}% = {nines_of(slo):.2f} nines")


MAX_CELLS_DRAWN = 2000  # beyond this many cells, one bar per cell is unreadable and slow to draw


def _cell_nines_distribution(run: Run, nines: np.ndarray) -> Figure:
    """A bank of many cells: the distribution of the cells' nines, the worst cell marked."""
    finite = nines[np.isfinite(nines)]
    fig = Figure(figsize=(9, 5), layout="constrained")
    ax = fig.subplots()
    if finite.size:
        ax.hist(finite, bins=min(60, max(10, int(math.sqrt(finite.size)))), color="#1f77b4", alpha=0.8,
                label=f"cells (of {nines.size:,}; {nines.size - finite.size:,} at 100 %)")
        ax.axvline(finite.min(), color="#ff7f0e", lw=1.2, label=f"worst cell {finite.min():.2f}")
    _bank_and_slo_lines(run, ax.axvline)
    ax.set_xlabel("nines of a cell's mean availability = -log10(1 - availability)")
    ax.set_ylabel("cells")
    ax.set_title(f"Nines per cell: distribution over {nines.size:,} cells")
    ax.legend(fontsize=8)
    return fig


def cell_nines(run: Run) -> Figure:
    """Nines per cell with the 95 % interval as bars, against the bank-wide figure and the SLO."""
    cells = run.get("cells")
    if not isinstance(cells, list) or not cells:
        raise Skip("summary.json has no cells list")
    idx, mid, lo, hi = [], [], [], []
    for i, c in enumerate(cells):
        if not isinstance(c, dict) or not isinstance(c.get("availability"), (int, float)):
            continue
        ci = c.get("ci95") if isinstance(c.get("ci95"), list) and len(c["ci95"]) == 2 else [c["availability"]] * 2
        idx.append(c.get("cell", i))
        mid.append(nines_of(c["availability"]))
        lo.append(nines_of(min(ci)))
        hi.append(nines_of(max(ci)))
    if not idx:
        raise Skip("cells list has no availability figures")
    mid, lo, hi = map(np.array, (mid, lo, hi))
    if len(idx) > MAX_CELLS_DRAWN:
        return _cell_nines_distribution(run, mid)
    # an interval reaching 100 % has unbounded nines: draw it to just above the bounded ones
    bounded = np.concatenate([mid[mid < 12], hi[hi < 12]])
    cap = min(12.0, (bounded.max() if bounded.size else 6.0) + 1.0)
    hi = np.minimum(hi, cap)
    mid = np.minimum(mid, cap)
    lo = np.minimum(lo, mid)  # all cells at 100 %: the lower end is capped with the rest
    fig = Figure(figsize=(max(7, min(13, 0.15 * len(idx) + 5)), 5), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(idx))
    ax.errorbar(x, mid, yerr=[mid - lo, hi - mid], fmt="o", ms=4, color="#1f77b4", ecolor="#1f77b4",
                capsize=2 if len(idx) <= 80 else 0, lw=1, label="cell: nines of the mean, bar = 95% CI")
    if (hi >= cap).any():
        ax.plot(x[hi >= cap], hi[hi >= cap], "^", color="#1f77b4", ms=5,
                label="CI reaches 100%: upper end unbounded")
    _bank_and_slo_lines(run, ax.axhline)
    ax.set_xticks(x if len(x) <= 40 else x[:: int(math.ceil(len(x) / 40))])
    ax.set_xticklabels([str(idx[i]) for i in ax.get_xticks().astype(int)], fontsize=8)
    ax.set_xlabel("cell (DCN) index")
    ax.set_ylabel("nines = -log10(1 - availability)")
    ax.set_title(f"Availability per cell with 95% confidence intervals: {run.name}")
    ax.grid(alpha=0.3, axis="y")
    fig.legend(fontsize=8, loc="outside lower center", ncol=2)
    return fig


def demand_capacity(run: Run) -> Figure:
    """Offered transactions/s over the day against capacity with all IDCs up and with one lost."""
    prof = run.get("throughput.profile_tps")
    if not isinstance(prof, list) or len(prof) != 24:
        raise Skip("summary.json has no throughput.profile_tps (24 hourly values)")
    prof = np.array(prof, float)
    cap, cap1 = run.get("throughput.capacity_tps"), run.get("throughput.capacity_tps_n_minus_1_idc")
    fig = Figure(figsize=(9, 5), layout="constrained")
    ax = fig.subplots()
    hours = np.arange(25)
    ax.stairs(prof, hours, color="#1f77b4", lw=2, label=f"demand (peak {prof.max():,.0f} tx/s)")
    if isinstance(cap, (int, float)):
        ax.axhline(cap, color="#2ca02c", lw=1.5, label=f"capacity, all IDCs up ({cap:,.0f} tx/s)")
        over = np.maximum(prof - cap, 0)
        if over.any():
            ax.stairs(prof, hours, baseline=np.minimum(prof, cap), fill=True, color="#d62728", alpha=0.5,
                      label="demand above capacity (shed or slow)")
    if isinstance(cap1, (int, float)):
        ax.axhline(cap1, color="#ff7f0e", lw=1.5, ls="--", label=f"capacity, one IDC lost ({cap1:,.0f} tx/s)")
        if (prof > cap1).any():
            ax.stairs(prof, hours, baseline=np.minimum(prof, cap1), fill=True, color="#ff7f0e", alpha=0.25,
                      label="demand above capacity with one IDC lost")
    ax.set_xlim(0, 24)
    ax.set_xticks(range(0, 25, 2))
    top = max(prof.max(), cap or 0, cap1 or 0)
    log = prof.min() > 0 and top / prof.max() > 5  # capacity far above demand: linear flattens the day
    if log:
        ax.set_yscale("log")
        ax.set_ylim(prof.min() / 2, top * 2)
    else:
        ax.set_ylim(0, top * 1.15)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_xlabel("hour of day")
    ax.set_ylabel("transactions per second" + (" (log scale)" if log else ""))
    head = run.get("throughput.headroom")
    head1 = run.get("throughput.headroom_n_minus_1_idc")
    neck = run.get("throughput.bottleneck")
    extra = []
    if isinstance(head, (int, float)):
        extra.append(f"headroom at peak {head:.3g}x" + (f" ({head1:.3g}x with one IDC lost)"
                                                        if isinstance(head1, (int, float)) else ""))
    if isinstance(neck, list) and neck:
        extra.append(f"bottleneck: {', '.join(map(str, neck))}")
    elif isinstance(neck, str):
        extra.append(f"bottleneck: {neck}")
    ax.set_title(f"Demand vs capacity over the day: {run.name}" + ("\n" + "; ".join(extra) if extra else ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    return fig


def latency(run: Run) -> Figure:
    """Request-weighted latency percentiles, against the SLO latency."""
    lat, where = run.get("latency_ms"), "request-weighted"
    if not isinstance(lat, dict) and isinstance(run.get("throughput.latency_ms_at_peak"), dict):
        lat, where = run.get("throughput.latency_ms_at_peak"), "at the peak hour, capacity model"
    if not isinstance(lat, dict):
        raise Skip("summary.json has no latency_ms (nor throughput.latency_ms_at_peak)")
    pts = []
    for k, v in lat.items():
        if k.startswith("p") and isinstance(v, (int, float)) and k[1:].replace("_", "").isdigit():
            q = k[1:].replace("_", "")
            pct = float(q) if len(q) <= 2 else float(q[:2] + "." + q[2:])  # p999 -> 99.9
            pts.append((pct, k, float(v)))
    if not pts:
        raise Skip("latency_ms has no percentile keys (p50, p99, ...)")
    pts.sort()
    fig = Figure(figsize=(8, 4.8), layout="constrained")
    ax = fig.subplots()
    labels = [f"p{p:g}" for p, _, _ in pts]
    bars = ax.bar(labels, [v for _, _, v in pts], color="#1f77b4", label=f"latency percentile ({where})")
    ax.bar_label(bars, fmt="%.3g ms", fontsize=8)
    slo = (run.scenario_document().get("slo") or {}).get("latency")
    if isinstance(slo, (int, float)):
        ax.axhline(slo * 1000.0, color="#d62728", ls="--", label=f"SLO latency {slo * 1000:g} ms")
    ax.set_ylim(0, max([v for _, _, v in pts] + ([slo * 1000.0] if isinstance(slo, (int, float)) else [])) * 1.2)
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (ms)")
    ax.set_title(f"Latency percentiles: {run.name} ({where})")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8, loc="upper left")
    return fig


def _cost_items(br: dict, prefix: str = "") -> list[tuple[str, float]]:
    items = []
    for k, v in br.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            items.append((f"{prefix}{k}", float(v)))
        elif isinstance(v, dict):
            tot = next((v[t] for t in ("total_per_year", "per_year", "total") if isinstance(v.get(t), (int, float))), None)
            items += [(f"{prefix}{k}", float(tot))] if tot is not None else _cost_items(v, f"{prefix}{k}.")
    return items


def cost_breakdown(run: Run) -> Figure:
    """Yearly IT cost by item (and per account per year in the title).

    ``cost.breakdown`` is either one mapping of items, or several decompositions of the same total
    (``by_category``, ``by_role``): those get one panel each, never summed together.
    """
    br = run.get("cost.breakdown")
    if not isinstance(br, dict) or not br:
        raise Skip("summary.json has no cost.breakdown")
    if all(isinstance(v, dict) for v in br.values()):
        panels = [(str(k).replace("_", " "), sorted(_cost_items(v), key=lambda kv: kv[1])) for k, v in br.items()]
    else:
        panels = [("by item", sorted(_cost_items(br), key=lambda kv: kv[1]))]
    panels = [(t, [(k, v) for k, v in items if v > 0], sum(1 for _, v in items if v <= 0)) for t, items in panels]
    panels = [p for p in panels if p[1]]
    if not panels:
        raise Skip("cost.breakdown has no positive numeric items")
    cur = run.get("cost.currency") or "currency units"
    per_acc = run.get("cost.per_account_per_year")
    total = run.get("cost.total_per_year")
    n_rows = max(len(items) for _, items, _ in panels)
    fig = Figure(figsize=(6 * len(panels) + 1, max(3.5, 0.45 * n_rows + 1.8)), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, items, zeros) in zip(axes, panels):
        tot = sum(v for _, v in items)
        bars = ax.barh([k for k, _ in items], [v for _, v in items], color="#9467bd", label=f"{cur} per year")
        ax.bar_label(bars, labels=[f"{v:,.0f} ({100 * v / tot:.0f}%)" for _, v in items], fontsize=8, padding=3)
        ax.set_xlim(0, max(v for _, v in items) * 1.45)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.tick_params(axis="x", labelrotation=20, labelsize=8)
        ax.set_xlabel(f"cost ({cur} per year)")
        ax.set_ylabel("cost item")
        ax.set_title(f"{title}" + (f" ({zeros} zero items omitted)" if zeros else ""), fontsize=10)
        ax.grid(alpha=0.3, axis="x")
        ax.legend(fontsize=8, loc="lower right")
    tot_txt = f"total {total:,.0f} {cur}/yr" if isinstance(total, (int, float)) else ""
    acc_txt = f"{per_acc:.3g} {cur} per account per year" if isinstance(per_acc, (int, float)) else ""
    fig.suptitle(f"IT cost breakdown: {run.name} ({'; '.join(t for t in (tot_txt, acc_txt) if t)})")
    return fig
