"""Pydantic field types for values with units (see ``sim.units``).

Each type accepts the unit-bearing string forms and bare numbers, normalises to base units
(seconds, events/second, fractions) and advertises a ``string | number`` JSON Schema so editors
complete and check scenario files.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

from sim import units

__all__ = ["Duration", "Rate", "Fraction", "PosInt", "NonNegInt", "Number", "PosNumber"]


def _wrap(fn):
    def inner(v):
        return fn(v)
    return inner


_unit_schema = lambda desc, pattern=None: WithJsonSchema(  # noqa: E731
    {"anyOf": [{"type": "number"}, {"type": "string", **({"pattern": pattern} if pattern else {})}],
     "description": desc})

Duration = Annotated[float, BeforeValidator(_wrap(units.parse_duration)),
                     _unit_schema("duration: 30s, 5m, 4h, 365d, 1y (bare number = seconds)")]
Rate = Annotated[float, BeforeValidator(_wrap(units.parse_rate)),
                 _unit_schema("rate: 2/yr, 1_000_000_000/day, 5%/yr (bare number = per second)")]
Fraction = Annotated[float, BeforeValidator(_wrap(units.parse_fraction)),
                     _unit_schema("fraction: 0.3 or 30% or 99.999%")]
Number = Annotated[float, BeforeValidator(_wrap(units.parse_number)),
                   _unit_schema("number (underscores allowed: 1_000_000)")]
PosNumber = Annotated[float, BeforeValidator(_wrap(units.parse_number)), Field(gt=0),
                      _unit_schema("positive number")]
def _at_least(n):
    def check(v):
        if v < n:
            raise ValueError(f"expected an integer >= {n}, got {v!r}")
        return v
    return check


# The lower bound is a validator, not Field(ge=...): pydantic keeps only one ``ge`` when a field
# adds its own (``x: PosInt = Field(20, ge=20)`` would silently accept 5), so fields may tighten it.
PosInt = Annotated[int, Field(strict=True, json_schema_extra={"minimum": 1}), AfterValidator(_at_least(1))]
NonNegInt = Annotated[int, Field(strict=True, json_schema_extra={"minimum": 0}), AfterValidator(_at_least(0))]
