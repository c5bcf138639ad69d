"""The per-request and per-transfer records a live run leaves behind, and how to read them.

Every Locust process (the single local runner, or each worker in master/worker mode) writes
two files into the record directory, named by its PID so processes never share a file:

``requests-<pid>.csv``  one row per HTTP request:
    ``t,latency_ms,kind,status,outcome,cells`` -- ``t`` is the request's start (Unix seconds),
    ``kind`` one of ``read``, ``intra``, ``cross`` (user operations) or ``resolve`` (a status
    lookup that settles an unknown outcome), ``status`` the HTTP status (0 = no response),
    ``outcome`` one of :data:`OUTCOMES`, ``cells`` the cells the request touches, the one that
    serves it first (``0``; ``0;1`` for a cross-cell transfer from cell 0, whose credit in cell 1
    goes through the relay later; empty if unknown) so a fault in one cell is measured on the
    requests that cell serves.
``transfers-<pid>.jsonl``  one JSON object per transfer the client *requested*, written
    twice, Jepsen style: once before the first attempt (``outcome: unknown``, the invocation)
    and again when the client is done with it (the completion; the last line of a key wins).
    A transfer in flight when the load stopped keeps its invocation line, so the history never
    misses a request the bank may have applied. Fields: key, from, to, amount, cross, t (first attempt),
    attempts, ``outcome`` (see :data:`TRANSFER_OUTCOMES`) and ``status`` (the bank's word:
    applied / pending / rejected, or null).

These files are the client's history: the checker compares them with the bank's state and
the recovery analysis reads the request rows. Both are plain files so that a run's results can
be re-checked later without the processes.
"""

from __future__ import annotations

import csv
import glob
import json
import os
from dataclasses import asdict, dataclass, field

from sim.errors import HivesimError
from sim.files import open_text
# the user operations' kinds as records spell them: defined once, with the mix (sim.scenario.mix)
from sim.scenario.mix import USER_KINDS

__all__ = ["OUTCOMES", "TRANSFER_OUTCOMES", "USER_KINDS", "RequestRow", "TransferRecord",
           "classify_status", "RecordWriter", "read_requests", "read_transfers"]

# ok: a definite, correct answer (2xx; or a business rejection such as 422 insufficient funds)
# rejected: 4xx for a request the client thought valid (counted as failed: a bug somewhere)
# unavailable: 503, the bank says nothing changed
# unknown: 504, a broken connection or a client timeout: the commit may or may not have happened
# error: any other 5xx
OUTCOMES = ("ok", "rejected", "unavailable", "unknown", "error")
# outcome of a whole transfer after the client's retries and status lookups
#  acknowledged: POST answered 2xx (applied or pending)
#  declined: the bank refused it for a business reason (422 insufficient funds)
#  failed: every attempt was a definite "nothing changed" (503 or 4xx): must not be applied
#  resolved: an attempt had an unknown outcome, and a status lookup settled it (status says how)
#  unknown: still unknown when the client gave up; the checker settles it against the bank
TRANSFER_OUTCOMES = ("acknowledged", "declined", "failed", "resolved", "unknown")


def classify_status(status: int, business_reject: bool = False) -> str:
    """Map an HTTP status (0 = no response) to one of :data:`OUTCOMES`."""
    if 200 <= status < 300 or business_reject:
        return "ok"
    if status == 0 or status == 504:
        return "unknown"
    if status == 503:
        return "unavailable"
    if 400 <= status < 500:
        return "rejected"
    return "error"


@dataclass(frozen=True)
class RequestRow:
    t: float
    latency_ms: float
    kind: str
    status: int
    outcome: str
    cells: str = ""

    def touches(self, cell: int) -> bool:
        """True if ``cell`` serves this request (or its cells were not recorded). A cross-cell
        transfer is served by its source cell; the destination is credited asynchronously."""
        return not self.cells or self.cells.split(";")[0] == str(cell)

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


@dataclass
class TransferRecord:
    key: str
    src: str
    dst: str
    amount: int
    cross: bool
    t: float
    outcome: str
    status: str | None = None
    attempts: int = 1
    t_done: float | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        d = asdict(self)
        d["from"], d["to"] = d.pop("src"), d.pop("dst")
        return json.dumps(d, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict) -> "TransferRecord":
        d = dict(d)
        d["src"], d["dst"] = d.pop("from"), d.pop("to")
        return cls(**d)


class RecordWriter:
    """Appends request rows and transfer records of one process to its two files."""

    def __init__(self, directory: str, tag: str | None = None):
        os.makedirs(directory, exist_ok=True)
        tag = tag or str(os.getpid())
        self.requests_path = os.path.join(directory, f"requests-{tag}.csv")
        self.transfers_path = os.path.join(directory, f"transfers-{tag}.jsonl")
        new = not os.path.exists(self.requests_path)
        self._req = open(self.requests_path, "a", newline="", encoding="utf-8")
        self._csv = csv.writer(self._req)
        if new:
            self._csv.writerow(["t", "latency_ms", "kind", "status", "outcome", "cells"])
        self._tr = open(self.transfers_path, "a", encoding="utf-8")

    def request(self, t: float, latency_ms: float, kind: str, status: int, outcome: str, cells: str = "") -> None:
        self._csv.writerow([f"{t:.6f}", f"{latency_ms:.3f}", kind, status, outcome, cells])

    def transfer(self, rec: TransferRecord) -> None:
        self._tr.write(rec.to_json() + "\n")

    def flush(self) -> None:
        self._req.flush()
        self._tr.flush()

    def close(self) -> None:
        for f in (self._req, self._tr):
            if not f.closed:
                f.close()


def read_requests(directory: str) -> list[RequestRow]:
    """All request rows of a run, every process merged, sorted by start time."""
    rows: list[RequestRow] = []
    for path in sorted(glob.glob(os.path.join(directory, "requests-*.csv"))):
        with open_text(path, "request record file", HivesimError, newline="") as f:
            for r in csv.DictReader(f):
                if not r.get("t"):
                    continue  # a row cut short by a killed process
                try:
                    rows.append(RequestRow(float(r["t"]), float(r["latency_ms"]), r["kind"],
                                           int(r["status"]), r["outcome"], r.get("cells") or ""))
                except (TypeError, ValueError):
                    continue
    rows.sort(key=lambda r: r.t)
    return rows


def read_transfers(directory: str) -> list[TransferRecord]:
    """All transfer records of a run (the client's history), sorted by first attempt.

    The last line written for a key wins (completion over invocation).
    """
    out: dict[str, TransferRecord] = {}
    for path in sorted(glob.glob(os.path.join(directory, "transfers-*.jsonl"))):
        with open_text(path, "transfer record file", HivesimError) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = TransferRecord.from_dict(json.loads(line))
                except (ValueError, TypeError, KeyError):
                    continue  # a line cut short by a killed process
                out[rec.key] = rec
    return sorted(out.values(), key=lambda r: r.t)
