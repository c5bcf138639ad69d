"""The figures of issue 13 items 2 and 6: the whole-bank estimator on the issue's two bank shapes
(rare regime: exact Markov figure, estimate with its 95 % interval, simulated years for +-10 %
against naive, and what the old one-cell weighting said), and the durability checks against
published closed forms. Run from the repository root: ``python docs/examples/rare_tables.py``
(a few seconds; fixed seeds)."""

import math

import numpy as np

from sim.rare import estimate_scenario
from sim.rare.chain import replicas_in_idcs
from sim.rare.durability import backblaze_annual_loss, disk_estimate, mttdl_asymptotic, mttdl_exact
from sim.rare.exact import unavailability
from sim.scenario import load_scenario_text

BANK = """
name: shape
topology:
  regions: [{{name: r, idcs: [a, b, c]}}]
  cells:
    count: {cells}
    template:
      db: {{replicas: 3, placement: [a, b, c]}}
    overrides: {overrides}
workload:
  mix: {{reads: {mix[0]}, intra_cell: {mix[1]}, cross_cell: {mix[2]}}}
failures:
  components:
    server: {{rate: 2/yr, mttr: 2h}}
  correlated:
    idc: {{rate: 0.4/yr, duration: 4h}}
"""
SHAPES = [("10 cells, 60 % cross-cell", 10, "[]", (0.2, 0.2, 0.6)),
          ("2 of 4 cells overridden weaker", 4,
           "[{cells: [0, 1], set: {db: {replicas: 2, write_quorum: 2, placement: [a, b]}}}]", (0.6, 0.3, 0.1))]


def nines(u):
    return -math.log10(u)


print("case | exact U (nines) | estimate [95 % CI] | naive years / IS years for +-10 % (factor) | old one-cell weighting")
for name, cells, overrides, mix in SHAPES:
    sc = load_scenario_text(BANK.format(cells=cells, overrides=overrides, mix=mix))
    e = estimate_scenario(sc, np.random.default_rng(1))["estimator"]
    u = e["unavailability"]
    old = unavailability(replicas_in_idcs([0, 1, 2], 2, 2 / 8760, 1 / 2, 0.4 / 8760, 1 / 4)) * (mix[1] + mix[2])
    print(f"{name} | {e['exact_markov']:.4g} ({nines(e['exact_markov']):.2f}) | {u['mean']:.4g} "
          f"[{u['ci95'][0]:.4g}, {u['ci95'][1]:.4g}] | {e['naive_years_for_10pct']:.3g} / "
          f"{e['simulated_years_for_10pct']:.3g} ({e['variance_reduction']:.3g}) | {old:.4g} ({nines(old):.2f})")

print("\nn k | MTTDL exact (h) | closed form (h) | IS estimate (h) [95 % CI] | IS years / naive years for +-10 % "
      "| Backblaze window P/yr | chain P/yr | ratio (first-order prediction)")
lam, mu = 1 / 100_000, 1 / 10  # Silberschatz: MTTF 100,000 h, MTTR 10 h
for i, (n, k) in enumerate([(2, 1), (3, 1), (3, 2), (4, 2), (5, 3), (5, 1)]):
    ex, cf = mttdl_exact(n, k, lam, mu), mttdl_asymptotic(n, k, 1 / lam, 1 / mu)
    r, hw, _, years = disk_estimate(n, k, lam, mu, None, np.random.default_rng(100 + i))
    bb, ch = backblaze_annual_loss(n, k, 8760 * lam, 10 / 24), -math.expm1(-8760 / ex)
    big_n = n - k + 1
    pred = (math.factorial(n) * math.factorial(big_n)
            / (math.factorial(n - k) * math.factorial(k - 1) * n ** big_n))
    print(f"{n} {k} | {ex:.5g} | {cf:.5g} | {1 / r:.4g} [{1 / (r + hw):.4g}, {1 / (r - hw):.4g}] | "
          f"{years:.3g} / {384 * ex / 8760:.3g} | {bb:.3g} | {ch:.3g} | {ch / bb:.3f} ({pred:.3f})")
