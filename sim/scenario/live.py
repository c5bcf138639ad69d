"""The scenario's ``live:`` section: settings only the live benchmark needs.

The bank's shape (regions/IDCs, number of cells, DB replicas per cell and their IDC placement,
workload mix) comes from the normal scenario sections, so one file drives both the simulator and
the live cluster. This section adds what only real processes need: where they keep their data,
which ports, how Patroni and etcd are tuned, how many app servers a cell runs, how many accounts
to seed, and the load settings of ``hivesim live`` (issue 6 may extend ``LiveLoad``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sim.scenario.base import Strict
from sim.scenario.types import Duration, NonNegInt, PosInt

__all__ = ["Live", "LivePatroni", "LiveEtcd", "LiveLoad", "LiveRetry", "CLIENT_TIMEOUT_MARGIN"]


class LivePatroni(Strict):
    """Patroni's timing (its floors: ttl >= 20, loop_wait >= 1, retry_timeout >= 3)."""

    ttl: int = Field(20, strict=True, ge=20, le=600, description="leader key lifetime, seconds")
    loop_wait: int = Field(1, strict=True, ge=1, le=60, description="seconds between HA loop runs")
    retry_timeout: int = Field(4, strict=True, ge=3, le=120, description="DCS and PostgreSQL operation retry timeout")
    synchronous_node_count: PosInt = Field(2, le=15, description="synchronous standbys (capped at replicas - 1)")
    maximum_lag_on_failover: NonNegInt = Field(1_048_576, description="bytes a standby may lag and still be promoted")
    # On by default so the live bank means what the simulator means by an etcd quorum loss (no
    # failover while it lasts, writes go on on a healthy primary: sim/scenario/chaos_effects.py).
    # Measured (2 cells, 1 s gateway deadline, etcd[quorum] crashed 10 s then 6 s): off 131 and 79
    # failed requests (the primary demotes after retry_timeout), on 12 and 0; the checker valid in both.
    failsafe_mode: bool = Field(True, description="Patroni's DCS failsafe mode: with etcd's quorum lost, the primary "
                                "stays primary while it reaches every member over the REST API (off: it demotes "
                                "after retry_timeout)")
    use_slots: bool = Field(True, description="a replication slot per member on the leader (off: standbys stream "
                            "without one; wal_keep_size 128MB keeps the WAL a rejoining member needs)")
    # Patroni's watchdog: armed, a primary whose Patroni dies is reset safety_margin s before its
    # leader key expires, so no PostgreSQL serves on without its Patroni. Without one (this VM has no
    # /dev/watchdog) such a "zombie" primary streamed WAL the promoted standby never got: the other
    # standby needed pg_rewind, and a kill-patroni's write stall took 1.8-1.9 s or 2.4-4.0 s by luck
    # (docs/calibration.md). "emulated": the fault injector does what the watchdog would (SIGKILL the
    # member's PostgreSQL at the key's expiry - safety_margin); both engines read it
    # (sim.scenario.chaos_effects.fence_margin). Off by default: a recorded run's meaning is kept.
    watchdog: Literal["off", "emulated"] = Field("off", description="fencing watchdog of a primary whose Patroni "
                                                 "died: off, or emulated by the fault injector (no /dev/watchdog here)")
    safety_margin: int = Field(5, strict=True, ge=1, le=600, description="seconds between the watchdog's reset and the "
                               "leader key's expiry (Patroni's watchdog.safety_margin; its default 5)")

    @model_validator(mode="after")
    def _floors(self):
        if self.loop_wait + 2 * self.retry_timeout > self.ttl:
            raise ValueError(f"loop_wait + 2 x retry_timeout ({self.loop_wait + 2 * self.retry_timeout}) "
                             f"must be <= ttl ({self.ttl})")
        if self.watchdog != "off" and self.ttl - self.safety_margin <= self.loop_wait:
            raise ValueError(f"the watchdog's timeout, ttl - safety_margin ({self.ttl - self.safety_margin}), must "
                             f"exceed loop_wait ({self.loop_wait}): Patroni pings it once a loop")
        return self


class LiveEtcd(Strict):
    """etcd cluster size and Raft timing (raised from 100/1000 ms so 2 busy cores do not cause elections)."""

    members: PosInt = Field(3, le=7)
    heartbeat_ms: int = Field(200, strict=True, ge=10, le=5000)
    election_ms: int = Field(2000, strict=True, ge=50, le=50000)
    in_memory: bool = Field(True, description="keep etcd's data on /dev/shm (tmpfs): a shared disk's fsync stalls "
                                              "would otherwise cause needless elections; process faults survive it")

    @model_validator(mode="after")
    def _ratio(self):
        if self.election_ms < 5 * self.heartbeat_ms:
            raise ValueError(f"election_ms ({self.election_ms}) should be >= 5 x heartbeat_ms ({self.heartbeat_ms})")
        return self


class LiveLoad(Strict):
    """Load settings of ``hivesim live`` (owned by the load/chaos side; defaults are modest)."""

    duration: Duration = Field(60.0, gt=0, le=86400, description="length of the load run")
    rate: float = Field(150.0, gt=0, le=100_000, description="target requests/s over all users")
    users: PosInt = Field(20, le=10_000, description="concurrent Locust users")
    shape: Literal["day", "constant", "step"] = Field("constant", description="load shape")
    steps: str = Field("", max_length=1000, pattern=r"^(\s*\d+@\d+(\.\d+)?\s*,?)*$", description="step shape: users@second list, e.g. '10@0,30@20,10@40'")


# seconds the client's socket timeout exceeds the gateway's deadline (LiveRetry.client_timeout_for)
CLIENT_TIMEOUT_MARGIN = 5.0


