"""The closed-loop replay of a live run's Locust users: what of it is calibration's.

Locust's users are a *closed* loop: each of ``live.load.users`` users paces at ``rate / users``
and waits for its answer, so during an outage the offered load collapses; an open-loop model
over-predicts failures there. The loop itself (users, the client's retry / status-lookup rules,
the gateway's deadline, the fault effects) is ``sim.request.closed``; this module fills it from
a live run and a calibration:

* ``ReplayModel.for_run``: load and retry settings from the replayed run's own scenario
  (``live.load``, ``live.gateway_deadline``, ``live.retry``: what that run's bank and clients
  did), service times from a calibration, and the live bank's constants below;
* ``outages_of``: the recorded faults as the loop's faults (``sim.calibration.effects``);
* the seeds: ``replay_seed`` (prediction), ``outage_rng``, and ``replay(model, faults, seed)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.calibration.effects import fault_effect, run_constants
from sim.request.closed import (ERROR_SECONDS, IN_DB_SECONDS, ClosedFaults, ClosedLoopSpec, Slow, closed_rows,
                                loop_rng)
from sim.results.reader import Run
from sim.errors import HivesimError
from sim.scenario.chaos_effects import ROUND_TRIPS

__all__ = ["MIN_SERVICE", "ReplayFaults", "REPLAY_SEED_STRIDE", "OUTAGE_STREAM", "replay_seed", "outage_rng",
           "ReplayModel", "outages_of", "replay"]

MIN_SERVICE = 0.005   # s: the bank's latency with nothing else to do (floor of the processor-sharing scaling)

# Seeds. ``predict_run``'s i-th replay of a run with scenario seed s uses
# ``replay_seed(s, i) = REPLAY_SEED_STRIDE * (i + 1) + s`` (kept as it was when the committed
# predictions of docs/calibration.md were made: another derivation would move them), and draws
# its faults' outages from a second stream, ``outage_rng(seed)`` (so the replay's own stream is
# the same with and without outage samples). The fit (``sim.calibration.fit``) replays with the
# fixed seeds 0..n-1; each replay turns its seed into a ``random.Random`` via a SeedSequence.
REPLAY_SEED_STRIDE = 1_000_003  # a prime larger than any scenario seed in use: replays of nearby seeds do not overlap
OUTAGE_STREAM = 7               # the outage draws' stream: numpy.random.default_rng([seed, OUTAGE_STREAM])


def replay_seed(run_seed: int, i: int) -> int:
    """Seed of the i-th replay (from 0) of a run whose scenario seed is ``run_seed``."""
    return REPLAY_SEED_STRIDE * (i + 1) + int(run_seed)


def outage_rng(seed: int) -> np.random.Generator:
    """The stream a replay with ``seed`` draws its faults' outages from (``outages_of(samples=)``)."""
    return np.random.default_rng([seed, OUTAGE_STREAM])


@dataclass
class ReplayModel(ClosedLoopSpec):
    """The closed loop's settings for a replay: load and retry settings (from the replayed run's
    scenario: what that run's bank and clients did) and service times (from a calibration, made
    on another run or, ``--service run``, on this one); the live bank's constants above."""

    min_service: float = MIN_SERVICE
    in_db_seconds: float = IN_DB_SECONDS
    error_seconds: float = ERROR_SECONDS

    @classmethod
    def for_run(cls, run: Run, calibration: dict) -> "ReplayModel":
        sc = run.scenario
        live = sc.live
        mix = sc.workload.mix
        svc = {k: (float(v["median_ms"]) / 1000.0, float(v["sigma"]))
               for k, v in calibration["service_ms"].items()}
        retry = run.retry
        return cls(users=int(live.load.users), rate_per_user=float(live.load.rate) / int(live.load.users),
                   mix=(mix.reads, mix.intra_cell, mix.cross_cell), cells=sc.topology.cells.count,
                   accounts=int(live.accounts), duration=run.duration,
                   deadline=run.deadline, op_deadline=run.client_deadline,
                   service=svc, gateway_poll=float(retry.gateway_max_backoff),
                   client_backoff=float(retry.client_backoff),
                   client_max_backoff=float(retry.client_max_backoff),
                   outage_jitter=float(live.patroni.loop_wait),
                   pool=int(live.pool_size) * int(live.app_servers_per_cell))

    def settings(self) -> dict:
        """The replay's settings other than service times (echoed in prediction.json ``model.replay``)."""
        return {"users": self.users, "rate_per_user": self.rate_per_user, "gateway_deadline": self.deadline,
                "client_deadline": self.op_deadline, "gateway_max_backoff": self.gateway_poll,
                "client_backoff": self.client_backoff, "client_max_backoff": self.client_max_backoff,
                "outage_jitter": self.outage_jitter, "processor_sharing": self.processor_sharing,
                "min_service_seconds": self.min_service, "in_db_seconds": self.in_db_seconds,
                "pool": self.pool}


