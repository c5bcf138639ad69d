"""The whole-bank rare-event estimator (sim.rare.bank, sim.rare.scenario) against exact answers.

Three checks, on banks drawn at random by a seeded numpy generator (cells, overrides, replicas,
quorums, crews, placements, mix, mapping, rates, IDC outages, GNS and bus; nothing hand-picked):

1. the derivation: the product-form sum over IDC states (``evaluate``) equals the stationary
   expectation of the ledger's failed fraction on the brute-force joint chain of every server
   and IDC (a sparse linear solve), to 1e-7 relative;
2. the estimator: on rare banks (lambda/mu 1e-5..1e-3) the exact Markov figure lies inside the
   estimator's interval. Each case is checked at 99.5 % (z = 2.81) so that six cases together
   false-alarm ~3 %; how many fall inside the 95 % interval is printed (the report's table);
3. the model: on moderate banks (lambda/mu ~ 0.01-0.03, failover instantaneous, nothing but
   server crashes and IDC outages) the fluid engine's naive replications agree with the exact
   Markov figure: inside the engine's interval widened to 99.5 % (again ~3 % for six cases).
"""

from __future__ import annotations


from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import yaml

from sim.rare import bank_model, estimate_scenario, evaluate, exact_probabilities
from sim.scenario import load_scenario_text

Z995_OVER_Z95 = 2.807 / 1.96


def random_bank(rng, moderate: bool, max_cells: int = 12, small: bool = False) -> str:
    """A random bank as scenario YAML (see the module docstring)."""
    n_idc = int(rng.integers(2, 4 if small else 5))
    idcs = [f"i{j}" for j in range(n_idc)]
    cells = int(rng.integers(1, 4 if small else max_cells + 1))

    def db():
        n = int(rng.integers(2, 4 if small else 6))
        d = {"replicas": n, "write_quorum": int(rng.integers(1, n + 1)) if rng.random() < 0.5 else n // 2 + 1,
             "placement": [str(x) for x in rng.choice(idcs, size=n)],
             "repair_crews": "unlimited" if rng.random() < 0.5 else int(rng.integers(1, n + 1)),
             "reads_during_failover": bool(rng.random() < 0.7),
             "failover": {"detection": "0s", "election": "0s", "promotion": "0s"}}
        if rng.random() < 0.2:
            d["on_quorum_loss"] = "degrade-async"
        return d
    overrides = []
    if cells > 1 and rng.random() < 0.7:
        pick = sorted(int(x) for x in rng.choice(cells, size=int(rng.integers(1, cells)), replace=False))
        overrides.append({"cells": pick, "set": {"db": db(), "weight": float(rng.uniform(0.5, 3))}})
    mix = rng.dirichlet([1, 1, 1])
    mix = [round(float(x), 3) for x in mix[:2]]
    mix.append(round(1 - sum(mix), 3))

    def svc():
        n = int(rng.integers(1, 3 if small else 5))
        return {"replicas": n, "quorum": int(rng.integers(1, n + 1)),
                "placement": [str(x) for x in rng.choice(idcs, size=n)]}
    ratio = 10 ** rng.uniform(-2, -1.5) if moderate else 10 ** rng.uniform(-5, -3)
    mttr_h = float(rng.uniform(1, 8))
    failures = {"components": {"server": {"rate": f"{ratio / mttr_h * 8760:.6g}/yr", "mttr": f"{mttr_h:.4g}h"},
                               "server_roles": ["db", "gns", "bus"]}}
    if rng.random() < 0.7:
        failures["correlated"] = {"idc": {"rate": f"{rng.uniform(0.2, 3 if moderate else 1):.3g}/yr",
                                          "duration": f"{rng.uniform(1, 8):.3g}h"}}
    doc = {"name": "random-bank",
           "simulation": {"replications": 30, "seed": int(rng.integers(1, 1_000_000))},
           "topology": {"regions": [{"name": "r", "idcs": idcs}],
                        "cells": {"count": cells, "template": {"db": db()}, "overrides": overrides},
                        "gns": svc() if rng.random() < 0.8 else None,
                        "bus": svc() if rng.random() < 0.8 else None},
           "workload": {"mix": {"reads": mix[0], "intra_cell": mix[1], "cross_cell": mix[2]},
                        "mapping": "range" if rng.random() < 0.3 else "hash", "profile": {"peak_factor": 1}},
           "failures": failures}
    return yaml.safe_dump(doc, sort_keys=False)


