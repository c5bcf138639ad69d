"""Reference scenarios against the cost claims of issues 3 and 14 (webank-facts.md).

The published figures: ~2 CNY per account per year for WeBank 2023-2025 (IT operations and
maintenance), 20-100 CNY at traditional banks. Since issue 14 the scenarios price the whole IT
operation bottom-up (every DCN system, admin zone, data platforms, DR region, test/staging/grey,
facilities, links, licences, operations staff), each fleet size an ASSUMPTION chosen before
running. With the sourced unit prices (Hamilton 2010 per-server costs, Oracle list prices) the
model gives about 0.8 CNY for webank-2023 and about 7 CNY for the centralized contrast
(docs/validation.md explains the gap by category). We do not tune inputs to hit the press
figures; the strict xfails below document the gap and will fail loudly if a change closes it.
"""

from pathlib import Path

import pytest

from sim.cost import cost_summary
from sim.scenario import load_scenario

SCEN = Path(__file__).resolve().parent.parent / "scenarios"
NAMES = ("webank-2019", "webank-2021", "webank-2023", "webank-2025", "centralized-ioe")


@pytest.fixture(scope="module")
def costs():
    return {n: cost_summary(load_scenario(SCEN / f"{n}.yaml")) for n in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_breakdowns_sum_to_total(costs, name):
    c = costs[name]
    assert c["currency"] == "CNY"
    for part in ("by_category", "by_role", "by_environment", "by_service"):
        assert sum(c["breakdown"][part].values()) == pytest.approx(c["total_per_year"], rel=1e-12), part


def test_what_the_sourced_inputs_give(costs):
    # a record of the model's answer with the sourced inputs (see the module docstring)
    assert 0.5 <= costs["webank-2023"]["per_account_per_year"] <= 1.2
    assert 4 <= costs["centralized-ioe"]["per_account_per_year"] <= 12


def test_every_environment_and_the_fleet_are_priced(costs):
    c = costs["webank-2023"]
    assert set(c["breakdown"]["by_environment"]) == {"production", "dr-region", "test", "staging", "grey"}
    assert all(v > 0 for v in c["breakdown"]["by_environment"].values())
    # the transaction path is a small part of the whole operation
    path = sum(c["breakdown"]["by_service"][s] for s in ("app", "db", "gns", "bus"))
    assert path < 0.1 * c["total_per_year"]
    # centralized: list-price licences dominate (Oracle per core, mainframe monthly charges)
    ioe = costs["centralized-ioe"]["breakdown"]["by_category"]
    assert ioe["licenses"] > 0.5 * costs["centralized-ioe"]["total_per_year"]


def test_centralized_costs_several_times_more_per_account(costs):
    # facts: WeBank's figure is "under one tenth" of peers'; the model's ratio is ~9x
    ratio = costs["centralized-ioe"]["per_account_per_year"] / costs["webank-2023"]["per_account_per_year"]
    assert ratio > 4


def test_per_account_cost_falls_with_scale(costs):
    # shared services and the admin zone are spread over more accounts as the bank grows
    p = [costs[n]["per_account_per_year"] for n in ("webank-2019", "webank-2023", "webank-2025")]
    assert p[0] > p[1] > p[2]


@pytest.mark.xfail(strict=True, reason="bottom-up fleet gives ~0.8 CNY vs the published "
                   "~2 CNY per account (docs/validation.md: the gap by category)")
def test_webank_2023_in_the_issue_range(costs):
    assert 1.5 <= costs["webank-2023"]["per_account_per_year"] <= 3.0


@pytest.mark.xfail(strict=True, reason="list-price IOE bank gives ~7 CNY vs the published "
                   "20-100 CNY per account of traditional banks (docs/validation.md)")
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