# the live bank's faults as the closed loop takes them (the name callers know)
ReplayFaults = ClosedFaults


def outages_of(run: Run, outage_seconds: dict, default: float | None = None,
               samples: dict | None = None, rng: np.random.Generator | None = None,
               override: dict[int, float] | None = None, skip=frozenset()) -> ReplayFaults:
    """The replay's faults from each recorded fault's effect (``sim.calibration.effects``) and
    its class's figure in ``outage_seconds`` (class -> seconds: the calibration's
    ``outage_seconds`` and ``outage_extra_seconds`` together). With ``samples`` (class -> figures
    seen, ``calibration.outage_samples``) and ``rng``, each fault of such a class draws its figure
    from them; ``override`` (fault index -> seconds) sets single faults' figures (calibration)."""
    out = ReplayFaults({})
    consts = run_constants(run)
    for i, f in enumerate(run.faults):
        e = fault_effect(run, f, consts)
        if e.effect == "slow":  # the figure: round trips per request that pay the added latency
            # no fitted factor for its class (a calibration made before latency faults were fitted):
            # the simulator engines' default round trips
            k = outage_seconds.get(e.cls, ROUND_TRIPS)
            if override and i in override:
                k = override[i]
            if e.latency > 0 and e.hold > 0 and k > 0:
                out.slows.append(Slow(e.cells, e.start, e.start + e.hold, e.latency * float(k), e.pooled))
            continue
        if not e.acts or e.cls in skip:  # skip: classes without a figure (predict flags them)
            continue
        g = outage_seconds.get(e.cls, default)  # (a fixed effect's window ignores it: its hold)
        if e.fixed:
            g = 0.0
        elif override and i in override:
            g = override[i]
        elif samples and rng is not None and samples.get(e.cls):
            g = samples[e.cls][int(rng.integers(len(samples[e.cls])))]
        if g is None:
            raise HivesimError(f"calibration: no outage time for fault kind {e.cls!r} "
                               f"(calibrated kinds: {', '.join(sorted(outage_seconds)) or 'none'})")
        if e.resets:  # the in-flight requests fail at its start, whatever the window's length
            out.resets.append((e.cells, e.start + e.delay))
        w = e.window({e.cls: g})
        if w is None:
            continue
        if e.effect == "outage":
            for cell in (e.cells if e.cells is not None else range(consts["cells"])):
                out.outages.setdefault(cell, []).append((float(w[0]), float(w[1])))
                if e.exact_end:
                    out.exact.add((cell, float(w[0]), float(w[1])))
        elif e.effect == "error":
            out.errors.append((e.cells, float(w[0]), float(w[1])))
        else:
            out.holds.append((float(w[0]), float(w[1])))
    return out




def replay(model: ReplayModel, outages, seed: int, span: tuple[float, float] | None = None) -> list[tuple]:
    """One closed-loop replay (``sim.request.closed``): the per-request rows (start s, latency s,
    kind, ok, cells touched).

    Its one stream: ``sim.request.closed.loop_rng(seed)`` (a ``random.Random`` seeded from
    ``SeedSequence(seed)``). ``span`` (start, end): replay only that stretch of the run, every
    user starting at its start (the fit of a run with many faults replays each class's windows
    alone, ``sim.calibration.fit``)."""
    return closed_rows(model, outages, loop_rng(seed), span)
