"""Properties of the services' failure rule (sim/engine/services.py), on random cells.

Hypothesis draws a cell (services with k-of-n nodes and fallbacks), paths and which nodes are
up; the down share of each kind must be a share (in [0, 1]), never grow when a node comes back,
never grow when a down service gains a fallback that serves, and equal the brute-force rule
("a type fails when some service on its path, and each of its fallbacks, has fewer than k up").
"""

from __future__ import annotations

from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from sim.engine.services import _Cell, _shape
from sim.scenario.services import TxType


@st.composite
def cells(draw):
    n = draw(st.integers(1, 5))
    nodes = [draw(st.integers(1, 4)) for _ in range(n)]
    needs = [draw(st.integers(1, m)) for m in nodes]
    # fallbacks point forward only: chains end, no cycles
    fallback = [draw(st.one_of(st.none(), st.integers(k + 1, n - 1))) if k < n - 1 else None for k in range(n)]
    up = [draw(st.integers(0, m)) for m in nodes]
    kinds = ("reads", "intra_cell", "cross_cell")
    types = []
    for i in range(draw(st.integers(1, 4))):
        path = tuple((f"s{k}", 1.0) for k in draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=4)))
        types.append(TxType(f"t{i}", draw(st.sampled_from(kinds)), draw(st.floats(0.01, 1.0)), path))
    return nodes, needs, fallback, up, types


def build(nodes, needs, fallback, up, types):
    services = [SimpleNamespace(name=f"s{k}", nodes=list(range(m)), db=[],
                                spec=SimpleNamespace(needs=needs[k], fallback=None if fallback[k] is None else f"s{fallback[k]}"))
                for k, m in enumerate(nodes)]
    cell = _Cell(_shape(SimpleNamespace(services=services), types))
    cell.up = list(up)
    cell.refresh()
    return cell


def brute(nodes, needs, fallback, up, types, kind):
    def serves(k):
        return up[k] >= needs[k] or (fallback[k] is not None and serves(fallback[k]))
    mine = [t for t in types if t.like == kind]
    total = sum(t.share for t in mine)
    return sum(t.share for t in mine if not all(serves(int(n[1:])) for n, _ in t.path)) / total if total else 0.0


@settings(max_examples=200, deadline=None)
@given(cells())
def test_down_share_is_the_brute_force_rule_and_a_share(c):
    cell = build(*c)
    for kind in ("reads", "intra_cell", "cross_cell"):
        assert 0.0 <= cell.down[kind] <= 1.0 + 1e-12
        assert abs(cell.down[kind] - brute(*c, kind)) <= 1e-12


@settings(max_examples=200, deadline=None)
@given(cells(), st.data())
def test_a_node_coming_back_or_a_serving_fallback_never_makes_it_worse(c, data):
    nodes, needs, fallback, up, types = c
    before = build(*c).down
    k = data.draw(st.integers(0, len(nodes) - 1))
    more = list(up)
    more[k] = min(nodes[k], more[k] + 1)
    after = build(nodes, needs, fallback, more, types).down
    assert all(after[x] <= before[x] + 1e-12 for x in before)
    # the last service gains a fallback that serves (a serving service ends every walk, so no
    # cycle can form): never worse
    ok = [j for j in range(len(nodes)) if up[j] >= needs[j]]
    last = len(nodes) - 1
    if fallback[last] is None and ok and ok[0] != last:
        fb = list(fallback)
        fb[last] = ok[0]
        with_fb = build(nodes, needs, fb, up, types).down
        assert all(with_fb[x] <= before[x] + 1e-12 for x in before)
