"""The self-contained ``report.html`` of one run: key figures, tables and the plots embedded as PNG.

Plain HTML with inline CSS and ``data:`` image URIs, so the file can be mailed or archived as CI
artefact alone. Everything interpolated is escaped (scenario names and causes are user text).
"""

from __future__ import annotations

import base64
import html
import math

from sim.metrics.intervals import FEW_EVENTS
from sim.report.figures import img_size
from sim.results.reader import Run
from sim.results.schema import keys_for, label_of

from sim.results.formatting import format_threshold, format_value, pct
__all__ = ["render", "num", "value_html", "gate_results", "CSS", "MAX_VIOLATIONS_SHOWN", "MAX_NESTED_ROWS"]

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1150px;color:#222;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em} th,td{border:1px solid #ddd;padding:.3em .6em;text-align:left}
th{background:#f4f4f4} td.n{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#1a7f37;font-weight:600} .fail{color:#c62828;font-weight:600} .muted{color:#777}
.few{background:#fff4e5;color:#8a4b00;padding:.5em .8em;border-left:4px solid #e69500}
.verdict{padding:.7em 1em;border-radius:4px;font-weight:600;margin:1em 0}
.verdict.ok{background:#e6f4ea;color:#1a7f37} .verdict.bad{background:#fdecea;color:#c62828}
table.nested{margin:0;font-size:1em} table.nested th{font-weight:500} .wide{overflow-x:auto;max-width:100%}
figure{margin:1.2em 0} figure img{max-width:100%;height:auto;border:1px solid #eee} figcaption{color:#555;font-size:.9em}
"""


def num(v) -> str:
    """A count that has no registry key (acknowledged transfers, violations), escaped: whole
    numbers with thousands separators, anything else as ``format_value`` gives it. Every figure
    with a key goes through ``_fv`` (the registry's ``format_value``) instead."""
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and float(v).is_integer():
        return f"{int(v):,}"
    return html.escape(format_value("", v))


def _rows(rows) -> str:
    return "".join(f"<tr><th>{html.escape(k)}</th><td class=n>{v}</td></tr>" for k, v in rows if v not in (None, "-"))


MAX_VIOLATIONS_SHOWN = 50  # a report lists this many checker violations, then counts the rest


def _fv(key: str, v) -> str:
    """One figure as the registry formats it (``sim.results.formatting.format_value``), escaped."""
    return html.escape(format_value(key, v))


def _figures(run: Run) -> str:
    g = run.get
    out = []
    live = run.kind == "live"
    few = []
    for kind, label in (("request", "request-weighted"), ("time", "time-based"),
                        ("request_slo", "request-weighted incl. slow requests")):
        b = g(f"availability.{kind}")
        if not isinstance(b, dict):
            continue
        k = f"availability.{kind}"
        ci = b.get("ci95") if isinstance(b.get("ci95"), list) else None
        nci = b.get("nines_ci95") if isinstance(b.get("nines_ci95"), list) else None
        eps = b.get("episodes")
        if b.get("reliability") == "few-events":
            eff = b.get("episodes_effective")
            few.append((label, eps, eff if isinstance(eff, (int, float)) and isinstance(eps, int) and eff < eps else None))
        out += [(f"availability, {label}", _fv(f"{k}.mean", b.get("mean"))
                 + (f" (95% CI {_fv(f'{k}.ci95', ci)})" if ci else "")),
                (f"nines, {label} (pessimistic end)",
                 _fv(f"{k}.nines", b.get("nines")) + (f" (95% CI {_fv(f'{k}.nines_ci95', nci)})" if nci else "")
                 + (f"; {_fv(f'{k}.episodes', eps)} outage episodes" if isinstance(eps, int) else "")),
                (f"failed per million, {label}", _fv(f"{k}.failed_per_million", b.get("failed_per_million")))]
        if live:  # a live run lasts minutes: its worst day or month would be an extrapolation
            continue
        for w, wl in (("worst_day", "worst day"), ("worst_30d", "worst 30 days")):
            wv = b.get(w)
            out.append((f"{wl}, {label}: mean / min", f"{_fv(f'{k}.{w}.mean', wv.get('mean'))} / "
                                                        f"{_fv(f'{k}.{w}.min', wv.get('min'))}"
                        if isinstance(wv, dict) else "-"))
    dk = "downtime_minutes_per_year"
    out += [("downtime, minutes per year (request-weighted)",
             f"{_fv(dk + '.mean', g(dk + '.mean'))} (95% CI {_fv(dk + '.ci95', g(dk + '.ci95'))})"
             if g(dk + ".mean") is not None and not live else "-"),
            ("SLO availability", html.escape(format_threshold("availability.request.mean", run.slo_availability()))
             if run.slo_availability() else "-"),
            ("outages (episodes with an effect, all replications)", _fv("outages.count", g("outages.count"))),
            ("outages per year", "-" if live else _fv("outages.per_year", g("outages.per_year"))),
            ("estimator", html.escape(str(g("estimator.method") or "-")))]
    cd, ck = g("chaos.credit_delay_seconds"), "chaos.credit_delay_seconds"
    if isinstance(cd, dict):  # relay/bus chaos: credits delayed, no request failed (docs/results-contract.md)
        n = len(g("chaos.credit_delays") or [])
        out.append((f"{label_of(ck + '.max')}: max / total over {n} fault{'s' if n != 1 else ''}",
                    f"{_fv(ck + '.max', cd.get('max'))} / {_fv(ck + '.total', cd.get('total'))}"))
    for k in keys_for("report"):  # capacity and cost rows: the registry's report view and labels
        if g(k) is not None:
            cur = f", {g('cost.currency')}" if k.startswith("cost.") and g("cost.currency") else ""
            out.append((label_of(k) + cur, _fv(k, g(k))))
    note = (f"<p class=muted>A live run of {_fv('run.wall_seconds', run.duration) if run.duration else '-'}: per-year figures (downtime and "
            "outages per year, worst day, worst 30 days) are not extrapolated from it.</p>") if live else ""
    if few:  # the few-event note (sim.metrics.intervals): visible, next to the figures it qualifies
        what = "; ".join(f"{html.escape(lb)}: {_fv('outages.count', e)} episodes"
                         + (f" ({_fv('availability.request.episodes_effective', f)} effective)" if f is not None else "")
                         for lb, e, f in few)
        note += (f"<p class=few><b>Few events.</b> {what}: fewer than {FEW_EVENTS} outage episodes (or effective "
                 "ones, when a few long episodes carry most of the loss), so "
                 "the interval is the wide compound-Poisson bound and the nines are a floor the data support, "
                 "not a measurement. More replications (or the rare-event estimator) narrow it.</p>")
    return f"<table>{_rows(out)}</table>{note}"


MAX_NESTED_ROWS = 50  # a nested list shows this many rows, then counts the rest


def value_html(key: str, v, depth: int = 0) -> str:
    """Any summary value as HTML by its type: mappings and lists of mappings as small tables (wide
    ones scroll sideways), lists of figures joined, figures by the registry's format; never a repr."""
    if isinstance(v, dict) and v and depth < 4:
        rows = "".join(f"<tr><th>{html.escape(_sub_label(key, k))}</th>{_td(f'{key}.{k}', x, depth)}</tr>"
                       for k, x in v.items())
        return f"<table class=nested>{rows}</table>"
    if isinstance(v, list) and v and all(isinstance(x, dict) for x in v) and depth < 4:
        cols = list(dict.fromkeys(c for x in v for c in x))
        head = "".join(f"<th>{html.escape(_sub_label(f'{key}[0]', c))}</th>" for c in cols)
        body = "".join("<tr>" + "".join(_td(f"{key}[{i}].{c}", x.get(c), depth) for c in cols) + "</tr>"
                       for i, x in enumerate(v[:MAX_NESTED_ROWS]))
        more = (f"<p class=muted>and {len(v) - MAX_NESTED_ROWS:,} more rows</p>"
                if len(v) > MAX_NESTED_ROWS else "")
        return f"<div class=wide><table class=nested><tr>{head}</tr>{body}</table></div>{more}"
    if isinstance(v, list) and len(v) == 2 and key.endswith("ci95"):
        return _fv(key, v)  # an interval: both ends in the key's format
    if isinstance(v, list):
        return ", ".join(value_html(f"{key}[{i}]", x, depth + 1) for i, x in enumerate(v)) or "-"
    if isinstance(v, dict):
        return "-" if not v else html.escape(str(len(v))) + " entries"
    return _fv(key, v)


def _td(key: str, v, depth: int) -> str:
    """A table cell: figures right-aligned, text left."""
    is_num = isinstance(v, (int, float)) and not isinstance(v, bool)
    return f"<td{' class=n' if is_num else ''}>{value_html(key, v, depth + 1)}</td>"


def _sub_label(key: str, sub: str) -> str:
    """A nested row's label: the registry's (without the section's own prefix), else the key's
    last part in words."""
    full = f"{key}.{sub}"
    lab = label_of(full)
    if lab == full:
        return str(sub).replace("_", " ")
    section = key.split(".")[0].split("[")[0]
    return lab.removeprefix(f"{section}: ")


def _by_cause(run: Run) -> str:
    """Outages by cause; a live run gets no per-year column (minutes are not a year)."""
    bc = run.get("outages.by_cause")
    if not isinstance(bc, dict) or not bc:
        return ""
    live = run.kind == "live"
    rows = sorted(bc.items(), key=lambda kv: -(kv[1].get("downtime_minutes_per_year") or 0)
                  if isinstance(kv[1], dict) else 0)
    k = "outages.by_cause"
    body = "".join(f"<tr><td>{html.escape(str(c))}</td><td class=n>{_fv(f'{k}.{c}.count', v.get('count'))}</td>"
                   + ("" if live else f"<td class=n>{_fv(f'{k}.{c}.downtime_minutes_per_year', v.get('downtime_minutes_per_year'))}</td>")
                   + f"<td class=n>{pct(v.get('share'), 1)}</td></tr>"
                   for c, v in rows if isinstance(v, dict))
    return ("<h2>Outages by cause</h2><table><tr><th>cause</th><th>episodes</th>"
            + ("" if live else "<th>downtime min/yr</th>") + f"<th>share</th></tr>{body}</table>")


def gate_results(run: Run) -> tuple[str, list[dict] | str]:
    """(title, gates): those recorded at run time, else the scenario's gates evaluated on this
    summary; a gate that cannot be evaluated gives its error text instead of the list."""
    gates = run.get("gates")
    if isinstance(gates, list) and gates:
        return "Gates applied at run time", [x for x in gates if isinstance(x, dict)]
    from sim.errors import HivesimError
    from sim.readers.gate import check_run
    try:
        gates = [r.to_dict() for r in check_run(run.path, use_scenario=True)] if run.path else []
    except HivesimError as exc:  # a bad gate must not cost the whole report
        return "Scenario gates", str(exc)
    return "Scenario gates (evaluated on this run; <code>hivesim gate</code> gives the exit code)", gates


def _gates(title: str, gates) -> str:
    if isinstance(gates, str):
        return f"<h2>{title}</h2><p class=fail>cannot evaluate: {html.escape(gates)}</p>"
    if not gates:
        return ""
    body = ""
    for g in gates:
        ok = g.get("passed")
        key = str(g.get("key") or g.get("metric") or "")
        body += (f"<tr><td class={'pass' if ok else 'fail'}>{'PASS' if ok else 'FAIL'}</td>"
                 f"<td><code>{html.escape(str(g.get('name', key)))}</code></td>"
                 f"<td class=n>{_fv(key, g.get('value'))}</td><td>{html.escape(str(g.get('detail', '')))}</td></tr>")
    return f"<h2>{title}</h2><table><tr><th></th><th>gate</th><th>value</th><th>detail</th></tr>{body}</table>"


def _live(run: Run) -> str:
    if run.kind != "live":
        return ""
    parts = []
    ch = run.get("checker")
    if isinstance(ch, dict):
        rest = {k: v for k, v in ch.items() if k != "violations"}
        parts.append("<h2>Checker</h2>" + value_html("checker", rest))
        parts.append(_violations(ch.get("violations")))
    faults = run.get("faults")
    if isinstance(faults, list) and faults:
        parts.append("<h2>Injected faults</h2>" + value_html("faults", faults))
    return "".join(parts)


def _verdict(run: Run, gates) -> str:
    """The banner the report opens with: the run's status, its gates (the failed ones named) and,
    for a live run, the checker's verdict with its first violation in words."""
    lines, bad = [], False
    if str(run.get("run.status") or "ok") != "ok":
        bad = True
        lines.append(f"Run {html.escape(str(run.get('run.status')))}: {html.escape(str(run.get('run.error') or ''))}")
    if isinstance(gates, str):
        bad = True
        lines.append(f"Gates cannot be evaluated: {html.escape(gates)}")
    elif gates:
        failed = [str(g.get("name", g.get("key", "?"))) for g in gates if not g.get("passed")]
        bad = bad or bool(failed)
        lines.append(f"Gates: all {len(gates)} passed." if not failed else
                     f"Gates: {len(failed)} of {len(gates)} FAILED: "
                     + "; ".join(f"<code>{html.escape(f)}</code>" for f in failed) + ".")
    else:
        lines.append("Gates: none in the scenario (<code>hivesim gate --require</code> checks one).")
    ch = run.get("checker")
    if run.kind == "live" and isinstance(ch, dict):
        counts = (f"{num(ch.get('acknowledged'))} acknowledged transfers, {num(ch.get('lost'))} lost, "
                  f"{num(ch.get('duplicated'))} duplicated")
        if ch.get("valid") is True:
            lines.append(f"Checker: VALID. {counts}; money conserved, replicas converged.")
        else:
            bad = True
            vs = [v for v in ch.get("violations") or [] if isinstance(v, dict)]
            n = ch.get("violation_count", len(vs))
            first = (f" First violation: {html.escape(str(vs[0].get('message') or vs[0].get('kind') or ''))}"
                     if vs else "")
            lines.append(f"Checker: INVALID ({num(n)} violations). {counts}.{first}")
    return f"<div class='verdict {'bad' if bad else 'ok'}'>" + "<br>".join(lines) + "</div>"


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
            ("replications", _fv("run.replications", g("run.replications"))),
            ("horizon, days", _fv("run.horizon_days", g("run.horizon_days"))),
            ("warm-up, days", _fv("run.warmup_days", g("run.warmup_days"))),
            ("seed", html.escape(str(g("run.seed") or "-"))), ("mode", html.escape(str(g("run.mode") or "-"))),
            (label_of("run.wall_seconds"), _fv("run.wall_seconds", g("run.wall_seconds"))),
            ("workers", _fv("run.workers", g("run.workers"))), ("scenario file", html.escape(str(g("run.scenario_file") or "-"))),
            ("scenario sha256", f"<code>{html.escape(str(g('run.scenario_sha256') or '-'))[:16]}</code>"),
            ("started (UTC)", html.escape(str(g("run.started_utc") or "-"))),
            ("hivesim", html.escape(str(g("run.hivesim_version") or "-")))]
    figs = "".join(
        f"<figure id='{stem}'><img {img_size(png)} alt='{html.escape(t)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
        f"<figcaption><b>{html.escape(t)}.</b> {html.escape(d)} "
        f"<span class=muted>(plots/{stem}.png, plots/{stem}.svg)</span></figcaption></figure>"
        for stem, t, d, png in plots)
    skip = ("<h2>Plots not drawn</h2><ul>" + "".join(f"<li>{html.escape(t)}: {html.escape(r)}</li>" for t, r in skipped)
            + "</ul>") if skipped else ""
    desc = run.scenario_document().get("description") or ""
    title_g, gates = gate_results(run)
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p class=muted>{html.escape(str(desc))}</p>"
            f"{_verdict(run, gates)}<h2>Key figures</h2>{_figures(run)}{_gates(title_g, gates)}{_by_cause(run)}"
            f"{_live(run)}"
            f"<h2>Plots</h2>{figs}{skip}<h2>Run</h2><table>{_rows(meta)}</table>"
            "<p class=muted>Nines are taken from the pessimistic end of the 95% interval; "
            "see docs/results-contract.md for every figure's definition.</p></body></html>\n")
