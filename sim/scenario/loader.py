"""Load scenario YAML safely, remembering where every value came from.

Pipeline step 1 and 2 of ``load -> resolve extends -> apply --set -> validate``:

* Only YAML's plain data types are accepted (maps, lists, strings, numbers, booleans, null).
  Python tags, other custom tags, anchors/aliases (the "billion laughs" vector), binary data,
  files over ``MAX_BYTES``, documents deeper than ``MAX_DEPTH`` or larger than ``MAX_NODES``
  are refused with a one-line ``ScenarioError`` before anything is built.
* ``extends: other.yaml`` (relative to the file) is deep-merged under the file's own keys;
  chains are followed, cycles and paths escaping the scenario root are refused.
* Every value keeps its origin (file, line) in a ``Located`` map keyed by its dotted path,
  so later validation errors can name the line a user must fix.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from sim.errors import ScenarioError

__all__ = ["Located", "load_yaml_file", "load_with_extends", "apply_sets", "parse_set",
           "MAX_BYTES", "MAX_NODES", "MAX_DEPTH", "MAX_EXTENDS"]

MAX_BYTES = 1_000_000
MAX_NODES = 200_000
MAX_DEPTH = 40
MAX_EXTENDS = 16

_ALLOWED_TAGS = {
    "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}


@dataclass
class Located:
    """A plain-data document plus the (file, line) each dotted path was written at."""

    data: dict
    origin: dict[str, tuple[str, int]] = field(default_factory=dict)
    root_file: str = "<string>"

    def where(self, path: str) -> tuple[str, int | None]:
        """The (file, line) of ``path`` or of its closest written ancestor."""
        p = path
        while True:
            if p in self.origin:
                return self.origin[p]
            if "." not in p and "[" not in p:
                break
            cut = max(p.rfind("."), p.rfind("["))
            p = p[:cut]
            if not p:
                break
        return (self.root_file, None)


def _join(prefix: str, key) -> str:
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    return f"{prefix}.{key}" if prefix else str(key)


class _Builder:
    """Turns a composed YAML node tree into plain data, checking every node."""

    def __init__(self, fname: str):
        self.fname = fname
        self.nodes = 0
        self.origin: dict[str, tuple[str, int]] = {}
        self._scalar = yaml.SafeLoader("")  # only for resolving scalar values

    def fail(self, node, msg: str, path: str = ""):
        raise ScenarioError(msg, file=self.fname, line=node.start_mark.line + 1, path=path or None)

    def build(self, node, path: str = "", depth: int = 0):
        self.nodes += 1
        if self.nodes > MAX_NODES:
            self.fail(node, f"document too large (more than {MAX_NODES} values)")
        if depth > MAX_DEPTH:
            self.fail(node, f"document nested deeper than {MAX_DEPTH} levels", path)
        if node.tag not in _ALLOWED_TAGS:
            self.fail(node, f"tag {node.tag!r} is not allowed (plain YAML data only)", path)
        if path:
            self.origin.setdefault(path, (self.fname, node.start_mark.line + 1))
        if isinstance(node, yaml.MappingNode):
            out: dict = {}
            for knode, vnode in node.value:
                if not isinstance(knode, yaml.ScalarNode):
                    self.fail(knode, "mapping keys must be plain strings", path)
                if knode.tag == "tag:yaml.org,2002:merge" or knode.value == "<<":
                    self.fail(knode, "YAML merge keys (<<) are not supported; use extends:", path)
                key = str(self._scalar.construct_scalar(knode))
                if key in out:
                    self.fail(knode, f"duplicate key {key!r}", path)
                out[key] = self.build(vnode, _join(path, key), depth + 1)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(v, _join(path, i), depth + 1) for i, v in enumerate(node.value)]
        # scalar: resolve with the safe constructor (no Python objects possible)
        value = self._scalar.construct_object(node)
        if isinstance(value, float) and not math.isfinite(value):
            self.fail(node, f"expected a finite number, got {node.value!r}", path)
        return value


class _NoAliasComposer(yaml.SafeLoader):
    """SafeLoader that refuses anchors and aliases at compose time (no expansion bombs)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            ev = self.peek_event()
            raise ScenarioError("YAML aliases (*name) are not allowed in scenario files",
                                file=self._hivesim_name, line=ev.start_mark.line + 1)
        ev = self.peek_event()
        if getattr(ev, "anchor", None):
            raise ScenarioError("YAML anchors (&name) are not allowed in scenario files",
                                file=self._hivesim_name, line=ev.start_mark.line + 1)
        return super().compose_node(parent, index)


def load_yaml_text(text: str, name: str) -> tuple[dict, dict]:
    """Parse one YAML document (text) into (data, origin)."""
    if "\x00" in text:
        raise ScenarioError("binary data (NUL bytes) is not a scenario file", file=name)
    loader = _NoAliasComposer(text)
    loader._hivesim_name = name
    try:
        node = loader.get_single_node()
    except ScenarioError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ScenarioError(f"invalid YAML: {exc.problem or exc.context}", file=name, line=line) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"invalid YAML: {exc}", file=name) from None
    finally:
        loader.dispose()
    if node is None:
        raise ScenarioError("the file is empty; expected a mapping of scenario sections", file=name)
    b = _Builder(name)
    data = b.build(node)
    if not isinstance(data, dict):
        raise ScenarioError(f"expected a mapping of scenario sections at the top, got {type(data).__name__}",
                            file=name, line=1)
    return data, b.origin


