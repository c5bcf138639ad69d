"""The bank's model: the scenario turned into named components (``plan``).

``build_bank(scenario)`` gives a ``BankPlan``: every server with its scope name
(``cell[3].db.replica[1]``), IDC, rack and power domain. The engines add behaviour to it.
``resolve_servers(target, plan, primary_of)`` turns a typed chaos target into those servers.
"""

from sim.model.plan import BankPlan, CellPlan, Server, ServicePlan, build_bank, servers_by_role
from sim.model.resolve import resolve_servers

__all__ = ["Server", "ServicePlan", "CellPlan", "BankPlan", "build_bank", "servers_by_role", "resolve_servers"]
