"""From replications to figures: the confidence intervals, one availability block, the aggregate.

* ``intervals``: ``t_interval`` and ``loss_interval`` (the few-event interval every simulated
  availability uses: a compound-Poisson bound united with the t-interval), ``garwood``,
  ``FEW_EVENTS``; their edge cases and the rule are documented there;
* ``blocks``: ``availability_block`` and its three constructors (replication values with their
  episode counts, an estimate with a half-width, counts ok/n), ``nines``, ``wilson``,
  ``reliability``, ``MINUTES_PER_YEAR``;
* ``aggregate``: the summary's figures from the engine's replication records.

Nines are taken from the **pessimistic** end of the interval and are ``null`` (with a note) when
no failure was seen: hivesim never claims more nines than its own data support. A figure resting
on fewer than ``FEW_EVENTS`` outage episodes says so (``reliability: few-events``).
"""

from sim.metrics.aggregate import aggregate, worst_window
from sim.metrics.blocks import (MINUTES_PER_YEAR, NOTE_NO_FAILURE, NOTE_ONE_REPLICATION, availability_block, block_from_counts, block_from_estimate,
                                block_from_replications, nines, reliability, wilson)
from sim.metrics.intervals import FEW_EVENTS, Interval, LossInterval, garwood, loss_interval, t_interval

__all__ = ["aggregate", "worst_window", "MINUTES_PER_YEAR", "NOTE_NO_FAILURE", "NOTE_ONE_REPLICATION", "availability_block", "block_from_counts",
           "block_from_estimate", "block_from_replications", "nines", "reliability", "wilson", "FEW_EVENTS", "Interval", "LossInterval",
           "garwood", "loss_interval", "t_interval"]
