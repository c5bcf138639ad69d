"""Reading run directories (the results contract) for report, gate, compare and sweep.

A run directory holds ``summary.json``, ``scenario.yaml``, ``events.csv``, ``timeseries.csv`` and,
when the engine wrote it, ``replications.csv`` (see ``docs/results-contract.md``). Readers read only
these files, so everything here works the same for simulated and live runs.

Also here: dotted-key lookup into a summary (``availability.request.worst_day.mean``,
``cells[3].nines``), the key of a figure's 95 % interval, and atomic write helpers (temp file or
temp directory, then ``os.replace``/``rename``) so a reader's outputs are never half-written.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sim.errors import ResultsError

__all__ = ["Run", "load_run", "load_summary", "lookup", "lookup_optional", "ci_key", "ci_of",
           "read_csv", "flat_keys", "atomic_write_text", "atomic_write_bytes", "atomic_dir", "MISSING",
           "downtime_budget_minutes", "run_label", "wide_console", "MINUTES_PER_YEAR"]

MINUTES_PER_YEAR = 525_600.0
MISSING = object()  # sentinel: key absent (distinct from a JSON null)
_PART_RE = re.compile(r"^([^\[\]]+)((?:\[\d+\])*)$")


def _read_json(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such file") from None
    except OSError as exc:
        raise ResultsError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ResultsError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def load_summary(path: str | os.PathLike) -> tuple[dict, Path | None]:
    """A summary from a run directory or a ``summary.json`` path -> (summary, run dir or None)."""
    p = Path(path)
    if p.is_dir():
        return _read_json(p / "summary.json"), p
    if p.is_file():
        return _read_json(p), (p.parent if (p.parent / "scenario.yaml").exists() else None)
    raise ResultsError(f"{p}: no such run directory or summary.json")


def lookup_optional(summary: dict, key: str, default=MISSING):
    """Value at dotted ``key`` (``a.b.c``, ``cells[2].nines``) or ``default`` when absent.

    A dotted key is first tried as given at each level, so a literal key with a dot in it
    (unusual, but JSON allows it) still resolves.
    """
    node = summary
    parts = key.split(".")
    i = 0
    while i < len(parts):
        if not isinstance(node, dict):
            return default
        # longest literal match first (keys such as "by_cause" never contain dots, but be safe)
        for j in range(len(parts), i, -1):
            cand = ".".join(parts[i:j])
            m = _PART_RE.match(cand)
            name, idx = (m.group(1), m.group(2)) if m else (cand, "")
            if name in node:
                node = node[name]
                for k in re.findall(r"\[(\d+)\]", idx):
                    if not isinstance(node, list) or int(k) >= len(node):
                        return default
                    node = node[int(k)]
                i = j
                break
        else:
            return default
    return node


def lookup(summary: dict, key: str, source: str = "summary.json"):
    """Value at dotted ``key``; unknown keys raise a one-line ``ResultsError`` with a hint."""
    val = lookup_optional(summary, key)
    if val is MISSING:
        # suggest the closest existing key (what a user needs to fix a typo)
        import difflib
        known = flat_keys(summary)
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ResultsError(f"{source}: unknown key {key!r}{hint}")
    return val


def flat_keys(node, prefix: str = "") -> list[str]:
    """Every leaf key of a summary in dotted form (lists of records indexed: ``cells[0].nines``)."""
    out: list[str] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "scenario" and not prefix:
                continue  # the echoed scenario is not a figure
            out += flat_keys(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(node, list) and node and all(isinstance(x, dict) for x in node):
        for i, v in enumerate(node):
            out += flat_keys(v, f"{prefix}[{i}]")
    else:
        out.append(prefix)
    return out


def ci_key(key: str) -> str | None:
    """The summary key of the 95 % interval belonging to ``key`` (a contract convention).

    ``x.mean`` -> ``x.ci95``; ``x.nines`` -> ``x.nines_ci95``; ``cells[i].availability`` ->
    ``cells[i].ci95``; ``downtime_minutes_per_year.mean`` -> ``downtime_minutes_per_year.ci95``.
    Other keys (worst-day figures, counts, cost) have no interval: ``None``.
    """
    head, _, leaf = key.rpartition(".")
    if not head:
        return None
    if leaf == "mean":
        return f"{head}.ci95"
    if leaf == "nines":
        return f"{head}.nines_ci95"
    if leaf == "availability" and re.search(r"cells\[\d+\]$", head):
        return f"{head}.ci95"
    return None


def ci_of(summary: dict, key: str) -> tuple[float, float] | None:
    """The (lo, hi) interval of ``key`` when the summary has one, else ``None``."""
    ck = ci_key(key)
    if ck is None:
        return None
    val = lookup_optional(summary, ck, None)
    if isinstance(val, (list, tuple)) and len(val) == 2 and all(_is_num(v) for v in val):
        lo, hi = float(val[0]), float(val[1])
        return (min(lo, hi), max(lo, hi))
    return None


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def read_csv(path: Path, required: tuple[str, ...] = (), replication: int | None = None) -> list[dict] | None:
    """Rows of a contract CSV with numeric fields as floats; ``None`` when the file is absent.

    ``replication`` keeps only that replication's rows, filtered before any conversion (events.csv
    of a long run holds tens of thousands of rows, and the timeline needs replication 0 only).
    """
    if not path.exists():
        return None
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, [])
            missing = [c for c in required if c not in header]
            if missing:
                raise ResultsError(f"{path}: missing column(s) {', '.join(missing)}")
            rep_col = header.index("replication") if "replication" in header else None
            want = None if replication is None or rep_col is None else {str(replication), f"{replication}.0"}
            rows = []
            for line_no, raw in enumerate(reader, start=2):
                if want is not None and raw and raw[rep_col] not in want:
                    continue
                if len(raw) != len(header):
                    if not raw:
                        continue
                    raise ResultsError(f"{path}:{line_no}: expected {len(header)} fields, got {len(raw)}")
                out = {}
                for k, v in zip(header, raw):
                    try:
                        out[k] = float(v) if v != "" else None
                    except ValueError:
                        out[k] = v
                rows.append(out)
            return rows
    except OSError as exc:
        raise ResultsError(f"{path}: cannot read ({exc.strerror})") from None


@dataclass
class Run:
    """One run directory: its summary plus lazily read CSVs."""

    path: Path | None
    summary: dict
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def kind(self) -> str:
        return str(self.summary.get("kind", "simulation"))

    @property
    def name(self) -> str:
        sc = self.summary.get("scenario")
        return str(sc.get("name")) if isinstance(sc, dict) and sc.get("name") else "run"

    def get(self, key: str, default=None):
        val = lookup_optional(self.summary, key, default)
        return default if val is MISSING else val

    def csv(self, name: str, required: tuple[str, ...] = (), replication: int | None = None) -> list[dict] | None:
        if self.path is None:
            return None
        if (name, replication) not in self._cache:
            self._cache[(name, replication)] = read_csv(self.path / name, required, replication)
        return self._cache[(name, replication)]

    def events(self, replication: int | None = None) -> list[dict] | None:
        """Fault episodes (all replications, or only ``replication``)."""
        return self.csv("events.csv", ("replication", "start_s", "end_s", "cause", "effect"), replication)

    def timeseries(self) -> list[dict] | None:
        return self.csv("timeseries.csv", ("replication", "t_start_s", "t_end_s", "failed_fraction"))

    def replications(self) -> list[dict] | None:
        return self.csv("replications.csv", ("replication", "downtime_minutes"))

    def scenario(self) -> dict:
        """The effective scenario: from summary.json, else scenario.yaml (safe-loaded)."""
        sc = self.summary.get("scenario")
        if isinstance(sc, dict):
            return sc
        if self.path is not None and (self.path / "scenario.yaml").exists():
            import yaml
            try:
                data = yaml.safe_load((self.path / "scenario.yaml").read_text(encoding="utf-8"))
            except yaml.YAMLError as exc:
                raise ResultsError(f"{self.path / 'scenario.yaml'}: not valid YAML ({exc})") from None
            return data if isinstance(data, dict) else {}
        return {}

    def slo_availability(self) -> float | None:
        slo = self.scenario().get("slo") or {}
        val = slo.get("availability") if isinstance(slo, dict) else None
        return float(val) if _is_num(val) else None

    def horizon_years(self) -> float | None:
        """Simulated (or live) time per replication after warm-up, in 365-day years."""
        h, w = self.get("run.horizon_days"), self.get("run.warmup_days") or 0.0
        if _is_num(h) and h > 0:
            return max(float(h) - float(w), 0.0) / 365.0 or None
        return None


def load_run(path: str | os.PathLike) -> Run:
    """A run from a directory (or a bare summary.json: then no CSVs are available)."""
    summary, run_dir = load_summary(path)
    return Run(run_dir, summary)


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


def wide_console(**kw):
    """A rich Console; when output is not a terminal (CI logs, pipes) use 160 columns, not 80,
    so verdict tables keep their detail column readable."""
    from rich.console import Console
    con = Console(**kw)
    if not con.is_terminal:
        con = Console(width=160, **kw)
    return con


# ------------------------------------------------------------------------- atomic writes
def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temp file in the same directory and ``os.replace``."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; results are meant to be read by others
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return p


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike, *, replace: bool = False):
    """Yield a temp sibling directory that becomes ``target`` on success (removed on failure).

    ``replace=False`` refuses an existing target (results are never silently overwritten);
    ``replace=True`` swaps a derived directory (e.g. ``plots/``) for the new one.
    """
    t = Path(target)
    if t.exists() and not replace:
        raise ResultsError(f"{t}: already exists (choose another --out or remove it)")
    t.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{t.name}.", suffix=".tmp", dir=t.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes 0700; results are meant to be shared and published
    try:
        yield tmp
        if t.exists() and replace:
            old = Path(tempfile.mkdtemp(prefix=f".{t.name}.", suffix=".old", dir=t.parent))
            os.rmdir(old)
            os.rename(t, old)
            os.rename(tmp, t)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, t)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
