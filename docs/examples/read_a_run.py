"""Run a small scenario, open its run directory, and read it with pandas (docs/python-api.md).

    python docs/examples/read_a_run.py [OUT_DIR]

Writes the run to OUT_DIR (a new directory; default: a temporary one, removed at the end).
``tests/test_python_api.py`` runs this script, so it stays in step with the API.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pandas as pd

import sim

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "examples" / "one-cell.yaml"


def main(out: Path) -> None:
    # 1. a scenario, with overrides as `hivesim run --set` takes them
    sc = sim.load_scenario(SCENARIO, ["simulation.replications=8", "simulation.horizon=90d"])
    # 2. simulate it; `out` also writes the run directory (summary.json, the CSVs, scenario.yaml)
    summary = sim.simulate(sc, out=out)
    print(f"simulated {summary['run']['replications']} replications of {sc.name}, "
          f"started {summary['run']['started_utc']}")
    # 3. open the run directory (any run, simulated or live) and read it as data frames
    pd.set_option("display.precision", 8)  # enough digits for five nines
    run = sim.Run.open(out)
    frames = run.to_pandas()
    keys = ["availability.request.mean", "availability.request.ci95_lo", "availability.request.ci95_hi",
            "availability.request.nines", "downtime_minutes_per_year.mean"]
    print("\nsummary (one row per run; dotted keys; intervals as _lo/_hi):")
    print(frames.summary[keys].T.to_string())
    print("\nreplications:")
    print(frames.replications.describe().loc[["mean", "min", "max"]].to_string())
    print("\ndowntime by cause (events.csv, all replications), minutes:")
    ev = frames.events
    ev = ev[ev["effect"] != "none"]
    by_cause = (ev["duration_s"] * ev["failed_fraction"]).groupby(ev["cause"]).sum() / 60
    print(by_cause.round(2).to_string())
    print(f"\ntimeseries: {len(frames.timeseries)} buckets of replication 0, "
          f"worst bucket failed fraction {frames.timeseries['failed_fraction'].max():.3g}")
    assert isinstance(frames.summary, pd.DataFrame)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp) / "run")
