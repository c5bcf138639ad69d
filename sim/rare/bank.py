"""The whole bank's quorum-loss unavailability: per-group chains, IDC conditioning, request weighting.

Model (exponential times; ``sim.rare.support`` refuses what it does not cover). The *groups* are
the replica sets of the bank: one per distinct cell spec (overrides applied, ``Cells.specs()``),
the GNS and the bus. A group of n replicas with quorum k has servers that fail (lambda) and are
repaired (mu, the group's crews); an IDC outage (rate rho while up, mean duration D) takes every
replica in that IDC. Server processes run independently of the IDC processes and of each other
group's, so in steady state the joint law is a product: the IDC state I (each IDC down with
q_i = rho D / (1 + rho D), independently) and, *given* I, every group's server state independent
of the others'. A group only sees how many of its replicas sit in down IDCs (d); by symmetry of
its servers, p_g(d) = P(fewer than k of its n - d live replicas are up) is the stationary
probability of a small chain (``group_chain``): the conditional quorum-loss probability.

Request weighting (the fluid engine's ledger, ``sim/engine/ledger.py``): with cell shares s_c
and write-down indicators w_c (Sw = sum s_c w_c), reads-down r_c (every replica of the cell down:
reads continue on any up replica during quorum loss; without ``reads_during_failover`` the
primary is re-elected even without quorum, so again only "all down" stops reads), GNS down G and
bus down B, the bank's failed fraction is::

    F = G + (1 - G) [ reads Sr + intra Sw + cross (B + (1 - B) (1 - (1 - Sw)^2)) ]

(a cross-cell transfer fails when its source or its destination cell cannot write, the
destination drawn by share, or the bus is down). Given I, the cells are independent, so with
a_c = P(w_c = 1 | I): E[Sw] = sum s_c a_c, E[Sw^2] = E[Sw]^2 + sum s_c^2 a_c (1 - a_c), and
U = sum_I pi(I) E[F | I] exactly (cells with the same spec are summed by their share totals, so
100,000 cells cost nothing more). ``on_quorum_loss: degrade-async`` cells keep writing while one
replica is up: their w_c is "all down" (durability pays instead, ``sim.rare.durability``).

Two figures come out of the same p's: ``full`` (quorum loss as above) and ``all_down`` (the same
formula when only a set with *every* replica down counts: what a run with write quorum 1 and
GNS/bus quorum 1 sees). The bank figure of ``sim.rare.scenario`` is naive replications of that
quorum-1 bank (frequent causes: failovers, changes, maintenance, app tiers, blips...) plus the
rare part R = full - all_down. Each p is estimated by importance sampling (``importance``) on its
chain, independently; the 95 % half-width of R (and of ``full``) follows by the delta method
(gradients by central differences), and every p's exact value (GTH) is kept beside it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from sim.rare.chain import Chain, _table
from sim.rare.estimators import Z95, importance_cmc
from sim.rare.exact import naive_years_needed, unavailability

__all__ = ["Group", "BankModel", "group_chain", "exact_probabilities", "evaluate", "estimate_bank",
           "BankEstimate", "MAX_IDCS"]

MAX_IDCS = 12  # 2^12 IDC states: the exact sum over them stays instant


@dataclass
class Group:
    """A replica group: a cell spec's database set, the GNS or the bus (rates per hour)."""

    name: str
    counts: np.ndarray     # (m,) replicas in each IDC
    k: int                 # quorum
    lam: float
    mu: float
    crews: int | None      # None: one crew per replica
    share: float = 0.0     # S_g: total account share of the cells with this spec (cells only)
    share_sq: float = 0.0  # Q_g: sum of squared shares
    cells: int = 0
    kind: str = "cell"     # "cell", "gns" or "bus"
    async_writes: bool = False  # on_quorum_loss: degrade-async

    @property
    def n(self) -> int:
        return int(self.counts.sum())


