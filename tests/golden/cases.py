"""The golden cases: scenarios, overrides and the figures they pin (``tests/golden/*.json``).

Each case is small enough to run in a few seconds with one worker, and non-trivial: it exercises
the fluid engine with every random failure family and the cost variant (webank-2023), chaos and
bad changes (the examples), request mode and the importance-sampling estimator.

Regenerate only in a commit that fixes a named bug, and name the figures that changed in it::

    python -m tests.golden.regen            # every case
    python -m tests.golden.regen NAME...    # some cases
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent

# name -> (scenario file relative to the repository root, --set overrides)
CASES: dict[str, tuple[str, list[str]]] = {
    "webank-2023": ("scenarios/webank-2023.yaml",
                    ["simulation.replications=6", "simulation.seed=11"]),
    "bad-deploy-canary": ("scenarios/examples/bad-deploy-canary.yaml",
                          ["simulation.replications=8", "simulation.seed=5"]),
    "two-idc-partition": ("scenarios/examples/two-idc-partition.yaml",
                          ["simulation.replications=8", "simulation.seed=3"]),
    "request-mode": ("tests/golden/request-mode.yaml", []),
    "importance": ("scenarios/examples/one-cell.yaml",
                   ["simulation.estimator=importance", "simulation.replications=4"]),
}

# Run-block fields that describe the machine or the moment, not the model: never compared.
VOLATILE_RUN = {"wall_seconds", "python", "hivesim_version", "workers", "scenario_sha256",
                "run_id", "started_utc", "scenario_file"}


def figures(case: str) -> dict:
    """Simulate one case with one worker; its summary without the volatile run fields.

    The echoed ``scenario`` block is left out: it grows whenever a setting is added (settings
    are not figures); the scenario's own fields are pinned by the figures they produce.
    """
    from sim.runner import simulate_full
    from sim.scenario import load_scenario

    path, sets = CASES[case]
    sc = load_scenario(str(ROOT / path), sets)
    summary, results = simulate_full(sc, workers=1)
    summary = json.loads(json.dumps(summary, default=float, allow_nan=True))
    summary.pop("scenario", None)
    for key in VOLATILE_RUN:
        summary.get("run", {}).pop(key, None)
    summary.get("cost_variant", {}).pop("wall_seconds", None)  # the variant's own wall time
    # the first replication's episodes pin the event timeline too: the first EVENTS_KEPT
    # literally, all of them by count and by a digest of their values to 12 significant digits
    events = [[_plain(v) for v in e] for e in results[0].events] if results else []
    summary["golden_events"] = {"count": len(events), "first": events[:EVENTS_KEPT],
                                "digest": events_digest(events)}
    return summary


EVENTS_KEPT = 150


def events_digest(events: list[list]) -> str:
    text = "\n".join("|".join(f"{v:.12g}" if isinstance(v, float) else str(v) for v in e)
                     for e in events)
    return hashlib.sha256(text.encode()).hexdigest()


def _plain(v):
    return float(v) if isinstance(v, float) else v


def golden_path(case: str) -> Path:
    return GOLDEN / f"{case}.json"
