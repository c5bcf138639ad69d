"""From replications to figures: one confidence interval, one availability block, the aggregate.

* ``intervals``: ``t_interval`` (the one CI function; its edge cases are documented there);
* ``blocks``: ``availability_block`` and its three constructors (replication values, an estimate
  with a half-width, counts ok/n), ``nines``, ``wilson``, ``MINUTES_PER_YEAR``;
* ``aggregate``: the summary's figures from the engine's replication records.

Nines are taken from the **pessimistic** end of the interval and are ``null`` (with a note) when
no failure was seen: hivesim never claims more nines than its own data support.
"""

from sim.metrics.aggregate import aggregate, worst_window
from sim.metrics.blocks import (MINUTES_PER_YEAR, NOTE_NO_FAILURE, NOTE_ONE_REPLICATION, availability_block, block_from_counts, block_from_estimate,
                                block_from_replications, nines, wilson)
from sim.metrics.intervals import Interval, t_interval

__all__ = ["aggregate", "worst_window", "MINUTES_PER_YEAR", "NOTE_NO_FAILURE", "NOTE_ONE_REPLICATION", "availability_block", "block_from_counts",
           "block_from_estimate", "block_from_replications", "nines", "wilson", "Interval", "t_interval"]
