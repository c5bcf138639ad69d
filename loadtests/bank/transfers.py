"""The bank's transfer transaction: one body for ``loadtests.bank.db.run_tx`` (and the raw benchmark).

``transfer_tx(conn, key, src, dst, amount, dst_cell)`` locks the accounts, records the transfer
under its idempotency key and moves the money (same cell) or debits and writes the relay's outbox
row (cross cell), in two round trips; a key seen before answers its original outcome and changes
nothing (``TransferResult``). Parameterized SQL only.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

__all__ = ["transfer_tx", "TransferResult"]


# The write of ``transfer_tx`` by outcome, one statement (one round trip) each, as the relay's
# credit. The key's INSERT ... ON CONFLICT DO NOTHING returns a row only for a new key and the
# money moves read that row, so a known key moves nothing and the statement returns no row.
_INSERT_KEY = ("ins AS (INSERT INTO transfers (key, src, dst, amount, status, dst_cell, reason) "
               "VALUES (%(k)s, %(s)s, %(d)s, %(a)s, %(st)s, %(c)s, %(r)s) ON CONFLICT (key) DO NOTHING RETURNING 1)")
_MOVE = {
    "rejected": f"WITH {_INSERT_KEY} SELECT 1 FROM ins",
    # same cell: both balances in one UPDATE
    "applied": f"WITH {_INSERT_KEY}, mv AS (UPDATE accounts SET balance = balance + CASE WHEN id = %(s)s "
               "THEN -%(a)s::bigint ELSE %(a)s::bigint END WHERE id IN (%(s)s, %(d)s) AND EXISTS (SELECT 1 FROM ins)) "
               "SELECT 1 FROM ins",
    # cross cell: the debit and the outbox row for the relay
    "pending": f"WITH {_INSERT_KEY}, deb AS (UPDATE accounts SET balance = balance - %(a)s::bigint WHERE id = %(s)s "
               "AND EXISTS (SELECT 1 FROM ins)), ob AS (INSERT INTO outbox (key, src, dst_cell, dst, amount) "
               "SELECT %(k)s, %(s)s, %(c)s, %(d)s, %(a)s::bigint FROM ins) SELECT 1 FROM ins",
}


@dataclass
class TransferResult:
    """What a transfer attempt found: ``outcome`` is one of applied, pending, rejected,
    unknown_account, key_conflict (same key, other body)."""

    outcome: str
    key: str
    src: str
    dst: str
    amount: int
    cross_cell: bool
    missing: list[str] | None = None


async def transfer_tx(conn: psycopg.AsyncConnection, key: str, src: str, dst: str, amount: int,
                      dst_cell: int | None):
    """The transfer transaction body for ``run_tx`` (also used by the raw benchmark).

    Same cell (``dst_cell is None``): lock both accounts in id order, record the transfer, move
    the money. Cross cell: lock the source, record the transfer as pending, debit and write the
    outbox row. An insufficient balance records the key as rejected (a retry answers the same).
    The key's INSERT ... ON CONFLICT waits for a concurrent transaction holding the same key, so
    two racing retries can never both apply.
    """
    cross = dst_cell is not None
    ids = [src] if cross else sorted((src, dst))
    cur = await conn.execute("SELECT id, balance FROM accounts WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
                             (ids,))
    balances = dict(await cur.fetchall())
    missing = [a for a in ids if a not in balances]
    if missing:
        return TransferResult("unknown_account", key, src, dst, amount, cross, missing), False
    status = ("pending" if cross else "applied") if balances[src] >= amount else "rejected"
    # the key's row and the money move in one statement: a round trip less (``_MOVE``)
    cur = await conn.execute(_MOVE[status], {"k": key, "s": src, "d": dst, "a": amount, "st": status, "c": dst_cell,
                                             "r": "insufficient_funds" if status == "rejected" else None})
    if cur.rowcount == 0:  # key seen before: answer with the original outcome, change nothing
        await conn.rollback()
        cur = await conn.execute("SELECT src, dst, amount, status, dst_cell FROM transfers WHERE key = %s", (key,))
        row = await cur.fetchone()
        if row is None:  # cannot happen (rows are never deleted), but never guess
            raise psycopg.OperationalError("transfer key vanished")
        if (row[0], row[1], row[2]) != (src, dst, amount):
            return TransferResult("key_conflict", key, row[0], row[1], row[2], row[4] is not None), False
        return TransferResult(row[3], key, src, dst, amount, row[4] is not None), False
    return TransferResult(status, key, src, dst, amount, cross), True
