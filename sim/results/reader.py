"""The one reader of run directories, simulated and live (the results contract).

A run directory holds ``summary.json``, ``scenario.yaml``, ``events.csv``, ``timeseries.csv``
and, when the engine wrote it, ``replications.csv`` (docs/results-contract.md). Readers (report,
gate, compare, sweep, calibration, prediction) read only these files through ``Run``, so
everything here serves simulated and live runs alike.

* ``load_run(path)`` (also ``Run.open(path)``): any run directory (or a bare ``summary.json``:
  then no CSVs); ``Run.to_pandas()`` gives its data frames (``sim.results.frames``);
* ``load_live_run(path)``: a ``hivesim live`` run, checked to hold what calibration and
  prediction need (``kind: live``, ``faults``, ``run``, a valid live scenario, the live
  timeseries columns); its ``Run`` offers ``scenario`` (typed), ``series``, ``faults``,
  ``duration``, ``users`` and ``deadline``.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from sim.errors import ResultsError, ScenarioError
from sim.files import CSV_MAX_BYTES, JSON_MAX_BYTES, RUN_YAML_MAX_BYTES, load_json, parse_yaml, read_text
from sim.metrics import MINUTES_PER_YEAR
from sim.results.lookup import MISSING, is_number, lookup_optional
from sim.results.shape import LIVE_REQUIRED, check_summary

__all__ = ["Run", "load_run", "load_live_run", "load_summary", "read_csv", "run_label", "downtime_budget_minutes",
           "LIVE_SERIES_COLUMNS"]

# the timeseries columns a live run must have for calibration and prediction
LIVE_SERIES_COLUMNS = ("t_start_s", "offered_requests", "failed_requests", "ok_requests", "latency_p50_ms",
                       "latency_p99_ms")


def _read_json(path: Path, required: tuple[str, ...] = ()) -> dict:
    """summary.json by the one safe reader (``sim.files``), its keys' types checked (``shape``)."""
    if not path.exists() and not path.is_symlink():
        raise ResultsError(f"{path}: no such file")
    data = load_json(path, "summary.json", JSON_MAX_BYTES, ResultsError)
    return check_summary(data, str(path), required)


def load_summary(path: str | os.PathLike) -> tuple[dict, Path | None]:
    """A summary from a run directory or a ``summary.json`` path -> (summary, run dir or None)."""
    p = Path(path)
    if p.is_dir():
        return _read_json(p / "summary.json"), p
    if p.exists():  # a FIFO or a device too: the safe reader names what it is
        return _read_json(p), (p.parent if (p.parent / "scenario.yaml").exists() else None)
    raise ResultsError(f"{p}: no such run directory or summary.json")


def read_csv(path: Path, required: tuple[str, ...] = (), replication: int | None = None) -> list[dict] | None:
    """Rows of a contract CSV with numeric fields as floats (empty: None); ``None`` when absent.

    ``replication`` keeps only that replication's rows, filtered before any conversion (events.csv
    of a long run holds tens of thousands of rows, and the timeline needs replication 0 only).
    """
    if not path.exists():
        return None
    text = read_text(path, "CSV file", CSV_MAX_BYTES, ResultsError)
    # the field limit grows to the file's size: the file limit above is the bound that matters
    csv.field_size_limit(max(CSV_MAX_BYTES, 131072))
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, [])
        missing = [c for c in required if c not in header]
        if missing:
            raise ResultsError(f"missing column(s) {', '.join(missing)}", file=str(path), line=1)
        rep_col = header.index("replication") if "replication" in header else None
        want = None if replication is None or rep_col is None else {str(replication), f"{replication}.0"}
        rows = []
        for raw in reader:
            if want is not None and raw and raw[rep_col] not in want:
                continue
            if len(raw) != len(header):
                if not raw:
                    continue
                raise ResultsError(f"expected {len(header)} fields, got {len(raw)}", file=str(path),
                                   line=reader.line_num)
            out = {}
            for k, v in zip(header, raw):
                try:
                    out[k] = float(v) if v != "" else None
                except ValueError:
                    out[k] = v
            rows.append(out)
        return rows
    except csv.Error as exc:
        raise ResultsError(f"not a valid CSV file ({exc})", file=str(path), line=reader.line_num) from None


