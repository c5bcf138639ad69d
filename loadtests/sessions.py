"""What the bank's database sessions are doing: the evidence when a live bank is stuck.

A bank that stops making progress is almost always a lock held by a transaction nobody will
finish (a session "idle in transaction") with other sessions queued behind it until the member
runs out of connection slots. ``sessions_report`` reads ``pg_stat_activity`` on every member
(directly, not through the app servers) and sums that up per member: sessions of the bank by
client (``application_name``: app server, relay, checker) and state, the sessions idle in a
transaction with their age, and the sessions waiting for a lock with the PIDs blocking them.

Used by the checker (``loadtests/checker.py``) when the bank does not settle, and by the live
test of a gateway pause under load (``tests/test_live_stuck.py``).
"""

from __future__ import annotations

from typing import Iterable

__all__ = ["SESSIONS_SQL", "member_sessions", "sessions_report", "describe_sessions", "not_drained"]

# one row per client session of the bank's role (Patroni's own sessions, background workers and
# WAL senders left out)
SESSIONS_SQL = """
SELECT pid, coalesce(application_name, ''), coalesce(state, ''),
       coalesce(extract(epoch FROM now() - state_change), 0)::float8,
       coalesce(extract(epoch FROM now() - xact_start), 0)::float8,
       coalesce(wait_event_type, ''), coalesce(wait_event, ''),
       pg_blocking_pids(pid), left(coalesce(query, ''), 120)
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND usename = current_user AND pid <> pg_backend_pid()
"""


def member_sessions(conninfo: str, timeout: float = 5.0) -> dict:
    """``{"sessions": [...]}`` for one member, or ``{"error": "..."}`` if it cannot be read
    (a member out of connection slots answers "too many clients": that is itself the finding)."""
    import psycopg
    try:
        with psycopg.connect(conninfo, connect_timeout=max(1, int(timeout)), autocommit=True) as conn:
            conn.execute("SELECT set_config('statement_timeout', %s, false)", (str(int(timeout * 1000)),))
            rows = conn.execute(SESSIONS_SQL).fetchall()
    except psycopg.Error as exc:
        return {"error": (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]}
    return {"sessions": [{"pid": r[0], "client": r[1], "state": r[2], "state_seconds": round(r[3], 1),
                          "xact_seconds": round(r[4], 1), "wait": f"{r[5]}:{r[6]}" if r[5] else "",
                          "blocked_by": list(r[7] or []), "query": r[8]} for r in rows]}


def _client_kind(name: str) -> str:
    # app servers are named app-c<cell>-<i> (loadtests/cluster/bringup.py); group them by kind
    return "app" if name.startswith("app-") else (name or "other")


def sessions_report(members: Iterable, idle_after: float = 0.0) -> dict:
    """Per member (``MemberDsn``: cell, name, conninfo): counts by client kind and state, the
    sessions idle in a transaction for more than ``idle_after`` s, and the lock waiters."""
    out = {}
    for m in members:
        got = member_sessions(m.conninfo)
        if "error" in got:
            out[m.name] = {"cell": m.cell, "error": got["error"]}
            continue
        ss = got["sessions"]
        counts: dict[str, int] = {}
        for s in ss:
            k = f"{_client_kind(s['client'])}/{s['state'] or '?'}"
            counts[k] = counts.get(k, 0) + 1
        idle_tx = [s for s in ss if s["state"].startswith("idle in transaction") and s["state_seconds"] > idle_after]
        waiting = [s for s in ss if s["blocked_by"]]
        out[m.name] = {"cell": m.cell, "sessions": len(ss), "by_client_state": dict(sorted(counts.items())),
                       "idle_in_transaction": idle_tx, "lock_waiters": len(waiting),
                       "blockers": sorted({p for s in waiting for p in s["blocked_by"]})}
    return out


def describe_sessions(report: dict, limit: int = 3) -> list[str]:
    """A few readable lines: which member holds idle transactions or queues lock waiters."""
    lines = []
    for name, r in sorted(report.items()):
        if "error" in r:
            lines.append(f"{name}: cannot read sessions ({r['error']})")
            continue
        if not r["idle_in_transaction"] and not r["lock_waiters"]:
            continue
        idle = ", ".join(f"pid {s['pid']} ({s['client']}, {s['state_seconds']:g}s, last: {s['query'][:60]!r})"
                         for s in r["idle_in_transaction"][:limit])
        lines.append(f"{name}: {r['sessions']} sessions, {len(r['idle_in_transaction'])} idle in transaction"
                     + (f" [{idle}]" if idle else "")
                     + f", {r['lock_waiters']} waiting for locks held by pids {r['blockers'][:10]}")
    return lines


def not_drained(settle: float, audit: dict | None, members, log=lambda s: None) -> str:
    """The checker's sentence for a relay that did not drain in ``settle`` s: the credits left
    undelivered (from the gateway's ``/audit``) and the database sessions that explain it."""
    if audit is None:
        what = f"the bank's audit could not be read for {settle:g}s"
    else:
        what = (f"relay not drained after {settle:g}s: {audit.get('pending_transfers', '?')} cross-cell credits "
                f"undelivered ({audit.get('in_flight')} cents in flight)")
    lines = describe_sessions(sessions_report(members)) if members else []
    for line in lines:
        log(f"checker: {line}")
    if not members:
        return what
    return what + ("; " + "; ".join(lines) if lines else "; no database session idle in a transaction or waiting for a lock")
