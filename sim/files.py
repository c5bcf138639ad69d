"""The one safe way hivesim reads a file: bounded, regular files only, UTF-8, plain data.

Every file the tool reads goes through here: scenario YAML and its ``extends:`` targets
(``sim.scenario.loader``), sweep variants files (``sim.readers.sweep``), a run directory's
summary.json, CSVs and scenario.yaml (``sim.results.reader``), calibration YAML
(``sim.calibration.document``). The rules, for every kind:

* **regular files only**: a FIFO, a directory, a device (``/dev/zero``) or a socket is refused
  from ``stat`` before it is opened; the open itself uses ``O_NONBLOCK`` and is checked again
  with ``fstat``, so a file swapped for a FIFO in between cannot hang the reader either;
* **a size limit per kind** (the ``*_MAX_BYTES`` constants), refused with the figure; at most
  limit + 1 bytes are ever read, so a file that grows while it is read cannot exhaust memory;
* **UTF-8**, refused with the file, line and byte offset of the first bad byte;
* **YAML**: plain data tags only, no anchors or aliases (expansion bombs), no merge keys, no
  duplicate keys, no NaN/inf, integers within Python's digit limit, and a nesting depth counted
  by the composer *while* it composes (PyYAML's composer recurses: a few thousand ``[`` would
  otherwise end in ``RecursionError``); each value remembers its (file, line);
* **JSON**: the nesting depth is measured before ``json.loads`` (its C scanner recurses too),
  and NaN, infinities and integers beyond the digit limit or the float range are refused with
  their key path.

Hand-rolled on purpose: PyYAML and ``json`` offer neither a depth limit nor an alias switch,
and the alternatives (ruamel.yaml, orjson) have the same gaps for our purpose.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import sys

import numpy as np
import yaml

from sim.errors import HivesimError, ScenarioError

__all__ = ["read_bytes", "read_text", "open_text", "load_json", "parse_yaml", "MiB",
           "SCENARIO_MAX_BYTES", "VARIANTS_MAX_BYTES", "CALIBRATION_MAX_BYTES", "RUN_YAML_MAX_BYTES",
           "JSON_MAX_BYTES", "CSV_MAX_BYTES", "YAML_MAX_DEPTH", "YAML_MAX_NODES", "JSON_MAX_DEPTH",
           "INT_MAX_DIGITS"]

MiB = 1024 * 1024
SCENARIO_MAX_BYTES = 1_000_000      # a scenario file and each file it extends
VARIANTS_MAX_BYTES = 1_000_000      # a sweep's --variants file
CALIBRATION_MAX_BYTES = 1_000_000   # hivesim calibrate's output, read by predict
RUN_YAML_MAX_BYTES = 16 * MiB       # a run directory's scenario.yaml (the effective scenario)
JSON_MAX_BYTES = 64 * MiB           # summary.json (a bank of 100k cells echoes every override)
CSV_MAX_BYTES = 256 * MiB           # events.csv, timeseries.csv, replications.csv
YAML_MAX_DEPTH = 40                 # scenario sections are at most ~8 deep
YAML_MAX_NODES = 200_000
JSON_MAX_DEPTH = 64
# Python refuses to convert longer decimal strings to int (CVE-2020-10735); the figure is its own
INT_MAX_DIGITS = sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else 4300

_KIND_OF_MODE = [(stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                 (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                 (stat.S_ISSOCK, "a socket")]


def _not_regular(mode: int) -> str:
    for test, what in _KIND_OF_MODE:
        if test(mode):
            return what
    return "not a regular file"


def read_bytes(path, what: str, limit: int, error: type[HivesimError] = ScenarioError) -> bytes:
    """The bytes of ``path``, a regular file of at most ``limit`` bytes; else ``error`` naming it."""
    name = os.fspath(path)
    try:
        st = os.stat(name)
    except FileNotFoundError:
        raise error("file not found", file=name) from None
    except OSError as exc:
        raise error(f"cannot read ({exc.strerror})", file=name) from None
    if not stat.S_ISREG(st.st_mode):
        raise error(f"is {_not_regular(st.st_mode)}, expected a {what}", file=name)
    if st.st_size > limit:
        raise error(f"file too large ({st.st_size:,} bytes; the limit for a {what} is {limit:,})", file=name)
    try:
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise error(f"cannot read ({exc.strerror})", file=name) from None
    try:
        st = os.fstat(fd)  # the file may have been replaced since the stat above
        if not stat.S_ISREG(st.st_mode):
            raise error(f"is {_not_regular(st.st_mode)}, expected a {what}", file=name)
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, min(limit + 1 - total, 4 * MiB) or 1)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise error(f"cannot read ({exc.strerror})", file=name) from None
    finally:
        os.close(fd)
    if total > limit:
        raise error(f"file too large (more than {limit:,} bytes, the limit for a {what})", file=name)
    return b"".join(chunks)


def _decode(raw: bytes, name: str, error) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise error(f"not UTF-8 text (byte {exc.start}: {raw[exc.start:exc.start + 1]!r})",
                    file=name, line=line) from None


def read_text(path, what: str, limit: int, error: type[HivesimError] = ScenarioError) -> str:
    """The UTF-8 text of ``path`` (``read_bytes`` rules; a bad byte is named by line and offset)."""
    return _decode(read_bytes(path, what, limit, error), os.fspath(path), error)


def open_text(path, what: str, error: type[HivesimError] = ScenarioError, *, newline: str | None = None):
    """A text stream on ``path`` for files read line by line (a live run's request records, which
    may be large): regular files only, opened without blocking; undecodable bytes are replaced
    (a record cut short by a killed process is skipped by its reader anyway)."""
    name = os.fspath(path)
    try:
        st = os.stat(name)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"is {_not_regular(st.st_mode)}, expected a {what}", file=name)
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise error("file not found", file=name) from None
    except OSError as exc:
        raise error(f"cannot read ({exc.strerror})", file=name) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise error(f"is {_not_regular(st.st_mode)}, expected a {what}", file=name)
    return open(fd, encoding="utf-8", errors="replace", newline=newline)


# ------------------------------------------------------------------------------------------ JSON
class _Bad:
    """A value the JSON hooks refused; the walk afterwards names its key path."""

    def __init__(self, problem: str):
        self.problem = problem


def _hooks(found: list) -> dict:
    """json.loads hooks that turn what is refused into ``_Bad`` (and note it, so a clean document
    is never walked)."""
    def bad(problem: str) -> _Bad:
        found.append(problem)
        return _Bad(problem)

    def parse_int(s: str):
        digits = len(s.lstrip("-"))
        if digits > INT_MAX_DIGITS:
            return bad(f"integer too long ({digits:,} digits; the limit is {INT_MAX_DIGITS:,})")
        v = int(s)
        # readers do arithmetic in floats: an integer beyond their range would fail there, later
        return v if digits < 300 or abs(v) <= sys.float_info.max else bad(
            f"integer too large ({digits:,} digits; expected a number within floating-point range)")

    def parse_float(s: str):
        v = float(s)
        return v if math.isfinite(v) else bad(f"expected a finite number, got {s[:40]}")

    return {"parse_int": parse_int, "parse_float": parse_float,
            "parse_constant": lambda s: bad(f"expected a finite number, got {s}")}


_JSON_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')


def _json_depth(text: str) -> tuple[int, int]:
    """(deepest nesting, line where it is first reached), strings not counted; vectorised, as a
    64 MiB summary.json would take seconds in a Python loop."""
    bare = _JSON_STRING.sub('""', text).encode("utf-8", "replace")  # strings hold no raw newline
    b = np.frombuffer(bare, np.uint8)
    opens = (b == ord("[")) | (b == ord("{"))
    idx = np.flatnonzero(opens | (b == ord("]")) | (b == ord("}")))
    if not idx.size:
        return 0, 1
    depth = np.cumsum(np.where(opens[idx], 1, -1))
    at = int(np.argmax(depth))
    return int(depth[at]), bare.count(b"\n", 0, int(idx[at])) + 1


def _find_bad(node, path: str = ""):
    if isinstance(node, _Bad):
        return path or "(top)", node.problem
    if isinstance(node, dict):
        items = ((f"{path}.{k}" if path else str(k), v) for k, v in node.items())
    elif isinstance(node, list):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(node))
    else:
        return None
    for p, v in items:
        found = _find_bad(v, p)
        if found:
            return found
    return None


def load_json(path, what: str = "JSON file", limit: int = JSON_MAX_BYTES, error=None, *,
              max_depth: int = JSON_MAX_DEPTH):
    """Parse a JSON file under the module's rules; -> the plain data (any top-level type)."""
    from sim.errors import ResultsError
    error = error or ResultsError
    name = os.fspath(path)
    text = read_text(path, what, limit, error)
    deepest, line = _json_depth(text)
    if deepest > max_depth:
        raise error(f"nested deeper than {max_depth} levels", file=name, line=line)
    try:
        found: list = []
        data = json.loads(text, **_hooks(found))
    except json.JSONDecodeError as exc:
        raise error(f"not valid JSON ({exc.msg}, column {exc.colno})", file=name, line=exc.lineno) from None
    except (ValueError, RecursionError) as exc:  # defence in depth: the checks above should catch these
        raise error(f"not valid JSON ({str(exc)[:120]})", file=name) from None
    if found:  # a duplicate key may have hidden the refused value: then the problem without its path
        path, problem = _find_bad(data) or (None, found[0])
        raise error(problem, file=name, path=path)
    return data


