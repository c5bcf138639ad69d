"""What one request-level window simulates: arrivals, tiers, faults, client and gateway rules.

A ``RequestSpec`` is plain data (frozen dataclasses, seconds and requests/second), built by
hand in tests and benchmarks or from a scenario by ``sim.request.scenario.from_scenario``.

Model (see docs/performance.md for the reasoning):

* Requests arrive as a Poisson process, constant rate or piecewise constant per ``rate_step``
  seconds (a slice of the day profile).
* Each attempt visits the tiers in order (app, then database), each a FIFO queue with ``servers``
  parallel servers (worker threads, connection-pool slots).
* ``faults`` hit the *last* tier (the database primary) and only writes (reads are served by
  standbys): ``reject`` = a write reaching the database is refused at once (failover, no
  primary); ``stall`` = a write in the window holds its slot until the window ends (SIGSTOP of
  the primary, a synchronous-replication wait) and then needs its full service time.
* The client waits at most ``timeout`` from arrival (end to end). The gateway gives each attempt
  ``retry.attempt_timeout`` and retries refused or timed-out attempts with exponential backoff
  and jitter while ``arrival + retry.deadline`` is not passed (the gateway's retry deadline).
* Nothing is cancelled: an abandoned attempt still runs through the tiers (load it causes is
  real), and a write that commits after its client gave up is an *unknown* outcome.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from sim.errors import HivesimError

__all__ = ["Tier", "RetryPolicy", "FaultWindow", "RequestSpec", "OUTCOMES", "OK", "FAILED",
           "TIMEOUT", "UNKNOWN"]

# outcome codes of RequestResult.outcome (int8)
OK, FAILED, TIMEOUT, UNKNOWN = 0, 1, 2, 3
OUTCOMES = ("ok", "failed", "timeout", "unknown")


@dataclass(frozen=True)
class Tier:
    """One FIFO multi-server station."""

    name: str
    servers: int
    service_mean: float
    distribution: Literal["exponential", "fixed", "lognormal"] = "exponential"
    cv: float = 1.0  # coefficient of variation for lognormal service times

    def __post_init__(self):
        if self.servers < 1:
            raise HivesimError(f"tier {self.name}: servers must be >= 1, got {self.servers}")
        if not self.service_mean > 0:
            raise HivesimError(f"tier {self.name}: service_mean must be > 0, got {self.service_mean}")
        if self.distribution not in ("exponential", "fixed", "lognormal"):
            raise HivesimError(f"tier {self.name}: unknown distribution {self.distribution!r}")
        if self.distribution == "lognormal" and not self.cv > 0:
            raise HivesimError(f"tier {self.name}: cv must be > 0, got {self.cv}")

    def sample(self, rng, size):
        """Service times (seconds) of ``size`` attempts."""
        m = self.service_mean
        if self.distribution == "exponential":
            # rng.exponential(m, size) is m * (a standard exponential draw), draw by draw; the
            # standard draws filled in bulk and scaled in place are the same floats, ~40 % cheaper
            x = rng.standard_exponential(size)
            x *= m
            return x
        if self.distribution == "fixed":
            import numpy as np
            return np.full(size, m)
        s2 = math.log1p(self.cv * self.cv)  # lognormal with mean m and the given cv
        return rng.lognormal(math.log(m) - s2 / 2, math.sqrt(s2), size)


@dataclass(frozen=True)
class RetryPolicy:
    """The gateway's retries. ``max_attempts=1`` turns retries off."""

    max_attempts: int = 1
    backoff: float = 0.05       # first backoff (s)
    multiplier: float = 2.0     # backoff grows by this factor per retry
    max_backoff: float = 2.0    # cap of one backoff (s)
    jitter: Literal["full", "equal", "none"] = "full"
    deadline: float = math.inf  # no attempt starts later than arrival + deadline (s)
    attempt_timeout: float = math.inf  # the gateway abandons (and may retry) an attempt after this

    def __post_init__(self):
        if self.max_attempts < 1:
            raise HivesimError(f"retry.max_attempts must be >= 1, got {self.max_attempts}")
        if self.jitter not in ("full", "equal", "none"):
            raise HivesimError(f"retry.jitter: expected full, equal or none, got {self.jitter!r}")
        if self.backoff < 0 or self.max_backoff < 0 or self.multiplier < 1:
            raise HivesimError("retry: backoff and max_backoff must be >= 0, multiplier >= 1")
        if not self.attempt_timeout > 0 or not self.deadline > 0:
            raise HivesimError("retry: attempt_timeout and deadline must be > 0")


