"""Side-by-side comparison of runs: key figures, deltas against the first run, CI overlap, overlays.

``compare_runs([dir_a, dir_b, ...])`` reads each run directory (or summary.json) and returns the
table; ``write_compare(out, ...)`` writes ``compare.md``, ``compare.html`` (plots embedded) and the
overlay plots ``downtime_cdf.png|svg`` (all runs' downtime distributions on one axis) and
``cost_vs_nines.png|svg`` (cost per account vs nines with CI bars; nines per run when no run has
cost figures). The first run is the reference: deltas are ``run - first``.

A run that shares the reference's seed, replication indices and stream keys is compared
replication by replication (``sim.readers.paired``): its availability and downtime deltas get
the t-interval of the paired differences and say "paired (n=..)", and they are significant when
that interval excludes zero. Other runs and keys say "unpaired": significant when the two runs'
95 % intervals are disjoint.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path

from sim.errors import HivesimError
from sim.readers.paired import Difference, Pairing, difference, pairing, table_of_run
from sim.results.lookup import MISSING, ci_of, is_number, lookup_optional
from sim.results.reader import Run, downtime_budget_minutes, load_run, run_label
from sim.results.schema import is_identifier, keys_for, label_of
from sim.results.formatting import format_delta, format_value
from sim.results.writer import atomic_dir

__all__ = ["METRICS", "Row", "compare_runs", "pairings", "significant", "cell", "to_json", "to_markdown", "to_html", "write_compare", "overlay_downtime",
           "overlay_cost_nines"]

# the registry's compare view, in table order; a key no run has is left out of the table
METRICS = [(k, label_of(k)) for k in keys_for("compare")]


@dataclass
class Row:
    """One line of the comparison: a summary key across the runs."""

    key: str               # the dotted summary key
    label: str             # its registry label
    values: list           # one per run (None when absent)
    cis: list              # (lo, hi) or None per run
    deltas: list           # value - first run's value (None when either is absent)
    overlap: list          # per run: True/False whether its CI overlaps the first run's; None without CIs
    diffs: list            # per run: the Difference against the first run (paired or not); None for run 1


def _val(run: Run, key: str):
    v = lookup_optional(run.summary, key, None)
    return None if v is MISSING else v


def compare_runs(paths: list) -> tuple[list[Run], list[Row]]:
    """Load the runs and build the comparison rows (first run = reference)."""
    if len(paths) < 2:
        raise HivesimError("compare needs at least two run directories")
    runs = [load_run(p) for p in paths]
    tables = [table_of_run(r) for r in runs]
    pairs = [pairing(runs[0].summary, tables[0], r.summary, t) for r, t in zip(runs, tables)]
    rows = []
    for key, label in METRICS:
        vals = [_val(r, key) for r in runs]
        if all(v is None for v in vals):
            continue
        nums = [v if is_number(v) else None for v in vals]
        cis = [ci_of(r.summary, key) for r in runs]
        deltas = [None if (n is None or nums[0] is None or is_identifier(key)) else n - nums[0] for n in nums]
        overlap = [None if (c is None or cis[0] is None) else (c[0] <= cis[0][1] and cis[0][0] <= c[1]) for c in cis]
        diffs = [None] + [None if deltas[i] is None else
                          difference(key, runs[0].summary, tables[0], runs[i].summary, tables[i], nums[0], nums[i],
                                     cis[0], cis[i], pairs[i]) for i in range(1, len(runs))]
        rows.append(Row(key, label, vals, cis, deltas, overlap, diffs))
    return runs, rows


def pairings(runs: list[Run]) -> list[Pairing]:
    """How each run pairs with the first (the first with itself)."""
    tables = [table_of_run(r) for r in runs]
    return [pairing(runs[0].summary, tables[0], r.summary, t) for r, t in zip(runs, tables)]


def significant(row: Row, i: int) -> bool:
    """Whether run ``i`` differs significantly from the reference on ``row`` (paired or not)."""
    d = row.diffs[i] if i < len(row.diffs) else None
    return bool(d is not None and d.significant)


def to_json(runs: list[Run], rows: list[Row]) -> dict:
    """The comparison as data (``hivesim compare --json``): the runs, then one entry per row."""
    return {"runs": [{"label": run_label(r, i + 1), "path": str(r.path) if r.path else None}
                     for i, r in enumerate(runs)],
            "rows": [{"key": row.key, "label": row.label, "values": row.values,
                      "ci95": [list(c) if c else None for c in row.cis], "deltas": row.deltas,
                      "ci_overlap": row.overlap, "differences": [d.to_dict() if d else None for d in row.diffs],
                      "text": [cell(row, i) for i in range(len(runs))]}
                     for row in rows]}


def cell(row: Row, i: int) -> str:
    """Run ``i``'s cell of ``row``: the value, its 95 % CI, the delta against the first run."""
    v = row.values[i]
    s = format_value(row.key, v)
    if row.cis[i]:
        s += f" {format_value(row.key, list(row.cis[i]))}"
    if i > 0 and row.deltas[i] is not None:
        s += f" (Δ {format_delta(row.key, row.deltas[i])}"
        d: Difference | None = row.diffs[i] if i < len(row.diffs) else None
        if d is not None and d.paired and d.lo is not None:
            s += (f", paired (n={d.n}) 95% CI [{format_delta(row.key, d.lo)}, {format_delta(row.key, d.hi)}]"
                  f", {'significant' if d.significant else 'not significant'}")
        elif row.overlap[i] is not None:
            s += ", unpaired: CIs overlap" if row.overlap[i] else ", unpaired: CIs disjoint"
        s += ")"
    return s


