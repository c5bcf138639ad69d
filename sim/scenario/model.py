"""The typed scenario: what a bank looks like, how it fails, how it is loaded.

Vocabulary follows the domain (and ``shared/DESIGN.md``): a bank has regions with data
centres (IDCs); cells (DCNs) each with an app tier and a database replica set; a shared GNS
router and message bus. ``failures`` gives stochastic faults, ``chaos`` a deterministic
schedule reused by the live benchmark, ``slo``/``gates`` the verdict rules.

All durations are seconds, rates are events per second, fractions are in [0, 1] after
validation (see ``sim.scenario.types``). Every field has a default, so the effective scenario
echoed into results is complete.
"""

from __future__ import annotations

import copy
import re
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from sim.scenario.base import Strict
from sim.scenario.capacity import CapacitySpec
from sim.scenario.chaos import ChaosEntry, check_schedule_targets
from sim.scenario.cost import CostSpec
from sim.scenario.database import Database, Failover, Time
from sim.scenario.failure_models import ComponentFailures, ComponentOverride, Crews, FailureDist, RepairDist, overrides_of
from sim.scenario.live import Live
from sim.scenario.mix import Mix
from sim.scenario.services import Service, Step, UserType, check_paths, check_services
from sim.scenario.types import Duration, Fraction, NonNegInt, Number, PosInt, PosNumber, Rate

__all__ = [
    "Simulation", "Idc", "Region", "Failover", "Database", "AppTier", "CellSpec",
    "CellOverride", "Cells", "SharedService", "Topology", "Profile", "Workload",
    "FailureDist", "RepairDist", "ComponentFailures", "CorrelatedEvent", "PartitionEvent",
    "GrayFailures", "Changes", "Maintenance", "Correlated", "Failures", "Slo",
    "Gate", "Scenario",
]


# --------------------------------------------------------------------------- simulation
class Simulation(Strict):
    horizon: Duration = Field(365 * 86400.0, gt=0, description="simulated time per replication (365d = one year)")
    replications: PosInt = Field(200, le=1_000_000, description="independent seeded replications")
    seed: NonNegInt = Field(20231128, description="root seed; replication i uses SeedSequence(seed).spawn()[i]")
    warmup: Duration = Field(0.0, description="simulated time discarded at the start of each replication")
    workers: int | Literal["auto"] = Field("auto", description="worker processes; auto = CPU count; results do not depend on it")
    mode: Literal["fluid", "request"] = Field("fluid", description="fluid: traffic accounted between events; request: individual requests (short windows)")
    estimator: Literal["naive", "importance"] = Field("naive", description="naive Monte Carlo replications, or importance sampling for rare quorum losses")
    timeseries_step: Duration = Field(3600.0, gt=0, description="bucket width of timeseries.csv")

    @field_validator("workers")
    @classmethod
    def _workers(cls, v):
        if isinstance(v, int) and not isinstance(v, bool) and v < 1:
            raise ValueError("expected an integer >= 1 or 'auto'")
        return v

    @model_validator(mode="after")
    def _warm(self):
        if self.warmup >= self.horizon:
            raise ValueError(f"warmup ({self.warmup:g}s) must be shorter than horizon ({self.horizon:g}s)")
        return self


# --------------------------------------------------------------------------- topology
class Idc(Strict):
    name: str = Field(min_length=1, max_length=64)
    tier: Literal["I", "II", "III", "IV"] | None = Field(None, description="Uptime Institute tier (documentation)")


class Region(Strict):
    name: str = Field(min_length=1, max_length=64)
    idcs: list[Idc | str] = Field(min_length=1)

    @field_validator("idcs")
    @classmethod
    def _norm(cls, v):
        return [Idc(name=i) if isinstance(i, str) else i for i in v]


class AppTier(Strict):
    nodes: PosInt = Field(4, le=10_000)
    capacity_tps: PosNumber = Field(1000.0, description="transactions/s one app node serves")
    placement: list[str] = Field(default_factory=list, description="IDC of each node (cycled); empty = spread")
    min_nodes: PosInt = Field(1, description="below this many live nodes the cell's app tier is down")


