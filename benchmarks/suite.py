"""Run the figures (P1-P4, P6, P7) and render them: ``run(quick, runs, only)`` -> dict; ``table(results)`` -> rich Table."""

from __future__ import annotations

import importlib
import inspect
import time

__all__ = ["FIGURES", "run", "table"]

FIGURES = {
    "P1": ("benchmarks.p1_request", "request engine vs idiomatic SimPy M/M/c (c=8, rho=0.8), customers/s"),
    "P2": ("benchmarks.p2_fluid", "1 simulated year of webank-2023 (fluid) / 1 M bare SimPy timeouts, wall"),
    "P3": ("benchmarks.p3_rare", "quorum loss: naive MC years / importance-sampling years for +-10 % (min over cases)"),
    "P4": ("benchmarks.p4_scaling", "time (CPU) of a year when the bank doubles to 1,000 cells; peak RSS <= 1 GiB"),
    "P6": ("benchmarks.p6_run", "default `hivesim run` of webank-2023 (+ cost variant, report) / 1 M bare SimPy timeouts, wall"),
    "P7": ("benchmarks.p7_sweep", "32-variant sweep of webank-2023 at 200 replications, wall s on this machine"),
}


def run(quick: bool = False, runs: int = 3, only=None, progress=None, full: bool = False) -> dict:
    """``full``: figures that can be estimated from a subset (P7) run in full instead."""
    out = {}
    for key, (mod, what) in FIGURES.items():
        if only and key not in only:
            continue
        if progress:
            progress(f"{key}: {what} ...")
        t = time.perf_counter()
        try:
            fn = importlib.import_module(mod).run
            opts = {"full": full} if "full" in inspect.signature(fn).parameters else {}
            res = fn(quick=quick, runs=runs, **opts)
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
    if key == "P6":
        return (f"run {r['run_wall_s']:.1f} s ({r['replications']} + {r['variant_replications']} replications, "
                f"{r['workers']} workers; simulation {r['simulate_wall_s']:.1f} s), "
                f"1 M SimPy timeouts {r['bare_simpy_1m_wall_s']:.2f} s")
    if key == "P7":
        return (f"{r['basis']} ({r['variants_run']} of {r['variants']} run in {r['measured_wall_s']:.0f} s), "
                f"{r['cores']} cores")
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
