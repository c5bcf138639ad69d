"""The service ledger's formulas on an exact hand timeline (sim/engine/service_ledger.py).

Two cells of share 1/2, a flat day (R = seconds), mix reads 0.5 / intra 0.3 / cross 0.2, bus up:
cell 0's cross-cell path goes down at 100 s and back at 400 s; cell 1's database stops writes at
300 s and comes back at 500 s. Figures worked by hand in the comments; exact (no randomness).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from sim.engine.episodes import EpisodeLog
from sim.engine.service_ledger import ServiceLedger
from sim.engine.services import _both
from sim.engine.state import CellState
from sim.profile import DayProfile


class Paths:
    """Stands in for ServiceStates: each cell's (intra, reads, cross) path-down fractions."""

    def __init__(self):
        self.down = {0: (0.0, 0.0, 0.0), 1: (0.0, 0.0, 0.0)}

    def effective(self, i, w, r):
        fi, fr, fx = self.down[i]
        return _both(w, fi), _both(r, fr), _both(w, fx), w


def _cell(i):
    return CellState(SimpleNamespace(index=i, share=0.5, spec=SimpleNamespace(
        db=SimpleNamespace(quorum=1, on_quorum_loss="stop-writes", reads_during_failover=True),
        app=SimpleNamespace(min_nodes=1)),
                                     db=[2 * i], app=[2 * i + 1]))


def test_cross_cell_path_and_destination_on_a_hand_timeline():
    episodes = EpisodeLog(0, 0.0, True)
    led = ServiceLedger(DayProfile(peak_factor=1.0), SimpleNamespace(reads=0.5, intra_cell=0.3, cross_cell=0.2),
                        0.0, 1000.0, None, episodes, 2)
    led.services = paths = Paths()
    c0, c1 = _cell(0), _cell(1)
    paths.down[0] = (0.0, 0.0, 1.0)
    led.set_cell(c0, 0.0, 0.0, "svc", 100.0)
    led.set_cell(c1, 1.0, 0.0, "db", 300.0)
    paths.down[0] = (0.0, 0.0, 0.0)
    led.set_cell(c0, 0.0, 0.0, "svc", 400.0)
    led.set_cell(c1, 0.0, 0.0, "db", 500.0)
    led.advance(1000.0)
    for c in (c0, c1):
        led.close_cell(c, 1000.0)
    # [100,300): Sx 0.5, Sd 0: F = 0.2 (1 - 0.5) = 0.1 -> 20
    # [300,400): Sw 0.5, Sx 1, Sd 0.5: F = 0.3 x 0.5 + 0.2 = 0.35 -> 35
    # [400,500): Sw 0.5, Sx 0.5, Sd 0.5: F = 0.15 + 0.2 (1 - 0.25) = 0.30 -> 30
    assert led.failed_req == pytest.approx(85.0, rel=1e-12)
    assert sum(led.cause_failed.values()) == pytest.approx(85.0, rel=1e-12)
    # cell 0 as source: 0.2 x 300 while its path is down, then 0.2 x 0.5 x 100 (destination 1 down)
    assert c0.acc == pytest.approx(70.0, rel=1e-12)
    # cell 1: intra 0.3 + cross 0.2 for 200 s
    assert c1.acc == pytest.approx(100.0, rel=1e-12)
    assert led.outages == 1 and led.failed_fraction == 0.0
    # (replication, start, end, length, target, cause, effect, fraction)
    spans = [(e[1], e[2], e[4], e[5], e[6]) for e in episodes.sorted()]
    assert spans == [(100.0, 400.0, "cell[0]", "svc", "writes-down"), (300.0, 500.0, "cell[1]", "db", "writes-down")]
