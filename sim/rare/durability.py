"""Durability next to availability: how often a bank loses writes it acknowledged.

Two ways a cell loses acknowledged writes (``durability.*`` of summary.json):

* **every copy lost within a rebuild window** (``failures.components.disk``): a disk loss takes a
  replica's copy, rebuilt from a survivor in ``db.rebuild``; with ``sync-quorum`` replication an
  acknowledged write sits on the quorum and reaches every live replica within milliseconds, so
  it is lost only when all n copies are gone at once (a host crash keeps its disk and catches up).
  The chain: copies lost j = 0..n, loss rate (n - j) lambda_d, rebuilds min(j, crews) mu; j = n
  is data loss. MTTDL is its mean first-passage time (``mttdl_exact``, the birth-death first-passage sum); the
  estimate is importance sampling of gamma = P(a regenerative cycle from "all copies" reaches
  loss) with MTTDL = E[min(tau, T_loss)] / gamma (Goyal et al. 1992; ``disk_estimate``). With
  ``replication: async`` the newest writes live on the primary alone: every primary disk loss
  loses them (rate lambda_d per cell).
* **a failover of an asynchronous set** (``replication: async``): the newest acknowledged writes
  live on the primary alone; every loss of the primary (server crash or its IDC's outage) and
  failover drops them: (lambda_server + rho_idc) per cell, a closed form;
* **a failure while the set runs degraded-async** (``on_quorum_loss: degrade-async``): writes go
  on with fewer than ``write_quorum`` copies; the primary's failure (its server, or its IDC)
  then loses what only it held. Rate = (lambda_server + rho_idc) x P(quorum lost, a replica up),
  that probability from ``sim.rare.bank`` (estimated with its interval under the importance
  estimator), else from the fluid engine's exposure seconds (a naive point figure, no interval).

Loss events of different cells are independent rare events: rates add, the bank's probability of
at least one loss in a year is 1 - exp(-rate x 1 year), and the mean time to data loss is 1/rate.

Closed forms the tests check: a mirrored pair, MTTDL = MTTF^2 / (2 MTTR) (Silberschatz, Galvin &
Gagne, "Operating System Concepts", s. 10.7 / 11.8: MTTF 100,000 h, MTTR 10 h -> 5e8 h); k-of-n
(data survives while k copies do), unlimited crews:
MTTDL ~ (n-k)! (k-1)! MTTF^(n-k+1) / (n! MTTR^(n-k)); and Backblaze's window method
(``backblaze_annual_loss``) adapted to n replicas: P(>= N = n-k+1 of n copies fail in one rebuild
window T) by the Poisson law, over the year's windows. It counts failures at the full rate n lambda
and in fixed windows, so it differs from the continuous-time chain by the factor
chain / window = n! N! / ((n-k)! (k-1)! n^N) to first order (1 for a mirrored pair, 2/3 for three
replicas needing one, 4/3 for 2-of-3): stated and tested, not hidden.
"""

from __future__ import annotations

import math

import numpy as np

from sim.rare.chain import Chain, k_of_n
from sim.rare.estimators import importance_cmc
from sim.rare.exact import mean_cycle_time

__all__ = ["loss_chain", "mttdl_exact", "mttdl_asymptotic", "disk_estimate", "backblaze_annual_loss",
           "durability_summary", "HOURS_PER_YEAR"]

HOURS_PER_YEAR = 8760.0
_RENEW = 1e6  # per hour: the loss state's return to "all copies" (a dwell of ~3.6 ms)


def loss_chain(n: int, k: int, lam: float, mu: float, crews: int | None = None) -> Chain:
    """Copies lost j = 0..n-k+1 (rates per hour); j = n-k+1 (fewer than k copies) is data loss,
    which returns to 0 at once so cycles regenerate (the loss itself is what is counted)."""
    ch = k_of_n(n, k, lam, mu, crews)
    keep = n - k + 2  # states 0..n-k+1
    ch.rate, ch.target, ch.failure = ch.rate[:keep].copy(), ch.target[:keep].copy(), ch.failure[:keep].copy()
    ch.down = ch.down[:keep].copy()
    ch.labels = ch.labels[:keep]
    last = keep - 1
    ch.rate[last] = 0.0
    ch.rate[last, 0], ch.target[last, 0], ch.failure[last, 0] = _RENEW, 0, False
    return ch


