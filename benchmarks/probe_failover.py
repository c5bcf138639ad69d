"""Probe: where a postmaster kill's write outage goes, step by step, from Patroni's own logs.

Brings a live cluster up (scenarios/calibration/kinds-b.yaml by default: its Patroni settings
and gateway deadline), then, ``--kills`` times, one cell after another: a probe client posts a
same-cell transfer through the gateway every 20 ms, the cell's primary's postmaster is SIGKILLed,
and twelve seconds later the cell's Patroni logs are read for the instants that make up the
outage (seconds after the kill):

* ``failover``: the old leader's Patroni says "Primary crashed. Failing over." (its HA loop runs
  every ``loop_wait`` s and needs one or two runs to see the postmaster gone);
* ``ready``: the promoted member's PostgreSQL "is ready to accept connections";
* ``sync``: the first standby "is now a synchronous standby" of the new primary (strict
  synchronous mode: no commit returns before one is);
* ``writes``: the probe's first transfer answered 200 after the last failure.

Prints one JSON line per kill and a summary (min / median / max of each step). The issue 18
explanation of the kill's run-to-run spread (docs/calibration.md) was measured with it:
``python benchmarks/probe_failover.py --kills 9`` (~4 min). Traffic goes to 127.0.0.1 only; the
cluster is torn down at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from loadtests.bank.routing import account_id, cell_of  # noqa: E402
from loadtests.cluster import Cluster  # noqa: E402
from sim.errors import HivesimError  # noqa: E402
from sim.scenario import load_scenario  # noqa: E402

__all__ = ["log_instant", "first_line_after", "main"]

# Patroni's own lines ("2026-12-04 18:49:55,440 INFO: ...") and PostgreSQL's ("... 18:49:55.578 UTC [pid] LOG: ...")
_STAMP = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)[,.](\d{3})")
STEPS = {"failover": "Primary crashed. Failing over", "ready": r"ready to accept connections\s*$",
         "sync": "is now a synchronous standby"}
PROBE_EVERY = 0.02  # s between probe transfers
AFTER_KILL = 12.0   # s watched after each kill
SETTLE = 8.0        # s between kills, so the old primary rejoins as a standby first


def log_instant(line: str) -> float | None:
    """Unix time of a Patroni or PostgreSQL log line (both log in UTC here), or None."""
    m = _STAMP.match(line)
    if not m:
        return None
    t = dt.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.timezone.utc)
    return t.timestamp() + int(m.group(2)) / 1000


def first_line_after(lines: list[str], pattern: str, start: float, end: float) -> float | None:
    """Seconds after ``start`` of the first line in [start, end) matching ``pattern``."""
    rx = re.compile(pattern)
    for line in lines:
        t = log_instant(line)
        if t is not None and start <= t < end and rx.search(line):
            return round(t - start, 3)
    return None


def _probe(url: str, accounts: list[str], stop: threading.Event, events: list) -> None:
    with httpx.Client(base_url=url, timeout=2.0) as http:
        k = 0
        while not stop.is_set():
            t = time.monotonic()
            try:
                status = http.post("/transfers", json={"key": uuid.uuid4().hex, "from": accounts[k % len(accounts)],
                                                       "to": accounts[(k + 1) % len(accounts)], "amount": 1}).status_code
            except httpx.HTTPError:
                status = 0
            events.append((t, time.monotonic(), status))
            k += 1
            time.sleep(PROBE_EVERY)


def _one_kill(c: Cluster, cell: int, accounts: list[str]) -> dict:
    old = c.primary(cell)
    if old is None:
        return {"cell": cell, "error": "no primary before the kill"}
    events: list = []
    stop = threading.Event()
    th = threading.Thread(target=_probe, args=(c.gateway_url, accounts, stop, events), daemon=True)
    th.start()
    time.sleep(2.0)
    t0, wall0 = time.monotonic(), time.time()
    c.kill_postmaster(cell)
    time.sleep(AFTER_KILL)
    stop.set()
    th.join(10)
    new = c.primary(cell)
    failed = [end - t0 for start, end, status in events if end > t0 and status != 200]
    last_fail = max(failed, default=0.0)
    writes = min((end - t0 for start, end, status in events if status == 200 and end > t0 + last_fail), default=None)
    logs = {m["name"]: Path(m["log"]).read_text(errors="replace").splitlines()
            for m in c.state["members"] if m["cell"] == cell}
    out = {"cell": cell, "old": old["name"], "new": new and new["name"], "probe_failed": len(failed),
           "writes": writes and round(writes, 3)}
    out["failover"] = first_line_after(logs[old["name"]], STEPS["failover"], wall0, wall0 + AFTER_KILL)
    if new is not None:
        for step in ("ready", "sync"):
            out[step] = first_line_after(logs[new["name"]], STEPS[step], wall0, wall0 + AFTER_KILL)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", default=str(REPO / "scenarios" / "calibration" / "kinds-b.yaml"))
    ap.add_argument("--kills", type=int, default=6, help="postmaster kills, cells in turn (1-30; default 6)")
    ap.add_argument("--out", help="write the per-kill records and the summary here as JSON")
    args = ap.parse_args(argv)
    if not 1 <= args.kills <= 30:
        ap.error(f"--kills: expected 1-30, found {args.kills}")
    try:
        sc = load_scenario(args.scenario)
    except HivesimError as exc:  # one clear line, exit 2 (the CLI's convention)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cells = sc.topology.cells.count
    c = Cluster(sc, f"/tmp/hivesim-probe-{uuid.uuid4().hex[:8]}")
    records: list[dict] = []
    try:
        c.up()
        by_cell: dict[int, list[str]] = {}
        for i in range(min(sc.live.accounts, 200)):
            by_cell.setdefault(cell_of(account_id(i), cells), []).append(account_id(i))
        for k in range(args.kills):
            rec = _one_kill(c, k % cells, by_cell[k % cells])
            print(json.dumps(rec), flush=True)
            records.append(rec)
            time.sleep(SETTLE)
    finally:
        if c.state:
            c.down()
    summary = {}
    for step in ("failover", "ready", "sync", "writes"):
        xs = [r[step] for r in records if r.get(step) is not None]
        if xs:
            summary[step] = {"min": min(xs), "median": statistics.median(xs), "max": max(xs), "n": len(xs)}
    print(json.dumps({"summary_seconds_after_kill": summary}))
    if args.out:
        Path(args.out).write_text(json.dumps({"kills": records, "summary_seconds_after_kill": summary}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