@dataclass
class BankModel:
    groups: list[Group]
    idc_names: list[str]   # the m IDCs (group counts are over these)
    idc_rate: float        # outages per hour of each IDC while up (0: none modelled)
    idc_repair: float      # 1 / mean outage hours
    reads: float
    intra: float
    cross: float

    @property
    def idc_down(self) -> np.ndarray:
        """(m,) stationary probability that each IDC is down: rho D / (1 + rho D)."""
        q = self.idc_rate / (self.idc_rate + self.idc_repair) if self.idc_rate > 0 else 0.0
        return np.full(len(self.idc_names), q)

    def idc_states(self):
        """(pi (2^m,), I (2^m, m) bool); one state when no IDC outage is modelled."""
        m = len(self.idc_down)
        if m == 0 or not np.any(self.idc_down > 0):
            return np.ones(1), np.zeros((1, m), dtype=bool)
        states = np.array(list(itertools.product([False, True], repeat=m)), dtype=bool)
        q = self.idc_down
        pi = np.prod(np.where(states, q, 1.0 - q), axis=1)
        return pi, states


def group_chain(n_live: int, n_dead: int, k: int, lam: float, mu: float, crews: int | None,
                which: str) -> Chain:
    """The servers of a group with ``n_dead`` replicas in down IDCs; ``which``: 'ql' (fewer than k
    live replicas up) or 'all' (no live replica up). State (a, b): failed live, failed dead
    servers; the dead ones matter only through the crews they occupy."""
    r = n_live + n_dead if crews is None else crews
    track_dead = r < n_live + n_dead and n_dead > 0
    bs = range(n_dead + 1) if track_dead else range(1)
    states = [(a, b) for a in range(n_live + 1) for b in bs]
    index = {s: i for i, s in enumerate(states)}
    trans, down = [], []
    for a, b in states:
        tr = []
        if a < n_live:
            tr.append(((n_live - a) * lam, index[(a + 1, b)], True))
        if track_dead and b < n_dead:
            tr.append(((n_dead - b) * lam, index[(a, b + 1)], False))
        busy = a + b
        if busy:
            rate = min(busy, r) * mu
            if a:
                tr.append((rate * a / busy, index[(a - 1, b)], False))
            if b:
                tr.append((rate * b / busy, index[(a, b - 1)], False))
        trans.append(tr)
        down.append(n_live - a < k if which == "ql" else a == n_live)
    return _table(states, trans, down, [f"{a} live failed, {b} dead failed" for a, b in states], 3600.0)


def _fixed(g: Group, d: int, which: str) -> float | None:
    """p_g(d) when it needs no chain: 1 when the dead IDCs alone decide it."""
    live = g.n - d
    if which == "ql" and live < g.k:
        return 1.0
    if live == 0:
        return 1.0
    if g.lam == 0:
        return 0.0  # the group's servers never fail (server_roles leaves it out)
    return None


def _reachable(model: BankModel, g: Group) -> list[int]:
    _, states = model.idc_states()
    return sorted(set(int(x) for x in states.astype(int) @ g.counts))


def exact_probabilities(model: BankModel) -> dict:
    """{(group index, which): array over d of p_g(d)} from the chains' exact stationary laws."""
    out = {}
    for gi, g in enumerate(model.groups):
        for which in ("ql", "all"):
            p = np.zeros(g.n + 1)
            for d in _reachable(model, g):
                f = _fixed(g, d, which)
                p[d] = f if f is not None else unavailability(
                    group_chain(g.n - d, d, g.k, g.lam, g.mu, g.crews, which))
            out[(gi, which)] = p
    return out


