"""Pre-flight: what a validated scenario must pass before anything runs or is written.

Field validation (``sim.scenario``) checks each value and section on its own. This module adds
the checks that need the engines' knowledge, which until now only surfaced mid-run (exit 3,
or exit 2 with a results directory already written):

* **semantic checks**: cell overrides placing members in unknown IDCs, ``app.min_nodes`` above
  ``app.nodes``, ``canary_cells`` beyond the bank, a maintenance window as long as its period,
  a ``peak_factor`` the day profile cannot reach, a profile with no traffic in the horizon,
  request mode on a long horizon without chaos, ``estimator: importance`` without what it
  needs, gates on keys no summary has;
* **a cost estimate**: timeseries buckets, fault events, request-mode requests and memory, each
  refused above a documented limit with the figure and the limit in the message.

``hivesim validate``, ``run`` and ``sweep`` (every variant) all go through ``check``, so
validate says exactly what run would. Errors are located ``ScenarioError`` s (file, line,
field path) when the loaded document is given.
"""

from __future__ import annotations

import math
import os

from sim.errors import HivesimError, ScenarioError
from sim.scenario import Scenario, load_located
from sim.scenario.loader import Located

__all__ = ["check", "load_checked", "estimated_events", "MAX_TIMESERIES_BUCKETS", "MAX_EVENTS",
           "MAX_REQUEST_MEMORY", "MAX_VARIANTS", "MAX_EVENT_ROWS",
           "MAX_OFFERED"]

# Documented limits (docs/scenarios.md, "Limits"). Each is about memory or time on one machine.
MAX_TIMESERIES_BUCKETS = 1_000_000   # rows of timeseries.csv (replication 0): ~200 MB in memory and on disk
MAX_EVENTS = 200_000_000             # expected fault + repair events over all replications (~hours of CPU)
MAX_EVENT_ROWS = 5_000_000           # rows of events.csv (every episode of the first replications): ~1 GB in memory
MAX_REQUEST_MEMORY = 2_000_000_000   # bytes of request mode's per-second buckets (2 arrays x lanes x seconds)
MAX_VARIANTS = 10_000                # variants of one sweep (product of the grid's axis lengths x file variants)
MAX_OFFERED = 2.0 ** 53              # requests offered in one replication: float64 counts them exactly up to here


class _Fail(Exception):
    """One problem at a field path (located by ``check``)."""

    def __init__(self, path: str, message: str):
        super().__init__(message)
        self.path = path


def _cells(sc: Scenario):
    """(template, [(override index, its first cell's merged spec)]) without walking every cell twice."""
    cells = sc.topology.cells
    if not cells.overrides:
        return []
    specs = cells.specs()
    out = []
    for oi, ov in enumerate(cells.overrides):
        idx = ov.indices(cells.count)
        seen = set()
        for i in idx:
            if id(specs[i]) not in seen:
                seen.add(id(specs[i]))
                out.append((oi, specs[i]))
    return out


def _check_topology(sc: Scenario) -> None:
    topo = sc.topology
    known = topo.idc_names
    tpl = topo.cells.template
    if tpl.app.min_nodes > tpl.app.nodes:
        raise _Fail("topology.cells.template.app.min_nodes",
                    f"expected at most app.nodes ({tpl.app.nodes}), got {tpl.app.min_nodes}")
    for oi, spec in _cells(sc):
        base = f"topology.cells.overrides[{oi}].set"
        for tier in ("db", "app"):
            for p in getattr(spec, tier).placement:
                if p not in known:
                    raise _Fail(f"{base}.{tier}.placement",
                                f"unknown IDC {p!r} (known: {', '.join(known)})")
        if spec.app.min_nodes > spec.app.nodes:
            raise _Fail(f"{base}.app.min_nodes",
                        f"expected at most app.nodes ({spec.app.nodes}), got {spec.app.min_nodes}")
    ch = sc.failures.changes
    if ch is not None and ch.canary_cells > topo.cells.count:
        raise _Fail("failures.changes.canary_cells",
                    f"expected at most the bank's {topo.cells.count} cells, got {ch.canary_cells}")
    mt = sc.failures.maintenance
    if mt is not None and mt.duration >= mt.every:
        raise _Fail("failures.maintenance.duration",
                    f"expected a window shorter than its period every ({mt.every:g}s), got {mt.duration:g}s")


