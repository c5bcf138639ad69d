"""The self-contained ``report.html`` of one run: key figures, tables and the plots embedded as PNG.

Plain HTML with inline CSS and ``data:`` image URIs, so the file can be mailed or archived as CI
artefact alone. Everything interpolated is escaped (scenario names and causes are user text).
"""

from __future__ import annotations

import base64
import html
import math

from sim.results.reader import Run
from sim.results.schema import format_value, keys_for, label_of, pct

__all__ = ["render", "num", "CSS", "MAX_VIOLATIONS_SHOWN"]

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1150px;color:#222;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em} th,td{border:1px solid #ddd;padding:.3em .6em;text-align:left}
th{background:#f4f4f4} td.n{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#1a7f37;font-weight:600} .fail{color:#c62828;font-weight:600} .muted{color:#777}
.verdict{padding:.7em 1em;border-radius:4px;font-weight:600;margin:1em 0}
.verdict.ok{background:#e6f4ea;color:#1a7f37} .verdict.bad{background:#fdecea;color:#c62828}
figure{margin:1.2em 0} figure img{max-width:100%;border:1px solid #eee} figcaption{color:#555;font-size:.9em}
"""


def num(v, digits: int = 4) -> str:
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)):
        return html.escape(str(v)) if v is not None else "-"
    if math.isinf(v):
        return "&infin;"
    if float(v).is_integer() and abs(v) < 1e15:
        return f"{int(v):,}"
    return f"{v:,.{digits}g}" if abs(v) >= 1e-3 else f"{v:.{digits}g}"


def _ci(v) -> str:
    if isinstance(v, list) and len(v) == 2:
        return f"[{num(v[0])}, {num(v[1])}]"
    return "-"


def _rows(rows) -> str:
    return "".join(f"<tr><th>{html.escape(k)}</th><td class=n>{v}</td></tr>" for k, v in rows if v not in (None, "-"))


MAX_VIOLATIONS_SHOWN = 50  # a report lists this many checker violations, then counts the rest


def _figures(run: Run) -> str:
    g = run.get
    out = []
    live = run.kind == "live"
    for kind, label in (("request", "request-weighted"), ("time", "time-based"),
                        ("request_slo", "request-weighted incl. slow requests")):
        b = g(f"availability.{kind}")
        if not isinstance(b, dict):
            continue
        ci = b.get("ci95") if isinstance(b.get("ci95"), list) else None
        nci = b.get("nines_ci95") if isinstance(b.get("nines_ci95"), list) else None
        out += [(f"availability, {label}", f"{pct(b.get('mean'))} (95% CI {pct(ci[0]) if ci else '-'} - "
                                           f"{pct(ci[1]) if ci else '-'})"),
                (f"nines, {label} (pessimistic end)",
                 f"{num(b.get('nines'), 3)}" + (f" (CI {num(nci[0], 3)} - {num(nci[1], 3)})" if nci else "")),
                (f"failed per million, {label}", num(b.get("failed_per_million")))]
        if live:  # a live run lasts minutes: its worst day or month would be an extrapolation
            continue
        out += [(f"worst day, {label}: mean / min", f"{pct((b.get('worst_day') or {}).get('mean'))} / "
                                                     f"{pct((b.get('worst_day') or {}).get('min'))}"
                 if isinstance(b.get("worst_day"), dict) else "-"),
                (f"worst 30 days, {label}: mean / min", f"{pct((b.get('worst_30d') or {}).get('mean'))} / "
                                                        f"{pct((b.get('worst_30d') or {}).get('min'))}"
                 if isinstance(b.get("worst_30d"), dict) else "-")]
    out += [("downtime, minutes per year (request-weighted)",
             f"{num(g('downtime_minutes_per_year.mean'))} (95% CI {_ci(g('downtime_minutes_per_year.ci95'))})"
             if g("downtime_minutes_per_year.mean") is not None and not live else "-"),
            ("SLO availability", f"{100 * run.slo_availability():g}%" if run.slo_availability() else "-"),
            ("outages (episodes with an effect, all replications)", num(g("outages.count"))),
            ("outages per year", "-" if live else num(g("outages.per_year"))),
            ("estimator", html.escape(str(g("estimator.method") or "-")))]
    for k in keys_for("report"):  # capacity and cost rows: the registry's report view and labels
        if g(k) is not None:
            cur = f", {g('cost.currency')}" if k.startswith("cost.") and g("cost.currency") else ""
            value = html.escape(format_value(k, g(k))) if k == "cost.per_extra_nine" else num(g(k))
            out.append((label_of(k) + cur, value))
    note = (f"<p class=muted>A live run of {num(run.duration)} s: per-year figures (downtime and outages per "
            "year, worst day, worst 30 days) are not extrapolated from it.</p>") if live else ""
    return f"<table>{_rows(out)}</table>{note}"


def _by_cause(run: Run) -> str:
    bc = run.get("outages.by_cause")
    if not isinstance(bc, dict) or not bc:
        return ""
    rows = sorted(bc.items(), key=lambda kv: -(kv[1].get("downtime_minutes_per_year") or 0)
                  if isinstance(kv[1], dict) else 0)
    body = "".join(f"<tr><td>{html.escape(str(c))}</td><td class=n>{num(v.get('count'))}</td>"
                   f"<td class=n>{num(v.get('downtime_minutes_per_year'))}</td><td class=n>{pct(v.get('share'), 1)}</td></tr>"
                   for c, v in rows if isinstance(v, dict))
    return ("<h2>Outages by cause</h2><table><tr><th>cause</th><th>episodes</th><th>downtime min/yr</th>"
            f"<th>share</th></tr>{body}</table>")


def _gates(run: Run) -> str:
    """Gates recorded at run time, else the scenario's gates evaluated on this summary."""
    gates = run.get("gates")
    title = "Gates applied at run time"
    if not isinstance(gates, list) or not gates:
        from sim.errors import HivesimError
        from sim.readers.gate import check_run
        try:
            gates = [r.to_dict() for r in check_run(run.path, use_scenario=True)] if run.path else []
        except HivesimError as exc:  # a bad gate must not cost the whole report
            return f"<h2>Scenario gates</h2><p class=fail>cannot evaluate: {html.escape(str(exc))}</p>"
        title = "Scenario gates (evaluated on this run; <code>hivesim gate</code> gives the exit code)"
    if not gates:
        return ""
    body = ""
    for g in gates:
        if not isinstance(g, dict):
            continue
        ok = g.get("passed")
        body += (f"<tr><td class={'pass' if ok else 'fail'}>{'PASS' if ok else 'FAIL'}</td>"
                 f"<td><code>{html.escape(str(g.get('name', g.get('metric', ''))))}</code></td>"
                 f"<td class=n>{num(g.get('value'), 8)}</td><td>{html.escape(str(g.get('detail', '')))}</td></tr>")
    return f"<h2>{title}</h2><table><tr><th></th><th>gate</th><th>value</th><th>detail</th></tr>{body}</table>"


def _live(run: Run) -> str:
    if run.kind != "live":
        return ""
    parts = []
    ch = run.get("checker")
    if isinstance(ch, dict):
        parts.append("<h2>Checker</h2><table>" + _rows((k, num(v)) for k, v in ch.items()
                                                       if not isinstance(v, (dict, list))) + "</table>")
        parts.append(_violations(ch.get("violations")))
    faults = run.get("faults")
    if isinstance(faults, list) and faults:
        body = "".join(f"<tr><td>{html.escape(str(f.get('kind')))}</td><td>{html.escape(str(f.get('target')))}</td>"
                       f"<td class=n>{num(f.get('start'))}</td><td class=n>{num(f.get('end'))}</td>"
                       f"<td class=n>{num(f.get('recovery_seconds'))}</td><td class=n>{num(f.get('failed_requests'))}</td></tr>"
                       for f in faults if isinstance(f, dict))
        parts.append("<h2>Injected faults</h2><table><tr><th>kind</th><th>target</th><th>start s</th><th>end s</th>"
                     f"<th>recovery s</th><th>failed requests</th></tr>{body}</table>")
    return "".join(parts)


def _verdict(run: Run) -> str:
    """A live run's banner: did the bank keep its promises (the checker's verdict)?"""
    ch = run.get("checker")
    if run.kind != "live" or not isinstance(ch, dict):
        return ""
    counts = (f"{num(ch.get('acknowledged'))} acknowledged transfers, {num(ch.get('lost'))} lost, "
              f"{num(ch.get('duplicated'))} duplicated")
    if ch.get("valid") is True:
        return f"<div class='verdict ok'>Checker: VALID. {counts}; money conserved, replicas converged.</div>"
    n = ch.get("violation_count", len(ch.get("violations") or []))
    return f"<div class='verdict bad'>Checker: INVALID ({num(n)} violations). {counts}.</div>"


def _violations(violations) -> str:
    if not isinstance(violations, list) or not violations:
        return ""
    shown = [v for v in violations if isinstance(v, dict)][:MAX_VIOLATIONS_SHOWN]
    body = "".join(f"<tr><td>{html.escape(str(v.get('kind', '')))}</td><td><code>{html.escape(str(v.get('key') or ''))}"
                   f"</code></td><td>{html.escape(str(v.get('message', '')))}</td></tr>" for v in shown)
    more = len(violations) - len(shown)
    tail = f"<p class=muted>and {more} more (summary.json checker.violations)</p>" if more > 0 else ""
    return f"<h3>Violations</h3><table><tr><th>kind</th><th>key</th><th>what</th></tr>{body}</table>{tail}"


def render(run: Run, plots: list[tuple[str, str, str, bytes]], skipped: list[tuple[str, str]]) -> str:
    """The page: ``plots`` = (stem, title, description, png bytes); ``skipped`` = (title, reason)."""
    g = run.get
    title = f"hivesim report: {run.name} / {g('run.run_id') or ''}"
    meta = [("kind", html.escape(run.kind)), ("status", html.escape(str(g("run.status") or "-"))),
            ("error", html.escape(str(g("run.error")))) if g("run.error") else ("error", None),
            ("replications", num(g("run.replications"))), ("horizon, days", num(g("run.horizon_days"))),
            ("warm-up, days", num(g("run.warmup_days"))), ("seed", html.escape(str(g("run.seed") or "-"))),
            ("mode", html.escape(str(g("run.mode") or "-"))), ("wall time, s", num(g("run.wall_seconds"))),
            ("workers", num(g("run.workers"))), ("scenario file", html.escape(str(g("run.scenario_file") or "-"))),
            ("scenario sha256", f"<code>{html.escape(str(g('run.scenario_sha256') or '-'))[:16]}</code>"),
            ("started (UTC)", html.escape(str(g("run.started_utc") or "-"))),
            ("hivesim", html.escape(str(g("run.hivesim_version") or "-")))]
    figs = "".join(
        f"<figure id='{stem}'><img alt='{html.escape(t)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
        f"<figcaption><b>{html.escape(t)}.</b> {html.escape(d)} "
        f"<span class=muted>(plots/{stem}.png, plots/{stem}.svg)</span></figcaption></figure>"
        for stem, t, d, png in plots)
    skip = ("<h2>Plots not drawn</h2><ul>" + "".join(f"<li>{html.escape(t)}: {html.escape(r)}</li>" for t, r in skipped)
            + "</ul>") if skipped else ""
    desc = run.scenario_document().get("description") or ""
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p class=muted>{html.escape(str(desc))}</p>"
            f"{_verdict(run)}<h2>Key figures</h2>{_figures(run)}{_gates(run)}{_by_cause(run)}{_live(run)}"
            f"<h2>Plots</h2>{figs}{skip}<h2>Run</h2><table>{_rows(meta)}</table>"
            "<p class=muted>Nines are taken from the pessimistic end of the 95% interval; "
            "see docs/results-contract.md for every figure's definition.</p></body></html>\n")