def _nan_if_not_number(v) -> float:
    return float(v) if is_number(v) else math.nan


@dataclass
class Run:
    """One run directory: its summary, lazily read CSVs and typed views of what it holds."""

    path: Path | None           # the run directory (None for a bare summary.json)
    summary: dict               # summary.json as read
    _cache: dict = field(default_factory=dict, repr=False)  # CSVs already read, by (file, replication)

    @classmethod
    def open(cls, path: str | os.PathLike) -> "Run":
        """A run directory (or a bare summary.json), as ``load_run``: ``sim.Run.open("results/x/ID")``."""
        return load_run(path)

    def to_pandas(self, which: str | None = None):
        """pandas data frames of the run: all four as a ``Frames`` (``summary``, ``replications``,
        ``events``, ``timeseries``), or the one named by ``which`` (``sim.results.frames``)."""
        from sim.results.frames import run_frames
        frames = run_frames(self)
        return frames if which is None else frames[which]

    @property
    def kind(self) -> str:
        """``simulation``, ``live``, ... (the summary header's ``kind``)."""
        return str(self.summary.get("kind", "simulation"))

    @property
    def name(self) -> str:
        """The scenario's name ("run" when the summary does not say)."""
        sc = self.summary.get("scenario")
        return str(sc.get("name")) if isinstance(sc, dict) and sc.get("name") else "run"

    def get(self, key: str, default=None):
        """Value at a dotted key of the summary, ``default`` when absent."""
        val = lookup_optional(self.summary, key, default)
        return default if val is MISSING else val

    def csv(self, name: str, required: tuple[str, ...] = (), replication: int | None = None) -> list[dict] | None:
        """Rows of one of the run's CSV files (``None`` when absent or without a directory)."""
        if self.path is None:
            return None
        if (name, replication) not in self._cache:
            self._cache[(name, replication)] = read_csv(self.path / name, required, replication)
        return self._cache[(name, replication)]

    def events(self, replication: int | None = None) -> list[dict] | None:
        """Fault episodes (all replications, or only ``replication``)."""
        return self.csv("events.csv", ("replication", "start_s", "end_s", "cause", "effect"), replication)

    def timeseries(self) -> list[dict] | None:
        """timeseries.csv rows (empty cells: None)."""
        return self.csv("timeseries.csv", ("replication", "t_start_s", "t_end_s", "failed_fraction"))

    def replications(self) -> list[dict] | None:
        """replications.csv rows (simulated runs)."""
        return self.csv("replications.csv", ("replication", "downtime_minutes"))

    def scenario_document(self) -> dict:
        """The effective scenario as a mapping: from summary.json, else scenario.yaml (safe-loaded)."""
        sc = self.summary.get("scenario")
        if isinstance(sc, dict):
            return sc
        if self.path is not None and (self.path / "scenario.yaml").exists():
            p = self.path / "scenario.yaml"
            # the effective scenario of a big bank echoes every cell: more values than a hand-written file
            data, _ = parse_yaml(read_text(p, "run's scenario.yaml", RUN_YAML_MAX_BYTES, ResultsError), str(p),
                                 ResultsError, max_nodes=2_000_000)
            return data if isinstance(data, dict) else {}
        return {}

    def slo_availability(self) -> float | None:
        """The scenario's ``slo.availability`` (None when it has none)."""
        slo = self.scenario_document().get("slo") or {}
        val = slo.get("availability") if isinstance(slo, dict) else None
        return float(val) if is_number(val) else None

    def horizon_years(self) -> float | None:
        """Simulated (or live) time per replication after warm-up, in 365-day years."""
        h, w = self.get("run.horizon_days"), self.get("run.warmup_days") or 0.0
        if is_number(h) and h > 0:
            return max(float(h) - float(w), 0.0) / 365.0 or None
        return None

    # ---------------------------------------------------------------- typed views (calibration, prediction)
    @cached_property
    def scenario(self):
        """The effective scenario, validated into a ``Scenario`` (a bad one: ``ResultsError``)."""
        from sim.scenario import validate_document
        from sim.scenario.loader import Located
        where = str(self.path / "summary.json") if self.path else "summary.json"
        try:
            return validate_document(Located(self.scenario_document(), {}, where + ":scenario"))
        except ScenarioError as exc:
            raise ResultsError(f"{where}: scenario: {exc}") from None

    @cached_property
    def series(self) -> list[dict]:
        """timeseries.csv rows with every value a float (empty or text cells: NaN), for arithmetic."""
        rows = self.timeseries() or []
        return [{k: _nan_if_not_number(v) for k, v in r.items()} for r in rows]

    @cached_property
    def faults(self) -> list[dict]:
        """Injected faults (live runs' ``summary.faults``) that took effect, sorted by start."""
        raw = self.summary.get("faults") or []
        return sorted((f for f in raw if isinstance(f, dict) and not f.get("error")), key=lambda f: f["start"])

    @property
    def duration(self) -> float:
        """Length of the measured window in seconds (live: ``run.duration_seconds``, else one per row)."""
        return float(self.get("run.duration_seconds") or len(self.series))

    @property
    def users(self) -> int:
        """Locust users of a live run (``live.load.users``)."""
        return int(self.scenario.live.load.users)

    @property
    def deadline(self) -> float:
        """The gateway's retry deadline of a live run, in seconds (``live.gateway_deadline``)."""
        return float(self.scenario.live.gateway_deadline)

    @property
    def retry(self):
        """The gateway's and the clients' retry settings of a live run (``live.retry``; a run
        recorded before they were settings echoes none and gets the defaults its bank used)."""
        return self.scenario.live.retry

    @property
    def client_deadline(self) -> float:
        """The client's deadline for one transfer of a live run, in seconds."""
        return self.retry.client_deadline_for(self.deadline)


