"""``calibrate_runs(runs)``: one calibration from several live runs of one design.

Failovers of one kind vary from run to run (a kill-patroni failed 72 and 50 requests in two
kinds-a runs, 38 and 36 in two kinds-b runs), and a class seen once in one run gives a single
figure with no spread. Pooling several recorded runs turns each class's figure into a
distribution: ``predict`` draws each fault's figure from ``outage_samples`` per replay, so its
p05-p95 band carries the run-to-run spread instead of the replays' own noise alone.

How the runs are combined (``pool``):

* each run is fitted on its own (``sim.calibration.fit.calibrate``): its own service times and
  load, since the machine's load changes them between runs;
* a class's figure (``outage_seconds``, ``outage_extra_seconds``, ``latency_factor``) is the mean
  of the runs' figures weighted by how many faults of the class each run had;
* its samples are every run's per-fault figures (a run's ``outage_samples`` where it has them,
  else its one class figure), kept when there are at least two;
* service times, throughput, gateway and client settings are the first run's (the predicted run's
  own scenario sets load and retries in a prediction anyway); ``sources`` lists every run.

The runs must agree on what the fit depends on (gateway deadline, users, offered rate): a
mismatch is refused with one line before any fitting starts.
"""

from __future__ import annotations

from sim.calibration.fit import FIT_SEEDS, calibrate, fitted_classes
from sim.errors import HivesimError
from sim.results.reader import Run, load_live_run

__all__ = ["FIGURE_KEYS", "calibrate_runs", "pool", "check_same_design"]

# the per-class figures of a calibration (seconds, or round trips for latency_factor)
FIGURE_KEYS = ("outage_seconds", "outage_extra_seconds", "latency_factor")


def check_same_design(runs: list[Run]) -> None:
    """Refuse runs whose fits would not mean the same thing (one line, before any fit)."""
    first = runs[0]

    def design(r: Run):
        return {"live.gateway_deadline": r.deadline, "live.load.users": r.users,
                "live.load.rate": float(r.scenario.live.load.rate)}

    want = design(first)
    for r in runs[1:]:
        got = design(r)
        for k, v in want.items():
            if got[k] != v:
                raise HivesimError(f"{r.path}: {k}: expected {v!r} as in {first.path} (runs pooled into one "
                                   f"calibration must share it), got {got[k]!r}")


def pool(cals: list[dict], counts: list[dict[str, int]]) -> dict:
    """Combine per-run calibrations ``cals``; ``counts[i]`` = faults per class in run i."""
    out = dict(cals[0])
    for key in FIGURE_KEYS:
        classes = sorted({k for c in cals for k in c.get(key, {})})
        if not classes:
            continue
        merged = {}
        for k in classes:
            pairs = [(c[key][k], n.get(k, 1)) for c, n in zip(cals, counts) if k in c.get(key, {})]
            weight = sum(w for _, w in pairs)
            merged[k] = round(sum(v * w for v, w in pairs) / weight, 4)
        out[key] = merged
    samples: dict[str, list[float]] = {}
    for c in cals:
        figures = {k: v for key in FIGURE_KEYS if key != "latency_factor" for k, v in c.get(key, {}).items()}
        for k, v in figures.items():
            samples.setdefault(k, []).extend(c.get("outage_samples", {}).get(k) or [v])
    samples = {k: v for k, v in sorted(samples.items()) if len(v) >= 2}
    if samples:
        out["outage_samples"] = samples
    else:
        out.pop("outage_samples", None)
    out["sources"] = [c["source"] for c in cals]
    out["fit"] = {**cals[0]["fit"], "runs": len(cals),
                  "pooling": "per class: mean of the runs' figures weighted by their faults of the class; "
                             "samples: every run's per-fault figures (sim.calibration.pool)"}
    return out


def calibrate_runs(runs: list, seeds=FIT_SEEDS) -> dict:
    """The calibration of one run (as ``calibrate``), or of several runs pooled (module doc)."""
    runs = [r if isinstance(r, Run) else load_live_run(r) for r in runs]
    if len(runs) == 1:
        return calibrate(runs[0], seeds)
    seen: dict = {}
    for r in runs:
        rid = r.summary["run"].get("run_id")
        if rid in seen:
            raise HivesimError(f"{r.path}: run.run_id: expected each run once, got {rid} again (also {seen[rid]})")
        seen[rid] = r.path
    check_same_design(runs)
    cals = [calibrate(r, seeds) for r in runs]
    counts = [{k: len(idx) for k, idx in fitted_classes(r).items()} for r in runs]
    return pool(cals, counts)
