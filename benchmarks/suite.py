"""Run P1-P4 and render them: ``run(quick, runs, only)`` -> dict; ``table(results)`` -> rich Table."""

from __future__ import annotations

import importlib
import time

__all__ = ["FIGURES", "run", "table"]

FIGURES = {
    "P1": ("benchmarks.p1_request", "request engine vs idiomatic SimPy M/M/c (c=8, rho=0.8), customers/s"),
    "P2": ("benchmarks.p2_fluid", "1 simulated year of webank-2023 (fluid) / 1 M bare SimPy timeouts, wall"),
    "P3": ("benchmarks.p3_rare", "quorum loss: naive MC years / importance-sampling years for +-10 % (min over cases)"),
    "P4": ("benchmarks.p4_scaling", "time (CPU) of a year when the bank doubles to 1,000 cells; peak RSS <= 1 GiB"),
}


def run(quick: bool = False, runs: int = 3, only=None, progress=None) -> dict:
    out = {}
    for key, (mod, what) in FIGURES.items():
        if only and key not in only:
            continue
        if progress:
            progress(f"{key}: {what} ...")
        t = time.perf_counter()
        try:
            res = importlib.import_module(mod).run(quick=quick, runs=runs)
        except Exception as exc:  # one broken figure must not hide the others
            res = {"value": None, "pass": False, "error": f"{type(exc).__name__}: {exc}"}
        res["what"] = what
        res["bench_wall_s"] = time.perf_counter() - t
        res["quick"] = quick
        out[key] = res
    return out


def _fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1e4 else f"{v:.3e}"
    return str(v)


def _limit(key, r):
    """One line saying what the figure rests on (the detail is in the JSON)."""
    if r.get("error"):
        return r["error"][:90]
    if key == "P1":
        m, lo, hi = r["engine_wait_pooled_ci95"]
        return (f"SimPy {r['simpy_customers_per_s']:,.0f}/s vs engine {r['engine_customers_per_s']:,.0f}/s; "
                f"mean wait {m:.4f} [{lo:.4f}, {hi:.4f}] vs Erlang C {r['erlang_c_wait']:.4f}")
    if key == "P2":
        return f"fluid year {r['fluid_year_wall_s']:.2f} s, 1 M SimPy timeouts {r['bare_simpy_1m_wall_s']:.2f} s"
    if key == "P3":
        worst = min(r["cases"], key=lambda c: c["ratio"])
        return f"min at {worst['case']}; worst |z| vs exact {r['worst_abs_z']:.2f}"
    if key == "P4":
        s = r["sizes"]
        return ("CPU " + "; ".join(f"{x['cells']}: {x['cpu_s']:.1f} s {x['peak_rss_mib']:.0f} MiB" for x in s)
                + f"; wall ratio {r['wall_ratio']:.2f}")
    return ""


def table(results: dict):
    from rich.table import Table
    quick = any(r.get("quick") for r in results.values())
    t = Table(title="hivesim bench" + (" --quick (reduced sizes: figures are not verdicts)" if quick else ""))
    for col in ("figure", "value", "target", "pass", "basis"):
        t.add_column(col, overflow="fold")
    for key, r in results.items():
        target = f"{r.get('op', '')} {_fmt(r.get('target'))}"
        ok = "[green]yes[/green]" if r.get("pass") else "[red]no[/red]"
        t.add_row(key, _fmt(r.get("value")) + (r.get("unit") or ""), target, ok, _limit(key, r))
    return t
