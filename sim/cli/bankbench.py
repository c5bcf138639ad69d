"""``hivesim bench --bank``: the live bank's own overhead, an optional figure of ``hivesim bench``.

The service tier (gateway -> app server -> primary) against raw psycopg transfers on the same
cell, in alternating rounds of one run: ``benchmarks/bench_bank.py`` (``measure``) brings a live
cluster up and down for it, without the chaos harness's fault proxies (no fault is injected;
the bank as ``hivesim live`` deploys it: ``python benchmarks/bench_bank.py --fault-proxy``).
Without the live stack (etcd, Patroni, PostgreSQL) the figure is reported as skipped, with the
reason; ``--check`` does not count a skipped figure.
"""

from __future__ import annotations

import importlib

__all__ = ["add_arguments", "bank_figure", "bank_table"]

# full: 4 alternating rounds of 10 s each way (~2 min with bring-up): an even count, so each path
# goes first equally often, and t(3) = 3.18 instead of t(2) = 4.30 makes the verdict's interval
# ~1.6x narrower than 3 rounds'; --quick: 1 round of 2 s (no verdict)
FULL = (10.0, 4)
QUICK = (2.0, 1)


def add_arguments(p) -> None:
    p.add_argument("--bank", action="store_true",
                   help="also measure the live bank's overhead, service vs raw psycopg (brings a cluster up, "
                        "~2 min; skipped, with the reason, without etcd/Patroni/PostgreSQL)")
    p.add_argument("--bank-cluster-dir", metavar="DIR", default="/tmp/hivesim-bench-bank",
                   help="where --bank's cluster lives while it runs (default /tmp/hivesim-bench-bank)")


def bank_figure(args, progress=None) -> dict | None:
    """None without ``--bank``; else the figure: ``value`` (service / raw transfers per second),
    ``target``, ``pass`` (true only when the rounds' interval is all at or above the target:
    ``verdict``), the p50/p99 of both and the machine's load, or ``skipped`` (the reason)."""
    if not getattr(args, "bank", False):
        return None
    # importable: cmd_bench has loaded the suite (benchmarks/ of the source tree) already
    mod = importlib.import_module("benchmarks.bench_bank")
    base = {"what": "live bank: service tier (gateway + app server + pool) / raw psycopg, transfers/s",
            "op": ">=", "target": mod.TARGET_RATIO, "quick": bool(args.quick)}
    reason = mod.skip_reason()
    if reason:
        return {**base, "value": None, "pass": None, "skipped": reason}
    seconds, rounds = QUICK if args.quick else FULL
    r = mod.measure(seconds=seconds, rounds=rounds, cluster_dir=args.bank_cluster_dir, progress=progress)
    return {**base, "value": r["ratio"], "pass": r["pass"], **{k: v for k, v in r.items() if k != "pass"}}


def bank_table(fig: dict):
    """The figure as a rich Table (one row, the p50/p99 of both paths as its basis)."""
    from rich.table import Table
    t = Table(title="hivesim bench --bank" + (" --quick (short rounds: not a verdict)" if fig["quick"] else ""))
    for col in ("figure", "value", "target", "pass", "basis"):
        t.add_column(col, overflow="fold")
    if fig.get("skipped"):
        t.add_row("bank", "-", f">= {fig['target']}", "[yellow]skipped[/yellow]", fig["skipped"])
        return t
    m = fig["machine"]
    # results without the key are from before the option: they always had the proxies
    proxied = fig.get("fault_proxy", True)
    basis = (f"raw {fig['raw_tps']:,.0f}/s p50 {fig['raw_p50_ms']:.1f} p99 {fig['raw_p99_ms']:.1f} ms; service "
             f"{fig['service_tps']:,.0f}/s p50 {fig['service_p50_ms']:.1f} p99 {fig['service_p99_ms']:.1f} ms; "
             f"{fig['rounds']} x {fig['seconds']:g} s each way, {fig['concurrency']} clients, "
             f"{'through' if proxied else 'no'} fault proxy; load "
             f"{m['loadavg_before'][0]:.1f} -> {m['loadavg_after'][0]:.1f} on {m['cpus']} cores")
    rc, sc = fig.get("raw_cpu_ms_per_transfer"), fig.get("service_cpu_ms_per_transfer")
    if rc and sc:  # where the time goes: CPU per transfer, by part of the service path
        # the proxies' part only where they ran
        parts = ", ".join(f"{k} {sc[k]:.2f}" for k in ("client", "gateway", "app", "proxy", "database")
                          if k in sc and (proxied or k != "proxy"))
        basis += f"; CPU ms/transfer raw {rc['total']:.2f}, service {sc['total']:.2f} ({parts})"
    ok = _verdict_cell(fig)
    if fig.get("ratio_rounds"):
        ci = fig.get("ratio_ci95")
        basis += ("; rounds " + ", ".join(f"{x:.3f}" for x in fig["ratio_rounds"])
                  + (f", 95 % CI of their mean [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""))
    t.add_row("bank", f"{fig['value']:.3g}" if fig["value"] is not None else "-", f">= {fig['target']}", ok, basis)
    return t


def _verdict_cell(fig: dict) -> str:
    """The pass column: the rounds' verdict (``benchmarks.bench_bank.verdict``); a result from
    before it (no ``verdict`` key) says what its point estimate said, as it did then."""
    said = fig.get("verdict")
    if said is None:
        return "[green]yes[/green]" if fig["pass"] else "[red]no[/red]"
    return {"met": "[green]yes[/green]", "not met": "[red]no[/red]"}.get(said, f"[yellow]{said}[/yellow]")
