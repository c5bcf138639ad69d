"""The checker must fail when a violation is planted on purpose (so it can fail), and pass a
consistent history. Pure data: no bank, no processes."""

from __future__ import annotations

import copy

import pytest

from loadtests.analysis.records import TransferRecord
from loadtests.checker import BankState, ServerTransfer, check


def _world():
    """Three accounts, four transfers with every kind of client outcome, a consistent bank."""
    initial = {"a": 1000, "b": 1000, "c": 1000}
    hist = [
        TransferRecord("k-ack-0001", "a", "b", 100, False, 1.0, "acknowledged", "applied"),
        TransferRecord("k-ack-0002", "b", "c", 50, True, 2.0, "acknowledged", "pending"),
        TransferRecord("k-fail-003", "c", "a", 70, False, 3.0, "failed", None),
        TransferRecord("k-unk-0004", "a", "c", 30, True, 4.0, "unknown", None),  # applied, unknown to client
        TransferRecord("k-unk-0005", "c", "b", 20, False, 5.0, "unknown", None),  # never committed
        TransferRecord("k-res-0006", "b", "a", 10, False, 6.0, "resolved", "applied"),
    ]
    server = {
        "k-ack-0001": ServerTransfer("k-ack-0001", "a", "b", 100, "applied"),
        "k-ack-0002": ServerTransfer("k-ack-0002", "b", "c", 50, "applied"),
        "k-unk-0004": ServerTransfer("k-unk-0004", "a", "c", 30, "applied"),
        "k-res-0006": ServerTransfer("k-res-0006", "b", "a", 10, "applied"),
    }
    balances = {"a": 1000 - 100 - 30 + 10, "b": 1000 + 100 - 50 - 10, "c": 1000 + 50 + 30}
    state = BankState(balances=balances, transfers=server, in_flight=0, audit_total=3000,
                      replicas={"0": {"m0": "x", "m1": "x", "m2": "x"}, "1": {"m0": "y", "m1": "y", "m2": "y"}},
                      lookups={"k-unk-0004": "applied", "k-unk-0005": "absent"})
    return hist, initial, state


def test_consistent_history_is_valid():
    hist, initial, state = _world()
    res = check(hist, initial, state)
    assert res.valid, res.explain()
    assert (res.acknowledged, res.unknown, res.unknown_resolved, res.unknown_applied) == (2, 3, 3, 2)
    assert res.total_before == res.total_after == 3000
    assert res.replicas_converged and res.violations == []


def test_planted_lost_transfer_fails():
    hist, initial, state = _world()
    # the bank forgot an acknowledged transfer and rolled its effect back consistently:
    # balances alone would look fine, only the history shows the loss
    del state.transfers["k-ack-0001"]
    state.balances["a"] += 100
    state.balances["b"] -= 100
    res = check(hist, initial, state)
    assert not res.valid and res.lost == 1
    assert "k-ack-0001" in res.explain() and "acknowledged" in res.explain()
    assert res.total_after == res.total_before  # the total cannot catch this one


def test_planted_duplicate_fails():
    hist, initial, state = _world()
    state.transfers["k-ack-0001"].occurrences = 2
    state.balances["a"] -= 100
    state.balances["b"] += 100
    res = check(hist, initial, state)
    assert not res.valid and res.duplicated == 1
    assert any(v.kind == "duplicated" and v.key == "k-ack-0001" for v in res.violations)


def test_duplicate_visible_only_in_balances_fails():
    """A bank that keeps one row but debits twice: the per-account balance check catches it."""
    hist, initial, state = _world()
    state.balances["a"] -= 100
    state.balances["b"] += 100
    res = check(hist, initial, state)
    assert not res.valid and res.balance_mismatches == 2
    assert "account a: expected" in res.explain()


def test_planted_changed_total_fails():
    hist, initial, state = _world()
    state.balances["c"] += 1  # one cent created from nothing
    res = check(hist, initial, state)
    assert not res.valid
    assert res.total_after == res.total_before + 1
    assert any(v.kind == "total" for v in res.violations)


def test_money_in_flight_counts_toward_the_total():
    hist, initial, state = _world()
    state.transfers["k-ack-0002"].status = "pending"  # debited in b's cell, not yet credited to c
    state.balances["c"] -= 50
    state.in_flight = 50
    assert check(hist, initial, state).valid
    state.in_flight = 0  # the audit lost the money in flight
    assert not check(hist, initial, state).valid


@pytest.mark.parametrize("plant,kind", [
    (lambda s: s.transfers.update(zz=ServerTransfer("k-never-99", "a", "b", 5, "applied")), "phantom"),
    (lambda s: s.transfers.update({"k-fail-003": ServerTransfer("k-fail-003", "c", "a", 70, "applied")}),
     "applied-despite-failure"),
    (lambda s: s.balances.update(a=-1), "negative"),
    (lambda s: s.replicas["1"].update(m2="z"), "replicas"),
    (lambda s: s.replicas["0"].update(m1=None), "replicas"),
    (lambda s: s.lookups.update({"k-unk-0005": None}), "unresolved"),
    (lambda s: s.transfers["k-ack-0001"].__setattr__("amount", 101), "mismatch"),
])
def test_each_planted_violation_is_named(plant, kind):
    hist, initial, state = _world()
    state = copy.deepcopy(state)
    plant(state)
    res = check(hist, initial, state)
    assert not res.valid
    assert kind in {v.kind for v in res.violations}, res.explain()


def test_without_history_only_bank_side_checks_run():
    hist, initial, state = _world()
    assert check(None, initial, state).valid  # phantom/lost need a history: not claimed
    state.balances["c"] += 1
    assert not check(None, initial, state).valid  # the total still catches a changed sum


def test_planted_stuck_bank_fails_and_says_what_it_saw():
    hist, initial, state = _world()
    state.stuck = ["relay not drained after 60s: 184 cross-cell credits undelivered (9200 cents in flight); "
                   "c0-m0: 80 sessions, 2 idle in transaction"]
    res = check(hist, initial, state)
    assert not res.valid and res.violations[0].kind == "stuck"
    assert "184 cross-cell credits undelivered" in res.explain()


def test_checker_on_an_unreachable_bank_ends_by_its_deadline():
    import time

    from loadtests.checker import run_checker
    hist, initial, _ = _world()
    t0 = time.monotonic()
    res = run_checker("http://127.0.0.1:9", hist, initial, settle=1.0, timeout=3.0)  # port 9: nothing listens
    assert time.monotonic() - t0 < 10
    assert not res.valid and res.violations[0].kind == "stuck"
    assert "audit could not be read" in res.violations[0].message
