"""The ``chaos:`` schedule: typed targets and the one table of fault kinds, parsed once.

A chaos entry names a *target* by the bank's scope names and a *fault kind*. Both are read here,
during validation, and nowhere else: the simulator (``sim.engine`` via ``sim.model.resolve``) and
the live injector (``loadtests.chaos``) use the typed :class:`ChaosTarget` and the
:data:`FAULT_KINDS` table, so a scenario means the same thing to both engines.

Target grammar (``gateway`` and ``relay`` are the live bank's names of ``gns`` and ``bus``)::

    cell[i] | cell[*]                  every database member and app node of the cell(s)
    cell[i].db                         every database member of the cell
    cell[i].db.primary                 the member leading the cell *when the fault starts*
    cell[i].db.sync_standby            a synchronous standby (first up non-primary member)
    cell[i].db.replica[k]              member k of the replica set, whatever its role
    cell[i].app | cell[i].app.node[k]  the cell's app nodes | app node k
    idc[name]                          everything placed in that IDC
    gns | gateway, bus | relay         the global router | the cross-cell message bus
    etcd | etcd[k] | etcd[quorum]      the consensus store (live only): all, member k, a majority

Fault kinds. *Held* kinds start at ``at`` and are lifted ``duration`` seconds later;
``duration: 0`` means **held until the run ends** (the simulator: the horizon; live: the end of
the load, before the checker runs). The one *instantaneous* kind takes no duration.

| kind            | targets        | what stops                                                      | duration |
|-----------------|----------------|-----------------------------------------------------------------|----------|
| crash           | any            | the member/process dies (a host crash); restarted when lifted   | held     |
| down            | any            | same as crash; the word for IDCs and services                   | held     |
| kill-postmaster | db members     | PostgreSQL dies; Patroni restarts it at once (a primary is      | none     |
|                 |                | replaced first: one full failover)                              |          |
| kill-patroni    | db members     | Patroni dies, PostgreSQL runs on; a primary is replaced once the| held     |
|                 |                | leader key expires; Patroni restarted when lifted. With a       |          |
|                 |                | watchdog (live.patroni.watchdog) a primary's PostgreSQL is reset|          |
|                 |                | ``safety_margin`` s before the key expires                      |          |
| pause           | any            | frozen (SIGSTOP); a paused primary stalls writes and, held past | held     |
|                 |                | ``failover.detection``, is replaced                             |          |
| latency         | db / app       | nothing stops: ``latency`` +- ``jitter`` added on the path      | held     |
| partition       | db members     | the app servers cannot reach the member                         | held     |
| bad-change      | a cell's app   | the cell's app tier answers errors (a bad deploy)               | held     |

How each engine carries them: the simulator takes every member the target names down for the
hold, except where ``sim.scenario.chaos_effects`` (shared by the fluid engine and request mode)
says otherwise: a paused primary stalls first and a killed Patroni serves on, each replaced only
when held past ``failover.detection`` (the ttl); an etcd quorum loss holds every failover until
it returns (one member: nothing); a relay/bus crash or pause delays cross-cell credits (no
outage; the credit delay is recorded); ``latency`` marks the window slow. Live, ``loadtests/chaos/faults.py``
sends the signals and drives the fault proxies. One limit of the live bank: its supervisor
restarts a crashed gateway, relay or app server after ``live.restart_delay`` whatever the hold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from sim.scenario.base import Strict
from sim.scenario.types import Duration

__all__ = ["ChaosTarget", "FaultKind", "FAULT_KINDS", "FAULT_NAMES", "ChaosEntry", "parse_target",
           "hold_seconds", "check_schedule_targets"]

Part = Literal["cell", "idc", "gns", "bus", "etcd"]

_TARGET_RE = re.compile(
    r"^(?:cell\[(?P<cell>\d+|\*)\]"
    r"(?:\.(?:(?P<db>db)(?:\.(?P<dbm>primary|sync_standby|replica\[(?P<rk>\d+)\]))?"
    r"|(?P<app>app)(?:\.node\[(?P<nk>\d+)\])?))?"
    r"|idc\[(?P<idc>[^\]]+)\]"
    r"|(?P<svc>gns|gateway|bus|relay)"
    r"|etcd(?:\[(?P<etcd>\d+|quorum)\])?)$")

_ALIASES = {"gateway": "gns", "relay": "bus"}


@dataclass(frozen=True)
class ChaosTarget:
    """What a chaos entry names, by scope.

    ``part``: cell | idc | gns | bus | etcd. For cells: ``cells`` (indices; ``None`` = every
    cell), ``tier`` (db | app | None = both), ``member`` (primary | sync_standby | replica |
    node | None = the whole tier) with ``index`` k of replica[k] / node[k]. ``idc``: the IDC's
    name. etcd: ``index`` k, or ``quorum`` (a majority), or neither (all members). ``text`` is
    what the scenario wrote, for messages and records.
    """

    text: str
    part: Part
    cells: tuple[int, ...] | None = None
    tier: Literal["db", "app"] | None = None
    member: Literal["primary", "sync_standby", "replica", "node"] | None = None
    index: int | None = None
    idc: str | None = None
    quorum: bool = False

    @property
    def form(self) -> str:
        """The kind of thing named, as the fault table's ``targets`` column says it:
        db | app | cell | idc | gns | bus | etcd."""
        return self.tier if self.part == "cell" and self.tier else self.part

    def cell_indices(self, count: int) -> list[int]:
        """The cells named, in a bank of ``count`` cells (empty for other parts)."""
        if self.part != "cell":
            return []
        return list(range(count)) if self.cells is None else list(self.cells)

    def __str__(self) -> str:
        return self.text


@lru_cache(maxsize=4096)
def parse_target(text: str) -> ChaosTarget:
    """The one parser of target text; ``ValueError`` naming the grammar when it is not one."""
    m = _TARGET_RE.match(text.strip()) if isinstance(text, str) else None
    if not m:
        raise ValueError("expected a target such as cell[3].db.primary, cell[0].app.node[1], idc[sz-b], "
                         f"gns, bus, etcd[1], gateway; got {text!r}")
    g = m.groupdict()
    if g["cell"] is not None:
        cells = None if g["cell"] == "*" else (int(g["cell"]),)
        if g["db"]:
            dbm = g["dbm"]
            member = "replica" if dbm and dbm.startswith("replica") else dbm
            return ChaosTarget(text, "cell", cells, "db", member, int(g["rk"]) if g["rk"] else None)
        if g["app"]:
            return ChaosTarget(text, "cell", cells, "app", "node" if g["nk"] else None,
                               int(g["nk"]) if g["nk"] else None)
        return ChaosTarget(text, "cell", cells)
    if g["idc"] is not None:
        return ChaosTarget(text, "idc", idc=g["idc"])
    if g["svc"] is not None:
        return ChaosTarget(text, _ALIASES.get(g["svc"], g["svc"]))
    e = g["etcd"]
    return ChaosTarget(text, "etcd", index=int(e) if e and e != "quorum" else None, quorum=e == "quorum")


@dataclass(frozen=True)
class FaultKind:
    """One row of the fault table (see the module docstring)."""

    name: str
    targets: tuple[str, ...]  # target forms it applies to (ChaosTarget.form)
    held: bool                # held for ``duration`` (0 = until the run ends); False = instantaneous
    stops: str
    whole_tier: bool = False  # only a whole tier (a change is deployed to a cell, not to a node)

    def refuses(self, target: ChaosTarget) -> str | None:
        """Why this kind cannot hit ``target`` (None when it can)."""
        if target.form not in self.targets or (self.whole_tier and target.member is not None):
            example = {"db": "cell[0].db.primary", "app": "cell[0].app"}.get(self.targets[0], "cell[0]")
            need = {"db": "a database target", "app": "an app target"}.get(self.targets[0], "another target")
            if self.whole_tier:
                need = "a cell's whole app tier"
            return f"fault {self.name} needs {need} such as {example}, got {target.text!r}"
        return None


_ANY = ("cell", "db", "app", "idc", "gns", "bus", "etcd")

FAULT_KINDS: dict[str, FaultKind] = {k.name: k for k in (
    FaultKind("crash", _ANY, True, "the member or process dies (a host crash); restarted when lifted"),
    FaultKind("kill-postmaster", ("db",), False,
              "PostgreSQL dies and is restarted at once by Patroni (a primary is replaced first)"),
    FaultKind("kill-patroni", ("db",), True,
              "Patroni dies, PostgreSQL runs on; a primary is replaced once its leader key expires"),
    FaultKind("pause", _ANY, True, "frozen; a paused primary stalls writes, then is replaced"),
    FaultKind("latency", ("db", "app"), True, "latency (+- jitter) added on the path; nothing stops"),
    FaultKind("partition", ("db",), True, "the app servers cannot reach the member"),
    FaultKind("down", _ANY, True, "as crash: everything the target names is out until lifted"),
    FaultKind("bad-change", ("app",), True, "the cell's app tier answers errors", whole_tier=True),
)}
FAULT_NAMES = tuple(FAULT_KINDS)


def hold_seconds(entry: "ChaosEntry", run_end: float) -> float:
    """How long ``entry`` holds its fault in a run ending at ``run_end`` (seconds from its start):
    ``duration``, or until the run ends for ``duration: 0``, or 0 for an instantaneous kind."""
    if not FAULT_KINDS[entry.fault].held:
        return 0.0
    return float(entry.duration) if entry.duration > 0 else max(float(run_end) - float(entry.at), 0.0)


class ChaosEntry(Strict):
    at: Duration = Field(description="start, from the beginning of the run")
    target: str = Field(description="cell[i] | cell[*], optionally .db[.primary|.sync_standby|.replica[k]] or "
                                    ".app[.node[k]]; idc[name]; gns (gateway); bus (relay); etcd[k|quorum]")
    fault: Literal[FAULT_NAMES] = Field(
        description="what stops, on which targets, for how long: the table in sim/scenario/chaos.py (FAULT_KINDS), "
                    "the same for the simulator and the live bank")
    duration: Duration = Field(0.0, description="how long the fault is held, then lifted; 0 = until the run ends "
                                                "(simulator: the horizon; live: the end of the load); "
                                                "kill-postmaster is instantaneous and takes none")
    latency: Duration = Field(0.0, description="added latency for fault: latency")
    jitter: Duration = Field(0.0)
    note: str = ""

    _scope: ChaosTarget | None = PrivateAttr(None)

    @field_validator("target")
    @classmethod
    def _target(cls, v):
        parse_target(v)
        return v

    @model_validator(mode="after")
    def _kind(self):
        kind = FAULT_KINDS[self.fault]
        why = kind.refuses(parse_target(self.target))
        if why:
            raise ValueError(f"target: {why}")
        if not kind.held and self.duration > 0:
            raise ValueError(f"duration: fault {self.fault} is instantaneous (Patroni restarts PostgreSQL "
                             f"at once); remove duration, got {self.duration:g}s")
        if self.fault == "latency" and self.latency <= 0:
            raise ValueError("latency: fault latency needs latency > 0 (e.g. 100ms)")
        self._scope = parse_target(self.target)
        return self

    @property
    def scope(self) -> ChaosTarget:
        """The typed target (parsed during validation)."""
        return self._scope if self._scope is not None else parse_target(self.target)

    @property
    def kind(self) -> FaultKind:
        return FAULT_KINDS[self.fault]


def check_schedule_targets(chaos: list[ChaosEntry], cell_specs: list, idc_names: list[str],
                           has_gns: bool, has_bus: bool, etcd_members: int) -> None:
    """Raise ``ValueError("chaos[i].target: ...")`` for the first target naming nothing in this bank.

    ``cell_specs``: the resolved spec of every cell (overrides applied), so ``replica[k]`` and
    ``node[k]`` are checked against the cell they name.
    """
    n = len(cell_specs)
    for i, e in enumerate(chaos):
        t = e.scope

        def bad(msg):
            return ValueError(f"chaos[{i}].target: {msg}")
        if t.part == "cell":
            for c in (t.cells or ()):
                if c >= n:
                    raise bad(f"cell {c} out of range 0-{n - 1}")
            for c in t.cell_indices(n):
                spec = cell_specs[c]
                if t.member == "replica" and t.index >= spec.db.replicas:
                    raise bad(f"replica[{t.index}] does not exist: cell {c} has {spec.db.replicas} "
                              f"database replicas (0-{spec.db.replicas - 1})")
                if t.member == "node" and t.index >= spec.app.nodes:
                    raise bad(f"node[{t.index}] does not exist: cell {c} has {spec.app.nodes} app nodes "
                              f"(0-{spec.app.nodes - 1})")
                if t.member == "sync_standby" and spec.db.replicas < 2:
                    raise bad(f"cell {c} has a single database replica: no standby")
        elif t.part == "idc" and t.idc not in idc_names:
            raise bad(f"unknown IDC {t.idc!r} (known: {', '.join(idc_names)})")
        elif t.part in ("gns", "bus") and not (has_gns if t.part == "gns" else has_bus):
            raise bad(f"{t.text} names nothing: topology.{t.part} is null in this scenario")
        elif t.part == "etcd" and t.index is not None and t.index >= etcd_members:
            raise bad(f"etcd[{t.index}] does not exist: live.etcd.members is {etcd_members} "
                      f"(0-{etcd_members - 1})")
