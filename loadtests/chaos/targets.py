"""Resolve a typed chaos target (``sim.scenario.chaos.ChaosTarget``) to parts of a running cluster.

The grammar, the aliases (``gateway`` = gns, ``relay`` = bus) and what each fault kind means
are ``sim.scenario.chaos``; validation already refused targets naming nothing in the scenario.
What a target is *live*:

    cell[i] | cell[*]              every database member and app server of the cell(s)
    cell[i].db                     every database member of the cell
    cell[i].db.primary             the member that is the cell's leader *when the fault starts*
    cell[i].db.sync_standby        a synchronous standby (the first one Patroni lists)
    cell[i].db.replica[k]          member k of the cell's replica set (by index, whatever its role)
    cell[i].app | .app.node[k]     the cell's app servers | app server k
    idc[name]                      every member placed in that IDC (db members, app servers, etcd)
    gns (gateway), bus (relay)     the gateway | the cross-cell relay
    etcd | etcd[k] | etcd[quorum]  all etcd members | member k | a majority of them (quorum lost)

The cluster side is reached through :class:`ClusterView`, a small protocol the cluster
manager's handle is adapted to (``loadtests/chaos/adapter.py``); tests use a fake one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from sim.scenario.chaos import ChaosTarget, parse_target

__all__ = ["Proc", "DbMember", "ClusterView", "Resolved", "resolve", "TargetError", "check_schedule"]


class TargetError(ValueError):
    """A target that names nothing in this cluster (e.g. replica[5] of a 3-member set)."""


@dataclass
class Proc:
    """A process the cluster manager started (we only ever signal PIDs we know)."""

    name: str
    pid: int | None
    idc: str | None = None
    kind: str = "proc"     # app | gateway | relay | etcd
    url: str | None = None  # HTTP base URL, for services with an admin hook
    role: str | None = None  # etcd: leader | follower when resolved (None: not known or not asked)
    cell: int | None = None  # app servers: the cell they serve
    # its supervisor holds its listening socket: connections wait in the backlog while it restarts
    port_held: bool = False


@dataclass
class DbMember:
    """One PostgreSQL member of a cell: its Patroni, its postmaster, its fault proxy."""

    cell: int
    index: int
    name: str
    idc: str | None
    role: str | None                  # leader | sync_standby | replica | None (unreachable)
    patroni_pid: int | None
    postmaster_pid: int | None
    proxy_control: str | None = None  # base URL of the member's TCP fault proxy control API


class ClusterView(Protocol):
    """What the injector needs to know about, and do to, a running cluster."""

    cells: int
    admin_token: str

    def db_members(self, cell: int) -> list[DbMember]: ...
    def app_servers(self, cell: int) -> list[Proc]: ...
    def gateway(self) -> Proc | None: ...
    def relay(self) -> Proc | None: ...
    def etcd_members(self) -> list[Proc]: ...
    def restart(self, what: "DbMember | Proc", part: str = "all") -> None: ...
    # the emulated fencing watchdog (loadtests.chaos.fence): its safety margin in seconds, None
    # when the scenario has none, and the cell's leader key as (leader's name, expiry unix time)
    fence_margin: float | None
    def leader_key(self, cell: int) -> tuple[str, float] | None: ...


@dataclass
class Resolved:
    """What one target means right now."""

    members: list[DbMember] = field(default_factory=list)
    procs: list[Proc] = field(default_factory=list)

    def describe(self) -> str:
        parts = [f"{m.name}({m.role or '?'}, patroni {m.patroni_pid}, postmaster {m.postmaster_pid})"
                 for m in self.members]
        parts += [f"{p.name}(pid {p.pid})" for p in self.procs]
        return ", ".join(parts) or "nothing"


def _cells(target: ChaosTarget, n: int) -> list[int]:
    bad = [c for c in (target.cells or ()) if not 0 <= c < n]
    if bad:
        raise TargetError(f"cell {bad[0]} out of range 0-{n - 1}")
    return target.cell_indices(n)


def _pick(items: list, k: int, what: str):
    if not 0 <= k < len(items):
        raise TargetError(f"{what}[{k}] out of range 0-{len(items) - 1}")
    return items[k]


def resolve(target: ChaosTarget | str, cluster: ClusterView) -> Resolved:
    """The members and processes ``target`` names at this moment (roles are read now)."""
    t = parse_target(target) if isinstance(target, str) else target
    out = Resolved()
    if t.part == "cell":
        for c in _cells(t, cluster.cells):
            if t.tier in (None, "db"):
                mems = cluster.db_members(c)
                if t.member is None:
                    out.members += mems
                elif t.member == "primary":
                    leaders = [x for x in mems if x.role == "leader"]
                    if not leaders:
                        raise TargetError(f"cell[{c}] has no leader right now")
                    out.members.append(leaders[0])
                elif t.member == "sync_standby":
                    syncs = [x for x in mems if x.role == "sync_standby"]
                    if not syncs:
                        raise TargetError(f"cell[{c}] has no synchronous standby right now")
                    out.members.append(syncs[0])
                else:
                    out.members.append(_pick(mems, t.index, f"cell[{c}].db.replica"))
            if t.tier in (None, "app"):
                apps = cluster.app_servers(c)
                if t.member is None:
                    out.procs += apps
                else:
                    out.procs.append(_pick(apps, t.index, f"cell[{c}].app.node"))
    elif t.part == "idc":
        for c in range(cluster.cells):
            out.members += [x for x in cluster.db_members(c) if x.idc == t.idc]
            out.procs += [p for p in cluster.app_servers(c) if p.idc == t.idc]
        out.procs += [p for p in cluster.etcd_members() if p.idc == t.idc]
        if not out.members and not out.procs:
            raise TargetError(f"nothing is placed in IDC {t.idc!r}")
    elif t.part == "gns":
        g = cluster.gateway()
        if g is None:
            raise TargetError("the cluster has no gateway")
        out.procs.append(g)
    elif t.part == "bus":
        r = cluster.relay()
        if r is None:
            raise TargetError("the cluster has no relay")
        out.procs.append(r)
    else:  # etcd
        ms = cluster.etcd_members()
        if t.quorum:
            out.procs += ms[: len(ms) // 2 + 1]  # a majority: the rest cannot elect a leader
        elif t.index is None:
            out.procs += ms
        else:
            out.procs.append(_pick(ms, t.index, "etcd"))
    return out


def check_schedule(scenario) -> None:
    """Reject, before anything starts, a ``chaos:`` entry the live cluster cannot carry out.

    Scenario validation already refused targets naming nothing in the scenario and fault kinds
    that do not apply (``sim.scenario.chaos``). What is left is live-only: the cluster runs
    ``live.app_servers_per_cell`` app servers per cell (the simulator: ``app.nodes``) and the
    template's replica count in every cell. Raises ``ScenarioError`` naming ``chaos[i].target``.
    """
    from sim.errors import ScenarioError
    from sim.scenario.live import Live
    live = scenario.live or Live()
    limits = {"replica": scenario.topology.cells.template.db.replicas, "node": live.app_servers_per_cell}
    for i, e in enumerate(scenario.chaos):
        t = e.scope
        n = limits.get(t.member)
        if n is not None and t.index >= n:
            raise ScenarioError(f"{t.member}[{t.index}] does not exist: the live cluster has {n} "
                                f"(0-{n - 1})", path=f"chaos[{i}].target")