def to_markdown(runs: list[Run], rows: list[Row]) -> str:
    labels = [run_label(r, i + 1) for i, r in enumerate(runs)]
    lines = ["### hivesim compare", "", f"Reference: {labels[0]}. Δ = run - reference; 95% CIs in brackets; "
             "'paired (n=..)': per-replication differences on common random numbers, significant when their 95% "
             "interval excludes 0; 'unpaired: CIs disjoint' means significant at that level.", "",
             "| metric | " + " | ".join(l.replace("|", "\\|") for l in labels) + " |",
             "|---|" + "---|" * len(runs)]
    for row in rows:
        lines.append(f"| {row.label} (`{row.key}`) | " + " | ".join(cell(row, i).replace("|", "\\|")
                                                                  for i in range(len(runs))) + " |")
    return "\n".join(lines) + "\n"


def to_html(runs: list[Run], rows: list[Row], plots: list[tuple[str, str, bytes]]) -> str:
    from sim.report.html import CSS
    labels = [run_label(r, i + 1) for i, r in enumerate(runs)]
    head = "".join(f"<th>{html.escape(l)}</th>" for l in labels)
    body = ""
    for row in rows:
        cells = ""
        for i in range(len(runs)):
            cls = ""
            if i > 0 and significant(row, i):
                cls = " style='background:#fdecea'"
            cells += f"<td class=n{cls}>{html.escape(cell(row, i))}</td>"
        body += f"<tr><th>{html.escape(row.label)}<br><code>{html.escape(row.key)}</code></th>{cells}</tr>"
    from sim.report.figures import img_size
    figs = "".join(f"<figure><img {img_size(png)} alt='{html.escape(t)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
                   f"<figcaption>{html.escape(t)}</figcaption></figure>" for _, t, png in plots)
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>hivesim compare</title><style>{CSS}</style>"
            f"</head><body><h1>hivesim compare</h1><p>Reference: {html.escape(labels[0])}. Δ = run - reference; 95% "
            "CIs in brackets; shaded cells: significant difference from the reference (paired: the interval of the "
            "per-replication differences excludes 0; unpaired: the CIs are disjoint).</p>"
            f"<table><tr><th>metric</th>{head}</tr>{body}</table><h2>Overlays</h2>{figs}</body></html>\n")


# --------------------------------------------------------------------------- overlays
def overlay_downtime(runs: list[Run]):
    """All runs' downtime-per-year CDFs on one axis (with each run's SLO budget when they differ)."""
    import numpy as np
    from matplotlib.figure import Figure

    from sim.report.plots import Skip, cdf_scale, downtime_cdf_axes, ecdf_xy, replication_downtimes
    fig = Figure(figsize=(9.5, 5.2), layout="constrained")
    ax = fig.subplots()
    budgets: dict = {}
    series = []
    for i, r in enumerate(runs):
        try:
            d, src = replication_downtimes(r)
        except Skip:
            continue
        if len(d) >= 2:
            series.append((i, r, d, src))
    if not series:
        return None
    log, floor = cdf_scale(np.concatenate([d for _, _, d, _ in series]))
    for i, r, d, src in series:
        tag = "" if src == "replications.csv" else " (time-weighted, from events.csv)"
        ax.step(*ecdf_xy(d, floor), where="post", lw=1.6,
                label=f"{run_label(r, i + 1)}: n={len(d)}, mean {np.mean(d):.3g} min/yr{tag}")
        slo = r.slo_availability()
        if slo:
            budgets.setdefault(round(downtime_budget_minutes(slo), 6), []).append(i + 1)
    for b, who in budgets.items():
        ax.axvline(b, color="#d62728", ls="--", lw=1.2,
                   label=f"SLO budget {b:.3g} min/yr" + ("" if len(budgets) == 1 else f" (runs {who})"))
    downtime_cdf_axes(ax, log, floor, "request-weighted")
    ax.set_title("Annual downtime across replications, all runs")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return fig


