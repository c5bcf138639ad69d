"""A database replica set as scenarios write it (``db:``): replicas, quorum, failover, repair.

Failover times are fixed durations (``detection: 10s``) or distributions (``detection: {dist:
lognormal, median: 20s, p95: 40s}``, :class:`TimeDist`); every reader that needs one figure
uses its mean (``Failover.mean``), the fluid engine draws each failover's times
(``Failover.draw``) from the cell's failover stream, and only when some time is a distribution.

The cell's own set (``topology.cells.template.db``) and a service's own set (a service with
``database: own``, ``sim.scenario.services``) are both this model. Lives apart from
``sim.scenario.model`` so ``services`` can use it without an import cycle.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from sim.distributions import Sampler

from sim.scenario.base import Strict
from sim.scenario.failure_models import ComponentOverride
from sim.scenario.types import Duration, Fraction, NonNegInt, PosInt, PosNumber

__all__ = ["TimeDist", "Time", "Failover", "Member", "Database"]

_Z95 = 1.6448536269514722   # the standard normal's 95th percentile


class TimeDist(Strict):
    """A random duration: ``dist`` with ``mean`` or ``median`` (and ``p95`` or ``sigma`` for a
    lognormal, ``shape`` for a Weibull). Draws use ``sim.distributions.Sampler`` (by mean)."""

    dist: Literal["lognormal", "exponential", "weibull", "fixed"]
    mean: Duration | None = Field(None, gt=0)
    median: Duration | None = Field(None, gt=0)
    p95: Duration | None = Field(None, gt=0, description="lognormal: 95th percentile (with median)")
    sigma: PosNumber | None = Field(None, description="lognormal sigma of log(time)")
    shape: PosNumber = Field(1.0, description="Weibull shape k")

    @model_validator(mode="after")
    def _enough(self):
        if (self.mean is None) == (self.median is None):
            raise ValueError("give mean or median (one of them)")
        if self.dist == "lognormal":
            if (self.p95 is None) == (self.sigma is None):
                raise ValueError("a lognormal needs p95 or sigma (one of them)")
            if self.p95 is not None and self.median is None:
                raise ValueError("p95 goes with median")
            if self.p95 is not None and self.p95 <= self.median:
                raise ValueError(f"p95 ({self.p95:g}s) must exceed median ({self.median:g}s)")
        elif self.p95 is not None or self.sigma is not None:
            raise ValueError(f"p95 and sigma are for a lognormal, not {self.dist}")
        if self.dist == "weibull" and self.median is not None:
            raise ValueError("a Weibull is given by mean and shape")
        return self

    def sampler(self) -> Sampler:
        if self.dist == "lognormal":
            s = self.sigma if self.sigma is not None else math.log(self.p95 / self.median) / _Z95
            mean = self.mean if self.mean is not None else self.median * math.exp(s * s / 2.0)
            return Sampler("lognormal", mean, sigma=s)
        if self.mean is not None:
            return Sampler(self.dist, self.mean, shape=self.shape)
        return Sampler(self.dist, self.median / math.log(2.0) if self.dist == "exponential" else self.median)

    @property
    def average(self) -> float:
        return self.sampler().mean


Time = Duration | TimeDist


class Failover(Strict):
    detection: Time = Field(10.0, description="time to notice a lost primary (Patroni ttl-like); a duration or {dist, median, p95}")
    election: Time = Field(5.0, description="time to elect the new primary")
    promotion: Time = Field(5.0, description="time to promote it and redirect clients")
    coverage: Fraction = Field(1.0, description="probability automatic failover succeeds")
    manual: Time = Field(900.0, description="time to restore writes by hand when automatic failover fails")

    def mean(self, name: str) -> float:
        """The mean of one time (the time itself when fixed)."""
        v = getattr(self, name)
        return v if isinstance(v, float) else v.average

    @property
    def fixed(self) -> bool:
        return all(isinstance(getattr(self, k), float) for k in ("detection", "election", "promotion", "manual"))

    @property
    def total(self) -> float:
        """Mean failover time: detection + election + promotion."""
        return self.mean("detection") + self.mean("election") + self.mean("promotion")

    def draw(self, rng, *names: str) -> float:
        """One failover's time over ``names`` (each drawn from ``rng`` when a distribution)."""
        return sum(v if isinstance(v, float) else v.sampler().draw(rng)
                   for v in (getattr(self, k) for k in names))


class Member(Strict):
    """One replica's own failure models (``db.members``): a primary on better hardware, a
    dormant standby with a lower failure rate."""

    replica: NonNegInt = Field(description="replica number, 0 = the first primary")
    failures: ComponentOverride = Field(default_factory=ComponentOverride)


class Database(Strict):
    replicas: PosInt = Field(3, le=15)
    placement: list[str] = Field(default_factory=list, description="IDC of each replica (cycled); empty = spread over all IDCs in order")
    replication: Literal["sync-quorum", "async"] = "sync-quorum"
    write_quorum: PosInt | None = Field(None, description="replicas (primary included) that must be up for writes; default: majority for sync-quorum, 1 for async")
    on_quorum_loss: Literal["stop-writes", "degrade-async"] = Field("stop-writes", description="what a sync set does when fewer than write_quorum replicas are up")
    failover: Failover = Field(default_factory=Failover)
    rebuild: Duration = Field(4 * 3600.0, description="time to rebuild a replica after its disk is lost")
    repair_crews: PosInt | Literal["unlimited"] = Field("unlimited", description="concurrent repairs within one replica set")
    reads_during_failover: bool = Field(True, description="reads are served by standbys while writes fail over")
    capacity_tps: PosNumber | None = Field(None, description="transactions/s the primary sustains (capacity issue)")
    members: list[Member] = Field(default_factory=list, description="per-replica failure overrides (sim/scenario/failure_models.py)")

    @model_validator(mode="after")
    def _quorum(self):
        if self.write_quorum is not None and self.write_quorum > self.replicas:
            raise ValueError(f"write_quorum ({self.write_quorum}) cannot exceed replicas ({self.replicas})")
        for i, m in enumerate(self.members):
            if m.replica >= self.replicas:
                raise ValueError(f"members[{i}].replica: names no replica ({m.replica}; replicas are 0-{self.replicas - 1})")
        if len({m.replica for m in self.members}) != len(self.members):
            raise ValueError("members: a replica is named twice")
        return self

    @property
    def quorum(self) -> int:
        if self.write_quorum is not None:
            return self.write_quorum
        return self.replicas // 2 + 1 if self.replication == "sync-quorum" else 1
