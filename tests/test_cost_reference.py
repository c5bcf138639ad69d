"""Reference scenarios against the cost claims of issue 3 (webank-facts.md).

The issue expects 1.5-3 CNY per account per year for webank-2023 and 20-100 CNY for the
centralized contrast. With the sourced unit prices (Hamilton 2010 per-server costs, Oracle list
prices, staffing ratios) and the node counts of the topologies (62 cells x 9 servers + shared
services + admin zone), the model gives about 0.03 and 0.19 CNY: the published figures are the
whole bank's IT operations (every business system, dev/test, big data, staff), while the
scenarios model the transaction path. We do not tune inputs to hit the press figures; the
strict xfails below document the gap and will fail loudly if a change closes it.
"""

from pathlib import Path

import pytest

from sim.cost import cost_summary
from sim.scenario import load_scenario

SCEN = Path(__file__).resolve().parent.parent / "scenarios"
NAMES = ("webank-2019", "webank-2023", "webank-2025", "centralized-ioe")


@pytest.fixture(scope="module")
def costs():
    return {n: cost_summary(load_scenario(SCEN / f"{n}.yaml")) for n in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_breakdowns_sum_to_total(costs, name):
    c = costs[name]
    assert c["currency"] == "CNY"
    assert sum(c["breakdown"]["by_category"].values()) == pytest.approx(c["total_per_year"], rel=1e-12)
    assert sum(c["breakdown"]["by_role"].values()) == pytest.approx(c["total_per_year"], rel=1e-12)


def test_what_the_sourced_inputs_give(costs):
    # a record of the model's answer with the sourced inputs (see the module docstring)
    assert 0.02 <= costs["webank-2023"]["per_account_per_year"] <= 0.05
    assert 0.1 <= costs["centralized-ioe"]["per_account_per_year"] <= 0.4


def test_centralized_costs_several_times_more_per_account(costs):
    # facts: WeBank's figure is "under one tenth" of peers'; the model's ratio is ~6x
    ratio = costs["centralized-ioe"]["per_account_per_year"] / costs["webank-2023"]["per_account_per_year"]
    assert ratio > 4


def test_per_account_cost_falls_with_scale(costs):
    # shared services and the admin zone are spread over more accounts as the bank grows
    p = [costs[n]["per_account_per_year"] for n in ("webank-2019", "webank-2023", "webank-2025")]
    assert p[0] > p[1] > p[2]


@pytest.mark.xfail(strict=True, reason="model covers the transaction path only: ~0.03 CNY vs the "
                   "published whole-IT ~2 CNY per account (see module docstring)")
def test_webank_2023_in_the_issue_range(costs):
    assert 1.5 <= costs["webank-2023"]["per_account_per_year"] <= 3.0


@pytest.mark.xfail(strict=True, reason="model covers the core system only: ~0.19 CNY vs the "
                   "published whole-IT 20-100 CNY per account of traditional banks")
def test_centralized_in_the_issue_range(costs):
    assert 20 <= costs["centralized-ioe"]["per_account_per_year"] <= 100


@pytest.mark.parametrize("name", NAMES)
def test_every_capacity_and_cost_figure_has_a_source_comment(name):
    """Inside capacity: and cost:, every line with a number carries a '#' comment."""
    text = (SCEN / f"{name}.yaml").read_text()
    section = None
    missing = []
    for no, line in enumerate(text.splitlines(), 1):
        if line and not line.startswith((" ", "#")):
            section = line.split(":")[0]
        if section in ("capacity", "cost") and not line.lstrip().startswith(("#", "name:")):
            value = line.split(":", 1)[1] if ":" in line else line
            if any(ch.isdigit() for ch in value.split("#")[0]) and "#" not in line:
                missing.append(f"{name}.yaml:{no}: {line.strip()}")
    assert not missing, "figures without a source comment:\n" + "\n".join(missing)