def brute_force(sc) -> dict:
    """E[F] (full and all-down) and P(anything down) on the joint chain of every server and IDC."""
    model = bank_model(sc)
    topo = sc.topology
    specs = topo.cells.specs()
    shares = np.array([s.weight for s in specs] if sc.workload.mapping == "range" else [1.0] * len(specs))
    shares /= shares.sum()
    idcs = model.idc_names
    names = topo.idc_names
    units = []  # (kind, index, replicas' IDC positions in idcs, quorum, crews, async)
    for ci, spec in enumerate(specs):
        pl = spec.db.placement or names
        units.append(("cell", ci, [idcs.index(pl[i % len(pl)]) for i in range(spec.db.replicas)], spec.db.quorum,
                      spec.db.replicas if spec.db.repair_crews == "unlimited" else spec.db.repair_crews,
                      spec.db.on_quorum_loss == "degrade-async"))
    for kind, svc in (("gns", topo.gns), ("bus", topo.bus)):
        if svc is not None:
            pl = svc.placement or names
            units.append((kind, 0, [idcs.index(pl[i % len(pl)]) for i in range(svc.replicas)], svc.quorum,
                          svc.replicas, False))
    servers = [(u, pos) for u, unit in enumerate(units) for pos in unit[2]]
    ns, m = len(servers), len(idcs)
    g = model.groups[0]
    lam, mu = g.lam, g.mu
    rho, rep = model.idc_rate, model.idc_repair
    size = 2 ** (ns + m)
    rows, cols, vals = [], [], []
    f_full, f_all, anyd = np.zeros(size), np.zeros(size), np.zeros(size)
    owner = [u for u, _ in servers]
    mix = sc.workload.mix
    for st in range(size):
        failed = [(st >> i) & 1 for i in range(ns)]
        down_idc = [(st >> (ns + j)) & 1 for j in range(m)]
        for i in range(ns):
            if failed[i]:
                nf = sum(failed[j] for j in range(ns) if owner[j] == owner[i])
                crews = units[owner[i]][4]
                rate = min(nf, crews) * mu / nf
            else:
                rate = lam
            rows.append(st), cols.append(st ^ (1 << i)), vals.append(rate)
        if rho > 0:
            for j in range(m):
                rows.append(st), cols.append(st ^ (1 << (ns + j))), vals.append(rep if down_idc[j] else rho)
        for out, all_mode in ((f_full, False), (f_all, True)):
            sw = sr = 0.0
            gd = bd = 0.0
            anything = False
            for u, (kind, ci, pl, k, _, async_w) in enumerate(units):
                up = sum(1 for i in range(ns) if owner[i] == u and not failed[i] and not down_idc[servers[i][1]])
                q_lost = up < (1 if (all_mode or async_w) else k)
                anything |= q_lost
                if kind == "cell":
                    sw += shares[ci] * q_lost
                    sr += shares[ci] * (up == 0)
                elif kind == "gns":
                    gd = float(q_lost)
                else:
                    bd = float(q_lost)
            routed = mix.reads * sr + mix.intra_cell * sw + mix.cross_cell * (bd + (1 - bd) * (1 - (1 - sw) ** 2))
            out[st] = gd + (1 - gd) * routed
            if not all_mode:
                anyd[st] = anything
    q = sp.csr_matrix((vals, (rows, cols)), shape=(size, size))
    q = q - sp.diags(np.asarray(q.sum(axis=1)).ravel())
    a = q.T.tolil()
    a[0, :] = 1.0
    b = np.zeros(size)
    b[0] = 1.0
    pi = spla.spsolve(a.tocsc(), b)
    return {"full": float(pi @ f_full), "all_down": float(pi @ f_all), "time": float(pi @ anyd)}


