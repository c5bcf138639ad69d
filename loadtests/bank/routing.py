"""Account -> cell mapping, shared by gateway, app servers, relay, load and checker.

Hash mapping (like the GNS in a hash-sharded bank): blake2b of the account id, modulo the number
of cells. Stable across processes and Python runs (unlike ``hash()``).
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["cell_of", "ACCOUNT_RE", "KEY_RE", "account_id", "ACCOUNT_PREFIX", "ACCOUNT_DIGITS"]

ACCOUNT_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
KEY_RE = re.compile(r"^[A-Za-z0-9_-]{8,128}$")


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
