"""Account -> cell mapping, shared by gateway, app servers, relay, load and checker.

Hash mapping (like the GNS in a hash-sharded bank): blake2b of the account id, modulo the number
of cells. Stable across processes and Python runs (unlike ``hash()``).
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["cell_of", "ACCOUNT_RE", "KEY_RE", "ACCOUNT_PATTERN", "KEY_PATTERN", "account_id", "ACCOUNT_PREFIX",
           "ACCOUNT_DIGITS"]

# The one definition of valid account ids and idempotency keys, as JSON Schema / ECMA patterns
# (api.py's request models and openapi.py use these strings). In Python's re, "$" also matches
# before a trailing newline, so "acct-1\n" passed the old check and the gateway, whose HTTP
# client drops the newline, answered for "acct-1": the compiled checks anchor with \A and \Z.
ACCOUNT_PATTERN = "^[A-Za-z0-9_-]{1,64}$"
KEY_PATTERN = "^[A-Za-z0-9_-]{8,128}$"
ACCOUNT_RE = re.compile(r"\A" + ACCOUNT_PATTERN[1:-1] + r"\Z")
KEY_RE = re.compile(r"\A" + KEY_PATTERN[1:-1] + r"\Z")


def cell_of(account: str, cells: int) -> int:
    """The cell index (0-based) owning ``account``."""
    digest = hashlib.blake2b(account.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % cells


# Seeded account ids: prefix + zero-padded index. Seven digits cover live.accounts' cap
# (1,000,000) with the ids still sorting in creation order.
ACCOUNT_PREFIX = "acct-"
ACCOUNT_DIGITS = 7


def account_id(i: int, prefix: str = ACCOUNT_PREFIX) -> str:
    """Id of the i-th seeded account: the one definition, used by seeding (``cluster up``), the
    Locust users' discovery, the checker and the live run's records."""
    return f"{prefix}{i:0{ACCOUNT_DIGITS}d}"