class CellSpec(Strict):
    app: AppTier = Field(default_factory=AppTier)
    db: Database = Field(default_factory=Database)
    weight: PosNumber = Field(1.0, description="relative share of accounts (hash mapping ignores it)")
    failures: ComponentOverride | None = Field(None, description="the cell's servers' failure models in place of the bank's (written keys only)")
    services: list[Service] = Field(default_factory=list, description="services inside the cell (sim/scenario/services.py); empty = the cell is its front tier and db only")


class CellOverride(Strict):
    cells: list[int] | str = Field(description="cell indices, e.g. [0, 3] or '0-3'")
    set: dict = Field(default_factory=dict, description="keys of the cell template to override")
    services: dict[str, dict] = Field(default_factory=dict, description="keys of named services of the template to override, e.g. {ledger: {nodes: 8}}")

    def indices(self, count: int) -> list[int]:
        if isinstance(self.cells, str):
            m = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", self.cells)
            if not m:
                raise ValueError(f"expected a list of indices or a range 'a-b', got {self.cells!r}")
            lo, hi = int(m.group(1)), int(m.group(2))
            idx = list(range(lo, hi + 1))
        else:
            idx = list(self.cells)
        bad = [i for i in idx if not 0 <= i < count]
        if bad:
            raise ValueError(f"cell index {bad[0]} out of range 0-{count - 1}")
        return idx


def _deep_update(base: dict, over: dict) -> dict:
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _deep_update(base[k], v)
        else:
            base[k] = v
    return base


class Cells(Strict):
    count: PosInt = Field(1, le=100_000)
    template: CellSpec = Field(default_factory=CellSpec)
    overrides: list[CellOverride] = Field(default_factory=list)

    def specs(self) -> list[CellSpec]:
        """Each cell's spec: the template with the overrides naming it deep-merged in order.

        Validated after each override (``ValueError`` naming ``cells.overrides[i].set.<key>``).
        Cells with the same overrides share one spec object, so a bank of 100,000 cells with one
        override range validates two specs, not 100,000.
        """
        which: list[tuple[int, ...]] = [()] * self.count
        for oi, ov in enumerate(self.overrides):
            for i in ov.indices(self.count):
                which[i] = which[i] + (oi,)
        done: dict[tuple[int, ...], CellSpec] = {(): self.template}
        out = []
        for seq in which:
            spec = done.get(seq)
            if spec is None:
                raw = self.template.model_dump(mode="python")
                for oi in seq:
                    _deep_update(raw, copy.deepcopy(self.overrides[oi].set))
                    by_name = {s["name"]: s for s in raw.get("services") or []}
                    for name, keys in self.overrides[oi].services.items():
                        if name not in by_name:
                            raise ValueError(f"cells.overrides[{oi}].services.{name}: names no service of the cell "
                                             f"(known: {', '.join(by_name) or 'none'})")
                        _deep_update(by_name[name], copy.deepcopy(keys))
                    try:
                        spec = CellSpec.model_validate(raw)
                    except ValidationError as exc:
                        e = exc.errors(include_url=False)[0]
                        loc = ".".join(str(p) for p in e["loc"])
                        got = e.get("input")
                        if e["type"] == "extra_forbidden":
                            msg = f"unknown key {e['loc'][-1]!r} in the cell template"
                        else:
                            msg = e["msg"].removeprefix("Value error, ")
                            if not isinstance(got, (dict, list)):  # a whole section says nothing
                                msg += f" (got {got!r})"
                        raise ValueError(f"cells.overrides[{oi}].set.{loc}: {msg}") from None
                done[seq] = spec
            out.append(spec)
        return out


