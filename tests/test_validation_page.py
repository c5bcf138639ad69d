"""docs/validation.md is current: its availability file matches every reference scenario (by the
digest of the effective scenario) and the page equals what the generator writes from it.

No simulation here (cost and capacity are recomputed; the availability comes from the stored file),
so a stale page fails in a couple of seconds. Fix: ``python -m sim.report.validation --simulate``.
"""

from sim.report import validation


def test_validation_page_is_current(capsys):
    rc = validation.main(["--check"])
    assert rc == 0, capsys.readouterr().err


def test_every_reference_bank_is_on_the_page_with_a_verdict():
    page = validation.PAGE.read_text()
    for name in validation.BANKS:
        assert f"| {name} |" in page and f"### {name}" in page
    # a bank above the N-1 headroom limit must say which of fleet or demand is off
    for name in validation.BANKS:
        f = validation.bank_figures(name, None)
        if not f["throughput"]["sized_by_demand"]:
            assert f["off"] in ("fleet", "demand")
            assert f"no: the {f['off']} is off" in page
