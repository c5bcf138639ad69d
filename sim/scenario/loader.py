"""Load scenario YAML safely, remembering where every value came from.

Pipeline step 1 and 2 of ``load -> resolve extends -> apply --set -> validate``:

* Files are read by ``sim.files`` (regular files only, at most ``MAX_BYTES``, UTF-8) and parsed
  by its safe YAML: plain data types only, no anchors/aliases (the "billion laughs" vector), no
  binary data, depth at most ``MAX_DEPTH`` (counted while composing), at most ``MAX_NODES``
  values; anything else is refused with a one-line ``ScenarioError`` before anything is built.
* ``extends: other.yaml`` (relative to the file) is deep-merged under the file's own keys;
  chains are followed, cycles and paths escaping the scenario root are refused.
* Every value keeps its origin (file, line) in a ``Located`` map keyed by its dotted path,
  so later validation errors can name the line a user must fix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from sim.errors import ScenarioError
from sim.files import SCENARIO_MAX_BYTES, YAML_MAX_DEPTH, YAML_MAX_NODES, parse_yaml, read_text

__all__ = ["Located", "load_yaml_file", "load_yaml_text", "load_with_extends", "apply_sets", "parse_set",
           "MAX_BYTES", "MAX_NODES", "MAX_DEPTH", "MAX_EXTENDS"]

MAX_BYTES = SCENARIO_MAX_BYTES
MAX_NODES = YAML_MAX_NODES
MAX_DEPTH = YAML_MAX_DEPTH
MAX_EXTENDS = 16


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


def load_yaml_text(text: str, name: str) -> tuple[dict, dict]:
    """Parse one YAML document (text) into (data, origin), under ``sim.files``' rules."""
    data, origin = parse_yaml(text, name, ScenarioError, max_depth=MAX_DEPTH, max_nodes=MAX_NODES)
    if data is None:
        raise ScenarioError("the file is empty; expected a mapping of scenario sections", file=name)
    if not isinstance(data, dict):
        raise ScenarioError(f"expected a mapping of scenario sections at the top, got {type(data).__name__}",
                            file=name, line=1)
    return data, origin


def load_yaml_file(path: str | os.PathLike) -> tuple[dict, dict]:
    """Read and parse one scenario file: a regular UTF-8 file of at most ``MAX_BYTES`` (``sim.files``)."""
    return load_yaml_text(read_text(path, "scenario YAML file", MAX_BYTES, ScenarioError), str(path))


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
