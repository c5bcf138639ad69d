"""The bank's model: the scenario turned into named components (``plan``).

``build_bank(scenario)`` gives a ``BankPlan``: every server with its scope name
(``cell[3].db.replica[1]``), IDC, rack and power domain. The engines add behaviour to it.
``resolve_servers(target, plan, primary_of)`` turns a typed chaos target into those servers.
"""

from sim.model.plan import BankPlan, CellPlan, Server, build_bank
from sim.model.resolve import resolve_servers

__all__ = ["Server", "CellPlan", "BankPlan", "build_bank", "resolve_servers"]
