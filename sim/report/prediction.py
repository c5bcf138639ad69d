"""``report.html`` of a prediction directory (``hivesim predict``): the per-fault table of
measured vs predicted figures, the per-kind verdict, and each fault's plot embedded.

Self-contained like a run's report (inline CSS, PNGs as ``data:`` URIs); every interpolated
text is escaped.
"""

from __future__ import annotations

import base64
import html
import os

from sim.report.html import CSS, num

__all__ = ["render_prediction"]


def render_prediction(pred: dict, table: list[list[str]], plots: list[str]) -> str:
    """The page: ``table`` = ``sim.predict.fault_table(pred)`` rows, ``plots`` = PNG paths."""
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
            png = base64.b64encode(f.read()).decode()
        stem = os.path.splitext(os.path.basename(path))[0]
        figs += (f"<figure><img alt='{html.escape(stem)}' src='data:image/png;base64,{png}'>"
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
            f"<tr><th>request availability</th><td class=n>{num(a['measured'], 6)}</td>"
            f"<td class=n>{num(a['predicted'], 6)}</td></tr>"
            f"<tr><th>ok requests/s</th><td class=n>{num(t['measured'])}</td><td class=n>{num(t['predicted'])}</td></tr>"
            f"</table><h2>Measured and predicted, per fault</h2>{figs}"
            "<p class=muted>Definitions: docs/calibration.md.</p></body></html>\n")
