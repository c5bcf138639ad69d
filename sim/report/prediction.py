"""``report.html`` of a prediction directory (``hivesim predict``): the per-fault table of
measured vs predicted figures, the per-kind verdict, what the model still gets wrong (the classes
off with their reasons, the standing simplifications: ``sim.calibration.limits``) and each
fault's plot embedded; the plots themselves (``plot_faults``: one PNG + SVG per fault).

Self-contained like a run's report (inline CSS, PNGs as ``data:`` URIs); every interpolated
text is escaped.
"""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sim.report.figures import img_size, save_figure  # noqa: E402
from sim.report.html import CSS, num  # noqa: E402
from sim.results.formatting import format_value  # noqa: E402

AVAILABILITY = "availability.request.mean"  # the registry key whose format the availabilities take

__all__ = ["render_prediction", "plot_faults"]


def render_prediction(pred: dict, table: list[list[str]], plots: list[str]) -> str:
    """The page: ``table`` = ``sim.calibration.predict.fault_table(pred)`` rows, ``plots`` = PNG paths."""
    run, cal = pred["run"], pred["calibration"]
    title = f"hivesim prediction: {run['scenario']} / {run['run_id']}"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table[0])
    body = ""
    for r in table[1:]:
        ok = r[-1] == "yes"
        cells = "".join(f"<td class=n>{html.escape(c)}</td>" if 2 <= i < len(r) - 1 else f"<td>{html.escape(c)}</td>"
                        for i, c in enumerate(r[:-1]))
        body += f"<tr>{cells}<td class={'pass' if ok else 'fail'}>{html.escape(r[-1])}</td></tr>"
    a, t = pred["availability"]["request"], pred["throughput"]["requests_per_second"]
    verdict = ("<p class=pass>within tolerance</p>" if pred["within_tolerance"] else
               "<p class=fail>NOT within tolerance</p>")
    figs = ""
    for path in plots:
        with open(path, "rb") as f:
            raw = f.read()
        png = base64.b64encode(raw).decode()
        stem = os.path.splitext(os.path.basename(path))[0]
        figs += (f"<figure><img {img_size(raw)} alt='{html.escape(stem)}' src='data:image/png;base64,{png}'>"
                 f"<figcaption class=muted>plots/{html.escape(stem)}.png, .svg</figcaption></figure>")
    model = pred["model"]
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p class=muted>calibrated on run {html.escape(str(cal.get('source')))} "
            f"({html.escape(str(cal.get('source_scenario')))}); {html.escape(model['method'])}, "
            f"{num(model['replications'])} replays; tolerance &plusmn;{100 * pred['tolerance']:g} % on failed "
            f"requests, judged per fault kind (its faults summed)</p>{verdict}"
            f"<h2>Faults</h2><table><tr>{head}</tr>{body}</table>"
            f"<h2>Whole run</h2><table><tr><th></th><th>measured</th><th>predicted</th></tr>"
            f"<tr><th>request availability</th><td class=n>{html.escape(format_value(AVAILABILITY, a['measured']))}</td>"
            f"<td class=n>{html.escape(format_value(AVAILABILITY, a['predicted']))}</td></tr>"
            f"<tr><th>ok requests/s</th><td class=n>{num(t['measured'])}</td><td class=n>{num(t['predicted'])}</td></tr>"
            f"</table>{_limits(pred)}<h2>Measured and predicted, per fault</h2>{figs}"
            "<p class=muted>Definitions: docs/calibration.md.</p></body></html>\n")


