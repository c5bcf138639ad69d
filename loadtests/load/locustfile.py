"""Locust bank users for the live benchmark (usable on its own like any locustfile).

Each user reads balances and makes same-cell and cross-cell transfers in the scenario's mix
(``workload.mix``), at a constant per-user rate, against the gateway (docs/live-api.md)::

    locust -f loadtests/load/locustfile.py --host http://127.0.0.1:8000                 # web UI
    locust -f loadtests/load/locustfile.py --host ... --headless -u 20 -r 20 -t 60s     # headless
    locust -f loadtests/load/locustfile.py,loadtests/load/shapes.py --shape day ...          # with a shape
    locust -f loadtests/load/locustfile.py --master ... / --worker --master-host 127.0.0.1

Transfers carry an idempotency key (uuid4 hex). Retry semantics, the point of the exercise:

* 2xx -> acknowledged; 422 insufficient funds -> declined (a correct answer, not a failure);
* 503 -> the bank says nothing changed: retry the *same key* after a short backoff;
* 504, a broken connection or a client timeout -> the outcome is unknown: never counted as failed
  or done blindly; ``GET /transfers/{key}`` resolves it (applied / pending / rejected), and a 404
  there (never committed) makes a retry with the same key safe;
* after ``--bank-op-deadline`` seconds the transfer is recorded as ``failed`` (only definite
  no-change answers seen) or ``unknown`` (the checker settles it against the bank later).

The waits between attempts (``--bank-backoff``, doubling up to ``--bank-max-backoff``, with
jitter x0.5-1.5) and the deadline default to the scenario's ``live.retry`` settings
(``sim.scenario.live.LiveRetry``), which ``hivesim live`` passes explicitly.

With ``--bank-record-dir`` every request and every transfer is written to per-process files
(``loadtests/analysis/records.py``): the history the checker and the recovery analysis read.
Accounts: ``--bank-accounts-file`` (written by ``hivesim live`` after seeding) or discovered from
``--bank-accounts N --bank-prefix P`` (ids made by ``loadtests.bank.routing.account_id``, the
function seeding uses: ``acct-0000000``...; each account's cell read once via the API).
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
import uuid

# make the repository importable when Locust loads this file by path
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import gevent.lock  # noqa: E402  (Locust runs on gevent)
from locust import events, task  # noqa: E402
from locust.contrib.fasthttp import FastHttpUser  # noqa: E402
from locust.user.wait_time import constant_throughput  # noqa: E402

from loadtests.analysis.records import RecordWriter, TransferRecord, classify_status  # noqa: E402
from loadtests.bank.routing import ACCOUNT_PREFIX, account_id  # noqa: E402
from sim.scenario.live import Live, LiveRetry  # noqa: E402
from sim.scenario.mix import RECORD_KIND, TRANSACTION_KINDS, Mix  # noqa: E402
from sim.scenario.model import Profile  # noqa: E402

__all__ = ["BankUser"]

# Standalone defaults (``hivesim live`` passes the scenario's values): a modest per-user rate,
# and the socket timeout live.retry derives from the gateway's deadline
RATE_PER_USER = 5.0
CLIENT_TIMEOUT = LiveRetry().client_timeout_for(Live().gateway_deadline)
# per-process seed = --bank-seed x this prime + PID: the processes of one run (master, workers)
# draw different accounts and amounts; the prime keeps seeds of nearby --bank-seed values apart
SEED_STRIDE = 1_000_003

# Locust's request names, by transaction kind (the scenario's words) plus the status lookup
NAMES = {"reads": "GET /accounts/[id]", "intra_cell": "POST /transfers [intra]",
         "cross_cell": "POST /transfers [cross]", "resolve": "GET /transfers/[key]"}
# the kind a request row records (the records' spelling: sim.scenario.mix.RECORD_KIND)
RECORD_OF = {name: RECORD_KIND.get(kind, kind) for kind, name in NAMES.items()}


@events.init_command_line_parser.add_listener
def _options(parser):
    g = parser.add_argument_group("hivesim bank users")
    g.add_argument("--scenario", default="", help="scenario file: mix and day profile from it")
    g.add_argument("--bank-mix", default="", help="reads,intra_cell,cross_cell weights, e.g. 0.6,0.3,0.1 (overrides the scenario)")
    g.add_argument("--bank-rate", type=float, default=RATE_PER_USER, help="operations per second per user")
    g.add_argument("--bank-accounts", type=int, default=200, help="accounts to use when no accounts file")
    g.add_argument("--bank-prefix", default=ACCOUNT_PREFIX, help="account id prefix when no accounts file")
    g.add_argument("--bank-accounts-file", default="", help="JSON {account: {cell, balance}} written at seeding")
    g.add_argument("--bank-max-amount", type=int, default=100, help="transfer amounts are 1..this many cents")
    retry = LiveRetry()  # defaults of live.retry: one definition for the bank, the load and calibration
    g.add_argument("--bank-op-deadline", type=float, default=retry.client_deadline_for(Live().gateway_deadline),
                   help="seconds a transfer is retried/resolved (live.retry.client_deadline)")
    g.add_argument("--bank-backoff", type=float, default=retry.client_backoff,
                   help="first wait after a 503 or an unknown outcome; doubles (live.retry.client_backoff)")
    g.add_argument("--bank-max-backoff", type=float, default=retry.client_max_backoff,
                   help="cap of the wait between attempts (live.retry.client_max_backoff)")
    g.add_argument("--bank-timeout", type=float, default=CLIENT_TIMEOUT, help="client socket timeout per request (s)")
    g.add_argument("--bank-record-dir", default="", help="write per-request and per-transfer records here")
    g.add_argument("--bank-seed", type=int, default=0, help="seed for account choice and amounts (0 = random)")
    g.add_argument("--shape", default="constant", choices=["day", "constant", "step"], help="with loadtests/load/shapes.py")
    g.add_argument("--shape-users", type=int, default=10, help="users (peak users for --shape day)")
    g.add_argument("--shape-duration", type=float, default=60.0, help="run length in seconds for the shape")
    g.add_argument("--shape-steps", default="10@0", help="step shape: users@second,...")
    g.add_argument("--shape-hourly", default="", help="day shape: 24 comma-separated weights")
    g.add_argument("--shape-peak-factor", type=float, default=Profile().peak_factor,
                   help="day shape: peak hour / mean (workload.profile.peak_factor)")
    g.add_argument("--shape-peak-hour", type=float, default=Profile().peak_hour,
                   help="day shape: busiest hour (workload.profile.peak_hour)")
    g.add_argument("--shape-min-users", type=int, default=1)
    g.add_argument("--shape-spawn-rate", type=float, default=0.0, help="users/s (0 = reach each level at once)")


class _Bank:
    """Per-process state shared by the users: accounts by cell, mix, the record writer."""

    def __init__(self):
        self.lock = gevent.lock.Semaphore()
        self.ready = False
        self.by_cell: dict[str, list[str]] = {}
        self.all: list[str] = []
        self.cell_of: dict[str, str] = {}
        self.weights = Mix().shares()  # {kind: share}; replaced by the run's mix in setup
        self.writer: RecordWriter | None = None
        self.rng = random.Random()

    def setup(self, env, client) -> None:
        with self.lock:
            if self.ready:
                return
            o = env.parsed_options
            if o.bank_seed:
                self.rng.seed(o.bank_seed * SEED_STRIDE + os.getpid())
            self.weights = _mix(o)
            if o.bank_record_dir:
                self.writer = RecordWriter(o.bank_record_dir)
            cells: dict[str, list[str]] = {}
            if o.bank_accounts_file:
                with open(o.bank_accounts_file, encoding="utf-8") as f:
                    for acct, info in json.load(f).items():
                        cells.setdefault(str(info["cell"]), []).append(acct)
            else:  # discover each account's cell once (bounded: --bank-accounts requests)
                for i in range(o.bank_accounts):
                    acct = account_id(i, o.bank_prefix)
                    r = client.get(f"/accounts/{acct}", name="discover /accounts/[id]")
                    if r.status_code == 200:
                        cells.setdefault(str(r.json().get("cell", "0")), []).append(acct)
            if not cells:
                raise RuntimeError("no accounts found: seed the bank or pass --bank-accounts-file")
            self.by_cell = {c: sorted(a) for c, a in sorted(cells.items())}
            self.all = [a for accts in self.by_cell.values() for a in accts]
            self.cell_of = {a: c for c, accts in self.by_cell.items() for a in accts}
            self.ready = True

    def pair(self, cross: bool) -> tuple[str, str, bool]:
        """Two distinct accounts, in different cells if asked and possible."""
        cells = [c for c, a in self.by_cell.items() if len(a) >= (1 if cross else 2)]
        if cross and len(cells) >= 2:
            c1, c2 = self.rng.sample(cells, 2)
            return self.rng.choice(self.by_cell[c1]), self.rng.choice(self.by_cell[c2]), True
        cells = [c for c, a in self.by_cell.items() if len(a) >= 2] or list(self.by_cell)
        a, b = self.rng.sample(self.by_cell[self.rng.choice(cells)], 2)
        return a, b, False


BANK = _Bank()


def _mix(o) -> dict[str, float]:
    """``{kind: weight}`` from ``--bank-mix``, else the scenario's ``workload.mix``, else its default."""
    if o.bank_mix:
        w = tuple(float(x) for x in o.bank_mix.split(","))
        if len(w) != len(TRANSACTION_KINDS) or min(w) < 0 or sum(w) <= 0:
            raise ValueError(f"--bank-mix: expected {len(TRANSACTION_KINDS)} non-negative weights "
                             f"({','.join(TRANSACTION_KINDS)}), got {o.bank_mix!r}")
        return dict(zip(TRANSACTION_KINDS, w))
    if o.scenario:
        from sim.scenario import load_scenario
        return load_scenario(o.scenario).workload.mix.shares()
    return Mix().shares()


