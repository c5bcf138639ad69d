"""``hivesim live SCENARIO``: the live chaos benchmark (cluster up, load, faults, checker, results).

Brings the scenario's bank up as real processes, runs Locust headless with the scenario's mix and
load shape (``live.load``), plays the ``chaos:`` schedule, checks the bank (exactly-once transfers,
money conserved, replicas converged) and writes ``results/<scenario>/<run-id>/`` in the results
contract (``kind: live``). Exit 1 if the checker finds a violation (explained on stderr) or the
run fails; 2 for bad input. See docs/live-benchmark.md.
"""

from __future__ import annotations

import sys

from sim.cli.options import add_cluster_dir, plain

__all__ = ["register"]


def register(subparsers) -> None:
    p = subparsers.add_parser("live", help="run the live chaos benchmark of a scenario",
                              description=plain(__doc__.split("\n\n")[0]))
    p.add_argument("scenario", help="scenario YAML (topology, workload, live:, chaos:)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a scenario value")
    p.add_argument("--results", default="results", help="results root (default: results)")
    p.add_argument("--out", help="exact results directory (default: RESULTS/<scenario>/<run-id>)")
    p.add_argument("--run-id", help="name of the run directory (default: UTC time + random suffix)")
    p.add_argument("--workers", type=int, default=0,
                   help="Locust workers on this machine (0 = one local Locust process)")
    p.add_argument("--keep-cluster", action="store_true", help="leave the cluster running after the run")
    add_cluster_dir(p, "/tmp/hivesim-live-<name>-<run-id>, a new cluster per run")
    p.add_argument("--steady", type=float, default=3.0, help="seconds of success that count as recovered")
    p.add_argument("--quiet", "-q", action="store_true", help="print the run directory only (logs stay on stderr)")
    p.add_argument("--json", action="store_true", help="print the whole summary.json on stdout instead of the lines")
    p.set_defaults(func=run)


def run(args) -> int:
    from loadtests.run import LiveOptions, run_live
    from sim.errors import HivesimError
    from sim.preflight import load_checked

    if args.workers < 0 or args.steady <= 0:
        raise HivesimError("--workers must be >= 0 and --steady > 0")
    sc = load_checked(args.scenario, sets=args.set, simulation=False)  # the bank's checks, before any process starts
    from sim.results.writer import check_output
    if args.out:  # a live run takes minutes: a bad output path is found first
        check_output(args.out, "dir")
    else:
        check_output(args.results, "dir", exist_ok=True)
    out = run_live(sc, LiveOptions(scenario_file=args.scenario, results_root=args.results, out=args.out,
                                   run_id=args.run_id, workers=args.workers, keep_cluster=args.keep_cluster,
                                   cluster_dir=args.cluster_dir, steady=args.steady),
                   log=lambda s: print(s, file=sys.stderr, flush=True))
    s = out.summary
    _print_result(out, s, args)
    if s["run"]["status"] != "ok":
        print(f"hivesim live: run failed: {s['run'].get('error')}", file=sys.stderr)
    if s.get("checker") is not None and not s["checker"]["valid"]:
        print(out.explanation, file=sys.stderr)
    return out.exit_code


def _print_result(out, s: dict, args) -> None:
    """The run's result on stdout: its directory (--quiet), its summary (--json), or a few lines
    with every figure in the registry's format."""
    from sim.results.formatting import format_duration, format_value
    if args.json:
        from sim.cli.options import print_json
        print_json(s)
        return
    if args.quiet:
        print(out.run_dir)
        return
    a = s["availability"]["request"]
    print(f"run {out.run_dir}")
    if a["mean"] is not None:
        print(f"  availability {format_value('availability.request.mean', a['mean'])} "
              f"(95% CI {format_value('availability.request.ci95', a['ci95'])}) over "
              f"{format_value('outages.count', a['requests'])} requests; "
              f"p50 {format_value('latency_ms.p50', s['latency_ms']['p50'])} ms, "
              f"p99 {format_value('latency_ms.p99', s['latency_ms']['p99'])} ms; "
              f"{format_value('throughput.capacity_tps', s['throughput']['transfers_per_second'])} transfers/s")
    for f in s["faults"]:
        rec = "-" if f.get("recovery_seconds") is None else format_duration(f["recovery_seconds"])
        stall = "-" if f.get("stall_seconds") is None else format_duration(f["stall_seconds"])
        print(f"  fault {f['kind']:<15} {f['target']:<22} t={format_duration(f['start']):>9} recovery {rec:>9} "
              f"failed {format_value('faults[0].failed_requests', f.get('failed_requests')):>5}  stall {stall:>9}  "
              f"max latency {format_value('latency_ms.max', f.get('max_latency_ms'))} ms"
              f"{'' if f.get('recovered') else ' NOT RECOVERED'}{' ERROR ' + f['error'] if f.get('error') else ''}")
