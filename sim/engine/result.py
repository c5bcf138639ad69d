"""What one replication of the fluid engine returns (``ReplicationResult``), field by field.

Traffic figures are in "mean-rate seconds": the integral of the day profile's rate factor (mean
1), so ``offered`` is the accounted span in seconds on a flat profile; multiply by the mean
request rate (``workload.transactions_per_day``) for request counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ReplicationResult", "Episode"]

# One fault episode: (replication, start_s, end_s, duration_s, target scope, cause, effect,
# failed fraction of the bank's requests while it lasted). Times are from the end of warm-up.
# Columns: sim.results' events.csv.
Episode = tuple


@dataclass
class ReplicationResult:
    index: int                  # replication number (its seed is child `index` of the run's seed)
    span: float                 # seconds accounted (horizon - warmup)
    offered: float              # requests offered, in mean-rate seconds (see module docstring)
    failed_req: float           # requests failed, same unit as offered (request-weighted)
    failed_time: float          # integral over time of the bank's failed fraction, seconds
    cell_failed: list[float]    # per cell: failed share of that cell's own offered requests,
                                # integrated like failed_req (the cell's customers' view)
    cause_failed: dict[str, float]   # failed_req split by cause (chaos:crash, server, ...)
    cause_episodes: dict[str, int]   # outages started, by the cause that started them
    outages: int                # maximal periods with a bank failed fraction > 0
    day_offered: list[float]    # offered per simulated day (after warm-up)
    day_failed: list[float]     # failed per simulated day
    rpo_exposure: float         # seconds a cell accepted writes without a synchronous copy
    events: list[Episode] = field(default_factory=list)  # fault episodes, sorted by start
    timeseries: dict | None = None  # buckets of simulation.timeseries_step (replication 0 only)
    sim_events: int = 0         # SimPy events scheduled (for benchmarks)
    slow_req: float = 0.0       # served but slower than slo.latency (capacity model)
    latency_hist: list | None = None  # requests per sim.capacity.LATENCY_BINS_MS bin

    @property
    def availability_request_slo(self) -> float:
        """Share of requests that succeeded within the latency SLO."""
        return 1.0 - (self.failed_req + self.slow_req) / self.offered if self.offered > 0 else 1.0

    @property
    def availability_request(self) -> float:
        """Share of offered requests that succeeded."""
        return 1.0 - self.failed_req / self.offered if self.offered > 0 else 1.0

    @property
    def availability_time(self) -> float:
        """Share of time the bank served everything (time-weighted by the failed fraction)."""
        return 1.0 - self.failed_time / self.span if self.span > 0 else 1.0
