"""The bank checker: did the bank keep every promise it made to its clients? (Jepsen bank style)

It compares the client's history (what Locust asked for and what it was told, see
``loadtests.analysis.records``) with the bank's final state (balances, the transfers it holds,
money in flight between cells, and a checksum of every replica's tables):

1. every acknowledged transfer is applied exactly once, with the amount and accounts requested;
2. nothing is applied that was never requested, or that the bank said it did not apply
   (503 "nothing changed", 4xx);
3. money is conserved: initial total = sum of balances + money in flight between cells, and every
   account's balance equals its initial balance plus the transfers the bank holds for it;
4. no balance is negative;
5. all replicas of each cell hold the same data (checksums read from each member directly);
6. every unknown outcome (504, broken connection) is resolved by a status lookup;
7. the bank settles: the relay delivers every cross-cell credit within ``settle`` seconds, and
   the whole check ends within its total deadline (``timeout``). A stuck bank is a violation
   (``stuck``) that says what was seen: credits undelivered, database sessions idle in a
   transaction or queued for locks (``loadtests.sessions``), members not ready.

``check(history, initial, state)`` is pure (unit-tested with planted violations);
``collect_state`` reads a running bank over HTTP (and PostgreSQL for replica checksums), and
``run_checker`` does both. Each violation carries a readable explanation: which transfer or
account, what was expected, what was found.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable

from loadtests.analysis.records import TransferRecord
from loadtests.sessions import not_drained

__all__ = ["ServerTransfer", "BankState", "Violation", "CheckResult", "check", "collect_state",
           "replica_checksum", "table_checksums_sql", "run_checker", "MemberDsn"]

APPLIED = ("applied", "pending")  # states in which the source account was debited


@dataclass
class ServerTransfer:
    """A transfer as the bank holds it; ``occurrences`` > 1 means it was applied more than once."""

    key: str
    src: str
    dst: str
    amount: int
    status: str
    occurrences: int = 1


@dataclass
class BankState:
    """The bank's final state as read after the load stopped and the relay drained."""

    balances: dict[str, int]
    transfers: dict[str, ServerTransfer]
    in_flight: int | None = None            # the bank's own audit figure, if read
    audit_total: int | None = None
    # cell -> member -> checksum of its tables (None = member could not be read)
    replicas: dict[str, dict[str, str | None]] = field(default_factory=dict)
    # key -> status from GET /transfers/{key} for each unknown outcome:
    # applied | pending | rejected | absent (404) | None (the lookup itself failed)
    lookups: dict[str, str | None] = field(default_factory=dict)
    # accounts whose transfer list could not be read in full (the checker then cannot vouch for them)
    unreadable_accounts: list[str] = field(default_factory=list)
    # what showed the bank did not settle: relay not drained, deadline passed, sessions holding locks
    stuck: list[str] = field(default_factory=list)


@dataclass
class Violation:
    kind: str       # lost | duplicated | phantom | applied-despite-failure | mismatch | balance |
                    # total | negative | replicas | unresolved | incomplete | stuck
    message: str
    key: str | None = None


@dataclass
class CheckResult:
    valid: bool
    acknowledged: int
    lost: int
    duplicated: int
    unknown: int
    unknown_resolved: int
    negative_balances: int
    replicas_converged: bool
    total_before: int
    total_after: int
    in_flight: int
    requested: int = 0
    phantom: int = 0
    applied_despite_failure: int = 0
    balance_mismatches: int = 0
    unknown_applied: int = 0
    violations: list[Violation] = field(default_factory=list)

    def to_dict(self, max_violations: int = 50) -> dict:
        d = asdict(self)
        d["violation_count"] = len(self.violations)
        d["violations"] = [asdict(v) for v in self.violations[:max_violations]]
        return d

    def explain(self, limit: int = 10) -> str:
        """A few lines a person can act on (what broke, first examples)."""
        if self.valid:
            return (f"checker: valid ({self.acknowledged} acknowledged transfers applied exactly once, "
                    f"{self.unknown} unknown outcomes resolved, total {self.total_before} conserved, "
                    f"replicas converged)")
        by_kind = Counter(v.kind for v in self.violations)
        lines = ["checker: INVALID: " + ", ".join(f"{n} {k}" for k, n in sorted(by_kind.items()))]
        lines += [f"  - {v.message}" for v in self.violations[:limit]]
        if len(self.violations) > limit:
            lines.append(f"  ... and {len(self.violations) - limit} more (see checker.json)")
        return "\n".join(lines)


