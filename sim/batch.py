"""The simulations a batch of scenarios needs, each distinct one simulated once.

A scenario's summary needs its own simulation and those of its companions (``companions``: the
cost variant of ``cost.compare_with``, the frequent causes of ``estimator: importance``). In a
sweep these repeat: variants that differ only in keys their cost variant sets have one and the
same cost variant (P7's grid: the cost variant of replicas 2 and of replicas 3, at the same
detection and app nodes, is one scenario, so 16 of its 64 simulations are repeats). Replication
results depend only on the scenario, its seed and its replication count, never on the worker
count or the chunking (``sim.executors``), so ``sim.runner.simulate_many`` simulates each
distinct simulation once (``share``) and hands the same results to every summary that needs them.

Two simulations are the same when their scenarios' canonical dumps are equal (seed and
replications are in the dump), the ``COSMETIC`` fields aside: no engine reads a scenario's name
or description (each summary is still built from, and echoes, its own scenario;
tests/test_batch_sharing.py checks that renaming changes no replication). A request-mode
simulation (role ``whole``) returns a finished summary that echoes its scenario, so it is
compared whole, name and all.
"""

from __future__ import annotations

import hashlib
import json

from sim.scenario import Scenario

__all__ = ["COSMETIC", "companions", "simulations", "simulation_key", "share", "count_simulations"]

COSMETIC = ("name", "description")   # scenario fields no replication depends on


def companions(sc: Scenario) -> list[tuple[str, Scenario]]:
    """``(role, scenario)`` of the other simulations ``sc``'s summary needs, simulated in the same
    batch (the role is also their progress line's label): the cost variant (``cost.compare_with``)
    and, for ``estimator: importance``, the frequent causes (``sim.rare.scenario.frequent_scenario``)."""
    out = []
    if sc.cost is not None and sc.cost.compare_with is not None:
        from sim.cost import variant_scenario
        out.append(("cost variant", variant_scenario(sc)))
    if sc.simulation.estimator == "importance" and sc.simulation.mode != "request":
        from sim.rare.scenario import frequent_scenario
        out.append(("frequent causes", frequent_scenario(sc)))  # the quorum-1 bank: frequent causes only
    return out


def simulations(scenarios: list[Scenario], failed: dict) -> list[tuple[int, str, Scenario]]:
    """``(scenario index, role, scenario)`` of every simulation the scenarios need: each one
    (``simulating``, or ``whole`` in request mode) followed by its ``companions``. A scenario whose
    companions cannot be built goes to ``failed`` (index -> exception), not the batch."""
    sims = []
    for i, sc in enumerate(scenarios):
        if sc.simulation.mode == "request":
            sims.append((i, "whole", sc))
            continue
        sims.append((i, "simulating", sc))
        try:
            sims.extend((i, role, other) for role, other in companions(sc))
        except Exception as exc:  # noqa: BLE001 - this scenario fails, not the batch (fail_fast decides)
            failed[i] = exc
    return sims


def simulation_key(role: str, sc: Scenario) -> str:
    """What makes two simulations the same: a digest of the canonical scenario dump (without the
    ``COSMETIC`` fields, except for a request-mode ``whole`` simulation) and the kind of task."""
    data = sc.model_dump(mode="json")
    if role != "whole":
        for name in COSMETIC:
            data.pop(name, None)
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return ("whole:" if role == "whole" else "chunks:") + hashlib.sha256(blob.encode()).hexdigest()


def share(sims: list[tuple[int, str, Scenario]], keys: list[str] | None = None) -> list[int]:
    """For each simulation, the index of the one whose results it takes: itself when it is the
    first of its kind (it runs), else the first equal one before it (it runs nothing).
    ``keys``: the simulations' ``simulation_key``s when the caller has them already (a key
    dumps and hashes its whole scenario: a few ms each)."""
    if keys is None:
        keys = [simulation_key(role, sc) for _, role, sc in sims]
    first: dict[str, int] = {}
    return [first.setdefault(key, k) for k, key in enumerate(keys)]


def count_simulations(scenarios: list[Scenario]) -> tuple[int, int]:
    """``(needed, distinct)``: how many simulations the scenarios' summaries need, and how many
    of them a batch runs (``share``); e.g. P7's 32 variants: ``(64, 48)``."""
    sims = simulations(scenarios, {})
    return len(sims), len(set(share(sims)))
