"""The replay counts a fault's failed requests as the live analysis does (one meaning).

A live run's figures come from ``loadtests.analysis.recovery.analyse_faults`` over its request
records; the replay's from ``sim.calibration.measure.fault_figures`` over simulated rows. The fit
matches the second to the first, so any difference in what they count is absorbed into a fitted
window. Until 20261204 the replay counted every request that *touched* the fault's cell, the live
analysis only those the cell *serves* (its source: a read's account, a transfer's debit side);
a cross-cell transfer into the cell that failed at the gateway's destination check was counted by
one and not the other. Here both read the same closed-loop rows, converted to live records.
"""

from __future__ import annotations

from loadtests.analysis.records import RequestRow
from loadtests.analysis.recovery import FaultEpisode, analyse_faults
from sim.calibration.measure import fault_figures
from sim.request.closed import ClosedFaults, ClosedLoopSpec, closed_rows, loop_rng


def _spec(**kw) -> ClosedLoopSpec:
    base = dict(users=20, rate_per_user=5.0, mix=(0.3, 0.3, 0.4), cells=3, accounts=300, duration=60.0,
                deadline=1.0, op_deadline=4.0,
                service={"read": (0.02, 0.3), "intra": (0.04, 0.3), "cross": (0.04, 0.3)},
                gateway_poll=0.2, client_backoff=0.1, client_max_backoff=0.8, min_service=0.005,
                in_db_seconds=0.05, error_seconds=0.002)
    base.update(kw)
    return ClosedLoopSpec(**base)


def _live_rows(rows) -> list[RequestRow]:
    return [RequestRow(t=t, latency_ms=lat * 1000.0, kind=k, status=200 if ok else 503,
                       outcome="ok" if ok else "unavailable", cells=";".join(dict.fromkeys(str(c) for c in cells)))
            for t, lat, k, ok, cells in rows]


def _failed_into_2(rows, a=20.0, b=26.0) -> list:
    """Cross-cell transfers sent in [a, b) from another cell into cell 2 that failed."""
    return [r for r in rows if a <= r[0] < b and r[2] == "cross" and r[4][1] == 2 and r[4][0] != 2 and not r[3]]


def test_the_replay_and_the_live_analysis_count_the_same_requests():
    """A bad change on cell 2's app server (errors at once) right after the gateway restarted (its
    cache of existing accounts empty): cross-cell transfers into cell 2 fail at the destination
    check, so the rows hold failures the cell does not serve. Both readings must give the same
    failed count and recovery for every fault, cell-scoped or not: exact (same rows)."""
    faults = ClosedFaults({0: [(40.0, 44.0)]}, errors=[((2,), 20.0, 26.0)], resets=[(None, 15.0)])
    rows = closed_rows(_spec(), faults, loop_rng(3))
    assert _failed_into_2(rows), "the case must hold failures the faulted cell does not serve"
    records = [dict(kind="crash", target="gateway", start=15.0, end=15.0),
               dict(kind="bad-change", target="cell[2].app", start=20.0, end=26.0),
               dict(kind="crash", target="cell[0].db.primary", start=40.0, end=40.0)]
    replayed = fault_figures(rows, records, 60.0)
    live = analyse_faults(_live_rows(rows), 0.0, [FaultEpisode(**r) for r in records], 60.0, slow_ms=1e9)
    for rec, mine, theirs in zip(records, replayed, live):
        assert mine["failed_requests"] == theirs["failed_requests"], rec
        assert mine["outage_seconds"] == theirs["recovery_seconds"], rec
    assert replayed[1]["failed_requests"] == sum(1 for r in rows if 20.0 <= r[0] + r[1] < 40.0
                                                  and r[4][0] == 2 and not r[3])


def test_the_gateway_knows_every_account_until_it_restarts():
    """The live bank creates its accounts through the gateway, so the gateway's destination check
    of a cross-cell transfer is answered from its cache, and a bad change in the destination cell
    fails no transfer into it, until a gateway restart (its warm spare starts with an empty cache):
    then transfers into the cell fail until each account has been checked once, outside the fault.
    Exact for these seeds: no such failure without the restart, some with it."""
    errors = [((2,), 20.0, 26.0)]
    for seed in (1, 2, 3):
        quiet = closed_rows(_spec(), ClosedFaults({}, errors=errors), loop_rng(seed))
        restarted = closed_rows(_spec(), ClosedFaults({}, errors=errors, resets=[(None, 19.0)]), loop_rng(seed))
        assert _failed_into_2(quiet) == []
        assert len(_failed_into_2(restarted)) > 0
        # a restart long before the fault: every account checked since, none fails into cell 2
        # unless the loop never sent it there in 19 s (300 accounts, ~30 cross transfers a second)
        early = closed_rows(_spec(), ClosedFaults({}, errors=errors, resets=[(None, 1.0)]), loop_rng(seed))
        assert len(_failed_into_2(early)) < len(_failed_into_2(restarted))