def _fmt(rec: TransferRecord | ServerTransfer) -> str:
    return f"{rec.key} ({rec.src} -> {rec.dst}, {rec.amount} cents)"


def check(history: Iterable[TransferRecord] | None, initial: dict[str, int], state: BankState) -> CheckResult:
    """Compare the client's history with the bank's final state; pure, no I/O.

    ``history=None`` (no client records): only what the bank alone can show is checked --
    duplicates, per-account balances against the transfers held, the total, negative balances,
    replicas.
    """
    known = history is not None
    hist = {r.key: r for r in history} if known else {}
    # a bank that did not settle first: what was seen explains the violations that follow
    v: list[Violation] = [Violation("stuck", what) for what in state.stuck]
    server = state.transfers

    # 1. acknowledged -> applied exactly once, as requested
    acknowledged = lost = duplicated = 0
    for rec in hist.values():
        got = server.get(rec.key)
        told_applied = rec.outcome == "acknowledged" or (rec.outcome == "resolved" and rec.status in APPLIED)
        if rec.outcome == "acknowledged":
            acknowledged += 1
        if told_applied and (got is None or got.status not in APPLIED):
            lost += 1
            found = "not in the bank" if got is None else f"status {got.status!r}"
            v.append(Violation("lost", f"transfer {_fmt(rec)} was acknowledged to the client "
                               f"({rec.status or 'applied'}) but is {found}", rec.key))
        told_not = rec.outcome in ("failed", "declined") or (rec.outcome == "resolved" and rec.status not in APPLIED)
        if got is not None and told_not and got.status in APPLIED:
            v.append(Violation("applied-despite-failure", f"transfer {_fmt(rec)}: the client was told "
                               f"{rec.outcome} ({rec.status or 'nothing changed'}) but the bank applied it "
                               f"({got.status})", rec.key))
        if got is not None and (got.src, got.dst, got.amount) != (rec.src, rec.dst, rec.amount):
            v.append(Violation("mismatch", f"transfer {rec.key}: requested {rec.src} -> {rec.dst} "
                               f"{rec.amount} cents, the bank holds {got.src} -> {got.dst} {got.amount} cents",
                               rec.key))
    for got in server.values():
        if got.occurrences > 1:
            duplicated += 1
            v.append(Violation("duplicated", f"transfer {_fmt(got)} was applied {got.occurrences} times, "
                               "expected exactly once", got.key))
        if known and got.key not in hist:
            v.append(Violation("phantom", f"transfer {_fmt(got)} is in the bank ({got.status}) but no client "
                               "ever requested it", got.key))

    # 6. unknown outcomes: resolved by the client, or by the checker's lookup now
    unknown = unknown_resolved = unknown_applied = 0
    for rec in hist.values():
        if rec.outcome not in ("unknown", "resolved"):
            continue
        unknown += 1
        if rec.outcome == "resolved":
            unknown_resolved += 1
            unknown_applied += rec.status in APPLIED
            continue
        final = state.lookups.get(rec.key, "absent" if rec.key not in server else server[rec.key].status)
        if final is None:
            v.append(Violation("unresolved", f"transfer {_fmt(rec)} had an unknown outcome and its status "
                               "lookup failed, so it cannot be resolved", rec.key))
            continue
        unknown_resolved += 1
        unknown_applied += final in APPLIED
        held = server.get(rec.key)
        if (final in APPLIED) != (held is not None and held.status in APPLIED):
            v.append(Violation("unresolved", f"transfer {_fmt(rec)}: GET /transfers/{rec.key} says {final!r} "
                               f"but the account histories say {held.status if held else 'absent'!r}", rec.key))

    # 3. per-account balances from the transfers the bank holds; 4. no negative balance
    expected = dict(initial)
    pending = 0
    for got in server.values():
        if got.status in APPLIED:
            expected[got.src] = expected.get(got.src, 0) - got.amount * got.occurrences
        if got.status == "applied":
            expected[got.dst] = expected.get(got.dst, 0) + got.amount * got.occurrences
        elif got.status == "pending":
            pending += got.amount * got.occurrences
    mismatches = 0
    for acct in sorted(set(expected) | set(state.balances)):
        want, have = expected.get(acct), state.balances.get(acct)
        if have is None:
            mismatches += 1
            v.append(Violation("balance", f"account {acct}: expected balance {want}, the bank has no such account"))
        elif want is None:
            mismatches += 1
            v.append(Violation("balance", f"account {acct} exists in the bank (balance {have}) but was never "
                               "created by the benchmark"))
        elif want != have:
            mismatches += 1
            v.append(Violation("balance", f"account {acct}: expected {want} cents (initial {initial.get(acct, 0)} "
                               f"plus the transfers the bank holds), found {have} ({have - want:+d})"))
    negative = sorted(a for a, b in state.balances.items() if b < 0)
    for a in negative:
        v.append(Violation("negative", f"account {a} has a negative balance {state.balances[a]}"))

    total_before = sum(initial.values())
    in_flight = state.in_flight if state.in_flight is not None else pending
    total_after = sum(state.balances.values()) + in_flight
    if total_after != total_before:
        v.append(Violation("total", f"money not conserved: initial total {total_before} cents, now "
                           f"{sum(state.balances.values())} in balances + {in_flight} in flight = {total_after} "
                           f"({total_after - total_before:+d})"))
    if state.in_flight is not None and state.in_flight != pending:
        v.append(Violation("total", f"the bank's audit reports {state.in_flight} cents in flight but its pending "
                           f"transfers add up to {pending}"))

    for acct in state.unreadable_accounts:
        v.append(Violation("incomplete", f"account {acct}: its transfers could not be read in full, so "
                           "exactly-once cannot be verified for it"))

    # 5. replicas converge
    converged = True
    for cell, members in sorted(state.replicas.items()):
        unreadable = sorted(m for m, c in members.items() if c is None)
        sums = {c for c in members.values() if c is not None}
        if unreadable or len(sums) > 1:
            converged = False
            detail = []
            if unreadable:
                detail.append(f"unreadable: {', '.join(unreadable)}")
            if len(sums) > 1:
                detail.append("checksums differ: " + ", ".join(f"{m}={c[:12]}" for m, c in sorted(members.items())
                                                               if c is not None))
            v.append(Violation("replicas", f"cell {cell}: replicas did not converge ({'; '.join(detail)})"))

    applied_despite = sum(1 for x in v if x.kind == "applied-despite-failure")
    return CheckResult(
        valid=not v, acknowledged=acknowledged, lost=lost, duplicated=duplicated, unknown=unknown,
        unknown_resolved=unknown_resolved, negative_balances=len(negative), replicas_converged=converged,
        total_before=total_before, total_after=total_after, in_flight=in_flight, requested=len(hist),
        phantom=sum(1 for x in v if x.kind == "phantom"), applied_despite_failure=applied_despite,
        balance_mismatches=mismatches, unknown_applied=unknown_applied, violations=v)


