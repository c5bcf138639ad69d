"""The one atomic writer of run directories: simulator, live, prediction and sweep directories.

A directory is assembled in a hidden temporary sibling (``.NAME.XXXX.tmp``) and renamed into
place in one step, so readers never see half a run, and an existing directory is never
overwritten. Single files (``report.html``) go through a temporary file and ``os.replace``.

* ``atomic_dir(target)``: a context manager for directories written in one go (simulator runs,
  sweeps, predictions, compare, ``plots/``); on an exception the temporary directory is removed.
* ``StagedDir(target)``: the same, held open for the whole of a long run (``hivesim live`` writes
  its records into it while the load runs); ``commit()`` renames it into place. A run that dies
  half-way leaves the staging directory for inspection (its path is in the error).
* ``write_run_dir``: a complete run directory in the contract (summary.json, scenario.yaml,
  events.csv, timeseries.csv, replications.csv, extra files); ``run_csv_texts`` its CSV files' text.
* ``json_safe`` / ``dumps_json`` / ``csv_text``: the formats (NaN and inf become ``null``).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

import yaml

from sim.errors import ResultsError
from sim.results.schema import EVENTS_COLUMNS, REPLICATIONS_COLUMNS, TIMESERIES_COLUMNS

__all__ = ["check_output", "atomic_dir", "StagedDir", "atomic_write_text", "atomic_write_bytes", "write_run_dir", "write_json",
           "json_safe", "dumps_json", "csv_text", "run_csv_texts", "new_run_id", "default_run_dir", "scenario_yaml"]


# --------------------------------------------------------------------------- formats
def json_safe(obj):
    """Replace NaN/inf by None (JSON has no such numbers) and tuples by lists, recursively."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return json_safe(obj.item())
    return obj


def dumps_json(obj) -> str:
    """JSON text of a summary (indented, NaN/inf as null, numpy scalars as numbers)."""
    return json.dumps(json_safe(obj), indent=2, allow_nan=False, default=str) + "\n"


def write_json(path: str | os.PathLike, obj) -> None:
    """``dumps_json(obj)`` into ``path`` (inside a directory being assembled: no rename needed)."""
    Path(path).write_text(dumps_json(obj), encoding="utf-8")


def csv_text(rows, columns: list[str]) -> str:
    """CSV text with ``columns`` as header; rows are sequences (in column order) or dicts.

    Floats are written with 10 significant digits; dict rows may lack columns (empty cells)
    and hold extra keys (ignored).
    """
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for row in rows:
        vals = [row.get(c, "") for c in columns] if isinstance(row, dict) else row
        w.writerow(["" if v is None else f"{v:.10g}" if isinstance(v, float) else v for v in vals])
    return buf.getvalue()


def scenario_yaml(scenario_dump: dict, command: str = "hivesim run") -> str:
    """The effective scenario as YAML, re-runnable as is (with ``command``)."""
    return (f"# effective scenario: every default filled in; re-run with `{command} scenario.yaml`\n"
            + yaml.safe_dump(json_safe(scenario_dump), sort_keys=False, allow_unicode=True))


# --------------------------------------------------------------------------- names
def new_run_id(sha: str = "", t: float | None = None) -> str:
    """``<UTC time>-<first 8 hex digits of the scenario's SHA-256>`` (the time alone without one).

    ``t`` (seconds since the epoch, now when None) lets a run's id and its ``run.started_utc``
    (ISO 8601, ``sim.results.schema.utc_iso``) name the same second. The id keeps the compact
    basic format (``20261202T161134Z``): it is a directory name, and colons are not portable there.
    """
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))
    return f"{stamp}-{sha[:8]}" if sha else stamp


def default_run_dir(scenario_name: str, run_id: str, root: str | os.PathLike = "results") -> Path:
    """``root/<scenario>/<run-id>``, with a ``-2``, ``-3`` ... suffix when that name is taken."""
    base = Path(root) / scenario_name / run_id
    p, n = base, 2
    while p.exists():  # two runs in the same second: never overwrite, add a suffix
        p = base.with_name(f"{base.name}-{n}")
        n += 1
    return p


# --------------------------------------------------------------------------- output paths, checked first
def check_output(path: str | os.PathLike, kind: str = "file", *, exist_ok: bool = False) -> Path:
    """Refuse an output path that could not be written, before any work starts (``ResultsError``).

    ``kind`` is what will be written there (``"file"`` or ``"dir"``); ``exist_ok`` allows an existing
    one to be replaced (derived files such as ``report.html``). The nearest existing ancestor must
    be a writable directory (missing parents are created by the writers).
    """
    p = Path(path)
    if kind == "dir" and p.exists() and not p.is_dir():
        raise ResultsError(f"{p}: is a file, expected a directory")
    if kind == "file" and p.is_dir():
        raise ResultsError(f"{p}: is a directory, expected a file name")
    if p.exists() and not exist_ok:
        raise ResultsError(f"{p}: already exists (choose another --out or remove it)")
    anc = p.absolute().parent
    while not anc.exists() and anc != anc.parent:
        if os.path.lexists(anc):  # a dangling symbolic link
            raise ResultsError(f"{p}: its parent {anc} is a broken symbolic link")
        anc = anc.parent
    if not anc.is_dir():
        raise ResultsError(f"{p}: its parent {anc} is a file, not a directory")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise ResultsError(f"{p}: directory {anc} is not writable")
    return p


