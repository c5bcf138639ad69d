"""The workload mix: the transaction kinds, named once, and their shares (``workload.mix``).

The scenario's words are the code's words: ``reads`` (a balance read), ``intra_cell`` (a
transfer between two accounts of one cell) and ``cross_cell`` (a transfer whose credit goes to
another cell through the bus). :data:`TRANSACTION_KINDS` is that list, in that order, for every
module that loops over kinds (capacity demands, the Locust users, the live records' analysis).

Live request records (``loadtests/analysis/records.py``) and the live summaries, calibrations
and baselines already on disk spell the same kinds ``read``, ``intra``, ``cross``: that is a file
format, so it is kept, and translated here (:data:`RECORD_KIND`), nowhere else.
"""

from __future__ import annotations

from pydantic import model_validator

from sim.scenario.base import Strict
from sim.scenario.types import Fraction

__all__ = ["TRANSACTION_KINDS", "RECORD_KIND", "USER_KINDS", "Mix"]

TRANSACTION_KINDS = ("reads", "intra_cell", "cross_cell")

# how the live records (request rows, summary.json by_kind, calibration files) spell each kind
RECORD_KIND = {"reads": "read", "intra_cell": "intra", "cross_cell": "cross"}

# the kinds of user operation in live records (status lookups, "resolve", are not user operations)
USER_KINDS = tuple(RECORD_KIND[k] for k in TRANSACTION_KINDS)


class Mix(Strict):
    """Shares of the offered transactions by kind (they sum to 1)."""

    reads: Fraction = 0.6
    intra_cell: Fraction = 0.3
    cross_cell: Fraction = 0.1

    @model_validator(mode="after")
    def _sum(self):
        s = sum(self.shares().values())
        if abs(s - 1.0) > 1e-6:
            raise ValueError(f"{' + '.join(TRANSACTION_KINDS)} must sum to 1, got {s:.6g}")
        return self

    def shares(self) -> dict[str, float]:
        """``{kind: share}`` in :data:`TRANSACTION_KINDS` order."""
        return {k: float(getattr(self, k)) for k in TRANSACTION_KINDS}
