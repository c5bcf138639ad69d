"""Scenario language: load -> resolve ``extends`` -> apply ``--set`` -> validate -> typed Scenario.

Public API::

    from sim.scenario import load_scenario, Scenario, json_schema
    sc = load_scenario("scenarios/webank-2023.yaml", sets=["simulation.replications=50"])

Nothing is built or run before the whole file validated; every error is a one-line
``ScenarioError`` naming file, line, field path, what was expected and what was found.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from importlib import resources

from pydantic import BaseModel, ValidationError

from sim.errors import ScenarioError
from sim.scenario.loader import Located, apply_sets, load_with_extends, load_yaml_text
from sim.scenario.model import Scenario

__all__ = ["load_scenario", "load_located", "load_scenario_text", "validate_document", "json_schema", "Scenario",
           "scenario_sha256", "DEFAULT_SCENARIO", "default_scenario_path"]

DEFAULT_SCENARIO = "webank-2023"


def default_scenario_path() -> str:
    """The reference scenario embedded in the package (used when ``hivesim run`` gets no file)."""
    return str(resources.files("sim") / "data" / f"{DEFAULT_SCENARIO}.yaml")


def _loc_to_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith(("function-", "union[", "tagged-union[", "list[")) or str(part) in (
                "str", "int", "float", "bool", "Idc", "Gate", "dict", "UserType", "Call"):
            continue  # pydantic's internal union branch labels, not user keys
        else:
            out += f".{part}" if out else str(part)
    return out


def _model_at(loc: tuple):
    """The pydantic model class that owns the field at ``loc[:-1]`` (for key suggestions)."""
    import typing
    model = Scenario
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            return None
        ann = field.annotation
        found = None
        for cand in [ann, *typing.get_args(ann)]:
            for sub in [cand, *typing.get_args(cand)]:
                if isinstance(sub, type) and issubclass(sub, BaseModel):
                    found = sub
                    break
            if found:
                break
        model = found
    return model


def _describe(err: dict) -> str:
    typ, msg, got = err["type"], err["msg"], err.get("input")
    if typ == "extra_forbidden":
        key = err["loc"][-1]
        model = _model_at(err["loc"])
        hint = ""
        if model is not None:
            close = difflib.get_close_matches(str(key), list(model.model_fields), n=1)
            if close:
                hint = f"; did you mean {close[0]!r}?"
            else:
                hint = f"; known keys: {', '.join(model.model_fields)}"
        return f"unknown key {key!r}{hint}"
    if typ == "missing":
        return "required field is missing"
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    bounds = {"greater_than_equal": (">=", "ge"), "greater_than": (">", "gt"),
              "less_than_equal": ("<=", "le"), "less_than": ("<", "lt")}
    if typ in bounds:
        op, key = bounds[typ]
        kind = "an integer" if isinstance(got, int) and not isinstance(got, bool) else "a number"
        return f"expected {kind} {op} {err.get('ctx', {}).get(key)}, got {got!r}"
    if typ.startswith(("greater_than", "less_than", "int_", "float_", "bool_", "string_", "literal_",
                       "list_", "too_", "dict_", "model_", "int_type", "enum")):
        msg = msg[0].lower() + msg[1:] if msg else msg
        return f"expected {msg.removeprefix('input should be ').removeprefix('Input should be ')}, got {got!r}"
    if "got" in msg:
        return msg
    return f"{msg} (got {got!r})" if got is not None and not isinstance(got, (dict, list)) else msg


def validate_document(doc: Located) -> Scenario:
    """Validate a loaded document; raise the first error as a located one-line ScenarioError."""
    try:
        return Scenario.model_validate(doc.data)
    except ValidationError as exc:
        errs = exc.errors(include_url=False)
        # prefer the most specific error (the one deepest in the document)
        err = max(errs, key=lambda e: len(e["loc"]))
        for e in errs:  # but keep the document's order when depth ties
            if len(e["loc"]) == len(err["loc"]):
                err = e
                break
        path = _loc_to_path(err["loc"])
        detail = _describe(err)
        # model-level checks name the offending field at the start of their message
        m = re.match(r"^([A-Za-z_][\w\[\]]*(?:\.[A-Za-z_][\w\[\]]*)*): (.*)$", detail)
        if m and err["type"] == "value_error":
            path = f"{path}.{m.group(1)}" if path else m.group(1)
            detail = m.group(2)
        file, line = doc.where(path)
        raise ScenarioError(detail, file=file, line=line, path=path or None) from None
    except ScenarioError:
        raise
    except ValueError as exc:  # model helpers raising plain ValueError
        raise ScenarioError(str(exc), file=doc.root_file) from None


def load_located(path: str | os.PathLike | None = None,
                 sets: list[str] | None = None) -> tuple[Scenario, Located]:
    """``load_scenario`` plus the loaded document (to locate later checks: ``sim.preflight``)."""
    path = path or default_scenario_path()
    doc = load_with_extends(path)
    apply_sets(doc, sets or [])
    return validate_document(doc), doc


def load_scenario(path: str | os.PathLike | None = None, sets: list[str] | None = None) -> Scenario:
    """Load, resolve, override and validate a scenario file (``None`` = the embedded default)."""
    return load_located(path, sets)[0]


def load_scenario_text(text: str, name: str = "<string>", sets: list[str] | None = None) -> Scenario:
    """Validate a scenario given as YAML text (no ``extends``); for tests and tools."""
    data, origin = load_yaml_text(text, name)
    if "extends" in data:
        raise ScenarioError("extends: needs a scenario file, not text", file=name)
    doc = Located(data, origin, name)
    apply_sets(doc, sets or [])
    return validate_document(doc)


def json_schema() -> dict:
    """JSON Schema of scenario files (for editors' completion and validation)."""
    schema = Scenario.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "hivesim scenario"
    schema.setdefault("properties", {})["extends"] = {
        "type": "string", "description": "relative path of a scenario this one deep-merges over"}
    return schema


def scenario_sha256(sc: Scenario) -> str:
    """Fingerprint of the fully resolved scenario (what the run actually used)."""
    blob = json.dumps(sc.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()
