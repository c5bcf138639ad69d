"""The results contract in code: summary header, ``run`` block, CSV columns, the key registry.

One owner for every part of docs/results-contract.md that code depends on:

* ``summary_header(kind)``: ``schema_version`` and ``kind`` (``simulation``, ``live``,
  ``prediction``, ``sweep``);
* ``run_block(scenario, ...)``: the ``run`` block of every summary (simulator, request mode,
  failed runs, live runs, predictions, sweeps); ``RUN_FIELDS`` documents each field;
* ``EVENTS_COLUMNS``, ``TIMESERIES_COLUMNS``, ``REPLICATIONS_COLUMNS`` and the live runs'
  additions (``LIVE_EVENTS_COLUMNS``, ``LIVE_TIMESERIES_COLUMNS``);
* the key registry (``KEYS``, ``spec_of``): every summary key a reader shows or judges, with its
  label, unit, which direction is better and how to format it. Console, report, compare, gate
  and sweep take their labels, directions and default key lists from here (and their number
  formats from ``sim.results.formatting``, which reads the registry).
"""

from __future__ import annotations

import fnmatch
import platform
import re
import time
from dataclasses import dataclass
from pathlib import Path

from sim import __version__

__all__ = ["SCHEMA_VERSION", "KINDS", "summary_header", "run_block", "RUN_FIELDS", "utc_iso", "scenario_file_ref", "EVENTS_COLUMNS",
           "TIMESERIES_COLUMNS", "REPLICATIONS_COLUMNS", "LIVE_EVENTS_COLUMNS", "LIVE_TIMESERIES_COLUMNS",
           "KeySpec", "KEYS", "VIEWS", "AVAILABILITY_KINDS", "is_known_key", "COST_KEY", "NINES_KEY", "spec_of", "higher_is_better", "label_of", "keys_for", "is_identifier"]

SCHEMA_VERSION = 1
KINDS = ("simulation", "live", "prediction", "sweep")


def summary_header(kind: str) -> dict:
    """The first two keys of every summary document: ``schema_version`` and ``kind``."""
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    return {"schema_version": SCHEMA_VERSION, "kind": kind}


# --------------------------------------------------------------------------- the run block
RUN_FIELDS = {
    "run_id": "UTC start time and the first 8 hex digits of the scenario's SHA-256 (the directory name)",
    "seed": "simulation.seed of the effective scenario",
    "replications": "independent replications (live runs: 1)",
    "horizon_days": "simulated (or live) time per replication, warm-up included, in days",
    "warmup_days": "warm-up left out of every figure, in days",
    "mode": "fluid | request | live",
    "workers": "worker processes (live: Locust workers; on Dask: the cluster's worker threads)",
    "scheduler": "where the replications ran: local-process-pool, or the Dask scheduler's address",
    "wall_seconds": "wall-clock time of the run",
    "scenario_sha256": "fingerprint of the effective scenario",
    "scenario_file": "the scenario file given on the command line, as an absolute path (<embedded ...>: none given)",
    "hivesim_version": "hivesim's version",
    "python": "Python's version",
    "started_utc": "UTC start time, ISO 8601 (2026-12-02T16:11:34Z)",
    "status": "ok | failed",
    "error": "the exception, when status is failed",
}


