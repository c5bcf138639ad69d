"""The fluid engine: one replication of the bank under failures, driven by SimPy.

SimPy schedules the rare state changes (crashes, repairs, correlated outages, failovers, bad
changes, maintenance, chaos). Between two of them the bank's state is constant, so the
requests offered, failed and slow in that interval follow from the day profile's exact
integral times each cell's share and state: cost is O(events), not O(requests). The traffic
formulas are in ``sim.engine.ledger``; the replica-set rules in ``sim.engine.replica_set``.
"""

from sim.engine.episodes import DETAIL_REPLICATIONS
from sim.engine.replication import Replication, run_replication
from sim.engine.result import ReplicationResult
from sim.engine.streams import replication_rng

__all__ = ["ReplicationResult", "Replication", "run_replication", "replication_rng",
           "DETAIL_REPLICATIONS"]
