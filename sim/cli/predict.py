"""``hivesim predict LIVE_RUN_DIR --calibration FILE [--out DIR] [--tolerance 0.25]``: simulate a live run.

Replays the run's scenario, its recorded fault schedule and its load shape request by request
(``sim.calibration``) with a calibration made on *another* run, writes ``prediction.json`` and one
plot per fault (measured and predicted timelines on one axis), and prints the per-fault table
and what the model still gets wrong (each model class off, with its known reason).
Exit 0 when every fault's predicted failed requests are within the tolerance, 1 when not, 2 on
bad input.
"""

from __future__ import annotations

import os

from sim.cli.options import add_json, plain

__all__ = ["register"]


def register(sub) -> None:
    p = sub.add_parser("predict", help="predict a live run with the request-level simulator",
                       description=plain(__doc__.split("\n\n")[1]))
    p.add_argument("run_dir", metavar="LIVE_RUN_DIR", help="a results directory of hivesim live")
    p.add_argument("--calibration", metavar="FILE",
                   help="calibration YAML from hivesim calibrate on another run "
                        "(default: LIVE_RUN_DIR/calibration.yaml, which is circular: a warning is printed)")
    p.add_argument("--out", help="directory to write (default: LIVE_RUN_DIR/prediction)")
    p.add_argument("--tolerance", type=float, default=0.25, help="relative error allowed on failed requests")
    p.add_argument("--replications", type=int, default=20, help="replays averaged (default 20)")
    p.add_argument("--service", choices=["run", "calibration"], default="calibration",
                   help="service times from the calibration run (default: nothing of the predicted run but its scenario, load shape and fault schedule is used) or from this run's steady seconds "
                        "(the machine's load varies between runs); fault outages always come from the calibration")
    add_json(p, "the prediction (per fault measured vs predicted, the verdict, the directory written)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    import sys

    from sim.calibration.document import load_calibration
    from sim.results.reader import load_live_run
    from sim.calibration.predict import fault_table, predict_run, write_prediction_dir
    from sim.errors import HivesimError

    if not 0 < args.tolerance < 10:
        raise HivesimError(f"--tolerance: expected a fraction such as 0.25, got {args.tolerance}")
    if args.replications < 1:
        raise HivesimError(f"--replications: expected an integer >= 1, got {args.replications}")
    out = args.out or os.path.join(args.run_dir, "prediction")
    from sim.results.writer import check_output
    check_output(out, "dir")  # before the replays
    run = load_live_run(args.run_dir)
    cal_path = args.calibration or os.path.join(args.run_dir, "calibration.yaml")
    if not os.path.lexists(cal_path):
        raise HivesimError(f"{cal_path}: no calibration file (run `hivesim calibrate OTHER_RUN --out FILE`)")
    cal = load_calibration(cal_path)
    src = cal.get("source", {})
    if src.get("run_id") and src.get("run_id") == run.summary["run"].get("run_id"):
        print("hivesim predict: warning: the calibration was made on this same run (circular check)",
              file=sys.stderr)
    pred = predict_run(run, cal, args.tolerance, seeds=range(args.replications), service=args.service)
    path = write_prediction_dir(pred, out)
    if args.json:
        from sim.cli.options import print_json
        print_json({"out": str(path), **pred})
        return 0 if pred["within_tolerance"] else 1
    rows = fault_table(pred)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print(f"prediction of {run.scenario.name} run {pred['run']['run_id']} "
          f"(calibrated on {pred['calibration']['source']}, tolerance +-{args.tolerance:.0%} on failed requests)")
    for i, r in enumerate(rows):
        print("  " + "  ".join(c.ljust(w) if j < 2 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths))))
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths))
    a, t = pred["availability"]["request"], pred["throughput"]["requests_per_second"]
    from sim.results.formatting import format_value
    av = "availability.request.mean"
    print(f"  request availability: measured {format_value(av, a['measured'])}, "
          f"predicted {format_value(av, a['predicted'])}; "
          f"throughput: measured {t['measured']:.2f} ok req/s, predicted {t['predicted']:.2f}")
    from sim.calibration.limits import miss_lines
    for line in miss_lines(pred):
        print("  " + line)
    print(f"  {'within' if pred['within_tolerance'] else 'NOT within'} tolerance; written to {path}")
    return 0 if pred["within_tolerance"] else 1
