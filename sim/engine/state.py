"""The mutable state of one cell during a replication (plain data; behaviour lives elsewhere).

``replica_set`` turns this state into the fractions of the cell's writes and reads that fail;
``ledger`` accounts them; ``capacity_overlay`` adds slow and shed requests.
"""

from __future__ import annotations

__all__ = ["CellState"]


class CellState:
    """One cell: its replica set, app tier and the faults currently holding it."""

    __slots__ = ("index", "name", "share", "spec", "db", "app", "quorum", "app_min", "degrade_async",
                 "reads_in_failover", "primary", "failing_over",
                 "detected", "n_up", "app_up", "stall", "maint", "maint_all", "bad",
                 "bad_impacts", "async_since", "writes_failed", "reads_failed", "cause", "acc",
                 "snap", "episode_start", "episode_cause", "cap", "cap_key", "cap_since",
                 "cap_asked", "cap_answer", "cap_failing", "cap_primary")

    def __init__(self, plan_cell):
        self.index = plan_cell.index
        self.share = plan_cell.share          # share of the bank's accounts (and traffic)
        self.spec = plan_cell.spec            # the cell's resolved CellSpec (overrides applied)
        self.db = plan_cell.db                # server indices of the DB replicas
        self.app = plan_cell.app              # server indices of the app nodes
        self.name = f"cell[{self.index}]"   # its scope in events.csv
        # the spec's rules read at every update, looked up once (constant per replication)
        db = plan_cell.spec.db
        self.quorum = db.quorum
        self.app_min = plan_cell.spec.app.min_nodes        # app nodes the tier needs to serve
        self.degrade_async = db.on_quorum_loss == "degrade-async"
        self.reads_in_failover = bool(db.reads_during_failover)
        # replica set
        self.primary = plan_cell.db[0]        # server index, or None while there is none
        self.failing_over = False
        self.detected = False   # the primary's loss was already noticed (paused past detection)
        self.n_up = len(plan_cell.db)         # DB replicas up
        self.app_up = len(plan_cell.app)      # app nodes up
        self.async_since = None  # writes accepted without a synchronous copy since (degrade-async)
        # faults holding the cell (counters: overlapping faults nest)
        self.stall = 0          # primary paused
        self.maint = 0          # maintenance windows stopping writes
        self.maint_all = 0      # ... stopping reads too
        self.bad = 0            # bad changes active
        self.bad_impacts: list[float] = []  # impact of each bad change now active on the cell
        # what fails now, and the cell's own accounting
        self.writes_failed = 0.0  # fraction of the cell's writes failing now
        self.reads_failed = 0.0   # fraction of the cell's reads failing now
        self.cause = ""           # cause charged while impaired
        self.acc = 0.0            # the cell's own failed integral (ReplicationResult.cell_failed)
        self.snap = (0.0, 0.0, 0.0, 0.0)  # ledger integrals at the cell's last change
        self.episode_start = None
        self.episode_cause = ""
        # capacity model: capacity (tx/s) while below nominal and otherwise up; None = nominal
        self.cap = None
        self.cap_key = None     # the capacity model's (cell, cap rounded) for ``cap``
        self.cap_since = None
        self.cap_asked = None   # (app_up, primary) the capacity model was last asked about
        self.cap_answer = None  # ... and what it answered (CapacityOverlay._entry)
        # the cell at its last capacity refresh: failing, and its primary (what app node steps
        # replayed later are accounted in: CapacityOverlay.replay)
        self.cap_failing = False
        self.cap_primary = self.primary

    @property
    def impaired(self) -> bool:
        return self.writes_failed > 0.0 or self.reads_failed > 0.0
