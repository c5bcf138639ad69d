"""The reference bank service: cell app servers, the gateway (GNS) and the cross-cell relay.

* ``app``: one cell's HTTP API over its PostgreSQL primary (psycopg 3, async).
* ``gateway``: the public entry; routes each account to its cell, retries across failovers.
* ``relay``: the message bus; delivers cross-cell credits exactly once.
* ``db``: transactions, the connection pool and the socket-closing watchdog.
* ``api``: request models, JSON errors, metrics, admin fault hooks shared by all three.
* ``routing``: account -> cell mapping (the same function everywhere).

The HTTP contract is docs/live-api.md (and ``GET /openapi.json``).
"""