class SharedService(Strict):
    replicas: PosInt = Field(3, le=101)
    quorum: PosInt = Field(1, description="replicas that must be up for the service to work")
    placement: list[str] = Field(default_factory=list)
    failover: Time = Field(0.0, description="service interruption when a replica is lost (client re-routing); a duration or {dist, median, p95}")
    failures: ComponentOverride | None = Field(None, description="its replicas' failure models in place of the bank's (written keys only)")

    @model_validator(mode="after")
    def _q(self):
        if self.quorum > self.replicas:
            raise ValueError(f"quorum ({self.quorum}) cannot exceed replicas ({self.replicas})")
        return self


class Topology(Strict):
    regions: list[Region] = Field(default_factory=lambda: [Region(name="region-1", idcs=["idc-a", "idc-b", "idc-c"])])
    cells: Cells = Field(default_factory=Cells)
    gns: SharedService | None = Field(default_factory=SharedService, description="global router; null = not modelled")
    bus: SharedService | None = Field(default_factory=lambda: SharedService(replicas=3, quorum=2), description="message bus for cross-cell transfers; null = not modelled")
    servers_per_rack: PosInt = Field(40, description="servers per rack, for rack failures")
    racks_per_power_domain: PosInt = Field(12, description="racks per PDU, for power events")

    @property
    def idc_names(self) -> list[str]:
        return [i.name for r in self.regions for i in r.idcs]

    @model_validator(mode="after")
    def _places(self):
        names = self.idc_names
        if len(set(names)) != len(names):
            raise ValueError("IDC names must be unique")
        known = set(names)

        def check(where, plist):
            for p in plist:
                if p not in known:
                    raise ValueError(f"{where}: unknown IDC {p!r} (known: {', '.join(names)})")
        check("cells.template.db.placement", self.cells.template.db.placement)
        check("cells.template.app.placement", self.cells.template.app.placement)
        for svc in ("gns", "bus"):
            if getattr(self, svc) is not None:
                check(f"{svc}.placement", getattr(self, svc).placement)
        for oi, ov in enumerate(self.cells.overrides):
            try:
                ov.indices(self.cells.count)
            except ValueError as exc:  # an override naming no cell is refused where it is written
                raise ValueError(f"cells.overrides[{oi}].cells: names no cell: {exc}") from None
        if self.cells.overrides:
            self.cells.specs()  # an override that breaks a cell fails here, before anything runs
        return self


# --------------------------------------------------------------------------- workload
class Profile(Strict):
    hourly: list[Number] | None = Field(None, description="24 relative weights, hour 0-23 (normalised)")
    peak_factor: PosNumber = Field(3.0, description="peak hour / mean, when hourly is not given (a von Mises day peaking at peak_hour: sim/profile.py, also the live day shape)")
    peak_hour: Number = Field(14.0, ge=0, lt=24)

    @field_validator("hourly")
    @classmethod
    def _h(cls, v):
        if v is not None:
            if len(v) != 24:
                raise ValueError(f"expected 24 hourly weights, got {len(v)}")
            if any(x < 0 for x in v) or sum(v) <= 0:
                raise ValueError("expected non-negative weights with a positive sum")
        return v


class Workload(Strict):
    accounts: PosNumber = Field(1_000_000.0)
    transactions_per_day: Rate = Field(1_000_000 / 86400.0, gt=0, description="mean offered load (write it as N/day)")
    profile: Profile = Field(default_factory=Profile)
    mix: Mix = Field(default_factory=Mix)
    mapping: Literal["hash", "range"] = Field("hash", description="how accounts map to cells: hash = equal shares, range = by cell weight")
    paths: dict[str, list[Step] | UserType] | None = Field(
        None, description="services each transaction type calls (sim/scenario/services.py); null = every service once")
    arrivals: Literal["open", "closed"] = Field(
        "open", description="simulation.mode request: open = Poisson arrivals at the offered load; closed = `users` "
                            "users, each starting an operation every users / transactions_per_day s or when its "
                            "last one is answered (so load collapses in an outage: sim/request/closed.py)")
    users: PosInt | None = Field(None, le=100_000, description="arrivals closed: concurrent users over the bank "
                                                                "(as live.load.users)")

    @field_validator("paths")
    @classmethod
    def _paths(cls, v):
        check_paths(v)
        return v

    @model_validator(mode="after")
    def _users(self):
        if self.arrivals == "closed" and self.users is None:
            raise ValueError("users: expected an integer >= 1 (the concurrent users) with arrivals: closed, got none")
        if self.arrivals == "open" and self.users is not None:
            raise ValueError(f"users: expected none with arrivals: open (Poisson arrivals have no users; "
                             f"write arrivals: closed), got {self.users}")
        return self