@pytest.mark.parametrize("seed", [101, 102, 103])
def test_product_form_equals_the_brute_force_joint_chain(seed):
    rng = np.random.default_rng(seed)
    for _ in range(500):  # draw until the joint chain is rich (cells, IDC outages) but solvable
        sc = load_scenario_text(random_bank(rng, moderate=True, small=True))
        model = bank_model(sc)
        n_servers = sum(g.n * max(g.cells, 1) for g in model.groups)
        if (9 <= n_servers + len(model.idc_names) <= 12 and model.idc_rate > 0
                and sum(g.cells for g in model.groups) >= 2):
            break
    else:
        raise AssertionError("no suitable bank drawn")
    want = brute_force(sc)
    got = evaluate(model, exact_probabilities(model))
    for key in ("full", "all_down", "time"):
        assert got[key] == pytest.approx(want[key], rel=1e-7), key


def _cases(moderate: bool, n: int, seed: int):
    rng = np.random.default_rng(seed)
    return [load_scenario_text(random_bank(rng, moderate)) for _ in range(n)]


def test_estimator_holds_the_exact_figure_on_random_rare_banks():
    rows, inside95 = [], 0
    for i, sc in enumerate(_cases(False, 6, 2026)):
        e = estimate_scenario(sc, np.random.default_rng(1000 + i))["estimator"]
        mean, (lo, hi) = e["unavailability"]["mean"], e["unavailability"]["ci95"]
        hw = (hi - lo) / 2
        exact = e["exact_markov"]
        inside95 += lo <= exact <= hi
        rows.append((i, exact, mean, hw, e["naive_years_for_10pct"], e["simulated_years_for_10pct"],
                     e["variance_reduction"]))
        assert abs(mean - exact) <= hw * Z995_OVER_Z95, rows[-1]
    print("\ncase  exact U      estimate     +-95%      naive yrs(10%)  IS yrs(10%)  VRF")
    for r in rows:
        print(f"{r[0]:>4}  {r[1]:.4e}  {r[2]:.4e}  {r[3]:.2e}  {r[4] or float('nan'):.3g}  {r[5]:.3g}  "
              f"{r[6] or float('nan'):.3g}")
    print(f"inside the 95 % interval: {inside95}/6")


def test_fluid_engine_agrees_with_the_markov_figure_on_random_moderate_banks():
    from sim.runner import simulate
    rows = []
    for i, sc in enumerate(_cases(True, 6, 7)):
        model = bank_model(sc)
        exact = evaluate(model, exact_probabilities(model))["full"]
        s = simulate(sc.model_copy(update={"simulation": sc.simulation.model_copy(update={"replications": 40})}),
                     workers=1)
        a = s["availability"]["request"]
        u, hw = 1 - a["mean"], a["half_width"]
        rows.append((i, exact, u, hw))
        assert abs(u - exact) <= hw * Z995_OVER_Z95, rows[-1]
    print("\ncase  exact U      engine U     +-95%")
    for r in rows:
        print(f"{r[0]:>4}  {r[1]:.4e}  {r[2]:.4e}  {r[3]:.2e}")


BANK = """
name: combo
simulation: {{replications: {reps}, seed: 3}}
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
    server: {{rate: 25/yr, mttr: 12h}}
  correlated:
    idc: {{rate: 1/yr, duration: 4h}}
  changes: {{deploys: 2000/yr}}
"""