@dataclass(frozen=True)
class FaultWindow:
    """A database fault in [start, end) seconds from the start of the window."""

    start: float
    end: float
    kind: Literal["reject", "stall", "slow"] = "reject"
    delay: float = 0.0  # s added to the answer of a write served in a ``slow`` window (latency fault)

    def __post_init__(self):
        if not self.end > self.start:
            raise HivesimError(f"fault window: end ({self.end}) must be after start ({self.start})")
        if self.kind not in ("reject", "stall", "slow"):
            raise HivesimError(f"fault window: kind must be reject, stall or slow, got {self.kind!r}")
        if self.delay < 0 or (self.kind == "slow") != (self.delay > 0):
            raise HivesimError(f"fault window: a slow window needs delay > 0, the others none; got "
                               f"{self.kind} with delay {self.delay}")


@dataclass(frozen=True)
class RequestSpec:
    """A bounded window of one or a few cells, simulated request by request."""

    rate: float | tuple[float, ...] = 100.0   # requests/s: constant, or one value per rate_step
    tiers: tuple[Tier, ...] = (Tier("app", 16, 0.010), Tier("db", 8, 0.002))
    horizon: float = 60.0          # arrivals in [0, horizon)
    warmup: float = 0.0            # requests arriving before this are simulated, not measured
    timeout: float = math.inf      # client's end-to-end timeout (s)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    faults: tuple[FaultWindow, ...] = ()
    write_fraction: float = 1.0    # share of requests that are writes (faults hit writes only)
    rate_step: float = 1.0         # seconds per entry when rate is a tuple

    def __post_init__(self):
        if not 1 <= len(self.tiers) <= 7:  # the event loop packs the tier into 3 bits
            raise HivesimError(f"request spec: expected 1 to 7 tiers, got {len(self.tiers)}")
        if not self.horizon > 0 or not 0 <= self.warmup < self.horizon:
            raise HivesimError(f"request spec: need horizon > 0 and 0 <= warmup < horizon, got "
                               f"{self.horizon}, {self.warmup}")
        rates = self.rate if isinstance(self.rate, tuple) else (self.rate,)
        if any(r < 0 for r in rates) or not any(r > 0 for r in rates):
            raise HivesimError(f"request spec: rate must be >= 0 with some rate > 0, got {self.rate}")
        if not 0 <= self.write_fraction <= 1:
            raise HivesimError(f"request spec: write_fraction must be in [0, 1], got {self.write_fraction}")
        if not self.timeout > 0:
            raise HivesimError(f"request spec: timeout must be > 0, got {self.timeout}")
        ws = sorted(self.faults, key=lambda w: w.start)
        hard = [w for w in ws if w.kind != "slow"]  # a slow window may overlap the others
        for a, b in zip(hard, hard[1:]):
            if b.start < a.end:
                raise HivesimError(f"request spec: fault windows overlap ({a} and {b})")
        object.__setattr__(self, "faults", tuple(ws))

    @property
    def stalls(self) -> tuple[tuple[float, float], ...]:
        return tuple((w.start, w.end) for w in self.faults if w.kind == "stall")

    @property
    def rejects(self) -> tuple[tuple[float, float], ...]:
        return tuple((w.start, w.end) for w in self.faults if w.kind == "reject")

    @property
    def slows(self) -> tuple[tuple[float, float, float], ...]:
        """(start, end, delay) of the slow windows: a write whose database service starts in one
        is answered ``delay`` later (the server is not held longer: the wait is on the path)."""
        return tuple((w.start, w.end, w.delay) for w in self.faults if w.kind == "slow")

    @property
    def retries_possible(self) -> bool:
        """Can any attempt be retried? If not, the vectorised path is exact."""
        if self.retry.max_attempts <= 1:
            return False
        return bool(self.rejects) or math.isfinite(self.retry.attempt_timeout)
