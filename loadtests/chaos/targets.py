"""Resolve a ``chaos:`` target (the scenario's vocabulary) to parts of a running cluster.

Grammar (``sim.scenario.model.CHAOS_TARGET_RE``)::

    cell[i] | cell[*]              every database member and app server of the cell(s)
    cell[i].db                     every database member of the cell
    cell[i].db.primary             the member that is the cell's leader *when the fault starts*
    cell[i].db.sync_standby        a synchronous standby (the first one Patroni lists)
    cell[i].db.replica[k]          member k of the cell's replica set (by index, whatever its role)
    cell[i].app | .app.node[k]     the cell's app servers | app server k
    idc[name]                      every member placed in that IDC (db members, app servers, etcd)
    gateway | gns                  the gateway (the GNS of the live bank)
    relay | bus                    the cross-cell relay (the message bus)
    etcd | etcd[k] | etcd[quorum]  all etcd members | member k | a majority of them (quorum lost)

The cluster side is reached through :class:`ClusterView`, a small protocol the cluster
manager's handle is adapted to (``loadtests/chaos/adapter.py``); tests use a fake one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

from sim.scenario.model import CHAOS_TARGET_RE

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


def _cells(spec: str, n: int) -> list[int]:
    if spec == "*":
        return list(range(n))
    i = int(spec)
    if not 0 <= i < n:
        raise TargetError(f"cell {i} out of range 0-{n - 1}")
    return [i]


def _pick(items: list, k: int, what: str):
    if not 0 <= k < len(items):
        raise TargetError(f"{what}[{k}] out of range 0-{len(items) - 1}")
    return items[k]


def resolve(target: str, cluster: ClusterView) -> Resolved:
    """The members and processes ``target`` names at this moment (roles are read now)."""
    m = CHAOS_TARGET_RE.match(target)
    if not m:
        raise TargetError(f"not a chaos target: {target!r}")
    out = Resolved()
    if m.group("cell") is not None:
        tier = m.group("tier")
        member = m.group("member")
        for c in _cells(m.group("cell"), cluster.cells):
            if tier in (None, "db"):
                mems = cluster.db_members(c)
                if member is None:
                    out.members += mems
                elif member == "primary":
                    leaders = [x for x in mems if x.role == "leader"]
                    if not leaders:
                        raise TargetError(f"cell[{c}] has no leader right now")
                    out.members.append(leaders[0])
                elif member == "sync_standby":
                    syncs = [x for x in mems if x.role == "sync_standby"]
                    if not syncs:
                        raise TargetError(f"cell[{c}] has no synchronous standby right now")
                    out.members.append(syncs[0])
                elif member.startswith("replica["):
                    out.members.append(_pick(mems, int(re.search(r"\d+", member).group()), f"cell[{c}].db.replica"))
                else:
                    raise TargetError(f"{target}: a database has primary, sync_standby or replica[k]")
            if tier in (None, "app"):
                apps = cluster.app_servers(c)
                if member is None:
                    out.procs += apps
                elif member.startswith("node["):
                    out.procs.append(_pick(apps, int(re.search(r"\d+", member).group()), f"cell[{c}].app.node"))
                else:
                    raise TargetError(f"{target}: an app tier has node[k]")
    elif m.group("idc") is not None:
        idc = m.group("idc")
        for c in range(cluster.cells):
            out.members += [x for x in cluster.db_members(c) if x.idc == idc]
            out.procs += [p for p in cluster.app_servers(c) if p.idc == idc]
        out.procs += [p for p in cluster.etcd_members() if p.idc == idc]
        if not out.members and not out.procs:
            raise TargetError(f"nothing is placed in IDC {idc!r}")
    elif target in ("gateway", "gns"):
        g = cluster.gateway()
        if g is None:
            raise TargetError("the cluster has no gateway")
        out.procs.append(g)
    elif target in ("relay", "bus"):
        r = cluster.relay()
        if r is None:
            raise TargetError("the cluster has no relay")
        out.procs.append(r)
    elif target.startswith("etcd"):
        ms = cluster.etcd_members()
        which = m.group("etcd")
        if which is None:
            out.procs += ms
        elif which == "quorum":
            out.procs += ms[: len(ms) // 2 + 1]  # a majority: the rest cannot elect a leader
        else:
            out.procs.append(_pick(ms, int(which), "etcd"))
    return out


def check_schedule(scenario) -> None:
    """Reject, before anything starts, a ``chaos:`` entry the live cluster cannot carry out.

    Raises ``ScenarioError`` naming ``chaos[i]``: a member index beyond the replica set, an app
    node or etcd member that does not exist, or a fault kind that does not apply to the target.
    """
    from sim.errors import ScenarioError
    from sim.scenario.live import Live
    live = scenario.live or Live()
    replicas = scenario.topology.cells.template.db.replicas
    limits = {"replica": replicas, "node": live.app_servers_per_cell, "etcd": live.etcd.members}
    for i, e in enumerate(scenario.chaos):
        where = f"chaos[{i}]"
        m = CHAOS_TARGET_RE.match(e.target)
        for what, n in limits.items():
            k = re.search(rf"{what}\[(\d+)\]", e.target)
            if k and int(k.group(1)) >= n:
                raise ScenarioError(f"{what}[{k.group(1)}] does not exist: the live cluster has {n} "
                                    f"(0-{n - 1})", path=f"{where}.target")
        app = m.group("tier") == "app"
        if e.fault in ("kill-postmaster", "kill-patroni", "partition") and not (m.group("tier") == "db"):
            raise ScenarioError(f"fault {e.fault} needs a database target such as cell[0].db.primary, "
                                f"got {e.target!r}", path=f"{where}.target")
        if e.fault == "latency" and not (m.group("tier") in ("db", "app")):
            raise ScenarioError(f"fault latency needs cell[i].db... or cell[i].app..., got {e.target!r}",
                                path=f"{where}.target")
        if e.fault == "bad-change" and not app:
            raise ScenarioError(f"fault bad-change needs an app target such as cell[0].app, got {e.target!r}",
                                path=f"{where}.target")
        if e.fault == "latency" and e.latency <= 0:
            raise ScenarioError("fault latency needs latency > 0 (e.g. 100ms)", path=f"{where}.latency")
