"""The fault processes of a replication, one module per family.

Each module offers ``start(bank)``: it starts that family's SimPy processes on a
``sim.engine.replication.Replication`` (the bank) from the scenario. Random families draw from
keyed streams (``bank.stream(scope/cause)``), so switching one family on or off does not move
the draws of another. ``chaos`` follows the scenario's schedule.
"""

from sim.engine.faults import changes, chaos, components, correlated, gray, maintenance

__all__ = ["start_all"]


def start_all(bank) -> None:
    """Start every fault process of the scenario (the order is fixed: it orders SimPy's ties)."""
    components.start(bank)
    correlated.start(bank)
    gray.start(bank)
    changes.start(bank)
    maintenance.start(bank)
    chaos.start(bank)