def evaluate(model: BankModel, p: dict) -> dict:
    """{'full', 'all_down', 'rare', 'time', 'async_exposed'}: request-weighted U, the time share with
    any group down, and the expected number of degrade-async cells writing without quorum."""
    pi, states = model.idc_states()
    si = states.astype(int)
    res = {}
    for fig, wq in (("full", "ql"), ("all_down", "all")):
        m1 = np.zeros(len(pi))
        var = np.zeros(len(pi))
        sr = np.zeros(len(pi))
        gdown = np.zeros(len(pi))
        bdown = np.zeros(len(pi))
        none_down = np.ones(len(pi))
        for gi, g in enumerate(model.groups):
            d = si @ g.counts
            a = p[(gi, "all" if g.async_writes else wq)][d]
            z = p[(gi, "all")][d]
            if g.kind == "cell":
                m1 += g.share * a
                var += g.share_sq * a * (1.0 - a)
                sr += g.share * z
                none_down *= (1.0 - a) ** g.cells
            elif g.kind == "gns":
                gdown = a
                none_down *= 1.0 - a
            else:
                bdown = a
                none_down *= 1.0 - a
        m2 = m1 * m1 + var
        routed = model.reads * sr + model.intra * m1 + model.cross * (bdown + (1.0 - bdown) * (2.0 * m1 - m2))
        res[fig] = float(pi @ (gdown + (1.0 - gdown) * routed))
        if fig == "full":
            res["time"] = float(pi @ (1.0 - none_down))
    res["rare"] = res["full"] - res["all_down"]
    # expected number of degrade-async cells running without quorum (sim.rare.durability)
    d_all = {gi: si @ g.counts for gi, g in enumerate(model.groups)}
    res["async_exposed"] = float(sum(g.cells * (pi @ (p[(gi, "ql")][d_all[gi]] - p[(gi, "all")][d_all[gi]]))
                                     for gi, g in enumerate(model.groups) if g.async_writes))
    return res


@dataclass
class BankEstimate:
    value: dict            # evaluate() at the estimated p's
    half_width: dict       # 95 % half-widths of the same figures (delta method)
    exact: dict            # evaluate() at the exact p's
    simulated_years: float
    cycles: int
    events: int
    parameters: list       # one dict per estimated p (group, d, which, estimate, hw, exact)
    naive_years_10pct: float | None  # naive years for +-10 % on 'full' (lower bound, see docstring)


def _gradients(model: BankModel, p: dict, keys) -> dict:
    """d figure / d p_j for every estimated p_j (central differences; the figures are low-order
    polynomials in each p)."""
    out = {}
    for gi, which, d in keys:
        arr = p[(gi, which)]
        h = max(abs(arr[d]) * 1e-4, 1e-300)
        keep = arr[d]
        arr[d] = keep + h
        up = evaluate(model, p)
        arr[d] = keep - h
        lo = evaluate(model, p)
        arr[d] = keep
        out[(gi, which, d)] = {k: (up[k] - lo[k]) / (2 * h) for k in up}
    return out


