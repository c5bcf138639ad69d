"""The validation page (docs/validation.md): each reference bank's simulated figures next to the
published ones, with the ratio, and what explains the gaps.

``python -m sim.report.validation --simulate [--replications 40]`` simulates every reference
bank (availability with its 95 % interval, and the cost of each extra nine against its
``cost.compare_with`` variant), stores those figures in ``docs/validation-availability.json``
with a digest of each effective scenario, and writes the page. Without ``--simulate`` the page is
rebuilt from that file (no simulation); the cost and capacity figures need no simulation and are
always recomputed. ``tests/test_validation_page.py`` keeps both current: a scenario whose digest
no longer matches, or a page that differs from what the generator writes, fails the test.

The published figures (``PUBLISHED``) are those of ../shared/reference/webank-facts.md, each with
its source. Two rules the page applies, stated once here:

* **sized by demand**: a bank whose capacity with its worst IDC lost exceeds ``SIZED_HEADROOM``
  (10x) its peak-hour demand is not sized by its demand (``sim.capacity.throughput``);
* **which is off**: then either the fleet on the path or the demand per transaction is off. If the
  bank's modelled IT cost is at or below the published one, the money says the real fleet is at
  least as large as the modelled one, so the fleet is not what is oversized: the *demand* per
  transaction (a path of a few services measured on a small live bank) is too low. If the
  modelled cost is above the published one, the *fleet* is too large.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from sim.capacity.throughput import SIZED_HEADROOM, throughput_summary
from sim.report.availability_gap import gap_lines
from sim.cost import cost_summary
from sim.scenario import Scenario, load_scenario

__all__ = ["BANKS", "PUBLISHED", "GENERIC_SPLIT", "LEVERS", "scenario_digest", "simulate_availability",
           "bank_figures", "levers_needed", "render_page", "main"]

ROOT = Path(__file__).resolve().parents[2]
BANKS = ("webank-2019", "webank-2021", "webank-2023", "webank-2025", "centralized-ioe")
PAGE = ROOT / "docs" / "validation.md"
CACHE = ROOT / "docs" / "validation-availability.json"
DEFAULT_REPLICATIONS = 40

# name -> published figures (None: no public figure) and their sources (webank-facts.md rows)
PUBLISHED: dict[str, dict] = {
    "webank-2019": {"availability": None, "availability_note": "claimed > 99.999 % (no measured figure)",
                    "cost": 3.6, "cost_note": "3.6 CNY (2018; finews.asia 2018)",
                    "peak_day": 574e6, "peak_note": "574 M (2019)"},
    "webank-2021": {"availability": 0.9999975, "availability_note": "99.99975 % (2021 data; The Asian Banker)",
                    "cost": None, "cost_note": "between 3.6 (2018) and ~2 CNY (2023)",
                    "peak_day": 790e6, "peak_note": "790 M (2021; The Asian Banker)"},
    "webank-2023": {"availability": None, "availability_note": "claimed > 99.999 %",
                    "cost": 2.0, "cost_note": "~2 CNY (2023-2025; Caijing 2025)",
                    "peak_day": 1e9, "peak_note": "1 billion (2023)"},
    "webank-2025": {"availability": None, "availability_note": "claimed > 99.999 %",
                    "cost": 2.0, "cost_note": "~2 CNY (2023-2025; Caijing 2025)",
                    "peak_day": 1.4e9, "peak_note": "1.4 billion (2025)"},
    "centralized-ioe": {"availability": None, "availability_note": "no public figure",
                        "cost": 37.0, "cost_note": "20-100 CNY at traditional banks; ICBC ~37 (2023 fintech spend)",
                        "peak_day": None, "peak_note": "same traffic as webank-2023 (1 billion)"},
}

# Gartner IT Key Metrics 2021 (webank-facts.md): staff ~36 % of IT spend, data centres ~14 %.
GENERIC_SPLIT = {"staff": 0.36, "data centres (power + space)": 0.14}


def scenario_digest(sc: Scenario) -> str:
    """SHA-256 of the effective scenario (``extends`` resolved, defaults filled)."""
    text = json.dumps(sc.model_dump(mode="json"), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _load(name: str) -> Scenario:
    return load_scenario(ROOT / "scenarios" / f"{name}.yaml")


def simulate_availability(name: str, replications: int) -> dict:
    """Simulate one reference bank (and its compare_with variant) at ``replications``."""
    from sim.runner import simulate  # the page's generator is the only part that simulates

    sc = _load(name)
    digest = scenario_digest(sc)
    sc = load_scenario(ROOT / "scenarios" / f"{name}.yaml", [f"simulation.replications={replications}"])
    s = simulate(sc, workers=1)
    req = s["availability"]["request"]
    out = {"scenario_digest": digest, "replications": replications, "seed": sc.simulation.seed,
           "mean": req["mean"], "ci95": req["ci95"], "nines": req["nines"],
           "downtime_minutes_per_year": s["downtime_minutes_per_year"]["mean"],
           # the cause split of the downtime, for the availability gap (sim.report.availability_gap)
           "by_cause": {c: v["downtime_minutes_per_year"] for c, v in s["outages"]["by_cause"].items()}}
    cv = s.get("cost_variant")
    if cv:
        out["variant"] = {"name": cv["name"], "mean": cv["availability"]["mean"], "ci95": cv["availability"]["ci95"]}
        out["per_extra_nine"] = s["cost"].get("per_extra_nine")
    return out


def bank_figures(name: str, availability: dict | None) -> dict:
    """Everything the page shows for one bank (cost and capacity recomputed, availability given)."""
    sc = _load(name)
    cost = cost_summary(sc)
    thr = throughput_summary(sc)
    pub = PUBLISHED[name]
    off = None
    if not thr["sized_by_demand"]:
        off = "demand" if pub["cost"] is None or cost["per_account_per_year"] <= pub["cost"] else "fleet"
    return {"name": name, "cost": cost, "throughput": thr, "availability": availability, "published": pub,
            "off": off, "failures": sc.failures.model_dump(mode="python")}


def _pct(x: float, digits: int = 5) -> str:
    return f"{100 * x:.{digits}f} %"


def _ratio(sim: float | None, pub: float | None) -> str:
    return f"{sim / pub:.2f}" if sim is not None and pub else "n/a"


def _num(x: float) -> str:
    return f"{x:,.0f}"


def _avail(a: dict | None) -> str:
    if not a:
        return "not simulated"
    lo, hi = a["ci95"]
    return f"{_pct(a['mean'])} [{_pct(lo)}, {_pct(hi)}] ({a['replications']} rep.)"


def _summary_rows(figs: list[dict]) -> list[str]:
    rows = ["| bank | availability, simulated (95 % CI) | published | cost CNY/account/yr | published | ratio "
            "| peak demand tx/s | capacity tx/s all up / N-1 IDC | headroom all up / N-1 | peak day N-1 vs published "
            "| sized by demand? |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for f in figs:
        c, t, p, a = f["cost"], f["throughput"], f["published"], f["availability"]
        pday = t["peak_daily_transactions_n_minus_1_idc"]
        pd_txt = f"{pday:.3g} vs {p['peak_day']:.3g}" if p["peak_day"] else f"{pday:.3g} ({p['peak_note']})"
        sized = "yes" if t["sized_by_demand"] else (
            f"no: the {f['off']} is off ({t['headroom_n_minus_1_idc'] / SIZED_HEADROOM:.1f}x the demand, "
            f"or 1/{t['headroom_n_minus_1_idc'] / SIZED_HEADROOM:.1f} of the path's fleet, would size it)")
        pub_a = p["availability_note"]
        if a and p["availability"]:
            pub_a += f"; simulated unavailability {(1 - a['mean']) / (1 - p['availability']):.1f}x the published"
        rows.append(f"| {f['name']} | {_avail(a)} | {pub_a} | {c['per_account_per_year']:.2f} "
                    f"| {p['cost_note']} | {_ratio(c['per_account_per_year'], p['cost'])} "
                    f"| {_num(t['peak_tps_demand'])} | {_num(t['capacity_tps'])} / {_num(t['capacity_tps_n_minus_1_idc'])} "
                    f"| {t['headroom']:.1f} / {t['headroom_n_minus_1_idc']:.1f} | {pd_txt} | {sized} |")
    return rows


def _breakdown(f: dict) -> list[str]:
    c = f["cost"]
    acc = c["accounts"]
    br = c["breakdown"]
    out = [f"### {f['name']}", "",
           f"Total {c['total_per_year'] / 1e6:,.1f} M CNY a year = **{c['per_account_per_year']:.3f} CNY per account** "
           f"({acc / 1e6:,.0f} M accounts); {c['servers']['total']:,} servers in all, "
           f"{c['engineers']:.0f} operations engineers.", "",
           "| environment | servers | CNY/account/yr |", "|---|---|---|"]
    for env, n in c["servers_by_environment"].items():
        out.append(f"| {env} | {n:,} | {br['by_environment'][env] / acc:.3f} |")
    out += ["", "| category | CNY/account/yr | share |", "|---|---|---|"]
    for cat, v in br["by_category"].items():
        if v:
            out.append(f"| {cat} | {v / acc:.3f} | {100 * v / c['total_per_year']:.0f} % |")
    out += ["", "| system (production servers) | servers | CNY/account/yr, all environments |", "|---|---|---|"]
    prod = c["fleet"]["production"]
    for svc, v in sorted(br["by_service"].items(), key=lambda kv: -kv[1]):
        out.append(f"| {svc} | {prod.get(svc, 0):,} | {v / acc:.3f} |")
    t = f["throughput"]
    out += ["", f"Capacity by tier (tx/s, all up / worst IDC {t['worst_idc']} lost): "
            + "; ".join(f"{k} {_num(v['capacity_tps'])} / {_num(v['capacity_tps_n_minus_1_idc'])}"
                        for k, v in t["by_tier"].items()) + f"; bottleneck {', '.join(t['bottleneck'])}."]
    a = f["availability"]
    if a and a.get("variant"):
        v = a["variant"]
        pen = a.get("per_extra_nine")
        txt = "undefined (same nines)" if not pen else (
            f"{pen['per_year'] / 1e6:,.1f} M CNY a year per nine"
            + ("" if pen.get("significant", True) else " (the two intervals overlap: noise)"))
        out += ["", f"Cost of an extra nine against `{v['name']}` ({_pct(v['mean'])} [{_pct(v['ci95'][0])}, "
                f"{_pct(v['ci95'][1])}]): {txt}."]
    return out + [""]


# One-at-a-time levers for the cost gap: (label, dotted key under cost., how to read the value).
# The cost is linear in each, so two evaluations give the value that alone would reach the
# published figure (a record of what would be needed, never applied to the scenarios).
LEVERS = (("operations engineers", "staff.engineers"),
          ("servers per DCN of its other business systems", "fleet.per_cell.dcn-business-systems.servers"),
          ("test environment, multiple of production", "environments.test.of_production"),
          ("capex of one commodity server, CNY", "server_classes.commodity.capex"))


def _get(data: dict, key: str):
    for part in key.split("."):
        if not isinstance(data, dict) or data.get(part) is None:
            return None
        data = data[part]
    return data


def _with(sc: Scenario, key: str, value) -> Scenario:
    data = sc.model_dump(mode="python")
    node = data["cost"]
    parts = key.split(".")
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value
    return Scenario.model_validate(data)


def levers_needed(name: str, target_per_account: float) -> list[tuple[str, float, float]]:
    """(lever, value today, value that alone reaches ``target_per_account``) for each lever the
    bank has; a needed value below 0 means that lever alone cannot close the gap."""
    sc = _load(name)
    base = cost_summary(sc)["per_account_per_year"]
    out = []
    for label, key in LEVERS:
        now = _get(sc.cost.model_dump(mode="python"), key)
        if not isinstance(now, (int, float)) or isinstance(now, bool) or now <= 0:
            continue
        step = now  # evaluate at twice today's value: the slope of a linear cost
        twice = _with(sc, key, type(now)(2 * now) if isinstance(now, int) else 2.0 * now)
        slope = (cost_summary(twice)["per_account_per_year"] - base) / step
        if slope > 0:
            out.append((label, float(now), now + (target_per_account - base) / slope))
    return out


def _gap(f: dict) -> list[str]:
    """The gap to the published cost by category, against the generic split of IT spend."""
    c, pub = f["cost"], f["published"]["cost"]
    if not pub:
        return []
    acc, cat = c["accounts"], c["breakdown"]["by_category"]
    published_total = pub * acc
    model = {"staff": cat["staff"], "data centres (power + space)": cat["power"] + cat["space"]}
    out = [f"**{f['name']}**: modelled {c['per_account_per_year']:.2f} vs published {pub:g} CNY "
           f"({c['per_account_per_year'] / pub:.2f}x). If the published total followed the generic split:", "",
           "| category | modelled CNY/account | generic share of the published total | gap |", "|---|---|---|---|"]
    for k, share in GENERIC_SPLIT.items():
        out.append(f"| {k} | {model[k] / acc:.2f} | {share * pub:.2f} | {model[k] / acc - share * pub:+.2f} |")
    rest = c["total_per_year"] - sum(model.values())
    out.append(f"| everything else (servers, network, licences, fixed) | {rest / acc:.2f} "
               f"| {(1 - sum(GENERIC_SPLIT.values())) * pub:.2f} "
               f"| {rest / acc - (1 - sum(GENERIC_SPLIT.values())) * pub:+.2f} |")
    levers = levers_needed(f["name"], pub)
    if levers:
        out += ["", "Each assumption alone would need (all others as they are; the cost is linear in each):", "",
                "| assumption | today | needed for the published figure |", "|---|---|---|"]
        out += [f"| {k} | {_num(now) if now >= 10 else f'{now:g}'} | "
                f"{(_num(need) if need >= 10 else f'{need:.2f}') if need > 0 else 'cannot alone'} |"
                for k, now, need in levers]
    return out + [""]


def render_page(figs: list[dict]) -> str:
    """docs/validation.md as text (deterministic for the same inputs)."""
    lines = ["# Validation: the reference banks against published figures", "",
             "<!-- generated by `python -m sim.report.validation` (add --simulate to re-run the availability);",
             "     tests/test_validation_page.py fails when this page or its availability file is stale -->", "",
             "Published figures: ../shared/reference/webank-facts.md (sources in each row). Every input of the",
             "scenarios carries its source or says ASSUMPTION, chosen before running; nothing below was tuned to",
             "a published figure. Availability is request-weighted over one simulated year per replication",
             "(modest replications: the interval says how far to trust it). Capacity needs no simulation.", "",
             *_summary_rows(figs), "",
             f"**Sized by demand** means the capacity with the worst IDC lost is at most {SIZED_HEADROOM:g}x the",
             "peak-hour demand. Above that, the page names what is off by the rule in `sim/report/validation.py`:",
             "when the modelled IT cost is at or below the published one the real fleet is at least as large as",
             "the modelled one, so the **demand** per transaction is too low (each transaction is modelled as",
             "one pass of an app tier and one commit, with CPU measured on the small live bank, where a real",
             "DCN's transfer crosses many systems); otherwise the **fleet** is too large.", "",
             "## Cost: where the gap to the published figure lies", "",
             "WeBank's figure is IT operations and maintenance per account (facts: Caijing 2025), with no public",
             "breakdown. Against the generic split of IT spend (Gartner IT Key Metrics 2021: staff ~36 %, data",
             "centres ~14 %), the modelled categories compare as follows (negative gap: the model spends less).", ""]
    for f in figs:
        lines += _gap(f)
    by = {f["name"]: f["cost"]["per_account_per_year"] for f in figs}
    if "centralized-ioe" in by and "webank-2023" in by:
        lines += [f"**Contrast**: centralized-ioe costs {by['centralized-ioe'] / by['webank-2023']:.1f}x webank-2023 "
                  "per account in the model; the published claim is \"under one tenth of peers\" (>= 10x; facts).", ""]
    lines += ["## Availability: where the gap to the published figure lies", "",
              "The simulated downtime by cause (request-weighted, mean over the replications), against the",
              "measured figure where one is published, else the claim of five nines. What an assumption alone",
              "would need is first order (`sim/report/availability_gap.py` says why and when it holds).", ""]
    for f in figs:
        lines += gap_lines(f["name"], f["availability"], f["published"], f["failures"])
    lines += ["## Fleet and cost of each bank, by environment, category and system", ""]
    for f in figs:
        lines += _breakdown(f)
    return "\n".join(lines).rstrip() + "\n"


def _read_cache() -> dict:
    return json.loads(CACHE.read_text()) if CACHE.exists() else {}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sim.report.validation", description=__doc__.splitlines()[0])
    ap.add_argument("--simulate", action="store_true", help="re-run every bank's availability (else: the stored figures)")
    ap.add_argument("--replications", type=int, default=DEFAULT_REPLICATIONS)
    ap.add_argument("--check", action="store_true", help="exit 1 if the page or the availability file is stale")
    args = ap.parse_args(argv)
    cache = _read_cache()
    if args.simulate:
        from sim.results.writer import atomic_write_text
        cache = {n: simulate_availability(n, args.replications) for n in BANKS}
        atomic_write_text(CACHE, json.dumps(cache, indent=1, sort_keys=True) + "\n")
    figs = [bank_figures(n, cache.get(n)) for n in BANKS]
    page = render_page(figs)
    stale = [n for n in BANKS if cache.get(n, {}).get("scenario_digest") != scenario_digest(_load(n))]
    if args.check:
        bad = stale + (["docs/validation.md"] if not PAGE.exists() or PAGE.read_text() != page else [])
        if bad:
            print(f"validation page stale: {', '.join(bad)} (run python -m sim.report.validation --simulate)",
                  file=sys.stderr)
            return 1
        return 0
    from sim.results.writer import atomic_write_text
    atomic_write_text(PAGE, page)
    if stale:
        print(f"note: availability of {', '.join(stale)} is from an older scenario: re-run with --simulate",
              file=sys.stderr)
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