# --------------------------------------------------------------------------- reading a live bank
@dataclass(frozen=True)
class MemberDsn:
    """How to reach one database member directly (not through the app servers)."""

    cell: str
    name: str
    conninfo: str


def table_checksums_sql(tables: list[tuple[str, str]]) -> str:
    """One query returning a checksum over the given (schema, table)s' full contents.

    Rows are rendered with ``t::text`` and ordered by that text, so the checksum does not depend
    on physical row order (which differs between a primary and a rewound replica).
    """
    from psycopg import sql
    parts = [sql.SQL("(SELECT {name} || ':' || count(*) || ':' || "
                     "coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') FROM {tbl} t)").format(
        name=sql.Literal(f"{sch}.{t}"), tbl=sql.Identifier(sch, t)) for sch, t in sorted(tables)]
    if not parts:
        return "SELECT ''"
    return sql.SQL("SELECT md5(concat_ws('|', {}))").format(sql.SQL(", ").join(parts))


def replica_checksum(conninfo: str, timeout: float = 5.0) -> str | None:
    """Checksum of every table in the schemas of the role's search path (None if unreachable)."""
    import psycopg
    try:
        with psycopg.connect(conninfo, connect_timeout=max(1, int(timeout)), autocommit=True) as conn:
            conn.execute("SELECT set_config('statement_timeout', %s, false)", (str(int(timeout * 1000)),))
            tables = [(r[0], r[1]) for r in conn.execute(
                "SELECT schemaname, tablename FROM pg_tables WHERE schemaname = ANY(current_schemas(false)) "
                "ORDER BY 1, 2")]
            if not tables:
                return None  # nothing to compare is not "converged": the connection is wrong
            q = table_checksums_sql(tables)
            return conn.execute(q).fetchone()[0]
    except psycopg.Error:
        return None