def estimate_bank(model: BankModel, rng, rel: float = 0.1, bias: float = 0.7, pilot_rel: float = 0.3,
                  max_cycles: int = 2_000_000) -> BankEstimate:
    """Importance-sample every conditional p that is neither 0 nor 1 by construction; combine.

    Two stages. A pilot estimates every p to +-``pilot_rel``; its gradients and per-cycle
    spreads then give each p the cycles of the cheapest allocation that brings the bank figures
    ('full' and 'rare') to +-``rel`` (n_j proportional to |g_j| sigma_j, the classic optimum for
    a sum of independent estimates), and p's that need more than the pilot had are re-estimated
    with exactly that many fresh cycles (so the final estimate does not depend on the pilot's
    values except through its size).
    """
    exact = exact_probabilities(model)
    p = {key: v.copy() for key, v in exact.items()}
    hw = {key: np.zeros_like(v) for key, v in exact.items()}
    chains, ests = {}, {}
    years, cycles, events = 0.0, 0, 0
    for gi, g in enumerate(model.groups):
        for which in ("ql", "all"):
            for d in _reachable(model, g):
                if _fixed(g, d, which) is None:
                    chains[(gi, which, d)] = group_chain(g.n - d, d, g.k, g.lam, g.mu, g.crews, which)
    for key, chain in chains.items():  # stage 1: the pilot
        est = ests[key] = importance_cmc(chain, rng, rel=max(rel, pilot_rel), bias=bias)
        p[key[:2]][key[2]], hw[key[:2]][key[2]] = est.u, est.half_width
        years, cycles, events = years + est.simulated_years, cycles + est.cycles, events + est.events
    value = evaluate(model, p)
    grads = _gradients(model, p, list(chains))
    sigma = {key: est.half_width * math.sqrt(est.cycles) / Z95 for key, est in ests.items()}
    need = {key: 0 for key in chains}
    for fig in ("full", "rare"):
        if value[fig] <= 0:
            continue
        target = (rel * value[fig] / Z95) ** 2
        total = sum(abs(grads[key][fig]) * sigma[key] for key in chains)
        for key in chains:
            need[key] = max(need[key], int(math.ceil(abs(grads[key][fig]) * sigma[key] * total / target)))
    for key, chain in chains.items():  # stage 2: what the allocation asks beyond the pilot
        if need[key] > ests[key].cycles:
            est = ests[key] = importance_cmc(chain, rng, bias=bias, cycles=min(need[key], max_cycles))
            p[key[:2]][key[2]], hw[key[:2]][key[2]] = est.u, est.half_width
            years, cycles, events = years + est.simulated_years, cycles + est.cycles, events + est.events
    params = [{"group": model.groups[gi].name, "dead_replicas": d, "which": which, "estimate": ests[(gi, which, d)].u,
               "half_width": ests[(gi, which, d)].half_width, "exact": float(exact[(gi, which)][d]),
               "cycles": ests[(gi, which, d)].cycles} for gi, which, d in chains]
    value = evaluate(model, p)
    grads = _gradients(model, p, list(chains))
    var = {k: 0.0 for k in value}
    for key in chains:
        for k in var:
            var[k] += (grads[key][k] * hw[key[:2]][key[2]]) ** 2
    half = {k: math.sqrt(v) for k, v in var.items()}
    return BankEstimate(value, half, evaluate(model, exact), years, cycles, events, params,
                        _naive_years(model, exact))


def _naive_years(model: BankModel, exact: dict) -> float | None:
    """Simulated years naive sampling needs for +-10 % on the full figure (95 %).

    Each group's own chain (its servers and the IDCs it uses) gives its naive years for +-10 %
    on its quorum-loss time share U_g (``naive_years_needed``: exact first-step analysis);
    weighted by its first-order request weight w_g (a cell: share x (intra + 2 cross); GNS 1;
    bus cross), the naive per-year variance of the bank figure is sum_cells (w U_g)^2 Y_g
    (0.1/1.96)^2 (first order: a cell's weight is at most intra + 2 cross). The covariance
    common IDC outages add is left out: it only raises the naive cost, so the figure is a lower
    bound. The importance sampler's years are the model time of every cycle it simulated, the
    pilot's included.
    """
    from sim.rare.chain import k_of_n, replicas_in_idcs
    full = evaluate(model, exact)["full"]
    if full <= 0:
        return None
    total = 0.0
    for g in model.groups:
        if g.lam == 0 or g.async_writes:
            continue  # (degrade-async sets count only when all down: left out, lowering the bound)
        used = np.nonzero(g.counts)[0]
        placement = [pos for pos, i in enumerate(used) for _ in range(int(g.counts[i]))]
        if g.n + len(used) > 9:
            return None  # too large an exact state space for the first-step analysis
        if model.idc_rate > 0:
            chain = replicas_in_idcs(placement, g.k, g.lam, g.mu, model.idc_rate, model.idc_repair, g.crews)
        else:
            chain = k_of_n(g.n, g.k, g.lam, g.mu, g.crews)
        u = unavailability(chain)
        if u <= 0:
            continue
        years = naive_years_needed(chain, 0.1)
        w_sq = {"cell": (model.intra + 2 * model.cross) ** 2 * g.share_sq, "gns": 1.0,
                "bus": model.cross ** 2}[g.kind]
        total += w_sq * u * u * years
    return float(total / full ** 2)

