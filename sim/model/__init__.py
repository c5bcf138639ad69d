"""The bank's model: the scenario turned into named components (``plan``).

``build_bank(scenario)`` gives a ``BankPlan``: every server with its scope name
(``cell[3].db.replica[1]``), IDC, rack and power domain. The engines add behaviour to it.
"""

from sim.model.plan import BankPlan, CellPlan, Server, build_bank

__all__ = ["Server", "CellPlan", "BankPlan", "build_bank"]