# --------------------------------------------------------------------------- failures
class CorrelatedEvent(Strict):
    rate: Rate = Field(gt=0, description="events per unit (rack, power domain, IDC, region), e.g. 1%/yr")
    duration: Duration = Field(gt=0, description="mean outage duration")
    distribution: Literal["exponential", "fixed", "lognormal"] = "exponential"
    sigma: PosNumber = 1.0


class PartitionEvent(CorrelatedEvent):
    """One IDC is cut off from the others (its members unreachable for quorum and clients)."""


class GrayFailures(Strict):
    rate: Rate = Field(gt=0, description="per node")
    duration: Duration = Field(gt=0)
    capacity_factor: Fraction = Field(0.3, description="a gray node serves this fraction of its capacity")
    targets: list[Literal["app", "db"]] = Field(default_factory=lambda: ["app", "db"])


class Changes(Strict):
    deploys: Rate = Field(10_000 / (365 * 86400.0), description="production changes per year, bank-wide")
    bad_fraction: Fraction = Field(0.001, description="share of changes that break service")
    rollout: Literal["canary", "global"] = "canary"
    canary_cells: PosInt = Field(1)
    escape_probability: Fraction = Field(0.05, description="a bad change passes the canary and reaches all cells")
    detection: Duration = Field(300.0, description="time to notice a bad change")
    rollback: Duration = Field(600.0, description="time to roll it back once noticed")
    impact: Fraction = Field(1.0, description="fraction of an affected cell's requests that fail")
    business_hours_only: bool = Field(True, description="changes happen only in business_hours (load-correlated failures)")
    business_hours: tuple[Number, Number] = Field((9.0, 18.0), description="[open, close) hours of the day in which "
                                                  "changes happen when business_hours_only")

    @model_validator(mode="after")
    def _hours(self):
        o, c = self.business_hours
        if not 0 <= o < c <= 24:
            raise ValueError(f"business_hours: expected 0 <= open < close <= 24, got [{o:g}, {c:g}]")
        return self


class Maintenance(Strict):
    every: Duration = Field(gt=0, description="each cell gets one window per period")
    at_hour: Number = Field(3.0, ge=0, lt=24, description="hour of day the window starts")
    duration: Duration = Field(gt=0, description="write interruption (e.g. a planned switchover)")
    impact: Literal["writes", "all"] = "writes"


class Correlated(Strict):
    rack: CorrelatedEvent | None = None
    power: CorrelatedEvent | None = None
    idc: CorrelatedEvent | None = None
    region: CorrelatedEvent | None = None
    partition: PartitionEvent | None = None
    common_cause_beta: Fraction = Field(0.0, description="fraction of server failures that take the whole replica set (beta factor)")


class Failures(Strict):
    components: ComponentFailures = Field(default_factory=ComponentFailures)
    correlated: Correlated = Field(default_factory=Correlated)
    gray: GrayFailures | None = None
    changes: Changes | None = None
    maintenance: Maintenance | None = None
    crews: Crews | None = Field(None, description="repair crews per tier (GNS, bus, app, db), for the bank or per IDC; null = unlimited")


# --------------------------------------------------------------------------- verdict rules
class Slo(Strict):
    availability: Fraction = Field(0.99999, description="request-weighted availability target")
    latency: Duration = Field(0.2, description="a request slower than this counts against availability.request_slo")
    window: Duration = Field(30 * 86400.0, description="SLO window for windowed gates")