def _check_profile(sc: Scenario) -> None:
    from sim.profile import DayProfile
    p = sc.workload.profile
    try:
        prof = DayProfile(p.hourly, p.peak_factor, p.peak_hour)
    except ValueError as exc:
        raise _Fail("workload.profile.hourly" if p.hourly is not None else "workload.profile.peak_factor",
                    str(exc)) from None
    s = sc.simulation
    if prof.cumulative(s.horizon) - prof.cumulative(s.warmup) <= 0:
        raise _Fail("workload.profile.hourly", f"no traffic between warmup ({s.warmup:g}s) and horizon "
                    f"({s.horizon:g}s): every hour in that span has weight 0")


def _check_gates(sc: Scenario) -> None:
    if not sc.gates:
        return  # the gate reader imports scipy (~1 s): only for scenarios that have gates
    from sim.readers.gate import gate_key
    from sim.results.schema import is_known_key
    for i, g in enumerate(sc.gates):
        key = gate_key(g.metric, g.window)
        if not is_known_key(key):
            raise _Fail(f"gates[{i}].metric", f"no summary.json key {key!r} is known "
                        "(see docs/results-contract.md; e.g. availability.request.nines)")


def _check_estimator(sc: Scenario) -> None:
    """``estimator: importance`` refuses what its chains do not model (``sim.rare.scenario``)."""
    if sc.simulation.estimator != "importance" or sc.simulation.mode != "fluid":
        return
    from sim.rare.scenario import unsupported
    bad = unsupported(sc)
    if bad is not None:
        raise _Fail(*bad)


def estimated_events(sc: Scenario) -> float:
    """Expected fault + repair events of one replication (an upper-bound style estimate)."""
    topo, f, H = sc.topology, sc.failures, sc.simulation.horizon
    specs = [topo.cells.template] if not topo.cells.overrides else list(
        {id(s): s for s in topo.cells.specs()}.values())
    # a service's nodes fail as app nodes, its own replicas as db replicas (sim.engine.services)
    per_cell = (max(s.db.replicas + sum((v.db or s.db).replicas for v in s.services if v.database == "own")
                    for s in specs),
                max(s.app.nodes + sum(v.nodes for v in s.services) for s in specs))
    n = {"db": per_cell[0] * topo.cells.count, "app": per_cell[1] * topo.cells.count,
         "gns": topo.gns.replicas if topo.gns else 0, "bus": topo.bus.replicas if topo.bus else 0}
    c = f.components
    rate = 0.0
    if c.server is not None:
        rate += sum(n[r] for r in c.server_roles) / c.server.mean_ttf
    for dist, count in ((c.disk, n["db"]), (c.db_process, n["db"]), (c.app_process, n["app"]),
                        (c.router_node, n["gns"]), (c.bus_node, n["bus"])):
        if dist is not None:
            rate += count / dist.mean_ttf
    servers = sum(n.values())
    racks = math.ceil(servers / topo.servers_per_rack)
    units = {"rack": racks, "power": math.ceil(racks / topo.racks_per_power_domain),
             "idc": len(topo.idc_names), "region": len(topo.regions), "partition": len(topo.idc_names)}
    for kind, count in units.items():
        ev = getattr(f.correlated, kind)
        if ev is not None:
            rate += ev.rate * count
    if f.gray is not None:
        rate += f.gray.rate * (n["db"] + n["app"])
    if f.changes is not None:
        rate += f.changes.deploys
    if f.maintenance is not None:
        rate += topo.cells.count / f.maintenance.every
    return 2.0 * rate * H + 2.0 * len(sc.chaos)  # each fault starts and ends


