"""Map a scenario onto request-level windows: ``from_scenario(scenario, window, cells)``.

A deliberately small mapping (the numbers it needs that the scenario does not hold are
``REQUEST_DEFAULTS``, named below and echoed by request mode in summary.json
``request_mode.settings``):

* rate: the bank's mean offered load x the day profile (``sim.profile.DayProfile``, the same
  one the fluid engine integrates), split equally over ``topology.cells.count`` cells;
* app tier: ``app.nodes x app_threads`` servers, each ``app_threads / app.capacity_tps`` seconds
  per transaction (so the tier's capacity is ``nodes x capacity_tps``);
* database tier: ``db_pool`` connection slots, ``db_pool / db.capacity_tps`` seconds each;
* faults: ``sim.request.faults.fault_windows`` (the one chaos -> fault-window rule), with the
  scenario's ``calibration:`` outages when it carries them.

``closed_spec`` maps the same specs onto the closed loop of ``workload.arrivals: closed``
(``sim.request.closed``); what that mapping approximates is in its docstring.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from sim.errors import HivesimError
from sim.profile import DayProfile
from sim.request.closed import ERROR_SECONDS, IN_DB_SECONDS, ClosedFaults, ClosedLoopSpec
from sim.request.faults import fault_windows
from sim.request.spec import RequestSpec, RetryPolicy, Tier
from sim.scenario.live import Live

__all__ = ["from_scenario", "closed_spec", "day_profile", "RequestDefaults", "REQUEST_DEFAULTS", "gateway_retry"]


@dataclass(frozen=True)
class RequestDefaults:
    """What the request level assumes of the *simulated* bank where the scenario says nothing.

    These describe the model bank of ``simulation.mode: request``, not the live benchmark (whose
    gateway and client settings are ``live.retry.*`` and are read by sim.calibration); they are
    echoed in every request-mode summary (``request_mode.settings``) so a result names them.
    """

    app_threads: int = 8              # worker threads per app node (app tier servers = nodes x this)
    db_pool: int = 16                 # connection slots to a cell's database
    db_capacity_tps: float = 2000.0   # a cell database's capacity when db.capacity_tps is unset
    timeout: float = 30.0             # the client's timeout for one request (s)
    # the gateway retries through a failover, within its expected length:
    retry_max_attempts: int = 100     # attempts per request (the deadline ends it first)
    retry_backoff: float = 0.1        # first wait between attempts (s), doubling ...
    retry_multiplier: float = 2.0
    retry_max_backoff: float = 1.0    # ... up to this (s)
    retry_jitter: str = "full"
    retry_deadline_margin: float = 5.0  # the gateway's deadline is failover.total + this (s)
    retry_attempt_timeout: float = 5.0  # the gateway abandons (and retries) an attempt after this (s)
    # workload.arrivals: closed (sim.request.closed; the live bank's figures, sim.calibration.replay):
    closed_in_db_seconds: float = IN_DB_SECONDS  # a write this close after an outage began was inside its commit
    closed_error_seconds: float = ERROR_SECONDS  # the latency of a refused request (an error window)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


REQUEST_DEFAULTS = RequestDefaults()


def gateway_retry(failover_total: float, d: RequestDefaults = REQUEST_DEFAULTS) -> RetryPolicy:
    """The simulated gateway's retry policy for a bank whose failover takes ``failover_total`` s."""
    return RetryPolicy(max_attempts=d.retry_max_attempts, backoff=d.retry_backoff, multiplier=d.retry_multiplier,
                       max_backoff=d.retry_max_backoff, jitter=d.retry_jitter,
                       deadline=failover_total + d.retry_deadline_margin, attempt_timeout=d.retry_attempt_timeout)


def day_profile(scenario, seconds: np.ndarray) -> np.ndarray:
    """Relative load (mean 1 over a day) at the given seconds: the fluid engine's own profile."""
    prof = DayProfile.from_spec(scenario.workload.profile)
    return np.array([prof.rate_factor(float(t)) for t in np.atleast_1d(seconds)])


