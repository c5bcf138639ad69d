"""Services inside a cell, and the path each transaction type takes through them.

A cell may declare ``services`` (``topology.cells.template.services``): each an app tier of
its own, with ``nodes`` placed in IDCs, ``needs`` of them up to serve (k of n), a CPU
``demand`` per call (or a per-node ``capacity_tps``), a ``database`` (the cell's set, its
``own`` set, or ``none``) and an optional ``fallback``: another service of the cell that serves
when this one is down. ``workload.paths`` names, for each transaction type, the services it
calls in series, each ``calls`` times per transaction (fan-out). Without ``services`` nothing
here applies and the bank is exactly what it was.

User-defined types: any other key of ``workload.paths`` is a type of its own, written
``{like: reads|intra_cell|cross_cell, share: 0.05, path: [...]}``; it fails and loads the bank
like the built-in type it is ``like`` and takes ``share`` of all transactions. The built-in
kinds keep their ``workload.mix`` proportions in what is left (share x (1 - sum of user shares)).

:func:`transaction_types` is the one place paths are interpreted (parse once): every engine
and reader uses the :class:`TxType` list it returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, model_validator

from sim.scenario.base import Strict
from sim.scenario.database import Database
from sim.scenario.failure_models import ComponentOverride
from sim.scenario.mix import TRANSACTION_KINDS
from sim.scenario.types import Duration, Fraction, PosInt, PosNumber

__all__ = ["Service", "Call", "UserType", "TxType", "transaction_types", "check_services",
           "default_path_names"]

_NAME = r"^[A-Za-z][A-Za-z0-9_-]*$"


class Service(Strict):
    name: str = Field(min_length=1, max_length=64, pattern=_NAME)
    nodes: PosInt = Field(2, le=10_000)
    placement: list[str] = Field(default_factory=list, description="IDC of each node (cycled); empty = spread")
    needs: PosInt = Field(1, description="nodes that must be up for the service to serve (k of n)")
    demand: Duration | None = Field(None, description="CPU time per call on its nodes (capacity; capacity.app_node cores)")
    capacity_tps: PosNumber | None = Field(None, description="calls/s one node serves (instead of demand)")
    database: Literal["cell", "own", "none"] = Field(
        "cell", description="cell: the cell's db set (already on every path); own: its own set; none: stateless")
    db: Database | None = Field(None, description="its own replica set (database: own); absent = a copy of the cell's db")
    fallback: str | None = Field(None, description="another service of the cell that serves when this one is down")
    failures: ComponentOverride | None = Field(None, description="its servers' failure models in place of the bank's (written keys only)")

    @model_validator(mode="after")
    def _check(self):
        if self.needs > self.nodes:
            raise ValueError(f"needs ({self.needs}) cannot exceed nodes ({self.nodes})")
        if self.db is not None and self.database != "own":
            raise ValueError(f"db: a service's own set needs database: own (got database: {self.database})")
        if self.demand is not None and self.capacity_tps is not None:
            raise ValueError("give demand or capacity_tps, not both")
        if self.fallback == self.name:
            raise ValueError(f"fallback: a service cannot be its own fallback ({self.name!r})")
        return self


class Call(Strict):
    service: str = Field(min_length=1, max_length=64)
    calls: PosNumber = Field(1.0, description="calls per transaction (fan-out)")


Step = str | Call


class UserType(Strict):
    like: Literal["reads", "intra_cell", "cross_cell"] = Field(description="the built-in type it fails and loads like")
    share: Fraction = Field(description="its share of all transactions")
    path: list[Step] = Field(min_length=1)


@dataclass(frozen=True)
class TxType:
    """One transaction type: its name, the built-in kind it behaves like, its bank-wide share,
    and its path as (service, calls) pairs in call order."""

    name: str
    like: str
    share: float
    path: tuple[tuple[str, float], ...]


def _steps(raw) -> tuple[tuple[str, float], ...]:
    return tuple((s, 1.0) if isinstance(s, str) else (s.service, float(s.calls)) for s in raw)


def default_path_names(services: list[Service]) -> list[str]:
    """Without ``workload.paths``: every service that is not only some other's fallback."""
    fallbacks = {s.fallback for s in services if s.fallback}
    return [s.name for s in services if s.name not in fallbacks]


def transaction_types(workload, services: list[Service]) -> list[TxType]:
    """The transaction types of a bank with services, in order: built-in kinds, then user ones."""
    paths = workload.paths or {}
    user = {k: v for k, v in paths.items() if k not in TRANSACTION_KINDS}
    rest = 1.0 - sum(v.share for v in user.values())
    default = tuple((n, 1.0) for n in default_path_names(services))
    mix = workload.mix.shares()
    out = [TxType(k, k, mix[k] * rest, _steps(paths[k]) if k in paths else default)
           for k in TRANSACTION_KINDS]
    out += [TxType(k, v.like, float(v.share), _steps(v.path)) for k, v in user.items()]
    return out


def check_paths(paths: dict | None) -> None:
    """Shape of ``workload.paths`` (before services are known): ValueError naming the key."""
    if not paths:
        return
    total = 0.0
    for k, v in paths.items():
        if k in TRANSACTION_KINDS:
            if not isinstance(v, list):
                raise ValueError(f"paths.{k}: expected a list of services (a built-in type's share is workload.mix.{k})")
        else:
            if not isinstance(v, UserType):
                raise ValueError(f"paths.{k}: a user-defined type needs {{like, share, path}}")
            total += v.share
    if total > 1.0 + 1e-9:
        raise ValueError(f"paths: user-defined types' shares sum to {total:.6g} > 1")


def check_services(where: str, services: list[Service], paths: dict | None, idcs: list[str]) -> None:
    """One cell's services against the paths and IDCs: ValueError naming the field path."""
    names = [s.name for s in services]
    seen = set()
    for i, s in enumerate(services):
        if s.name in seen:
            raise ValueError(f"{where}.services[{i}].name: duplicate service {s.name!r}")
        seen.add(s.name)
        for p in s.placement + (s.db.placement if s.db else []):
            if p not in idcs:
                raise ValueError(f"{where}.services[{i}].placement: unknown IDC {p!r} (known: {', '.join(idcs)})")
        if s.fallback is not None and s.fallback not in seen | set(names):
            raise ValueError(f"{where}.services[{i}].fallback: unknown service {s.fallback!r} (known: {', '.join(names)})")
    by = {s.name: s for s in services}
    for s in services:  # fallback chains end
        chain, cur = [s.name], s.fallback
        while cur is not None:
            if cur in chain:
                raise ValueError(f"{where}.services: fallback cycle {' -> '.join(chain + [cur])}")
            chain.append(cur)
            cur = by[cur].fallback
    if not paths:
        return
    if not services:
        raise ValueError(f"workload.paths: names services, but {where}.services declares none")
    for k, v in paths.items():
        steps = v if k in TRANSACTION_KINDS else v.path
        for j, st in enumerate(steps):
            name = st if isinstance(st, str) else st.service
            if name not in by:
                loc = f"workload.paths.{k}" + ("" if k in TRANSACTION_KINDS else ".path") + f"[{j}]"
                raise ValueError(f"{loc}: unknown service {name!r} in {where} (known: {', '.join(names)})")
