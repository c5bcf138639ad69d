"""Golden figures: today's results of five small runs, pinned (``tests/golden/``).

Every figure of each case's summary.json must equal the golden value: integers, strings, nulls
and the structure exactly; floats to 1e-12 relative (plus 1e-300 absolute for exact zeros),
because moving code may reorder floating-point additions (a cause's failed share summed in
another order differs in the last bits) without changing the model. Keys added since the golden
file was written are allowed (the results contract grows; README), keys removed or renamed are
not. A figure may change only in a commit that fixes a named bug and regenerates the file
(``python -m tests.golden.regen NAME``); the closing note lists them.

Deterministic: fixed seeds, one worker; no statistical tolerance, so no false alarms.
"""

from __future__ import annotations

import json
import math

import pytest

from tests.golden.cases import CASES, figures, golden_path

REL = 1e-12


def _diff(want, got, path="") -> list[str]:
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return [f"{path}: expected an object, got {type(got).__name__}"]
        out = []
        for k, v in want.items():
            if k not in got:
                out.append(f"{path}.{k}: missing")
            else:
                out += _diff(v, got[k], f"{path}.{k}")
        return out
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return [f"{path}: expected a list of {len(want)}, got {got!r:.80}"]
        return [d for i, (a, b) in enumerate(zip(want, got)) for d in _diff(a, b, f"{path}[{i}]")]
    if isinstance(want, float) and isinstance(got, (int, float)) and not isinstance(got, bool):
        if math.isnan(want) and math.isnan(got):
            return []
        if math.isclose(want, got, rel_tol=REL, abs_tol=1e-300):
            return []
        return [f"{path}: expected {want!r}, got {got!r}"]
    if want != got or type(want) is not type(got):
        return [f"{path}: expected {want!r}, got {got!r}"]
    return []


@pytest.mark.parametrize("case", list(CASES))
def test_golden_figures_unchanged(case):
    want = json.loads(golden_path(case).read_text())
    got = figures(case)
    diffs = _diff(want, got)
    assert not diffs, f"{case}: {len(diffs)} figures differ:\n" + "\n".join(diffs[:30])


def test_the_comparison_catches_a_changed_figure():
    """The checker itself: a change in the 13th significant digit passes, in the 10th fails."""
    want = {"a": {"b": [1.0, 2, "x"]}, "n": None}
    assert _diff(want, {"a": {"b": [1.0 + 1e-13, 2, "x"]}, "n": None, "new": 1}) == []
    assert _diff(want, {"a": {"b": [1.0 + 1e-9, 2, "x"]}, "n": None})
    assert _diff(want, {"a": {"b": [1.0, 3, "x"]}, "n": None})
    assert _diff(want, {"a": {}, "n": None})
