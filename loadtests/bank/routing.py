"""Account -> cell mapping, shared by gateway, app servers, relay, load and checker.

Hash mapping (like the GNS in a hash-sharded bank): blake2b of the account id, modulo the number
of cells. Stable across processes and Python runs (unlike ``hash()``).
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["cell_of", "ACCOUNT_RE", "KEY_RE", "account_id"]

ACCOUNT_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
KEY_RE = re.compile(r"^[A-Za-z0-9_-]{8,128}$")


def cell_of(account: str, cells: int) -> int:
    """The cell index (0-based) owning ``account``."""
    digest = hashlib.blake2b(account.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % cells


def account_id(i: int) -> str:
    """Id of the i-th seeded account (what ``cluster up`` creates and the load side uses)."""
    return f"acct-{i:07d}"
