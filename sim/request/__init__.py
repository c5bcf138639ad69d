"""Request-level simulation of a bounded window (minutes, one or a few cells).

The fluid engine accounts traffic between discrete events; this package follows individual
transactions where queueing, client timeouts, retries with backoff and jitter, waiting through a
failover and the gateway's retry deadline matter: latency distributions during a failover,
retry storms, unknown outcomes.

Public API::

    from sim.request import RequestSpec, Tier, RetryPolicy, FaultWindow, simulate_window
    res = simulate_window(RequestSpec(rate=800, faults=(FaultWindow(20, 50, "reject"),)),
                          np.random.default_rng(1), replications=10)
    res.counts(); res.per_second(lane=0); res.mean_wait()

It is fast by construction (no SimPy process per request): see ``sim.request.engine``.
Arrivals there are open (Poisson); ``sim.request.closed`` is the closed loop (users who pace and
wait for their answer: ``closed_rows``), which ``workload.arrivals: closed`` selects in request
mode and ``sim.calibration`` replays live runs with.
A scenario maps onto specs by ``sim.request.scenario.from_scenario`` (faults by the one rule of
``sim.request.faults``); ``simulation.mode: request`` is ``sim.request.mode`` (not imported here:
it builds the fluid engine's result records).
"""

from sim.request.closed import ClosedFaults, ClosedLoopSpec, closed_rows, loop_rng
from sim.request.engine import poisson_arrivals, simulate_window
from sim.request.result import RequestResult
from sim.request.scenario import from_scenario
from sim.request.spec import (FAILED, OK, OUTCOMES, TIMEOUT, UNKNOWN, FaultWindow, RequestSpec,
                              RetryPolicy, Tier)

__all__ = ["simulate_window", "poisson_arrivals", "from_scenario", "RequestSpec", "RequestResult",
           "Tier", "RetryPolicy", "FaultWindow", "OUTCOMES", "OK", "FAILED", "TIMEOUT",
           "UNKNOWN", "ClosedLoopSpec", "ClosedFaults", "closed_rows", "loop_rng"]