def _check_cost(sc: Scenario) -> None:
    s = sc.simulation
    offered = sc.workload.transactions_per_day * s.horizon
    if not offered <= MAX_OFFERED:
        raise _Fail("workload.transactions_per_day", f"~{offered:.3g} requests per replication over the "
                    f"horizon (limit {MAX_OFFERED:.3g}: counts beyond it are not exact)")
    if s.mode == "request":
        _check_request_cost(sc)
        return
    buckets = (s.horizon - s.warmup) / s.timeseries_step
    if buckets > MAX_TIMESERIES_BUCKETS:
        raise _Fail("simulation.timeseries_step", f"the horizon needs {buckets:.3g} timeseries buckets "
                    f"(limit {MAX_TIMESERIES_BUCKETS:,}); raise timeseries_step or shorten the horizon")
    events = estimated_events(sc) * s.replications
    if events > MAX_EVENTS:
        raise _Fail("simulation.horizon", f"~{events:.3g} fault events over {s.replications} replications "
                    f"(limit {MAX_EVENTS:.0e}); shorten the horizon or lower simulation.replications")
    from sim.engine.episodes import DETAIL_REPLICATIONS
    rows = estimated_events(sc) / 2 * min(s.replications, DETAIL_REPLICATIONS)
    if rows > MAX_EVENT_ROWS:
        raise _Fail("simulation.horizon", f"~{rows:.3g} rows of events.csv (every fault episode of the first "
                    f"{DETAIL_REPLICATIONS} replications; limit {MAX_EVENT_ROWS:,}); shorten the horizon")


def _check_request_cost(sc: Scenario) -> None:
    from sim.request.mode import MAX_REQUESTS, request_windows, window_requests, window_specs
    for i, c in enumerate(sc.chaos):
        if c.at >= sc.simulation.horizon:
            raise _Fail(f"chaos[{i}].at", f"{c.at:g}s is beyond the horizon ({sc.simulation.horizon:g}s)")
    try:
        windows = request_windows(sc)
    except HivesimError as exc:
        raise _Fail("simulation.mode", str(exc).removeprefix("simulation.mode: ")) from None
    R = sc.simulation.replications
    seconds = sum(math.ceil(b - a) for a, b in windows)
    memory = 2 * 8 * seconds * R
    if memory > MAX_REQUEST_MEMORY:
        raise _Fail("simulation.horizon", f"request mode needs ~{memory:.3g} bytes of per-second buckets "
                    f"({seconds} s x {R} replications; limit {MAX_REQUEST_MEMORY:.0e})")
    for t0, t1 in windows:
        expected = window_requests(window_specs(sc, (t0, t1)), (t0, t1)) * R
        if expected > MAX_REQUESTS:
            raise _Fail("simulation.replications", f"request mode: window {t0:g}-{t1:g}s holds ~{expected:.3g} "
                        f"requests over {R} replications (limit {MAX_REQUESTS:.0e}); lower "
                        "simulation.replications, the horizon or the load")


def check(sc: Scenario, doc: Located | None = None, *, simulation: bool = True) -> Scenario:
    """Raise the first problem as a one-line ``ScenarioError`` (located through ``doc``); else ``sc``.

    ``simulation=False`` (the live bank: cluster, live, check) skips what only the simulator
    needs (the estimator and the cost of the ``simulation:`` section).
    """
    try:
        _check_topology(sc)
        _check_profile(sc)
        _check_gates(sc)
        if simulation:
            _check_estimator(sc)
            _check_cost(sc)
    except _Fail as exc:
        file, line = doc.where(exc.path) if doc is not None else (None, None)
        raise ScenarioError(str(exc), file=file, line=line, path=exc.path) from None
    return sc


def load_checked(path: str | os.PathLike | None = None, sets: list[str] | None = None, *,
                 simulation: bool = True) -> Scenario:
    """``sim.scenario.load_scenario`` followed by ``check``: what validate, run and sweep accept."""
    sc, doc = load_located(path, sets)
    return check(sc, doc, simulation=simulation)