def _replicas(members: list[MemberDsn], wait: float) -> dict[str, dict[str, str | None]]:
    """Checksums per cell; re-read until every cell agrees or ``wait`` seconds pass.

    Standbys apply WAL a little after the primary commits (synchronous commit waits for the flush,
    not the replay), and a rewound old primary needs a few seconds to rejoin, so a single read
    right after the load could disagree for reasons that are not a bug.
    """
    deadline = time.monotonic() + wait
    while True:
        out: dict[str, dict[str, str | None]] = defaultdict(dict)
        for m in members:
            out[m.cell][m.name] = replica_checksum(m.conninfo)
        ok = all(None not in c.values() and len(set(c.values())) == 1 for c in out.values())
        if ok or time.monotonic() >= deadline:
            return dict(out)
        time.sleep(1.0)


def collect_state(base_url: str, accounts: Iterable[str], unknown_keys: Iterable[str] = (),
                  members: list[MemberDsn] = (), settle: float = 60.0, replica_wait: float = 60.0,
                  client=None, log: Callable[[str], None] = lambda s: None, timeout: float = 300.0,
                  stuck: Iterable[str] = ()) -> BankState:
    """Read the bank's final state through its HTTP API (and each member for checksums).

    Waits up to ``settle`` seconds for the relay to deliver money in flight (audit in_flight = 0).
    Everything ends within ``timeout`` seconds: what is not read by then is reported unread, and
    a bank that did not settle is described in ``BankState.stuck`` (which starts with ``stuck``,
    e.g. the members that were not ready), with its database sessions when ``members`` are given.
    """
    import httpx
    end = time.monotonic() + timeout
    stuck = list(stuck)
    own = client is None
    client = client or httpx.Client(base_url=base_url, timeout=min(10.0, max(timeout / 10, 1.0)))
    try:
        deadline = min(time.monotonic() + settle, end)
        audit = None
        while True:
            try:
                r = client.get("/audit")
                if r.status_code == 200:
                    audit = r.json()
                    if not audit.get("in_flight"):
                        break
            except httpx.HTTPError:
                pass
            if time.monotonic() >= deadline:
                log(f"checker: relay not drained after {settle:g}s (audit: {audit})")
                stuck.append(not_drained(settle, audit, members, log))
                break
            time.sleep(0.5)

        balances: dict[str, int] = {}
        debits: dict[str, Counter] = {}
        credits: dict[str, Counter] = {}
        seen: dict[str, ServerTransfer] = {}
        incomplete: list[str] = []

        def read_account(acct):
            return (acct, _get_retry(client, f"/accounts/{acct}", end=end),
                    _get_retry(client, f"/accounts/{acct}/transfers", end=end))

        # a few requests in parallel: a thousand accounts one by one take minutes on a busy machine
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(read_account, list(accounts)))
        for acct, r, rt in answers:
            if r is not None and r.status_code == 200:
                balances[acct] = int(r.json()["balance"])
            if rt is None or rt.status_code != 200:
                incomplete.append(acct)
                continue
            body = rt.json()
            if body.get("limit") is not None and len(body.get("transfers", [])) >= body["limit"]:
                incomplete.append(acct)  # the bank cut the list: the checker cannot see every transfer
            for t in body.get("transfers", []):
                st = ServerTransfer(t["key"], t["from"], t["to"], int(t["amount"]), t.get("status", "applied"))
                prev = seen.get(st.key)
                if prev is None or (prev.status == "pending" and st.status == "applied"):
                    seen[st.key] = st
                if st.src == acct:
                    debits.setdefault(st.key, Counter())[acct] += 1
                if st.dst == acct:
                    credits.setdefault(st.key, Counter())[acct] += 1
        for key, st in seen.items():
            st.occurrences = max(debits.get(key, Counter()).get(st.src, 0),
                                 credits.get(key, Counter()).get(st.dst, 0), 1)
        lookups: dict[str, str | None] = {}
        for key in unknown_keys:
            r = _get_retry(client, f"/transfers/{key}", end=end)
            if r is None:
                lookups[key] = None
            elif r.status_code == 404:
                lookups[key] = "absent"
            elif r.status_code == 200:
                lookups[key] = r.json().get("status")
            else:
                lookups[key] = None
        replicas = _replicas(list(members), min(replica_wait, max(end - time.monotonic(), 0))) if members else {}
        if incomplete:
            log(f"checker: could not read the full history of {len(incomplete)} accounts: {incomplete[:5]}")
        if time.monotonic() >= end:
            stuck.append(f"the checker's deadline ({timeout:g}s) passed: {len(incomplete)} accounts and "
                         f"{sum(1 for x in lookups.values() if x is None)} unknown outcomes left unread")
        return BankState(balances=balances, transfers=seen, unreadable_accounts=incomplete,
                         in_flight=None if audit is None else int(audit.get("in_flight", 0)),
                         audit_total=None if audit is None else audit.get("total"),
                         replicas=replicas, lookups=lookups, stuck=stuck)
    finally:
        if own:
            client.close()


def _get_retry(client, path: str, tries: int = 5, end: float | None = None):
    """GET with a few retries on 5xx/connection errors (the bank may still be settling);
    nothing once ``end`` (a monotonic instant) has passed."""
    import httpx
    for i in range(tries):
        if end is not None and time.monotonic() >= end:
            return None
        try:
            r = client.get(path)
            if r.status_code < 500:
                return r
        except httpx.HTTPError:
            pass
        time.sleep(0.2 * (i + 1))
    return None


def run_checker(base_url: str, history: list[TransferRecord] | None, initial: dict[str, int],
                members: list[MemberDsn] = (), settle: float = 60.0, replica_wait: float = 60.0,
                log: Callable[[str], None] = lambda s: None, timeout: float = 300.0,
                stuck: Iterable[str] = ()) -> CheckResult:
    """Collect the bank's state (within ``timeout`` seconds in all) and check the history against it.
    ``stuck``: what the caller already saw of a bank not settling (e.g. members not ready)."""
    unknown = [r.key for r in history or () if r.outcome == "unknown"]
    state = collect_state(base_url, sorted(initial), unknown, members, settle, replica_wait, log=log,
                          timeout=timeout, stuck=stuck)
    return check(history, initial, state)