def load_yaml_file(path: str | os.PathLike) -> tuple[dict, dict]:
    """Read and parse one scenario file, refusing oversize, binary and non-UTF-8 input."""
    p = Path(path)
    name = str(path)
    try:
        size = p.stat().st_size
    except FileNotFoundError:
        raise ScenarioError("file not found", file=name) from None
    except OSError as exc:
        raise ScenarioError(f"cannot read: {exc.strerror}", file=name) from None
    if p.is_dir():
        raise ScenarioError("is a directory, expected a scenario YAML file", file=name)
    if size > MAX_BYTES:
        raise ScenarioError(f"file too large ({size} bytes; the limit is {MAX_BYTES})", file=name)
    raw = p.read_bytes()
    if b"\x00" in raw:
        raise ScenarioError("binary data (NUL bytes) is not a scenario file", file=name)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"not UTF-8 text (byte {exc.start})", file=name) from None
    return load_yaml_text(text, name)


def _deep_merge(base: dict, over: dict, borigin: dict, oorigin: dict, prefix: str = "") -> None:
    """Merge ``over`` into ``base`` in place: maps merge key by key, anything else replaces."""
    for key, val in over.items():
        path = _join(prefix, key)
        if isinstance(val, dict) and isinstance(base.get(key), dict):
            _deep_merge(base[key], val, borigin, oorigin, path)
            if path in oorigin:
                borigin[path] = oorigin[path]
        else:
            base[key] = val
            for k in [k for k in borigin if k == path or k.startswith(path + ".") or k.startswith(path + "[")]:
                del borigin[k]
            for k, v in oorigin.items():
                if k == path or k.startswith(path + ".") or k.startswith(path + "["):
                    borigin[k] = v


def load_with_extends(path: str | os.PathLike, root: str | os.PathLike | None = None) -> Located:
    """Load ``path`` and the chain of files it ``extends:``, deep-merged (child wins).

    ``root`` bounds where extended files may live (default: the directory of ``path`` and its
    parents up to the filesystem root are NOT trusted; we allow the file's own directory tree and
    its parent, so ``../base.yaml`` works from ``scenarios/examples/``).
    """
    first = Path(path)
    chain: list[tuple[Path, dict, dict]] = []
    seen: set[Path] = set()
    root_dir = Path(root).resolve() if root else first.resolve().parent.parent
    current = first
    display = str(path)
    while True:
        real = current.resolve()
        if real in seen:
            raise ScenarioError(f"circular extends: {current} is already in the chain", file=display)
        seen.add(real)
        if len(chain) >= MAX_EXTENDS:
            raise ScenarioError(f"extends chain longer than {MAX_EXTENDS} files", file=display)
        data, origin = load_yaml_file(current)
        chain.append((current, data, origin))
        parent = data.pop("extends", None)
        if parent is None:
            break
        line = origin.get("extends", (str(current), None))[1]
        if not isinstance(parent, str) or not parent.strip():
            raise ScenarioError(f"expected a relative file path, got {parent!r}", file=str(current),
                                line=line, path="extends")
        if os.path.isabs(parent):
            raise ScenarioError(f"expected a relative file path, got absolute {parent!r}",
                                file=str(current), line=line, path="extends")
        nxt = (current.parent / parent)
        try:
            nxt.resolve().relative_to(root_dir)
        except ValueError:
            raise ScenarioError(f"{parent!r} escapes the scenario directory {root_dir}",
                                file=str(current), line=line, path="extends") from None
        if not nxt.exists():
            raise ScenarioError(f"extended file {parent!r} not found", file=str(current), line=line,
                                path="extends")
        current, display = nxt, str(nxt)
    # merge from the most basic ancestor to the file itself
    _, data, origin = chain[-1]
    merged, morigin = data, dict(origin)
    for _, d, o in reversed(chain[:-1]):
        _deep_merge(merged, d, morigin, o)
    return Located(merged, morigin, str(path))


def _flow_depth(text: str) -> int:
    """Deepest nesting of flow brackets in ``text``, outside quotes (a bound before parsing)."""
    depth = deepest = 0
    quote = None
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def parse_set(expr: str) -> tuple[str, object]:
    """Split ``dotted.key=value``; the value is parsed as a YAML scalar or flow list/map."""
    if "=" not in expr:
        raise ScenarioError(f"--set {expr!r}: expected dotted.key=value")
    key, _, raw = expr.partition("=")
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ScenarioError(f"--set {expr[:80]!r}: expected dotted.key=value")
    if any(ch in expr for ch in "\n\r\x00"):
        # YAML would read "v: 1\nx: 2" as two keys and drop the second silently
        raise ScenarioError(f"--set {key[:80]}: expected a one-line value, got a line break or NUL")
    if key.count(".") >= MAX_DEPTH:
        raise ScenarioError(f"--set {key[:80]}...: key nested deeper than {MAX_DEPTH} levels")
    if _flow_depth(raw) > MAX_DEPTH:
        # refused before parsing: PyYAML's composer recurses once per bracket
        raise ScenarioError(f"--set {key}: value nested deeper than {MAX_DEPTH} levels")
    data, _ = load_yaml_text(f"v: {raw}" if raw.strip() else "v: ''", f"--set {key}")
    return key, data["v"]


def apply_sets(doc: Located, sets: list[str]) -> Located:
    """Apply ``--set dotted.key=value`` overrides to a loaded document (in place)."""
    for expr in sets or []:
        key, value = parse_set(expr)
        parts = key.split(".")
        node = doc.data
        for i, part in enumerate(parts[:-1]):
            nxt = node.get(part) if isinstance(node, dict) else None
            if nxt is None:
                nxt = {}
                node[part] = nxt
            if not isinstance(nxt, dict):
                raise ScenarioError(f"--set {expr!r}: {'.'.join(parts[:i + 1])} is not a mapping")
            node = nxt
        node[parts[-1]] = value
        doc.origin[key] = (f"--set {key}", None)
    return doc