def mttdl_exact(n: int, k: int, lam: float, mu: float, crews: int | None = None) -> float:
    """Mean first-passage time (hours) from all copies to fewer than k, by the birth-death formula
    T = sum_{i<N} (sum_{j<=i} w_j) / (w_i b_i), w the detailed-balance weights (all terms positive:
    a linear solve loses every digit at MTTDL ~ 1e20 h)."""
    r = n if crews is None else crews
    N = n - k + 1
    w, total, t = 1.0, 0.0, 0.0
    for i in range(N):
        b = (n - i) * lam
        total += w
        t += total / (w * b)
        w *= b / (min(i + 1, r) * mu)
    return t


def mttdl_asymptotic(n: int, k: int, mttf: float, mttr: float) -> float:
    """(n-k)! (k-1)! MTTF^(n-k+1) / (n! MTTR^(n-k)): unlimited crews, MTTR << MTTF."""
    return (math.factorial(n - k) * math.factorial(k - 1) * mttf ** (n - k + 1)
            / (math.factorial(n) * mttr ** (n - k)))


def backblaze_annual_loss(n: int, k: int, afr: float, window_days: float) -> float:
    """Backblaze's durability method adapted to replicas: P(>= n-k+1 of n copies fail in one
    rebuild window) by the Poisson law, compounded over the windows of a year."""
    m = n * afr * window_days / 365.0  # expected failures among n copies in one window
    need = n - k + 1
    # the upper tail summed directly: 1 - (the lower terms) cancels to 0 at 1e-20
    p_window = sum(math.exp(-m) * m ** i / math.factorial(i) for i in range(need, need + 40))
    return -math.expm1(365.0 / window_days * math.log1p(-p_window))


def disk_estimate(n: int, k: int, lam: float, mu: float, crews, rng, rel: float = 0.1, bias: float = 0.7):
    """(loss rate per hour, its 95 % half-width, exact rate, simulated years) by importance sampling."""
    ch = loss_chain(n, k, lam, mu, crews)
    est = importance_cmc(ch, rng, rel=rel, bias=bias)
    tau = mean_cycle_time(ch)
    gamma, g_hw = est.u * tau * _RENEW, est.half_width * tau * _RENEW
    to_loss = tau - gamma / _RENEW  # E[min(tau, T_loss)], exact
    return gamma / to_loss, g_hw / to_loss, 1.0 / mttdl_exact(n, k, lam, mu, crews), est.simulated_years


def _figures(rate_h: float, hw_h: float | None) -> dict:
    per_year = rate_h * HOURS_PER_YEAR
    out = {"loss_events_per_year": per_year,
           "loss_probability_per_year": -math.expm1(-per_year),
           "mttdl_years": 1.0 / per_year if per_year > 0 else None}
    if hw_h is not None:
        lo, hi = max(rate_h - hw_h, 0.0) * HOURS_PER_YEAR, (rate_h + hw_h) * HOURS_PER_YEAR
        out["loss_probability_per_year_ci95"] = [-math.expm1(-lo), -math.expm1(-hi)]
        out["mttdl_years_ci95"] = [1.0 / hi if hi > 0 else None, 1.0 / lo if lo > 0 else None]
    return out


