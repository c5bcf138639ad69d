"""Gray failures: a node stays up but serves only ``capacity_factor`` of its capacity.

They change no outage figure, only capacity, latency and shedding, so they run only when the
scenario has a ``capacity:`` model.
"""

from __future__ import annotations

__all__ = ["start"]


def start(bank) -> None:
    g = bank.sc.failures.gray
    if g is None or bank.capacity is None:  # gray nodes only matter to capacity/latency
        return
    for srv in bank.plan.servers:
        if srv.role in g.targets and srv.cell is not None:
            bank.env.process(_gray(bank, srv.index, g))


def _gray(bank, s: int, g):
    env = bank.env
    rng = bank.stream(f"{bank.plan.servers[s].scope}/gray")
    c = bank.cells[bank.plan.servers[s].cell]
    while True:  # exponential: the stationary start is the same draw
        yield env.timeout(rng.expovariate(g.rate))
        bank.gray.add(s)
        bank.replica_sets.update(c, "gray")
        start = env.now
        yield env.timeout(rng.expovariate(1.0 / g.duration))
        bank.gray.discard(s)
        bank.replica_sets.update(c, "gray")
        if bank.episodes.detail:
            bank.episodes.record(start, env.now, bank.plan.servers[s].scope, "gray", "slow", 0.0, False)
