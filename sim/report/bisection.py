"""The what-if plot: the target's figure at each value bisection tried, the threshold and the last bracket.

Reads only the what-if answer (``sim.readers.whatif.Bisection``). Points are coloured by whether
the target held there; the bracket (the value that meets the target and the one that does not) is
shaded. The x axis is logarithmic when the values tried span a decade or more.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from sim.report.plots import nines_of  # noqa: F401  (also selects the Agg backend)
from sim.results.lookup import finite_number
from sim.results.schema import spec_of

__all__ = ["bisection_figure"]


def bisection_figure(ans, target, title: str):
    """The target's figure vs the input, one point per simulation, in run order (numbered)."""
    fig = Figure(figsize=(9, 5.2), layout="constrained")
    ax = fig.subplots()
    pct = (spec := spec_of(target.key)) is not None and spec.format == "pct"
    scale = 100.0 if pct else 1.0
    pts = [(s["value"], finite_number(s["target_value"]), s["met"]) for s in ans.steps]
    for i, (x, y, met) in enumerate(pts):
        if y is None:
            continue
        ax.plot(x, y * scale, "o", ms=8, color="#2ca02c" if met else "#d62728",
                label=None if i else "a simulation (green: target met, red: not)")
        ax.annotate(str(i), (x, y * scale), textcoords="offset points", xytext=(5, 4), fontsize=7)
    ax.axhline(target.gate.value * scale, color="black", ls="--", lw=1, label=f"target: {target.text}")
    if ans.meets is not None and ans.fails is not None:
        ax.axvspan(min(ans.meets, ans.fails), max(ans.meets, ans.fails), color="#ffbf00", alpha=0.25,
                   label="last bracket")
    xs = [x for x, y, _ in pts if y is not None and x > 0]
    if len(xs) >= 2 and len(xs) == len([p for p in pts if p[1] is not None]) and max(xs) / min(xs) >= 10:
        ax.set_xscale("log")
    ax.set_xlabel(f"{ans.key} (base units)")
    ax.set_ylabel(f"{target.key}" + (" (%)" if pct else ""))
    ax.ticklabel_format(axis="y", useOffset=False, style="plain")  # 99.999, not 1e-5 offsets
    import textwrap
    ax.set_title(f"What-if on {title}: {ans.outcome}\n" + textwrap.fill(ans.text, 120), fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return fig
