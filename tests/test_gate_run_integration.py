"""`hivesim run --gate` on a real (tiny) simulation: the report is written at the end of the run,
the scenario's gates decide the exit code, and `hivesim gate` agrees with it afterwards."""

from __future__ import annotations

import base64
import json
import re

from sim.cli import main

TINY = """\
name: tiny-gated
simulation: {{horizon: 30d, replications: 5, seed: 11}}
topology:
  cells: {{count: 2}}
  gns: null
  bus: null
failures:
  components:
    server: {{mtbf: 200h, mttr: 1h}}
gates:
  - "availability.request.mean>={threshold}"
  - {{metric: availability.request.mean, op: ">=", value: 0.5, window: worst_day}}
"""


def test_run_gate_exit_codes_and_report(tmp_path, capsys):
    sc = tmp_path / "tiny.yaml"
    sc.write_text(TINY.format(threshold="0.5"))
    out = tmp_path / "pass"
    assert main(["run", str(sc), "--out", str(out), "--workers", "1", "--quiet", "--gate"]) == 0
    # the report written by `hivesim run` embeds every plot it drew
    html = (out / "report.html").read_text()
    pngs = sorted((out / "plots").glob("*.png"))
    assert {p.stem for p in pngs} >= {"timeline", "downtime_cdf", "cell_nines"}
    embedded = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)
    assert sorted(base64.b64decode(e) for e in embedded) == sorted(p.read_bytes() for p in pngs)

    # a threshold above what the run reached: breach, exit 1; `hivesim gate` agrees
    mean = json.loads((out / "summary.json").read_text())["availability"]["request"]["mean"]
    assert mean < 1.0  # the tiny scenario does fail now and then (mtbf 200 h over 30 days, 2 cells)
    sc.write_text(TINY.format(threshold=f"{min(1.0, mean + 1e-9)!r}"))
    out2 = tmp_path / "fail"
    assert main(["run", str(sc), "--out", str(out2), "--workers", "1", "--quiet", "--gate", "--no-report"]) == 1
    err = capsys.readouterr().err
    assert "FAIL (1 of 2 breached)" in err
    junit = tmp_path / "g.xml"
    assert main(["gate", str(out2), "--junit", str(junit)]) == 1
    assert junit.read_text().count("<failure") == 1