def from_scenario(scenario, window: tuple[float, float] = (0.0, 300.0), cells=1, *,
                  app_threads: int = REQUEST_DEFAULTS.app_threads, db_pool: int = REQUEST_DEFAULTS.db_pool,
                  db_capacity_tps: float = REQUEST_DEFAULTS.db_capacity_tps,
                  timeout: float = REQUEST_DEFAULTS.timeout, retry: RetryPolicy | None = None,
                  warmup: float = 0.0, calibration: dict | None = None) -> list[RequestSpec]:
    """One ``RequestSpec`` per cell (``cells``: a count from cell 0, or a list of indices).

    ``calibration`` (default: the scenario's own ``calibration:`` section, present when it
    extends a file written by ``hivesim calibrate``) sets the outage per fault kind.
    """
    t0, t1 = float(window[0]), float(window[1])
    if not t1 > t0:
        raise HivesimError(f"request window: end ({t1}) must be after start ({t0})")
    ncells = scenario.topology.cells.count
    idx = list(range(cells)) if isinstance(cells, int) else list(cells)
    if not idx or any(not 0 <= i < ncells for i in idx):
        raise HivesimError(f"request window: cells must be within 0-{ncells - 1}, got {cells}")
    if calibration is None:
        calibration = getattr(scenario, "calibration", None)
    tmpl = scenario.topology.cells.template
    secs = t0 + np.arange(math.ceil(t1 - t0)) + 0.5
    rate = scenario.workload.transactions_per_day * day_profile(scenario, secs) / ncells
    tiers = (Tier("app", tmpl.app.nodes * app_threads, app_threads / tmpl.app.capacity_tps),
             Tier("db", db_pool, db_pool / (tmpl.db.capacity_tps or db_capacity_tps)))
    mix = scenario.workload.mix
    writes = (mix.intra_cell + mix.cross_cell) if tmpl.db.reads_during_failover else 1.0
    if retry is None:
        retry = gateway_retry(tmpl.db.failover.total)
    return [RequestSpec(rate=tuple(float(r) for r in rate), tiers=tiers, horizon=t1 - t0, warmup=warmup,
                        timeout=timeout, retry=retry,
                        faults=tuple(fault_windows(scenario, c, t0, t1, calibration)),
                        write_fraction=writes) for c in idx]


def _service(tiers) -> tuple[float, float]:
    """(median s, sigma) of the lognormal with the mean and variance of one pass through
    ``tiers`` without queueing: the sum of their independent service times."""
    mean = sum(t.service_mean for t in tiers)
    cv = {"exponential": lambda t: 1.0, "fixed": lambda t: 0.0, "lognormal": lambda t: t.cv}
    var = sum((cv[t.distribution](t) * t.service_mean) ** 2 for t in tiers)
    s2 = math.log1p(var / (mean * mean))
    return mean / math.exp(s2 / 2), math.sqrt(s2)


def closed_spec(scenario, specs: list[RequestSpec],
                d: RequestDefaults = REQUEST_DEFAULTS) -> tuple[ClosedLoopSpec, ClosedFaults]:
    """The closed loop (``workload.arrivals: closed``) of one request-mode window, over all the
    bank's cells: ``specs`` are the window's open-loop specs of every cell, in cell order
    (``from_scenario``), whose rate, tiers, gateway and fault windows it takes.

    Exact: ``workload.users`` users, each pacing at ``users / rate`` and waiting for its answer;
    the mix; the gateway's retry deadline (``retry.deadline``) and longest backoff; the fault
    windows' times per cell; reads through an outage as ``db.reads_during_failover`` says.
    The users' own retry rule is the live benchmark's client's (``live.retry.client_*``, its
    deadline per transfer ``client_deadline_for`` the gateway's deadline).

    Approximated (the closed loop's bank has no queue, ``sim.request.closed``):

    * the tiers: each request's latency is a lognormal with the mean and variance of the sum
      of the tiers' service times (cell 0's tiers for every cell). Exact in distribution's
      first two moments when at most ``servers`` requests are ever at a tier, which holds
      when ``users`` <= the smallest tier's servers (nothing queues); with more users the
      loop under-states latency (no queueing wait), and throughput above the tiers' capacity;
    * the rate: constant, the window's mean (the open loop follows the day profile per second);
    * cells: each operation picks a cell uniformly (``mapping: hash``; range weights ignored);
    * faults: a ``reject`` or ``stall`` window is an outage of the cell (the gateway retries
      until it ends or its deadline passes, as for a failover; the open loop's stall holds a
      server and its ``attempt_timeout`` retries are not modelled); a ``slow`` window adds its
      delay to every request of the cell (the open loop: to writes only);
    * outcomes: each client attempt is a request (as the live benchmark counts them); a failed
      one is ``failed``, never ``unknown`` or ``timeout``.
    """
    wl = scenario.workload
    n = len(specs)
    spec = specs[0]
    rate = sum(float(np.mean(s.rate)) for s in specs)  # requests/s over the bank, the window's mean
    users = int(wl.users)
    retry = (scenario.live or Live()).retry
    med, sig = _service(spec.tiers)
    mix = wl.mix
    loop = ClosedLoopSpec(
        users=users, rate_per_user=rate / users, mix=(mix.reads, mix.intra_cell, mix.cross_cell), cells=n,
        accounts=int(wl.accounts), duration=spec.horizon, deadline=spec.retry.deadline,
        op_deadline=retry.client_deadline_for(spec.retry.deadline), service={k: (med, sig) for k in ("read", "intra", "cross")},
        gateway_poll=spec.retry.max_backoff, client_backoff=float(retry.client_backoff),
        client_max_backoff=float(retry.client_max_backoff), min_service=0.0,
        in_db_seconds=d.closed_in_db_seconds, error_seconds=d.closed_error_seconds, processor_sharing=False,
        reads_in_outage=not scenario.topology.cells.template.db.reads_during_failover)
    faults = ClosedFaults({})
    for c, s in enumerate(specs):
        for w in s.faults:
            if w.kind == "slow":
                faults.slows.append(((c,), w.start, w.end, w.delay))
            else:
                faults.outages.setdefault(c, []).append((w.start, w.end))
    return loop, faults
