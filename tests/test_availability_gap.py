"""The validation page's availability gap (sim/report/availability_gap.py), against hand figures.

Deterministic arithmetic on a given cause split: no simulation, no tolerance beyond float rounding.
"""

from __future__ import annotations

import pytest

from sim.report.availability_gap import gap_lines, lever_values, target_availability
from sim.units import YEAR

FAILURES = {"components": {"server": {"rate": 2 / YEAR}, "disk": {"rate": 0.0157 / YEAR}},
            "correlated": {"idc": {"rate": 0.4 / YEAR}},
            "changes": {"bad_fraction": 0.002, "escape_probability": 0.02}}
BY_CAUSE = {"db-server": 3.0, "svcdb-server": 1.0, "idc": 0.5, "bad-change-escaped": 2.0,
            "bad-change-canary": 0.5, "disk": 0.0}


def test_each_lever_scales_its_causes_downtime_to_close_the_gap():
    rows = {r[0]: r for r in lever_values(FAILURES, BY_CAUSE, gap_minutes=2.0)}
    # server crashes hold 3 + 1 = 4 min/yr: removing 2 needs half the rate, 1 per machine-year
    label, now, held, need = rows["server crashes per machine per year"]
    assert (now, held) == (pytest.approx(2.0), 4.0) and need == pytest.approx(1.0)
    # bad changes hold 2.5: 0.002 x (2.5 - 2) / 2.5
    assert rows["bad fraction of changes"][3] == pytest.approx(0.0004)
    # the escape probability holds exactly the gap: it would need to be 0
    assert rows["canary escape probability"][3] is None
    # the IDC outages hold 0.5 < 2: cannot alone; the disk holds nothing: not listed
    assert rows["IDC outages per IDC per year"][3] is None
    assert "disk failures per disk per year" not in rows
    # sorted by the downtime each lever holds
    assert [r[2] for r in lever_values(FAILURES, BY_CAUSE, 2.0)] == [4.0, 2.5, 2.0, 0.5]


def test_the_target_is_the_measured_figure_else_the_claim():
    assert target_availability({"availability": 0.9999975}) == (0.9999975, "measured")
    assert target_availability({"availability": None, "availability_note": "claimed > 99.999 %"}) == (0.99999, "claimed")
    assert target_availability({"availability": None, "availability_note": "no public figure"}) is None


def test_a_bank_that_meets_its_target_has_no_gap_table():
    a = {"mean": 0.999995, "ci95": [0.999993, 0.999997], "by_cause": BY_CAUSE}
    lines = gap_lines("b", a, {"availability": None, "availability_note": "claimed > 99.999 %"}, FAILURES)
    assert "no gap to explain" in lines[0] and len(lines) == 2


def test_a_bank_below_its_target_lists_causes_and_levers():
    # 7 min/yr simulated against 99.999 % (5.256 min/yr): gap 1.744
    a = {"mean": 1 - 7.0 / 525_600, "ci95": [1 - 8.0 / 525_600, 1 - 6.0 / 525_600], "by_cause": BY_CAUSE}
    text = "\n".join(gap_lines("b", a, {"availability": None, "availability_note": "claimed > 99.999 %"}, FAILURES))
    assert "Gap 1.74 min/yr" in text and "| db-server | 3.000 |" in text
    assert "| server crashes per machine per year | 2 | 4.00 | 1.13 |" in text   # 2 x (4 - 1.744) / 4