class Gate(Strict):
    metric: str = Field(description="dotted key of summary.json, e.g. availability.request.nines")
    op: Literal[">=", "<=", ">", "<", "==", "!="]
    value: Number
    window: Literal["run", "worst_day", "worst_30d"] = "run"

    @classmethod
    def parse(cls, text: str) -> "Gate":
        m = re.fullmatch(r"\s*(?:(worst_day|worst_30d|run):)?\s*([A-Za-z0-9_.\[\]-]+)\s*(>=|<=|==|!=|>|<)\s*(\S+)\s*", text)
        if not m:
            raise ValueError(f"expected 'metric op value' such as 'availability.request.nines>=5', got {text!r}")
        from sim.units import parse_fraction, parse_number
        raw = m.group(4)
        value = parse_fraction(raw) if raw.endswith("%") else parse_number(raw)
        return cls(metric=m.group(2), op=m.group(3), value=value, window=m.group(1) or "run")


# --------------------------------------------------------------------------- the scenario
class Scenario(Strict):
    name: str = Field("scenario", min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    simulation: Simulation = Field(default_factory=Simulation)
    topology: Topology = Field(default_factory=Topology)
    workload: Workload = Field(default_factory=Workload)
    failures: Failures = Field(default_factory=Failures)
    chaos: list[ChaosEntry] = Field(default_factory=list)
    slo: Slo = Field(default_factory=Slo)
    gates: list[Gate | str] = Field(default_factory=list)
    # sections owned by later issues; kept as plain, validated-by-owner mappings
    capacity: CapacitySpec | None = Field(None, description="service demands, node sizes, latency model (sim/scenario/capacity.py)")
    cost: CostSpec | None = Field(None, description="unit prices and amortisation (sim/scenario/cost.py)")
    live: Live | None = Field(None, description="settings of the live benchmark (cluster, load, run length)")
    calibration: dict | None = Field(None, description="measured parameters written by `hivesim calibrate` (sim.calibration; docs/calibration.md)")

    @field_validator("gates")
    @classmethod
    def _gates(cls, v):
        return [Gate.parse(g) if isinstance(g, str) else g for g in v]

    @model_validator(mode="after")
    def _chaos_targets(self):
        """Every chaos target must name something in this bank (for every engine)."""
        for i, c in enumerate(self.chaos):
            if c.at >= self.simulation.horizon and self.simulation.mode == "fluid":
                raise ValueError(f"chaos[{i}].at: {c.at:g}s is beyond the horizon ({self.simulation.horizon:g}s)")
        if self.workload.arrivals == "closed" and self.simulation.mode != "request":
            raise ValueError(f"workload.arrivals: closed arrivals are simulated by simulation.mode: request only; "
                             f"expected open, got closed (with mode {self.simulation.mode})")
        topo = self.topology
        specs = topo.cells.specs() if topo.cells.overrides else [topo.cells.template]
        if any(s.services for s in specs) and (self.simulation.mode == "request" or self.simulation.estimator == "importance"):
            raise ValueError("topology.cells.template.services: services inside cells are modelled by the fluid engine "
                             "with the naive estimator only (simulation.mode: fluid, estimator: naive)")
        first = {}
        for i, spec in enumerate(specs):
            first.setdefault(id(spec), (i, spec))
        for i, spec in first.values():
            where = "topology.cells.template" if spec is topo.cells.template else f"topology.cells (cell {i})"
            check_services(where, spec.services, self.workload.paths, topo.idc_names)
        classes = set(self.cost.server_classes) if self.cost is not None else None
        for where, ov in overrides_of(topo):
            if ov.hardware is not None and classes is not None and ov.hardware not in classes:
                raise ValueError(f"{where}.hardware: names no server class {ov.hardware!r} (known: {', '.join(classes)})")
        if self.chaos:
            check_schedule_targets(self.chaos, topo.cells.specs(), topo.idc_names, topo.gns is not None,
                                   topo.bus is not None, (self.live or Live()).etcd.members)
        return self