# ------------------------------------------------------------------------------------------ YAML
_ALLOWED_TAGS = {
    "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}


def _join(prefix: str, key) -> str:
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    return f"{prefix}.{key}" if prefix else str(key)


class _Composer(yaml.SafeLoader):
    """SafeLoader that refuses anchors and aliases and counts depth while it composes."""

    def __init__(self, text: str, name: str, error, max_depth: int):
        super().__init__(text)
        self._name, self._error, self._max_depth, self._depth = name, error, max_depth, 0

    def compose_node(self, parent, index):
        ev = self.peek_event()
        if isinstance(ev, yaml.AliasEvent):
            raise self._error("YAML aliases (*name) are not allowed", file=self._name, line=ev.start_mark.line + 1)
        if getattr(ev, "anchor", None):
            raise self._error("YAML anchors (&name) are not allowed", file=self._name, line=ev.start_mark.line + 1)
        self._depth += 1
        try:
            if self._depth > self._max_depth + 1:
                raise self._error(f"document nested deeper than {self._max_depth} levels", file=self._name,
                                  line=ev.start_mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _Builder:
    """Turns a composed YAML node tree into plain data, checking every node."""

    def __init__(self, fname: str, error, max_nodes: int):
        self.fname, self.error, self.max_nodes = fname, error, max_nodes
        self.nodes = 0
        self.origin: dict[str, tuple[str, int]] = {}
        self._scalar = yaml.SafeLoader("")  # only for resolving scalar values

    def fail(self, node, msg: str, path: str = ""):
        raise self.error(msg, file=self.fname, line=node.start_mark.line + 1, path=path or None)

    def build(self, node, path: str = ""):
        self.nodes += 1
        if self.nodes > self.max_nodes:
            self.fail(node, f"document too large (more than {self.max_nodes} values)")
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
                key = str(self._scalar_value(knode, path))
                if key in out:
                    self.fail(knode, f"duplicate key {key!r}", path)
                out[key] = self.build(vnode, _join(path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(v, _join(path, i)) for i, v in enumerate(node.value)]
        value = self._scalar_value(node, path)
        if isinstance(value, float) and not math.isfinite(value):
            self.fail(node, f"expected a finite number, got {node.value!r}", path)
        return value

    def _scalar_value(self, node, path: str):
        """The scalar resolved by the safe constructor (no Python objects possible)."""
        if node.tag == "tag:yaml.org,2002:int":
            digits = sum(c.isdigit() for c in node.value)
            if digits > INT_MAX_DIGITS:
                self.fail(node, f"integer too long ({digits:,} digits; the limit is {INT_MAX_DIGITS:,})", path)
        try:
            return self._scalar.construct_object(node)
        except (ValueError, OverflowError) as exc:
            self.fail(node, f"cannot read {node.value[:40]!r} ({str(exc)[:80]})", path)


def parse_yaml(text: str, name: str, error=ScenarioError, *, max_depth: int = YAML_MAX_DEPTH,
               max_nodes: int = YAML_MAX_NODES):
    """One YAML document -> (plain data or None when empty, {dotted path: (file, line)})."""
    if "\x00" in text:
        raise error("binary data (NUL bytes), expected YAML text", file=name)
    loader = _Composer(text, name, error, max_depth)
    try:
        node = loader.get_single_node()
    except HivesimError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise error(f"invalid YAML: {exc.problem or exc.context}", file=name,
                    line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise error(f"invalid YAML: {exc}", file=name) from None
    except RecursionError:  # defence in depth: the composer's own depth count comes first
        raise error(f"document nested deeper than {max_depth} levels", file=name) from None
    finally:
        loader.dispose()
    if node is None:
        return None, {}
    b = _Builder(name, error, max_nodes)
    return b.build(node), b.origin