@pytest.mark.parametrize("cells,overrides,mix", [
    (10, "[]", (0.2, 0.2, 0.6)),  # issue 13: ten cells, 60 % cross-cell
    (4, "[{cells: [0, 1], set: {db: {replicas: 2, write_quorum: 2, placement: [a, b]}}}]", (0.6, 0.3, 0.1)),
])
def test_bank_figure_agrees_with_full_naive_runs(cells, overrides, mix):
    """The issue's two shapes at rates naive sampling resolves (lambda/mu ~ 0.03, failovers of
    20 s, IDC outages, bad changes): the combined figure (naive quorum-1 replications + the rare
    part) agrees with 40 naive replications of the full bank within the 99.5 % interval of their
    difference (0.5 % false alarm each); the old one-cell weighting lies far outside it."""
    from sim.rare.chain import replicas_in_idcs
    from sim.rare.exact import unavailability
    from sim.runner import simulate
    full = simulate(load_scenario_text(BANK.format(reps=40, cells=cells, overrides=overrides, mix=mix)), workers=1)
    a = full["availability"]["request"]
    imp = simulate(load_scenario_text(BANK.format(reps=10, cells=cells, overrides=overrides, mix=mix),
                                      sets=["simulation.estimator=importance"]), workers=1)
    b = imp["availability"]["bank"]
    u_naive, u_bank = 1 - a["mean"], 1 - b["mean"]
    tol = Z995_OVER_Z95 * float(np.hypot(a["half_width"], b["half_width"]))
    assert abs(u_bank - u_naive) <= tol, (u_bank, u_naive, tol)
    old = unavailability(replicas_in_idcs([0, 1, 2], 2, 25 / 8760, 1 / 12, 1 / 8760, 1 / 4)) * (mix[1] + mix[2])
    assert abs(old - u_naive) > 3 * tol
    print(f"\nfull naive {u_naive:.4e} +-{a['half_width']:.1e}; bank {u_bank:.4e} +-{b['half_width']:.1e}; "
          f"old one-cell weighting {old:.4e}")


REFUSED = [
    ("failures.components.server.distribution=weibull", "failures.components.server.distribution"),
    ("failures.components.server.repair_distribution=lognormal", "failures.components.server.repair_distribution"),
    ("failures.components.disk.rate=1/yr", "failures.components.disk"),
    ("failures.components.db_process.rate=1/yr", "failures.components.db_process"),
    ("failures.components.router_node.rate=1/yr", "failures.components.router_node"),
    ("failures.components.bus_node.rate=1/yr", "failures.components.bus_node"),
    ("failures.correlated.rack.rate=1/yr", "failures.correlated.rack"),
    ("failures.correlated.partition.rate=1/yr", "failures.correlated.partition"),
    ("failures.correlated.common_cause_beta=0.01", "failures.correlated.common_cause_beta"),
    ("failures.correlated.idc.distribution=fixed", "failures.correlated.idc.distribution"),
]


@pytest.mark.parametrize("setting,path", REFUSED)
def test_validate_refuses_what_the_chains_cannot_model(setting, path):
    """One located line naming the field, before anything runs (sim.preflight)."""
    from sim.errors import ScenarioError
    from sim.preflight import check
    text = ("name: x\nsimulation: {estimator: importance}\nfailures:\n  components:\n"
            "    server: {rate: 2/yr, mttr: 2h}\n  correlated:\n    idc: {rate: 1/yr, duration: 2h}\n")
    extra = [setting]
    if ".rate=" in setting and "server" not in setting:
        extra.append(setting.replace(".rate=1/yr", ".duration=1h") if "correlated" in setting else
                     setting.replace(".rate=1/yr", ".mttr=1h"))
    sc = load_scenario_text(text, sets=extra)
    with pytest.raises(ScenarioError) as exc:
        check(sc)
    assert exc.value.path == path and "\n" not in str(exc.value)
    check(load_scenario_text(text))  # the same bank without it passes


def test_validate_command_exits_2_on_an_unsupported_part():
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "sim", "validate", "scenarios/webank-2023.yaml",
                        "--set", "simulation.estimator=importance"], capture_output=True, text=True,
                       cwd=Path(__file__).resolve().parents[1])
    assert r.returncode == 2
    line = r.stderr.strip()
    # webank-2023 has services inside cells since issue 14: that is the first part refused (disk,
    # rack, power ... follow it; each has its own refusal test above)
    assert "\n" not in line and "topology.cells.template.services" in line and "naive estimator only" in line