def _limits(pred: dict) -> str:
    """What the model still gets wrong: the classes off (``pred["misses"]``) with their figures and
    reasons, then the standing simplifications (``sim.calibration.limits``), once."""
    ms = pred.get("misses")
    if ms is None:  # a prediction.json written before the section existed
        return ""
    out = "<h2>What the model still gets wrong</h2>"
    if not ms:
        out += "<p class=pass>No model class missed: every class within tolerance on failed requests and recovery.</p>"
    else:
        head = "".join(f"<th>{c}</th>" for c in ("class", "faults", "off", "failed meas", "failed pred",
                                                  "pred p05-p95", "rel err", "recovery meas s", "recovery pred s",
                                                  "calibration faults", "reason"))
        body = ""
        for m in ms:
            f, r = m["failed_requests"], m["recovery_seconds"]
            lo, hi = f["predicted_p05_p95"]
            rel = "n/a" if m["relative_error"] is None else f"{m['relative_error']:+.0%}"
            cells = [m["class"], str(m["faults"]), ", ".join(m["off"]), str(f["measured"]), f"{f['predicted']:.1f}",
                     f"{lo:.0f}-{hi:.0f}", rel, f"{r['measured']:.1f}", f"{r['predicted']:.1f}",
                     "-" if m.get("calibration_faults") is None else str(m["calibration_faults"])]
            body += ("<tr>" + "".join(f"<td class=n>{html.escape(c)}</td>" if i == 1 or 3 <= i <= 9 else f"<td>{html.escape(c)}</td>"
                                      for i, c in enumerate(cells))
                     + f"<td{'' if m['explained'] else ' class=fail'}>{html.escape(m['reason'])}</td></tr>")
        out += f"<table><tr>{head}</tr>{body}</table>"
    items = ""
    for s in pred.get("simplifications") or []:
        extra = ""
        if s.get("classes"):
            extra = f" <span class=muted>Here: {html.escape(', '.join(s['classes']))}.</span>"
        if s.get("gateway_deadline_seconds") is not None:
            extra += f" <span class=muted>Gateway deadline: {num(s['gateway_deadline_seconds'])} s.</span>"
        items += f"<li><b>{html.escape(s['name'])}</b>: {html.escape(s['text'])}{extra}</li>"
    if items:
        out += f"<h3>Standing simplifications (every prediction)</h3><ul>{items}</ul>"
    return out


def plot_faults(pred: dict, out_dir) -> list[str]:
    """One PNG + SVG per fault: measured and predicted ok/failed requests per second, one axis."""
    tl = pred["timeline"]
    written = []
    for k, f in enumerate(pred["faults"]):
        a, b = float(f["start"]), float(f["window_end"])
        lo, hi = max(0, int(a) - 5), min(len(tl["measured_ok"]), int(round(b)))  # b: the next fault's start
        x = np.arange(lo, hi)
        fig, ax = plt.subplots(figsize=(8, 4.2), dpi=110)
        g = f["predicted"]["calibrated_outage_seconds"]
        rng = f["predicted"].get("calibrated_outage_range")
        # the modelled effect's window (a kill-patroni's starts a ttl late; a held class's is its
        # hold plus the fitted extra); older predictions had only the outage from the start
        ea, eb = f["predicted"].get("effect_window") or (a, a + g)
        if eb > ea:
            ax.axvspan(ea, eb, color="0.85", label=f"modelled {f.get('effect', 'outage')} {eb - ea:.3g} s" + (
                f" (drawn per replay from {rng[0]:g}-{rng[1]:g} s)" if rng else ""))
        ax.step(x, tl["measured_ok"][lo:hi], where="post", color="tab:blue", label="measured ok")
        ax.step(x, tl["predicted_ok"][lo:hi], where="post", color="tab:blue", ls="--", label="predicted ok (mean)")
        ax.step(x, tl["measured_failed"][lo:hi], where="post", color="tab:red", label="measured failed")
        ax.step(x, tl["predicted_failed"][lo:hi], where="post", color="tab:red", ls="--",
                label="predicted failed (mean)")
        m, p = f["measured"], f["predicted"]
        ax.set_title(f"{f['kind']} {f['target']} ({f.get('class', f['kind'])}): failed {m['failed_requests']} measured, "
                     f"{p['failed_requests']:.0f} predicted", fontsize=10)
        ax.set_xlabel("seconds since the load started")
        ax.set_ylabel("requests per second (by start)")
        ax.set_xlim(lo, hi)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8, loc="upper right")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        stem = os.path.join(os.fspath(out_dir), f"fault-{k}-{f['kind']}")
        save_figure(fig, Path(stem))
        written += [f"{stem}.png", f"{stem}.svg"]
        plt.close(fig)
    return written
