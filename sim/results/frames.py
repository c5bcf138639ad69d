"""A run directory as pandas data frames: ``Run.to_pandas()`` (docs/python-api.md).

Four frames, one per part of the results contract:

* ``summary``: one row (indexed by ``run.run_id``), one column per dotted key of summary.json
  (``availability.request.mean``, ``cells[2].nines``); an interval ``[lo, hi]`` becomes two
  columns, ``<key>_lo`` and ``<key>_hi``, as in a sweep's table.csv; the echoed scenario is left out
  (``Run.scenario_document()`` has it);
* ``replications``, ``events``, ``timeseries``: the CSV files as written, with their dtypes
  (``replication`` an integer, ``cause`` text). A file the run does not have (a live run has no
  replications.csv; a bare summary.json has no CSVs) gives an empty frame with the contract's
  columns, so code runs unchanged on every run.

The CSV text is read by the one safe reader (``sim.files``: size limit, UTF-8, regular files),
then parsed by pandas. pandas is the optional ``api`` extra (``pip install 'hivesim[api]'``):
without it ``to_pandas`` says so in one line.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from sim.errors import HivesimError, ResultsError
from sim.files import CSV_MAX_BYTES, read_text
from sim.results.lookup import flat_keys, is_number, lookup_optional
from sim.results.schema import EVENTS_COLUMNS, REPLICATIONS_COLUMNS, TIMESERIES_COLUMNS, spec_of

__all__ = ["Frames", "FRAME_NAMES", "run_frames", "summary_row"]

FRAME_NAMES = ("summary", "replications", "events", "timeseries")
# columns of the contract that hold real numbers: read as floats whatever their values (a
# column whose every value is written "0", a run without failures, would parse as integers)
_FLOAT_COLUMNS = {"availability_request", "availability_time", "downtime_minutes", "start_s", "end_s",
                  "duration_s", "failed_fraction", "t_start_s", "t_end_s"}
_CSV = {"replications": ("replications.csv", REPLICATIONS_COLUMNS),
        "events": ("events.csv", EVENTS_COLUMNS),
        "timeseries": ("timeseries.csv", TIMESERIES_COLUMNS)}


@dataclass(frozen=True)
class Frames:
    """The data frames of one run (also readable as ``frames["events"]``)."""

    summary: object        # pandas.DataFrame, one row
    replications: object   # pandas.DataFrame
    events: object         # pandas.DataFrame
    timeseries: object     # pandas.DataFrame

    def __getitem__(self, name: str):
        if name not in FRAME_NAMES:
            raise KeyError(f"{name!r}: expected one of {', '.join(FRAME_NAMES)}")
        return getattr(self, name)


def _pandas():
    # pandas is an optional extra: its absence is the user's setup, not a bug (one line, what to install)
    try:
        import pandas
    except ModuleNotFoundError as exc:
        if exc.name != "pandas":
            raise
        raise HivesimError("Run.to_pandas needs pandas, an optional extra: pip install 'hivesim[api]'") from None
    return pandas


def _is_interval(key: str, value) -> bool:
    spec = spec_of(key)
    return (isinstance(value, (list, tuple)) and len(value) == 2
            and all(v is None or is_number(v) for v in value)
            and ((spec is not None and spec.format == "interval") or key.endswith("ci95")))


def summary_row(summary: dict) -> dict:
    """summary.json flattened to ``{dotted key: value}``, intervals split into ``_lo``/``_hi``."""
    row: dict = {}
    for key in flat_keys(summary):
        value = lookup_optional(summary, key, None)
        if _is_interval(key, value):
            row[f"{key}_lo"], row[f"{key}_hi"] = value
        else:
            row[key] = value
    return row


def _csv_frame(pd, run, name: str):
    filename, columns = _CSV[name]
    path = run.path / filename if run.path is not None else None
    if path is None or not path.exists():
        return pd.DataFrame(columns=columns)
    text = read_text(path, "CSV file", CSV_MAX_BYTES, ResultsError)
    try:
        frame = pd.read_csv(io.StringIO(text))
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ResultsError(f"not a valid CSV file ({reason})", file=str(path)) from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ResultsError(f"missing column(s) {', '.join(missing)}", file=str(path), line=1)
    for c in columns:
        if c in _FLOAT_COLUMNS and frame[c].dtype.kind in "iub":
            frame[c] = frame[c].astype(float)
    return frame


def run_frames(run) -> Frames:
    """The four frames of a ``sim.results.reader.Run`` (see the module docstring)."""
    pd = _pandas()
    rid = run.get("run.run_id") or (run.path.name if run.path is not None else "summary")
    summary = pd.DataFrame([summary_row(run.summary)], index=pd.Index([str(rid)], name="run_id"))
    return Frames(summary=summary, **{name: _csv_frame(pd, run, name) for name in _CSV})
