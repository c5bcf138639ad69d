"""The base of every scenario section: unknown keys are errors, defaults are validated too.

Every section module (``model``, ``capacity``, ``cost``, ``live``, ``chaos``) subclasses
:class:`Strict` from here, so ``model`` can import the sections normally (no import cycle).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Strict"]


class Strict(BaseModel):
    """Base for every scenario section: unknown keys are errors (with a suggestion)."""

    model_config = ConfigDict(extra="forbid", validate_default=True)