@events.request.add_listener
def _record(request_type, name, response_time, response_length, response=None, exception=None,
            start_time=None, context=None, **_kw):
    """Observation decoupled from the users: every request becomes one row."""
    if BANK.writer is None or name not in RECORD_OF:
        return
    status = int(getattr(response, "status_code", 0) or 0)
    outcome = "ok" if exception is None else classify_status(status)
    BANK.writer.request(start_time or time.time(), response_time or 0.0, RECORD_OF[name], status, outcome,
                        (context or {}).get("cells", ""))


@events.test_start.add_listener
def _configure(environment, **_kw):
    """Apply the run's options to the user class before users exist (on workers, test_start comes
    after the master's options arrived, so this also works in master/worker mode)."""
    o = environment.parsed_options
    if o is None or not hasattr(o, "bank_rate"):
        return
    BankUser.wait_time = constant_throughput(o.bank_rate)
    BankUser.network_timeout = BankUser.connection_timeout = o.bank_timeout


@events.test_stop.add_listener
def _flush(**_kw):
    if BANK.writer is not None:
        BANK.writer.flush()


@events.quitting.add_listener
def _close(**_kw):
    if BANK.writer is not None:
        BANK.writer.close()


class BankUser(FastHttpUser):
    """A bank customer: balance reads, same-cell and cross-cell transfers."""

    wait_time = constant_throughput(RATE_PER_USER)  # replaced per run by --bank-rate (see _configure)
    network_timeout = connection_timeout = CLIENT_TIMEOUT  # replaced by --bank-timeout

    def on_start(self):
        BANK.setup(self.environment, self.client)

    @task
    def operate(self):
        w = BANK.weights
        r = BANK.rng.random() * sum(w.values())
        if r < w["reads"]:
            self.read()
        else:
            self.transfer(cross=r >= w["reads"] + w["intra_cell"])

    def read(self):
        acct = BANK.rng.choice(BANK.all)
        with self.client.get(f"/accounts/{acct}", name=NAMES["reads"], catch_response=True,
                             context={"cells": BANK.cell_of.get(acct, "")}) as r:
            if r.status_code != 200:
                r.failure(f"HTTP {r.status_code}")

    def transfer(self, cross: bool):
        o = self.environment.parsed_options
        src, dst, cross = BANK.pair(cross)
        rec = TransferRecord(key=uuid.uuid4().hex, src=src, dst=dst, cross=cross, t=time.time(),
                             amount=BANK.rng.randint(1, max(1, o.bank_max_amount)), outcome="unknown", attempts=0)
        if BANK.writer is not None:
            BANK.writer.transfer(rec)  # the invocation: the bank may apply it from here on
        deadline = time.monotonic() + o.bank_op_deadline
        saw_unknown, backoff = False, o.bank_backoff
        body = {"key": rec.key, "from": src, "to": dst, "amount": rec.amount}
        cells = ";".join(dict.fromkeys((BANK.cell_of.get(src, ""), BANK.cell_of.get(dst, ""))))
        while True:
            rec.attempts += 1
            with self.client.post("/transfers", json=body, name=NAMES["cross_cell" if cross else "intra_cell"],
                                  catch_response=True, context={"cells": cells}) as r:
                code = r.status_code or 0
                if 200 <= code < 300:
                    rec.outcome, rec.status = "acknowledged", _json(r).get("status", "applied")
                    break
                if code == 422 and _json(r).get("error") == "insufficient_funds":
                    r.success()  # a correct answer from a healthy bank
                    rec.outcome, rec.status = "declined", "insufficient_funds"
                    break
                r.failure(f"HTTP {code}" if code else f"no response: {getattr(r, 'error', '')}")
            outcome = classify_status(code)
            if outcome == "rejected":  # 4xx: this attempt changed nothing
                rec.outcome = "unknown" if saw_unknown else "failed"  # an earlier attempt may have applied
                rec.status = None if saw_unknown else f"http_{code}"
                break
            if outcome != "unavailable":  # 504, 5xx or no response: the commit may have happened
                saw_unknown = True
                status = self._resolve(rec.key, src)
                if status in ("applied", "pending", "rejected"):
                    rec.outcome, rec.status = "resolved", status
                    break
                # "absent" (404) = never committed, so retrying the same key is safe; None = lookup failed
            if time.monotonic() + backoff >= deadline:
                rec.outcome = "unknown" if saw_unknown else "failed"
                rec.status = None if saw_unknown else f"http_{code}"
                break
            time.sleep(backoff * (0.5 + BANK.rng.random()))  # gevent-patched: yields; jitter x0.5-1.5
            backoff = min(o.bank_max_backoff, backoff * 2)
        rec.t_done = time.time()
        if BANK.writer is not None:
            BANK.writer.transfer(rec)

    def _resolve(self, key: str, src: str) -> str | None:
        """Ask the bank what happened to a transfer: applied/pending/rejected, 'absent', or None.
        ``?from=`` sends the lookup to the source cell only (where the transfer commits)."""
        with self.client.get(f"/transfers/{key}?from={src}", name=NAMES["resolve"], catch_response=True,
                             context={"cells": BANK.cell_of.get(src, "")}) as r:
            if r.status_code == 200:
                return _json(r).get("status")
            if r.status_code == 404:
                r.success()  # a definite answer: never committed
                return "absent"
            r.failure(f"HTTP {r.status_code}")
            return None


def _json(r) -> dict:
    try:
        d = r.json()
        return d if isinstance(d, dict) else {}
    except Exception:  # noqa: BLE001 - a body that is not JSON is just no information
        return {}

