"""The scenario's ``capacity:`` section: service demands, node sizes and the latency model.

What a cell can serve is the minimum over its tiers: the app tier (stateless nodes, load
spread in proportion to capacity) and the database primary. Each tier's node has ``cores``
and an optional Universal Scalability Law curve; each transaction type of the workload mix
has a CPU time (service demand) at the app tier and at the database. Without ``demand``,
the per-node figures ``topology.cells.template.app.capacity_tps`` / ``db.capacity_tps`` are
used as they are (``db.capacity_tps`` unset = the database is never the bottleneck).

See ``sim.capacity`` for how these turn into capacity, shedding and latency.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from sim.scenario.base import Strict
from sim.scenario.mix import TRANSACTION_KINDS
from sim.scenario.types import Duration, Fraction, Number, PosInt

__all__ = ["TierDemand", "Demand", "NodeSize", "CapacitySpec"]


class TierDemand(Strict):
    app: Duration = Field(0.0, description="CPU time per transaction at the app tier, e.g. 4ms")
    db: Duration = Field(0.0, description="CPU time per transaction at the database primary, e.g. 2ms")


class Demand(Strict):
    """Service demand per transaction type of ``workload.mix``.

    ``cross_cell`` counts both halves of a transfer (debit in the source cell, credit in the
    destination): under hash mapping every cell is source and destination equally often.
    """

    reads: TierDemand = Field(default_factory=TierDemand)
    intra_cell: TierDemand = Field(default_factory=TierDemand)
    cross_cell: TierDemand = Field(default_factory=TierDemand)


class NodeSize(Strict):
    cores: PosInt = Field(16, le=4096, description="cores per node (servers of the M/M/c queue)")
    usl_sigma: Fraction = Field(0.0, description="USL contention coefficient (0 = linear)")
    usl_kappa: Fraction = Field(0.0, description="USL coherency coefficient (0 = no retrograde)")


class CapacitySpec(Strict):
    demand: Demand | None = Field(None, description="service demands; null = use topology app/db capacity_tps")
    app_node: NodeSize = Field(default_factory=NodeSize)
    db_node: NodeSize = Field(default_factory=NodeSize)
    standby_factor: Fraction = Field(1.0, description="capacity of a promoted standby relative to the usual primary (weaker hardware < 1)")
    arrival_cv2: Number = Field(1.0, ge=0, le=100, description="squared CV of inter-arrival times (1 = Poisson)")
    service_cv2: Number = Field(1.0, gt=0, le=100, description="squared CV of service times (1 = exponential)")
    base_latency: Duration = Field(0.005, description="fixed delay added to every request (network, gateway)")
    slo_percentile: Number = Field(99.0, gt=0, lt=100, description="percentile that must stay within slo.latency for peak_daily_transactions")
    overload_utilization: Fraction = Field(0.99, gt=0, lt=1, description="utilisation at which the latency of admitted requests is evaluated when the cell is overloaded and sheds")

    @model_validator(mode="after")
    def _demand(self):
        if self.demand is not None:
            d = self.demand
            if all(getattr(d, k).app == 0 and getattr(d, k).db == 0 for k in TRANSACTION_KINDS):
                raise ValueError("demand: at least one transaction type needs a CPU time > 0")
        return self
