"""The code's shape, checked on every run: module and class sizes, no import cycles in sim/,
and sim/ (the library) never importing loadtests/ (its application) outside sim/cli/.

Run alone: ``python -m pytest tests/test_structure.py -q``; the first assertion message lists
what breaks a rule. Pure static analysis (``ast``), deterministic.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 450   # "~400 lines at most": the hook's limit
MAX_CLASS_LINES = 300


def _modules(pkg: str) -> dict[str, tuple[Path, ast.Module]]:
    out = {}
    for p in sorted((ROOT / pkg).rglob("*.py")):
        name = ".".join(p.relative_to(ROOT).with_suffix("").parts)
        if name.endswith(".__init__"):
            name = name[: -len(".__init__")]
        out[name] = (p, ast.parse(p.read_text(encoding="utf-8")))
    return out


def _imports(name: str, path: Path, tree: ast.Module) -> set[str]:
    """Every module name an import statement (at any depth: lazy imports count) refers to."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".")
                if path.name != "__init__.py":
                    parts = parts[:-1]
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return found


def import_graph() -> dict[str, set[str]]:
    """sim module -> sim modules it imports (a package's __init__ re-exporting its own
    submodules is not an edge: that is its public API, not a dependency of design)."""
    mods = _modules("sim")
    graph = {}
    for name, (path, tree) in mods.items():
        graph[name] = {i for i in _imports(name, path, tree)
                       if i in mods and i != name and not i.startswith(name + ".")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def test_no_import_cycles_in_sim():
    found = cycles(import_graph())
    assert not found, f"import cycles: {found}"


def test_cycle_finder_finds_a_planted_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_sim_never_imports_loadtests_outside_the_cli():
    bad = []
    for name, (path, tree) in _modules("sim").items():
        if name.startswith("sim.cli"):
            continue
        if any(i == "loadtests" or i.startswith("loadtests.") for i in _imports(name, path, tree)):
            bad.append(str(path.relative_to(ROOT)))
    assert not bad, f"sim/ modules importing loadtests/: {bad}"


def test_modules_and_classes_stay_small():
    big = []
    for pkg in ("sim", "loadtests"):
        for name, (path, tree) in _modules(pkg).items():
            lines = path.read_text(encoding="utf-8").count("\n") + 1
            if lines > MAX_MODULE_LINES:
                big.append(f"{path.relative_to(ROOT)}: {lines} lines")
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > MAX_CLASS_LINES:
                    big.append(f"{path.relative_to(ROOT)}:{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert not big, f"too big: {big}"


def test_every_module_says_what_it_is_for():
    missing = [str(p.relative_to(ROOT)) for pkg in ("sim", "loadtests")
               for _, (p, tree) in _modules(pkg).items()
               if p.stat().st_size > 0 and not ast.get_docstring(tree)]
    assert not missing, f"modules without a docstring: {missing}"


def test_layout_page_lists_every_module_and_only_those():
    import re
    text = (ROOT / "docs" / "layout.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^- `((?:sim|loadtests)/[\w/]+\.py)`", text, flags=re.M))
    actual = {str(p.relative_to(ROOT)) for pkg in ("sim", "loadtests") for p in (ROOT / pkg).rglob("*.py")}
    assert not actual - listed, f"docs/layout.md misses: {sorted(actual - listed)}"
    assert not listed - actual, f"docs/layout.md lists modules that do not exist: {sorted(listed - actual)}"
