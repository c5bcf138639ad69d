"""Failure and repair models of components, and their overrides per cell, service and replica.

``failures.components`` gives every server's failure models by kind (``server``, ``disk``,
``app_process``, ...). A :class:`ComponentOverride` replaces some of them for some servers: a
cell (``topology.cells.template.failures``, or per cell through ``cells.overrides``), a service
(``services[i].failures``) or one replica (``db.members[i].failures``: a primary on better
hardware, a dormant standby that fails less). Only the keys written replace the bank's; a key
written as ``null`` switches that failure off for those servers. ``hardware`` names a cost
server class (``cost.server_classes``) for those servers. :func:`resolve` is the one place the
layers are applied (bank, then cell, then service, then replica).

``failures.crews`` (:class:`Crews`) limits concurrent repairs per tier (GNS, bus, app, db; a
service's nodes are app, its own replicas db), one pool for the bank or one per IDC; a DB
replica also waits for its own set's ``db.repair_crews`` first (always in that order, so two
pools never wait on each other).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_serializer, model_validator

from sim.scenario.base import Strict
from sim.scenario.types import Duration, PosInt, PosNumber, Rate

__all__ = ["FailureDist", "RepairDist", "ComponentFailures", "ComponentOverride", "Crews", "KINDS", "resolve",
           "overrides_of"]

# the failure kinds of one server (ComponentFailures' fields other than server_roles)
KINDS = ("server", "disk", "app_process", "router_node", "bus_node", "db_process")


class FailureDist(Strict):
    """Time between failures of one component: give ``mtbf`` or ``rate`` (not both)."""

    mtbf: Duration | None = Field(None, gt=0)
    rate: Rate | None = Field(None, description="failures per component, e.g. 2/yr")
    distribution: Literal["exponential", "weibull", "lognormal", "fixed"] = "exponential"
    shape: PosNumber = Field(1.0, description="Weibull shape k (k < 1: infant mortality)")
    sigma: PosNumber = Field(1.0, description="lognormal sigma of log(time)")
    mttr: Duration = Field(3600.0, description="mean time to repair")
    repair_distribution: Literal["exponential", "weibull", "lognormal", "fixed"] = "exponential"
    repair_shape: PosNumber = 1.0
    repair_sigma: PosNumber = 1.0

    @model_validator(mode="after")
    def _one(self):
        if self.mtbf is not None and self.rate is not None:
            raise ValueError("give mtbf or rate, not both")
        if self.mtbf is None and self.rate is None:
            raise ValueError("give mtbf (e.g. 4380h) or rate (e.g. 2/yr)")
        if self.rate is not None and self.rate <= 0:
            raise ValueError("rate must be > 0 (remove the entry to disable this failure)")
        return self

    @property
    def mean_ttf(self) -> float:
        return self.mtbf if self.mtbf is not None else 1.0 / self.rate


RepairDist = FailureDist


class ComponentFailures(Strict):
    server: FailureDist | None = Field(None, description="host crash: DB replicas, app nodes, GNS and bus nodes")
    disk: FailureDist | None = Field(None, description="DB replica disk loss; repair = the replica set's rebuild time")
    app_process: FailureDist | None = Field(None, description="app process crash (restart in mttr)")
    router_node: FailureDist | None = Field(None, description="GNS replica failure")
    bus_node: FailureDist | None = Field(None, description="message bus node failure")
    db_process: FailureDist | None = Field(None, description="database process crash on a replica")
    server_roles: list[Literal["db", "app", "gns", "bus"]] = Field(
        default_factory=lambda: ["db", "app", "gns", "bus"],
        description="which machines `server` crashes apply to")


class ComponentOverride(Strict):
    """Failure models replacing the bank's for some servers; only the keys written apply."""

    server: FailureDist | None = None
    disk: FailureDist | None = None
    app_process: FailureDist | None = None
    router_node: FailureDist | None = None
    bus_node: FailureDist | None = None
    db_process: FailureDist | None = None
    hardware: str | None = Field(None, description="cost server class of these servers (cost.server_classes)")

    @model_serializer(mode="wrap")
    def _written(self, handler):
        # only the keys written: an unwritten key keeps the bank's model, a written null switches
        # it off, and the echoed scenario (and a cell override's re-validation) must keep that
        return {k: v for k, v in handler(self).items() if k in self.model_fields_set}


Crew = PosInt | Literal["unlimited"]


class Crews(Strict):
    """Repair crews per tier: how many servers of that tier are repaired at once."""

    gns: Crew = "unlimited"
    bus: Crew = "unlimited"
    app: Crew = Field("unlimited", description="app nodes and services' nodes")
    db: Crew = Field("unlimited", description="DB replicas, services' own replicas included")
    per: Literal["bank", "idc"] = Field("bank", description="one pool per tier for the bank, or one per IDC")


def overrides_of(topology):
    """Every override written in a topology, with its field path: (path, ComponentOverride)."""
    def of_cell(where, spec):
        if spec.failures is not None:
            yield f"{where}.failures", spec.failures
        for i, m in enumerate(spec.db.members):
            yield f"{where}.db.members[{i}].failures", m.failures
        for i, s in enumerate(spec.services):
            if s.failures is not None:
                yield f"{where}.services[{i}].failures", s.failures
            for j, m in enumerate(s.db.members if s.db else []):
                yield f"{where}.services[{i}].db.members[{j}].failures", m.failures
    yield from of_cell("topology.cells.template", topology.cells.template)
    for i, ov in enumerate(topology.cells.overrides):
        if "failures" in ov.set or "services" in ov.set or "db" in ov.set or ov.services:
            spec = topology.cells.specs()[ov.indices(topology.cells.count)[-1]]
            yield from of_cell(f"topology.cells.overrides[{i}]", spec)
    for name in ("gns", "bus"):
        svc = getattr(topology, name)
        if svc is not None and svc.failures is not None:
            yield f"topology.{name}.failures", svc.failures


def resolve(base: ComponentFailures, *layers: ComponentOverride | None) -> dict[str, FailureDist | None]:
    """``{kind: FailureDist or None}`` for one server: the bank's, then each layer's written keys."""
    out = {k: getattr(base, k) for k in KINDS}
    for layer in layers:
        if layer is not None:
            for k in layer.model_fields_set & set(KINDS):
                out[k] = getattr(layer, k)
    return out