def durability_summary(sc, summary: dict | None = None, rng=None, rel: float = 0.1, bank=None) -> dict:
    """The ``durability`` block: per mechanism and in all, rates, P(loss in a year), MTTDL.

    ``bank``: a ``sim.rare.bank.BankEstimate`` and its model (the importance estimator's), for the
    degraded-async part with an interval; otherwise that part comes from ``summary``'s
    ``rpo.async_exposure_seconds_per_year`` (the fluid engine's naive figure).
    """
    if rng is None:
        rng = np.random.default_rng(np.random.SeedSequence([sc.simulation.seed, 0xD15C]))
    comp = sc.failures.components
    idc = sc.failures.correlated.idc
    specs = sc.topology.cells.specs()
    groups: dict[int, list] = {}
    for spec in specs:
        groups.setdefault(id(spec), [spec, 0])[1] += 1
    rate, var, notes, parts = 0.0, 0.0, [], {}
    exact_rate = 0.0
    disk = comp.disk
    if disk is not None:
        if disk.distribution != "exponential":
            notes.append(f"disk loss times taken as exponential with the same mean ({disk.distribution})")
        lam_d = 3600.0 / disk.mean_ttf
        years = 0.0
        for spec, cells in groups.values():
            db = spec.db
            mu = 3600.0 / db.rebuild
            crews = None if db.repair_crews == "unlimited" else min(db.repair_crews, db.replicas)
            if db.replication == "async" or db.replicas == 1:
                r, hw, ex, y = lam_d, 0.0, lam_d, 0.0  # the primary's disk holds the newest writes alone
            else:
                r, hw, ex, y = disk_estimate(db.replicas, 1, lam_d, mu, crews, rng, rel)
            rate += cells * r
            var += (cells * hw) ** 2
            exact_rate += cells * ex
            years += y
        parts["disk"] = {**_figures(rate, math.sqrt(var)), "exact_markov_events_per_year": exact_rate * HOURS_PER_YEAR,
                         "simulated_years": years}
    lagging = [(s, c) for s, c in groups.values() if s.db.replication == "async" and s.db.replicas > 1]
    if lagging and comp.server is not None and "db" in comp.server_roles:
        # async replication: the newest acknowledged writes live on the primary alone, and every
        # failover away from it (its server or its IDC lost) drops them; rate per cell, the
        # primary taken as always up (an upper bound by at most U of the set)
        lam_p = 3600.0 / comp.server.mean_ttf + (idc.rate * 3600.0 if idc else 0.0)
        f_rate = lam_p * sum(c for _, c in lagging)
        parts["async_failover"] = {**_figures(f_rate, 0.0), "method": "closed form: primary losses per year"}
        rate += f_rate
    async_specs = [(s, c) for s, c in groups.values() if s.db.on_quorum_loss == "degrade-async"
                   and s.db.replication == "sync-quorum"]
    if async_specs and comp.server is not None:
        lam_s = 3600.0 / comp.server.mean_ttf + (idc.rate * 3600.0 if idc else 0.0)
        if bank is not None:
            est, model = bank
            a_rate, a_hw, a_exact = (lam_s * est.value["async_exposed"], lam_s * est.half_width["async_exposed"],
                                     lam_s * est.exact["async_exposed"])
            parts["degraded_async"] = {**_figures(a_rate, a_hw), "method": "importance",
                                       "exact_markov_events_per_year": a_exact * HOURS_PER_YEAR}
            rate, var, exact_rate = rate + a_rate, var + a_hw ** 2, exact_rate + a_exact
        elif summary is not None:
            exposure = (summary.get("rpo") or {}).get("async_exposure_seconds_per_year", 0.0)
            a_rate = lam_s * exposure / (HOURS_PER_YEAR * 3600.0)  # cell-exposure fraction x rate
            parts["degraded_async"] = {**_figures(a_rate, None), "method": "naive exposure x failure rate"}
            rate += a_rate
            var = math.nan  # no interval for this part
            notes.append("degraded-async losses from the fluid engine's exposure seconds: no interval "
                         "(simulation.estimator: importance gives one)")
    out = {**_figures(rate, None if math.isnan(var) else math.sqrt(var)), "by_mechanism": parts,
           "scope": "acknowledged writes: every copy of a cell lost within a rebuild window (independent disk "
                    "losses; a disaster destroying a whole IDC's disks is not modelled); a failover of an "
                    "asynchronous set; a failure of the primary while its set runs degraded-async",
           "notes": notes}
    if disk is None:
        out["notes"].append("no failures.components.disk: no copy is ever lost")
    return out