def utc_iso(t: float | None = None) -> str:
    """``t`` (seconds since the epoch; now when None) as ISO 8601 UTC: ``2026-12-02T16:11:34Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def scenario_file_ref(path) -> str | None:
    """``run.scenario_file``: the file as an absolute, resolved path, so a result read from another
    directory still names it; ``None`` and placeholders (``<embedded webank-2023>``) stay as they are."""
    if path is None or str(path).startswith("<"):
        return None if path is None else str(path)
    return str(Path(path).expanduser().resolve())


def run_block(scenario=None, *, status: str = "ok", error: str | None = None, **fields) -> dict:
    """The ``run`` block: from the effective scenario (seed, replications, horizon, warm-up, mode,
    SHA-256), this build (version, Python) and ``fields`` (which override; see ``RUN_FIELDS``;
    live runs add ``load_started_unix``, ``duration_seconds``, ``cpu_cores``).

    ``error`` is kept only when given, so a successful run has no ``error`` key.
    """
    out: dict = {}
    if scenario is not None:
        from sim.scenario import scenario_sha256
        sim = scenario.simulation
        out.update(seed=sim.seed, replications=sim.replications, horizon_days=sim.horizon / 86400.0,
                   warmup_days=sim.warmup / 86400.0, mode=sim.mode, scenario_sha256=scenario_sha256(scenario))
    out.update(hivesim_version=__version__, python=platform.python_version(), status=status)
    out.update(fields)
    if "scenario_file" in out:
        out["scenario_file"] = scenario_file_ref(out["scenario_file"])
    if error is not None:
        out["error"] = error
    return out


# --------------------------------------------------------------------------- CSV columns
EVENTS_COLUMNS = ["replication", "start_s", "end_s", "duration_s", "target", "cause", "effect", "failed_fraction"]
TIMESERIES_COLUMNS = ["replication", "t_start_s", "t_end_s", "offered_requests", "failed_requests",
                      "slow_requests", "failed_fraction", "cells_down"]
REPLICATIONS_COLUMNS = ["replication", "availability_request", "availability_time", "downtime_minutes", "outages"]
# live runs write the same columns first, then what only a live run measures
LIVE_EVENTS_COLUMNS = EVENTS_COLUMNS + ["recovery_s", "failed_requests", "stall_s", "fault_end_s", "detail"]
LIVE_TIMESERIES_COLUMNS = TIMESERIES_COLUMNS + ["ok_requests", "transfers", "latency_p50_ms", "latency_p99_ms",
                                                "faults_active", "bank_cpu_s", "machine_busy"]


# --------------------------------------------------------------------------- the key registry
@dataclass(frozen=True)
class KeySpec:
    """What a summary key means to a reader."""

    key: str                    # dotted key; '*' matches any characters ('cells[*].nines', 'availability.*.mean')
    label: str                  # what a table, plot or report calls it
    unit: str                   # 'fraction', 'nines', 'min/yr', 'tx/s', 'ms', 's', 'count', 'currency', 'id', ''
    better: str | None          # 'higher', 'lower', or None (no direction: descriptions, intervals, ids)
    format: str                 # 'pct', 'nines', 'number', 'int', 'duration', 'text', 'interval', 'extra_nine'


def _k(key, label, unit, better, format) -> KeySpec:
    return KeySpec(key, label, unit, better, format)


# First match wins: exact keys first, then families.
KEYS: tuple[KeySpec, ...] = (
    _k("availability.request.mean", "availability, request-weighted", "fraction", "higher", "pct"),
    _k("availability.request.ci95", "availability, 95% CI", "fraction", None, "interval"),
    _k("availability.request.nines", "nines (pessimistic end of CI)", "nines", "higher", "nines"),
    _k("availability.request.nines_ci95", "nines, 95% CI", "nines", None, "interval"),
    _k("availability.request.failed_per_million", "failed requests per million", "per million", "lower", "number"),
    _k("availability.time.mean", "availability, time-based", "fraction", "higher", "pct"),
    _k("availability.request_slo.mean", "availability within the latency SLO", "fraction", "higher", "pct"),
    _k("availability.request.worst_day.mean", "worst day, mean over replications", "fraction", "higher", "pct"),
    _k("availability.request.worst_day.min", "worst day, over all replications", "fraction", "higher", "pct"),
    _k("availability.request.worst_30d.mean", "worst 30 days, mean over replications", "fraction", "higher", "pct"),
    _k("availability.request.worst_30d.min", "worst 30 days, over all replications", "fraction", "higher", "pct"),
    _k("downtime_minutes_per_year.mean", "downtime, minutes per year", "min/yr", "lower", "number"),
    _k("downtime_minutes_per_year.ci95", "downtime, 95% CI", "min/yr", None, "interval"),
    # the ends of the 95 % intervals, for gates on confidence (sim.readers.confidence): for
    # availability the lower end is the pessimistic one, for downtime the upper end
    _k("downtime_minutes_per_year.lower", "downtime, lower end of the 95% CI (optimistic)", "min/yr", "lower", "number"),
    _k("downtime_minutes_per_year.upper", "downtime, upper end of the 95% CI (pessimistic)", "min/yr", "lower",
       "number"),
    _k("outages.count", "outage episodes (all replications)", "count", "lower", "int"),
    _k("outages.per_year", "outages per year", "per year", "lower", "number"),
    _k("availability.bank.mean", "availability, whole bank (rare-event + naive)", "fraction", "higher", "pct"),
    _k("durability.loss_probability_per_year", "P(acknowledged writes lost) per year", "fraction", "lower", "number"),
    _k("durability.loss_probability_per_year_ci95", "P(writes lost) per year, 95% CI", "fraction", None, "interval"),
    _k("durability.mttdl_years", "mean time to data loss, years", "years", "higher", "number"),
    _k("durability.mttdl_years_ci95", "mean time to data loss, 95% CI", "years", None, "interval"),
    _k("durability.loss_events_per_year", "data-loss events per year", "per year", "lower", "number"),
    _k("durability.by_mechanism.*", "durability, one mechanism", "", None, "number"),
    _k("cost.currency", "currency", "", None, "text"),
    _k("cost.per_account_per_year", "cost per account per year", "currency", "lower", "number"),
    _k("cost.total_per_year", "cost per year", "currency", "lower", "number"),
    _k("cost.per_extra_nine", "cost of one extra nine", "currency", "lower", "extra_nine"),
    _k("throughput.peak_tps_demand", "peak demand, tx/s", "tx/s", None, "number"),
    _k("throughput.capacity_tps", "capacity, tx/s", "tx/s", "higher", "number"),
    _k("throughput.capacity_tps_n_minus_1_idc", "capacity with one IDC lost, tx/s", "tx/s", "higher", "number"),
    _k("throughput.peak_daily_transactions", "peak daily transactions", "count", "higher", "int"),
    _k("throughput.peak_daily_transactions_n_minus_1_idc", "peak daily transactions with one IDC lost", "count",
       "higher", "int"),
    _k("throughput.headroom", "headroom, capacity / peak demand", "fraction", "higher", "number"),
    _k("throughput.headroom_n_minus_1_idc", "headroom with one IDC lost, capacity / peak demand", "fraction", "higher", "number"),
    _k("latency_ms.p50", "latency p50, ms", "ms", "lower", "number"),
    _k("latency_ms.p99", "latency p99, ms", "ms", "lower", "number"),
    _k("run.replications", "replications", "count", None, "int"),
    _k("run.seed", "seed", "id", None, "text"),
    _k("run.wall_seconds", "wall time", "s", "lower", "duration"),
    _k("run.status", "run status", "", None, "text"),
    _k("run.error", "run error", "", None, "text"),
    _k("checker.valid", "checker: history valid", "", "higher", "text"),
    _k("checker.lost", "checker: acknowledged transfers lost", "count", "lower", "int"),
    _k("checker.duplicated", "checker: transfers applied twice", "count", "lower", "int"),
    _k("checker.unknown", "checker: transfers with unknown outcome", "count", "lower", "int"),
    # families
    _k("availability.*.worst_*.*", "worst window", "fraction", "higher", "pct"),
    _k("availability.*.mean", "availability", "fraction", "higher", "pct"),
    _k("availability.*.lower", "availability, lower end of the 95% CI (pessimistic)", "fraction", "higher", "pct"),
    _k("availability.*.upper", "availability, upper end of the 95% CI (optimistic)", "fraction", "higher", "pct"),
    _k("availability.*.nines", "nines (pessimistic end of CI)", "nines", "higher", "nines"),
    _k("availability.*.nines_ci95", "nines, 95% CI", "nines", None, "interval"),
    _k("availability.*.ci95", "availability, 95% CI", "fraction", None, "interval"),
    _k("availability.*.failed_per_million", "failed per million", "per million", "lower", "number"),
    _k("availability.*.half_width", "half-width of the 95% CI", "fraction", "lower", "number"),
    _k("availability.*.failed", "failed requests", "count", "lower", "int"),
    # the few-event interval (sim.metrics.intervals): the episodes it rests on, and whether that is few
    _k("availability.*.episodes", "outage episodes the interval rests on", "count", None, "int"),
    _k("availability.*.episodes_effective", "episodes that carry the loss (effective count)", "count", None, "number"),
    _k("availability.*.reliability", "interval reliability (few-events: < 30 episodes)", "", None, "text"),
    _k("availability.*.ci_method", "interval method", "", None, "text"),
    _k("cells[*].availability", "cell availability", "fraction", "higher", "pct"),
    _k("cells[*].nines", "cell nines (pessimistic end of CI)", "nines", "higher", "nines"),
    _k("cells[*].ci95", "cell availability, 95% CI", "fraction", None, "interval"),
    _k("cells[*].episodes", "replications where the cell lost requests", "count", None, "int"),
    _k("cells[*].reliability", "cell interval reliability (few-events: < 30 episodes)", "", None, "text"),
    _k("downtime_minutes_per_year.*ci95", "downtime, 95% CI", "min/yr", None, "interval"),
    _k("downtime_minutes_per_year.*", "downtime, minutes per year", "min/yr", "lower", "number"),
    _k("outages.by_cause.*.count", "episodes of this cause", "count", "lower", "int"),
    _k("outages.by_cause.*.downtime_minutes_per_year", "downtime of this cause, min/yr", "min/yr", "lower", "number"),
    _k("outages.by_cause.*.share", "share of the downtime", "fraction", None, "number"),
    _k("latency_ms.*", "latency, ms", "ms", "lower", "number"),
    _k("cost.*", "cost", "currency", "lower", "number"),
    _k("faults[*].recovery_seconds", "recovery time", "s", "lower", "duration"),
    _k("chaos.credit_delay_seconds.*", "credit delay of cross-cell transfers (relay/bus faults)", "s", "lower", "duration"),
    _k("faults[*].failed_requests", "failed requests during the fault", "count", "lower", "int"),
)

# The keys each reader lists by default, in its table order (every one is in KEYS: a test checks).
_AVAIL = ["availability.request.mean", "availability.request.nines", "availability.request.failed_per_million",
          "availability.time.mean", "availability.request_slo.mean", "availability.request.worst_day.mean",
          "availability.request.worst_30d.mean"]
_CAPACITY = ["throughput.peak_tps_demand", "throughput.capacity_tps", "throughput.capacity_tps_n_minus_1_idc",
             "throughput.peak_daily_transactions", "throughput.peak_daily_transactions_n_minus_1_idc",
             "throughput.headroom", "latency_ms.p50", "latency_ms.p99"]
_COST = ["cost.total_per_year", "cost.per_account_per_year", "cost.per_extra_nine"]
VIEWS: dict[str, list[str]] = {
    # hivesim run's console table (each availability row also shows its CI and nines)
    "console": ["availability.request.mean", "availability.time.mean", "availability.request_slo.mean",
                "availability.request.worst_day.mean", "availability.request.worst_day.min",
                "availability.request.worst_30d.mean", "availability.request.worst_30d.min",
                "downtime_minutes_per_year.mean", "outages.count", "outages.per_year", "availability.bank.mean",
                "durability.loss_probability_per_year", "durability.mttdl_years"] + _CAPACITY + _COST,
    # report.html's capacity and cost rows (availability has its own per-kind layout there)
    "report": _CAPACITY + _COST,
    "compare": _AVAIL + ["downtime_minutes_per_year.mean", "outages.per_year", "throughput.capacity_tps",
                         "throughput.capacity_tps_n_minus_1_idc", "latency_ms.p99", "cost.per_account_per_year",
                         "cost.total_per_year", "run.replications", "run.seed"],
    "sweep": ["availability.request.mean", "availability.request.ci95", "availability.request.nines",
              "availability.request.nines_ci95", "availability.request.failed_per_million",
              "availability.request.worst_day.min", "availability.request.worst_30d.min", "availability.time.mean",
              "downtime_minutes_per_year.mean", "downtime_minutes_per_year.ci95", "outages.count", "outages.per_year",
              "cost.currency", "cost.per_account_per_year", "cost.total_per_year", "throughput.capacity_tps",
              "throughput.capacity_tps_n_minus_1_idc", "latency_ms.p99", "run.replications", "run.seed",
              "run.wall_seconds"],
}

COST_KEY, NINES_KEY = "cost.per_account_per_year", "availability.request.nines"  # the frontier's axes
_INDEX_RE = re.compile(r"\[\d+\]")


def spec_of(key: str) -> KeySpec | None:
    """The registry entry of a dotted key (``cells[3].nines`` matches ``cells[*].nines``), or None."""
    norm = _INDEX_RE.sub("[*]", key)
    for spec in KEYS:
        if spec.key == norm or ("*" in spec.key and fnmatch.fnmatchcase(norm, spec.key)):
            return spec
    return None


# the kinds of availability a summary.json holds (availability.<kind>.mean, ...)
AVAILABILITY_KINDS = ("request", "time", "request_slo", "quorum_loss", "bank")


def is_known_key(key: str) -> bool:
    """Whether ``key`` can appear in a summary.json: registered, and a known availability kind."""
    if spec_of(key) is None:
        return False
    parts = key.split(".")
    return parts[0] != "availability" or (len(parts) > 1 and parts[1] in AVAILABILITY_KINDS)


def keys_for(view: str) -> list[str]:
    """The keys a reader lists by default (``console``, ``report``, ``compare``, ``sweep``), in table order."""
    return list(VIEWS[view])


def higher_is_better(key: str) -> bool | None:
    """Whether a higher value of ``key`` is better (None: no direction known, the user must say)."""
    spec = spec_of(key)
    return None if spec is None or spec.better is None else spec.better == "higher"


def label_of(key: str) -> str:
    """The registry's label of ``key`` (the key itself when it is not registered)."""
    spec = spec_of(key)
    return spec.label if spec else key


def is_identifier(key: str) -> bool:
    """Keys that name something (a seed) rather than measure it: no deltas, no averages."""
    spec = spec_of(key)
    return spec is not None and spec.unit == "id"