def overlay_cost_nines(runs: list[Run]):
    """Cost per account vs nines with CI bars, one point per run (nines per run without cost)."""
    from matplotlib.figure import Figure

    from sim.report.plots import nines_of
    fig = Figure(figsize=(9.5, 5.2), layout="constrained")
    ax = fig.subplots()
    has_cost = any(isinstance(_val(r, "cost.per_account_per_year"), (int, float)) for r in runs)
    pts = []
    for i, r in enumerate(runs):
        mean = _val(r, "availability.request.mean")
        if not isinstance(mean, (int, float)):
            continue
        ci = ci_of(r.summary, "availability.request.mean")
        x = _val(r, "cost.per_account_per_year") if has_cost else i + 1
        if not isinstance(x, (int, float)):
            continue
        pts.append((x, nines_of(mean), nines_of(ci[0]) if ci else None, nines_of(ci[1]) if ci else None,
                    run_label(r, i + 1)))
    if not pts:
        return None
    left_out = [f"#{i + 1}" for i, r in enumerate(runs) if has_cost
                and not isinstance(_val(r, "cost.per_account_per_year"), (int, float))]
    finite = [p[1] for p in pts] + [p[3] for p in pts if p[3] is not None and p[3] < 12]
    cap = min(12.0, max(finite) + 1.0)
    # runs of equal cost (two seeds of one design) would hide each other: spread them a few points
    # sideways on screen (not in data, so the cost axis stays true) and number every point
    from matplotlib.transforms import ScaledTranslation
    same: dict = {}
    for j, p in enumerate(pts):
        same.setdefault(round(p[0], 9), []).append(j)
    dodged = has_cost and any(len(g) > 1 for g in same.values())
    shift = {j: (k - (len(g) - 1) / 2) * 10 / 72 for g in same.values() for k, j in enumerate(g)} if has_cost \
        else {}
    for j, (x, m, lo, hi, lab) in enumerate(pts):
        lo = m if lo is None else lo
        hi = m if hi is None else min(hi, cap)
        moved = ax.transData + ScaledTranslation(shift.get(j, 0.0), 0, fig.dpi_scale_trans)
        ax.errorbar([x], [m], yerr=[[max(m - lo, 0)], [max(hi - m, 0)]], fmt="o", capsize=4, ms=7, transform=moved,
                    label=f"{lab}: {m:.2f} nines (of the mean), bar = 95% CI")
        ax.annotate(lab.split(" ")[0], (x, m), xycoords=moved, textcoords="offset points", xytext=(6, 4), fontsize=7)
        ax.update_datalim([(x, lo), (x, hi)])  # a shifted artist is not autoscaled: its true place is
    ax.autoscale_view()
    if has_cost:
        cur = next((_val(r, "cost.currency") for r in runs if _val(r, "cost.currency")), "currency units")
        ax.set_xlabel(f"IT cost per account per year ({cur})"
                      + ("; runs of equal cost drawn a few points apart" if dodged else ""))
        ax.margins(x=0.1)
        ax.set_title("Cost per account vs availability, all runs"
                     + (f"\n(runs without cost figures, not shown: {', '.join(left_out)})" if left_out else ""))
    else:
        ax.set_xticks([p[0] for p in pts])
        ax.set_xticklabels([f"#{int(p[0])}" for p in pts])
        ax.set_xlabel("run (no cost.* figures in these runs, so nines per run instead of cost vs nines)")
        ax.set_title("Availability per run (no cost figures)")
        ax.set_xlim(0.5, len(runs) + 0.5)
    ax.set_ylabel("availability, nines = -log10(1 - A), request-weighted")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return fig


def write_compare(out, runs: list[Run], rows: list[Row]) -> Path:
    """Write compare.md, compare.html and the overlay plots into a new directory ``out``."""
    from sim.report.figures import save_figure
    plots = []
    with atomic_dir(out) as tmp:
        for stem, title, fn in (("downtime_cdf", "Downtime per year across replications, all runs", overlay_downtime),
                                ("cost_vs_nines", "Cost per account vs nines with 95% CIs", overlay_cost_nines)):
            fig = fn(runs)
            if fig is None:
                continue
            plots.append((stem, title, save_figure(fig, tmp / stem)))
        (tmp / "compare.md").write_text(to_markdown(runs, rows), encoding="utf-8")
        (tmp / "compare.html").write_text(to_html(runs, rows, plots), encoding="utf-8")
    return Path(out)