def load_run(path: str | os.PathLike) -> Run:
    """A run from a directory (or a bare summary.json: then no CSVs are available)."""
    summary, run_dir = load_summary(path)
    return Run(run_dir, summary)


def load_live_run(path: str | os.PathLike) -> Run:
    """A ``hivesim live`` run directory, checked to hold what calibration and prediction read."""
    p = Path(path)
    sp = p / "summary.json"
    if not p.is_dir() or not sp.exists():
        raise ResultsError(f"{p}: not a run directory (no summary.json)")
    run = Run(p, _read_json(sp))
    if run.kind != "live":
        raise ResultsError(f"{sp}: kind: expected 'live' (a hivesim live run), got {run.summary.get('kind')!r}")
    check_summary(run.summary, str(sp), LIVE_REQUIRED)
    if not (p / "timeseries.csv").exists():
        raise ResultsError(f"{p}: timeseries.csv missing")
    rows = run.timeseries()
    if rows and not set(LIVE_SERIES_COLUMNS) <= set(rows[0]):
        raise ResultsError(f"{p / 'timeseries.csv'}: expected columns {sorted(LIVE_SERIES_COLUMNS)}, "
                           f"got {sorted(rows[0])}")
    if run.scenario.live is None:
        raise ResultsError(f"{sp}: scenario.live: missing (not a live scenario)")
    return run


def run_label(run: Run, index: int | None = None) -> str:
    """Short unique-ish label for tables and legends: ``<scenario>/<run-id>``."""
    rid = run.get("run.run_id") or (run.path.name if run.path else "summary")
    label = f"{run.name}/{rid}"
    return f"#{index} {label}" if index is not None else label


def downtime_budget_minutes(slo_availability: float | None) -> float | None:
    """Minutes per year the SLO allows: (1 - A) x 525,600."""
    if slo_availability is None or not math.isfinite(slo_availability):
        return None
    return (1.0 - slo_availability) * MINUTES_PER_YEAR
