"""Adapt the cluster manager's handle (``loadtests.cluster.Cluster``) to what chaos and the checker need.

* :class:`ClusterAdapter` implements ``loadtests.chaos.targets.ClusterView``: database members
  with their current role and PIDs, app servers, gateway, relay and etcd members, each with the IDC
  the scenario places it in, and how to restart what a fault took down.
* :func:`member_dsns` gives the checker a direct connection to every database member (not
  through the fault proxies, so a partition never hides a replica from the checker).

Placement of the parts the cluster manager does not tag: app server ``i`` of a cell sits in
``app.placement[i]`` (cycled; default: the scenario's IDCs in order), etcd member ``i`` in IDC
``i`` (cycled), so an "IDC down" also takes an etcd member, as in a real three-site layout.
"""

from __future__ import annotations

from loadtests.chaos.targets import DbMember, Proc
from loadtests.cluster.etcd import etcd_is_leader, leader_key
from sim.scenario.chaos_effects import fence_margin

__all__ = ["ClusterAdapter", "member_dsns"]


class ClusterAdapter:
    def __init__(self, cluster, scenario):
        self.c = cluster
        self.cells = cluster.cells
        self.admin_token = cluster.admin_token
        idcs = scenario.topology.idc_names
        app = scenario.topology.cells.template.app
        self._app_idcs = app.placement or idcs
        self._idcs = idcs
        live = scenario.live
        self.fence_margin = fence_margin(live, float(live.patroni.ttl)) if live is not None else None
        # whether the supervisor holds the services' ports (clusters brought up since 20261204T15)
        self._held = bool(getattr(cluster, "state", {}).get("held_ports"))

    def db_members(self, cell: int) -> list[DbMember]:
        return [DbMember(cell=m["cell"], index=m["index"], name=m["name"], idc=m["idc"], role=m["role"],
                         patroni_pid=m["patroni_pid"], postmaster_pid=m["postmaster_pid"],
                         proxy_control=m["proxy_url"])
                for m in sorted(self.c.members(cell), key=lambda m: m["index"])]

    def app_servers(self, cell: int) -> list[Proc]:
        out = []
        for a in sorted((a for a in self.c.app_servers if a["cell"] == cell), key=lambda a: a["index"]):
            out.append(Proc(a["name"], a["pid"], self._app_idcs[a["index"] % len(self._app_idcs)], "app", a["url"],
                            cell=cell, port_held=self._held))
        return out

    def gateway(self) -> Proc | None:
        return Proc("gateway", self.c.gateway_pid, None, "gateway", port_held=self._held)

    def relay(self) -> Proc | None:
        return Proc("relay", self.c.relay_pid, None, "relay", port_held=self._held)

    def etcd_members(self) -> list[Proc]:
        # each member's role goes into a fault's record: losing etcd's leader costs an election,
        # which Patroni must ride out (live.patroni.retry_timeout)
        return [Proc(e["name"], e["pid"], self._idcs[e["index"] % len(self._idcs)], "etcd",
                     role=_etcd_role(e) if e["pid"] else None)
                for e in self.c.etcd_members]

    def leader_key(self, cell: int) -> tuple[str, float] | None:
        """Patroni's leader key of ``cell`` in etcd: (leader's name, expiry as unix time)."""
        st = self.c.state
        ports = [e["client_port"] for e in st.get("etcd", [])]
        return leader_key(ports, f"/hivesim/hivesim-{st['run_id']}-cell{cell}/leader")

    def restart(self, what, part: str = "all") -> None:
        """Bring back what a fault killed. Patroni restarts its own PostgreSQL (as a replica, after
        pg_rewind if needed); gateway, app servers and relay are restarted by the supervisor."""
        if isinstance(what, DbMember):
            self.c.start_patroni(what.name)
        elif what.kind == "etcd":
            self.c.start_etcd(int(what.name.removeprefix("etcd")))
        # app / gateway / relay: the cluster's supervisor restarts them by itself


def member_dsns(cluster) -> list:
    """A direct libpq connection string for every database member (the checker's replica reads).

    Derived from the cluster's own connection string for the bank's role, pointed at one
    member's PostgreSQL port (no proxy) and allowing standbys (``target_session_attrs=any``).
    """
    import re

    from loadtests.checker import MemberDsn
    out = []
    for m in cluster.state["members"]:
        dsn = cluster.app_dsn(m["cell"], via_proxy=False, app="hivesim-checker")
        dsn = re.sub(r"\bhost=\S+", "host=127.0.0.1", dsn)
        dsn = re.sub(r"\bport=\S+", f"port={m['pg_port']}", dsn)
        dsn = re.sub(r"\btarget_session_attrs=\S+", "target_session_attrs=any", dsn)
        out.append(MemberDsn(str(m["cell"]), m["name"], dsn))
    return out


def _etcd_role(member: dict) -> str | None:
    """"leader" or "follower" for a cluster manager's etcd member entry (None: it did not answer)."""
    lead = etcd_is_leader(int(member["client_url"].rsplit(":", 1)[1]))
    return None if lead is None else "leader" if lead else "follower"
