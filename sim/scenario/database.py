"""A database replica set as scenarios write it (``db:``): replicas, quorum, failover, repair.

The cell's own set (``topology.cells.template.db``) and a service's own set (a service with
``database: own``, ``sim.scenario.services``) are both this model. Lives apart from
``sim.scenario.model`` so ``services`` can use it without an import cycle.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sim.scenario.base import Strict
from sim.scenario.failure_models import ComponentOverride
from sim.scenario.types import Duration, Fraction, NonNegInt, PosInt, PosNumber

__all__ = ["Failover", "Member", "Database"]


class Failover(Strict):
    detection: Duration = Field(10.0, description="time to notice a lost primary (Patroni ttl-like)")
    election: Duration = Field(5.0, description="time to elect the new primary")
    promotion: Duration = Field(5.0, description="time to promote it and redirect clients")
    coverage: Fraction = Field(1.0, description="probability automatic failover succeeds")
    manual: Duration = Field(900.0, description="time to restore writes by hand when automatic failover fails")

    @property
    def total(self) -> float:
        return self.detection + self.election + self.promotion


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