class LiveRetry(Strict):
    """How the gateway and the load's clients retry. One definition: the bank, the Locust client,
    calibration and prediction all read these (echoed in every live run's scenario.yaml), so a
    changed backoff cannot leave calibrations silently stale."""

    gateway_backoff: Duration = Field(0.02, gt=0, le=60, description="gateway's first wait between retries "
                                                                      "of a 503 or an unreachable app server; doubles")
    gateway_max_backoff: Duration = Field(0.2, gt=0, le=60, description="cap of the gateway's wait between retries")
    client_backoff: Duration = Field(0.2, gt=0, le=60, description="client's first wait after a 503 or an unknown "
                                                                   "outcome; doubles, with jitter x0.5-1.5")
    client_max_backoff: Duration = Field(1.0, gt=0, le=600, description="cap of the client's wait between retries")
    client_deadline: Duration | None = Field(None, gt=0, le=3600,
                                             description="seconds a client retries or resolves one transfer before "
                                                         "recording it failed; null = max(2 x gateway_deadline, 10 s)")

    @model_validator(mode="after")
    def _caps(self):
        for first, cap in (("gateway_backoff", "gateway_max_backoff"), ("client_backoff", "client_max_backoff")):
            if getattr(self, first) > getattr(self, cap):
                raise ValueError(f"{first} ({getattr(self, first)}) must be <= {cap} ({getattr(self, cap)})")
        return self

    def client_timeout_for(self, gateway_deadline: float) -> float:
        """The client's socket timeout per request: above the gateway's deadline by
        CLIENT_TIMEOUT_MARGIN, so the gateway answers (503/504) before the client drops the
        connection (a dropped connection is an unknown outcome, costing a status lookup)."""
        return float(gateway_deadline) + CLIENT_TIMEOUT_MARGIN

    def client_deadline_for(self, gateway_deadline: float) -> float:
        """The client's deadline for one transfer (the default covers two gateway deadlines)."""
        if self.client_deadline is not None:
            return float(self.client_deadline)
        return max(2.0 * float(gateway_deadline), 10.0)


class Live(Strict):
    """How the live cluster is run (see docs/live-cluster.md)."""

    run_dir: str | None = Field(None, description="data, logs and state; default /tmp/hivesim-live-<scenario name>")
    port_base: int | None = Field(None, ge=1024, le=64000,
                                  description="first port to use (next free ones after it); null = any free ports")
    app_servers_per_cell: PosInt = Field(1, le=16)
    accounts: NonNegInt = Field(1000, le=1_000_000, description="accounts seeded at cluster up")
    initial_balance: NonNegInt = Field(100_000, le=10**15, description="cents per seeded account")
    gateway_deadline: Duration = Field(10.0, gt=0, le=600, description="how long the gateway retries across a failover")
    db_timeout: Duration = Field(5.0, gt=0, le=600,
                                 description="a database call taking longer has its socket closed (never cancelled)")
    pool_size: PosInt = Field(8, le=200, description="database connections per app server")
    # server-side bounds of the bank's database sessions (set for the bank's role), so a lost
    # client can never hold row locks or pile sessions up behind them (docs/live-cluster.md)
    idle_in_transaction_timeout: Duration = Field(
        15.0, ge=0, le=3600, description="PostgreSQL ends a bank session idle inside a transaction this long "
                                         "(idle_in_transaction_session_timeout; 0 = never)")
    lock_timeout: Duration = Field(
        4.0, ge=0, le=3600, description="a bank statement waiting this long for a row lock fails and is retried "
                                        "(lock_timeout; below db_timeout, so the waiter is still there to retry; 0 = never)")
    statement_timeout: Duration = Field(
        30.0, ge=0, le=3600, description="PostgreSQL cancels a bank statement running this long (statement_timeout; "
                                         "COMMIT is exempt: a cancelled synchronous-replication wait would report "
                                         "an unreplicated commit; 0 = never)")
    restart_delay: Duration = Field(
        0.1, ge=0, le=60, description="supervisor's wait before restarting a dead gateway/app/relay (systemd's "
                                      "RestartSec default; doubled, up to 5 s, while a program dies within 10 s "
                                      "of its start)")
    restart_app_servers: bool = Field(True, description="the supervisor also restarts dead app servers and the relay")
    relay_interval: Duration = Field(0.05, gt=0, le=10, description="relay's poll interval when idle")
    # the relay's own rounds are a few statements of milliseconds each, so a session of the relay
    # idle inside a transaction this long means the relay is stuck (frozen, starved): ending it
    # frees the destination rows it locked, and the round is simply retried (its credit is
    # idempotent). The role's idle_in_transaction_timeout (15 s) is far too long for that: a
    # frozen relay held rows that user transfers then waited on (kinds-b: 43 failed in a 10 s pause)
    relay_idle_in_transaction_timeout: Duration = Field(
        0.5, ge=0, le=3600, description="PostgreSQL ends a relay session idle inside a transaction this long, "
                                        "releasing its row locks (0 = the bank role's idle_in_transaction_timeout)")
    checker_timeout: Duration = Field(
        300.0, gt=0, le=86400, description="total time the checker of `hivesim live` may take (relay drain, "
                                           "reads, replica checksums); past it the run ends invalid (exit 1) with "
                                           "what it saw: credits undelivered, sessions holding locks, members not ready")
    startup_timeout: Duration = Field(90.0, gt=0, le=3600, description="bring-up gives up after this long")
    patroni: LivePatroni = Field(default_factory=LivePatroni)
    etcd: LiveEtcd = Field(default_factory=LiveEtcd)
    load: LiveLoad = Field(default_factory=LiveLoad)
    retry: LiveRetry = Field(default_factory=LiveRetry)
