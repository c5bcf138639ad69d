"""``hivesim calibrate LIVE_RUN_DIR [LIVE_RUN_DIR ...] [--out FILE] [--extends PATH]``: simulator parameters from live runs.

Reads only the run directory's files (summary.json, timeseries.csv, the effective scenario) and
writes a calibration YAML (``sim.calibration``): the outage time per fault kind (fitted with the
closed-loop replay), the service-time distribution per transaction type, capacity and service
demand, the gateway's retry behaviour, and the fluid engine's ``failover`` figures. A scenario
uses it with ``extends:`` (see docs/calibration.md); ``hivesim predict --calibration`` reads it.
Several runs of one design are pooled (sim.calibration.pool): each fault kind's figure becomes
the distribution of what the runs showed.
"""

from __future__ import annotations

import os

from sim.cli.options import add_json, plain

__all__ = ["register"]


def register(sub) -> None:
    p = sub.add_parser("calibrate", help="derive simulator parameters from a live run",
                       description=plain(__doc__.split("\n\n")[1]))
    p.add_argument("run_dirs", metavar="LIVE_RUN_DIR", nargs="+",
                   help="a results directory of hivesim live; several runs of one design are pooled")
    p.add_argument("--out", help="calibration YAML to write (default: the first LIVE_RUN_DIR/calibration.yaml)")
    p.add_argument("--extends", metavar="PATH",
                   help="relative path (from the calibration file) of the scenario it refines, written as "
                        "its extends: so a scenario can extend the calibration alone")
    p.add_argument("--seeds", type=int, default=6, help="replays averaged per candidate outage time (default 6)")
    add_json(p, "the calibration (the fitted figures and the file written)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from sim.calibration.document import calibration_document, write_calibration
    from sim.calibration.pool import calibrate_runs
    from sim.errors import HivesimError

    if args.seeds < 1:
        raise HivesimError(f"--seeds: expected an integer >= 1, got {args.seeds}")
    if args.extends and os.path.isabs(args.extends):
        raise HivesimError(f"--extends: expected a relative path (extends: must stay inside the scenario tree), "
                           f"got {args.extends!r}")
    out = args.out or os.path.join(args.run_dirs[0], "calibration.yaml")
    from sim.results.writer import check_output
    check_output(out, "file")  # checked before the (slow) fit
    cal = calibrate_runs(args.run_dirs, seeds=range(args.seeds))
    src = cal["source"]
    runs = ", ".join(s["run_id"] for s in cal.get("sources", [src]))
    header = (f"# hivesim calibration from live run{'s' if 'sources' in cal else ''} {runs} (scenario {src['scenario']}).\n"
              "# Use: a scenario `extends:` this file (docs/calibration.md), or\n"
              "#      hivesim predict OTHER_LIVE_RUN --calibration THIS_FILE\n")
    path = write_calibration(out, calibration_document(cal, args.extends), header)
    if args.json:
        from sim.cli.options import print_json
        print_json({"calibration_file": str(path), **cal})
        return 0
    print(f"calibration written to {path}")
    for kind, g in sorted(cal["outage_seconds"].items()):
        each = cal.get("outage_samples", {}).get(kind)
        print(f"  outage {kind:<16} {g:6.2f} s" + (f"  (each fault: {', '.join(f'{x:g}' for x in each)} s)"
                                                  if each else ""))
    for kind, g in sorted(cal.get("outage_extra_seconds", {}).items()):
        each = cal.get("outage_samples", {}).get(kind)
        print(f"  outage {kind:<16} hold {g:+6.2f} s" + (f"  (each fault: {', '.join(f'{x:g}' for x in each)} s)"
                                                       if each else ""))
    for kind, k in sorted(cal.get("latency_factor", {}).items()):
        print(f"  latency {kind:<15} x {k:.2f} (round trips per request paying the added latency)")
    for kind, v in cal["service_ms"].items():
        print(f"  service {kind:<15} median {v['median_ms']:8.1f} ms, lognormal sigma {v['sigma']:.3f}")
    t = cal["throughput"]
    cap = t.get("capacity_tps", t.get("capacity_tps_at_least"))
    print(f"  throughput {t['steady_ok_rps']:.1f} ok req/s steady; capacity {'' if t['saturated'] else '>= '}"
          f"{cap:.1f} tps; gateway deadline {cal['gateway']['deadline']:g} s")
    c = t.get("cpu")
    if c:
        print(f"  cpu demand {c['demand_ms']:.2f} ms per request (bank utilisation {c['bank_utilisation']:.0%} of "
              f"{c['cores']} cores); the bank alone would fill them at {c['cpu_bound_capacity_rps']:g} req/s")
    else:
        print("  cpu: not sampled in this run (older run): demand from latency only")
    return 0
