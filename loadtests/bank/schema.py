"""The per-cell database schema of the bank (created by the cluster manager on each primary).

* ``accounts``: balances in integer cents; a CHECK keeps them non-negative as a last safety net.
* ``transfers``: one row per idempotency key accepted by this cell as the source (or both
  sides, for a same-cell transfer). Status: applied | pending (cross-cell, in the outbox) | rejected.
* ``outbox``: the debited half of a cross-cell transfer, waiting for the relay.
* ``applied_transfers``: credits received from other cells, keyed by the transfer key, so the
  relay's redelivery after a crash or failover applies nothing twice.
"""

__all__ = ["SCHEMA_SQL", "APP_ROLE"]

APP_ROLE = "bank"

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS accounts (
    id       text PRIMARY KEY,
    balance  bigint NOT NULL CHECK (balance >= 0),
    created  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS transfers (
    key       text PRIMARY KEY,
    src       text NOT NULL,
    dst       text NOT NULL,
    amount    bigint NOT NULL CHECK (amount > 0),
    status    text NOT NULL CHECK (status IN ('applied', 'pending', 'rejected')),
    dst_cell  integer,            -- NULL = same cell
    reason    text,
    created   timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS transfers_src ON transfers (src);
CREATE INDEX IF NOT EXISTS transfers_dst ON transfers (dst);
CREATE TABLE IF NOT EXISTS outbox (
    key       text PRIMARY KEY REFERENCES transfers (key),
    src       text NOT NULL,
    dst_cell  integer NOT NULL,
    dst       text NOT NULL,
    amount    bigint NOT NULL,
    done      boolean NOT NULL DEFAULT false,
    created   timestamptz NOT NULL DEFAULT clock_timestamp(),
    done_at   timestamptz
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (created) WHERE NOT done;
CREATE TABLE IF NOT EXISTS applied_transfers (
    key       text PRIMARY KEY,
    src_cell  integer NOT NULL,
    src       text NOT NULL,
    dst       text NOT NULL,
    amount    bigint NOT NULL,
    applied   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS applied_dst ON applied_transfers (dst);
"""
