"""The summary table printed at the end of ``hivesim run`` (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

__all__ = ["print_summary", "fmt_avail", "fmt_ci", "wide_console"]


def wide_console(**kw) -> Console:
    """A rich Console; when output is not a terminal (CI logs, pipes) use 160 columns, not 80,
    so verdict tables keep their detail column readable."""
    con = Console(**kw)
    if not con.is_terminal:
        con = Console(width=160, **kw)
    return con


def fmt_avail(a) -> str:
    return "n/a" if a is None else f"{a * 100:.5f}%"


def fmt_ci(ci, pct=True) -> str:
    if not ci:
        return "n/a"
    if pct:
        return f"[{ci[0] * 100:.5f}%, {ci[1] * 100:.5f}%]"
    return f"[{ci[0]:.3g}, {ci[1]:.3g}]"


def _n(x, fmt="{:.2f}"):
    return "n/a" if x is None else fmt.format(x)


def print_summary(summary: dict, out=None, console: Console | None = None) -> None:
    import sys
    con = console or Console(width=None if sys.stdout.isatty() else 120)
    run = summary.get("run", {})
    t = Table(title=f"hivesim: {summary.get('scenario', {}).get('name', '?')}  "
                    f"({run.get('replications')} replications x {run.get('horizon_days', 0):.0f} days, "
                    f"seed {run.get('seed')})", show_lines=False)
    t.add_column("figure")
    t.add_column("mean", justify="right")
    t.add_column("95 % CI", justify="right")
    t.add_column("nines (pessimistic)", justify="right")
    av = summary.get("availability", {})
    for key, label in (("request", "availability, request-weighted"), ("time", "availability, time-based"),
                       ("request_slo", "availability within latency SLO")):
        b = av.get(key)
        if b:
            t.add_row(label, fmt_avail(b["mean"]), fmt_ci(b.get("ci95")), _n(b.get("nines")))
    req = av.get("request", {})
    if "worst_day" in req:
        t.add_row("worst day / worst 30 days (mean over reps)", fmt_avail(req["worst_day"]["mean"]),
                  fmt_avail(req["worst_30d"]["mean"]), "")
    dm = summary.get("downtime_minutes_per_year", {})
    if dm:
        t.add_row("downtime, minutes/year", _n(dm.get("mean")), fmt_ci(dm.get("ci95"), pct=False), "")
    o = summary.get("outages", {})
    if o:
        t.add_row("outage episodes (all reps) / per year", str(o.get("count")), _n(o.get("per_year")), "")
    th = summary.get("throughput")
    if th:
        t.add_row("peak demand / capacity (tx/s)", _n(th.get("peak_tps_demand"), "{:,.0f}"),
                  _n(th.get("capacity_tps"), "{:,.0f}"), "")
        t.add_row("capacity with one IDC lost (tx/s)", _n(th.get("capacity_tps_n_minus_1_idc"), "{:,.0f}"), "", "")
        t.add_row("peak daily transactions (all up / N-1 IDC)", _n(th.get("peak_daily_transactions"), "{:,.3g}"),
                  _n(th.get("peak_daily_transactions_n_minus_1_idc"), "{:,.3g}"), "")
    lat = summary.get("latency_ms")
    if lat:
        t.add_row("latency p50 / p99 (ms)", _n(lat.get("p50")), _n(lat.get("p99")), "")
    cost = summary.get("cost")
    if cost:
        t.add_row(f"IT cost per account per year ({cost.get('currency', '')})",
                  _n(cost.get("per_account_per_year")), "", "")
        t.add_row(f"IT cost per year ({cost.get('currency', '')})", _n(cost.get("total_per_year"), "{:,.3g}"), "", "")
    con.print(t)
    causes = o.get("by_cause", {}) if o else {}
    if causes:
        ct = Table(title="downtime by cause (request-weighted)")
        ct.add_column("cause")
        ct.add_column("episodes", justify="right")
        ct.add_column("minutes/year", justify="right")
        ct.add_column("share", justify="right")
        for c, v in list(causes.items())[:10]:
            ct.add_row(c, str(v["count"]), f"{v['downtime_minutes_per_year']:.3f}", f"{v['share'] * 100:.1f}%")
        con.print(ct)
    for key in ("request",):
        note = av.get(key, {}).get("note")
        if note:
            con.print(f"[yellow]note:[/] {note}")
    con.print(f"wall time {run.get('wall_seconds', 0):.1f} s on {run.get('workers')} worker(s)"
              + (f"; results in [bold]{out}[/]" if out else ""))