# --------------------------------------------------------------------------- atomic files and directories
def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` through a temp file in the same directory.

    ``overwrite=True`` replaces a derived file (``report.html``) with ``os.replace``;
    ``overwrite=False`` refuses an existing file, also one created meanwhile (``os.link`` fails
    on an existing name): for results that are never overwritten (a calibration file).
    """
    p = Path(path)
    if not overwrite and p.exists():
        raise ResultsError(f"{p}: already exists; choose another --out or remove it")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    except OSError as exc:
        raise ResultsError(f"{p}: cannot write: {exc.strerror or exc}") from None
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; results are meant to be read by others
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        if overwrite:
            os.replace(tmp, p)
        else:
            try:
                os.link(tmp, p)
            except FileExistsError:
                raise ResultsError(f"{p}: appeared while it was being written; not overwritten") from None
            os.unlink(tmp)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):  # a full disk, a directory where the file goes: one line, no partial file
            raise ResultsError(f"{p}: cannot write: {exc.strerror or exc}") from None
        raise
    return p


def atomic_write_text(path: str | os.PathLike, text: str, *, overwrite: bool = True) -> Path:
    """``atomic_write_bytes`` of UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"), overwrite=overwrite)


class StagedDir:
    """A hidden temporary sibling of ``target`` that becomes ``target`` on ``commit()``.

    ``replace=False`` refuses an existing target (results are never silently overwritten), both
    when staging starts and when it commits; ``replace=True`` swaps a derived directory (e.g.
    ``plots/``) for the new one.
    """

    def __init__(self, target: str | os.PathLike, *, replace: bool = False):
        self.target = Path(target)   # the final directory
        self.replace = replace       # swap an existing target instead of refusing it
        if self.target.exists() and not replace:
            raise ResultsError(f"{self.target}: already exists (choose another --out or remove it)")
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            # the staging directory, where everything is written until commit()
            self.path = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.", suffix=".tmp",
                                              dir=self.target.parent))
        except OSError as exc:
            raise ResultsError(f"{self.target}: cannot create: {exc.strerror or exc}") from None
        os.chmod(self.path, 0o755)  # mkdtemp makes 0700; results are meant to be shared and published

    def commit(self) -> Path:
        """Rename the staging directory into place (a name taken meanwhile: ``ResultsError``)."""
        t = self.target
        if t.exists() and self.replace:
            old = Path(tempfile.mkdtemp(prefix=f".{t.name}.", suffix=".old", dir=t.parent))
            os.rmdir(old)
            os.rename(t, old)
            os.rename(self.path, t)
            shutil.rmtree(old, ignore_errors=True)
        elif t.exists():
            raise ResultsError(f"{t}: appeared while it was being written; results left in {self.path}")
        else:
            os.rename(self.path, t)
        return t

    def discard(self) -> None:
        """Remove the staging directory and everything in it."""
        shutil.rmtree(self.path, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike, *, replace: bool = False):
    """Yield a staging directory that becomes ``target`` on success (removed on failure)."""
    stage = StagedDir(target, replace=replace)
    try:
        yield stage.path
        stage.commit()
    except BaseException:
        stage.discard()
        raise


# --------------------------------------------------------------------------- run directories
def run_csv_texts(events=(), timeseries=(), replications=()) -> dict[str, str]:
    """``{file name: CSV text}`` of a simulator run directory's CSV files (``replications.csv``
    only when there are replications rows)."""
    out = {"events.csv": csv_text(events, EVENTS_COLUMNS), "timeseries.csv": csv_text(timeseries, TIMESERIES_COLUMNS)}
    if replications:
        out["replications.csv"] = csv_text(replications, REPLICATIONS_COLUMNS)
    return out


def write_run_dir(out: str | os.PathLike, summary: dict, scenario_dump: dict, events=(), timeseries=(),
                  replications=(), extra_files: dict[str, str] | None = None,
                  allow_existing_empty: bool = True, csvs: dict[str, str] | None = None) -> Path:
    """Write a complete simulator run directory at ``out`` atomically; refuse to overwrite.

    ``csvs``: the CSV files' text already formatted (``run_csv_texts``), instead of ``events``,
    ``timeseries`` and ``replications`` rows.
    """
    out = Path(out)
    if out.exists() and allow_existing_empty and out.is_dir() and not any(out.iterdir()):
        out.rmdir()  # an empty directory made for us (e.g. by a CI step) is not overwritten data
    if csvs is None:
        csvs = run_csv_texts(events, timeseries, replications)
    with atomic_dir(out) as tmp:
        write_json(tmp / "summary.json", summary)
        (tmp / "scenario.yaml").write_text(scenario_yaml(scenario_dump), encoding="utf-8")
        for name, text in csvs.items():
            (tmp / name).write_text(text, encoding="utf-8")
        for name, text in (extra_files or {}).items():
            (tmp / name).write_text(text, encoding="utf-8")
    return out
