"""``hivesim live``: one live chaos benchmark run, from scenario to results directory.

Steps (each one logged):

1. bring the scenario's bank up (``loadtests.cluster.Cluster``) in a run directory of its own,
   seed its accounts, write the accounts file the Locust users read;
2. start Locust headless as a subprocess (``loadtests/load/loadrun.py``) with the scenario's mix and
   load shape (``live.load``); the run's clock starts with the first request;
3. play the ``chaos:`` schedule against the cluster (``loadtests/chaos/injector.py``);
4. when the shape ends: lift every fault still held, wait for the cells to be healthy again,
   run the checker (``loadtests/checker.py``): history against the bank's final state;
5. tear the cluster down (by PID; nothing left behind), analyse the per-request records
   (recovery per fault, per-second series) and write ``results/<scenario>/<run-id>/``
   atomically (summary.json, scenario.yaml, events.csv, timeseries.csv, checker.json,
   locust_*.csv, locust.html, the raw records).

A failed run still writes its directory, with ``run.status: failed`` and the error. The exit code
is 1 when the checker found a violation (the explanation is printed), 0 otherwise.
"""

from __future__ import annotations

import glob
import json
import os
import secrets
import time
import traceback
from dataclasses import dataclass
from typing import Callable

from loadtests.analysis.cpu import CpuSampler, per_second_cpu
from loadtests.analysis.records import read_requests, read_transfers
from loadtests.analysis.recovery import analyse_faults, per_second
from loadtests.analysis.summary import build_summary, events_rows
from loadtests.load.loadrun import LoadSpec, run_locust
from sim.results.schema import LIVE_EVENTS_COLUMNS, LIVE_TIMESERIES_COLUMNS, run_block, utc_iso
from sim.results.writer import StagedDir, csv_text, scenario_yaml, write_json

__all__ = ["LiveOptions", "LiveOutcome", "run_live", "load_spec_for", "wait_first_request"]

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class LiveOptions:
    scenario_file: str | None = None
    results_root: str = "results"
    out: str | None = None             # exact results directory (default results/<name>/<run-id>)
    run_id: str | None = None
    workers: int = 0                   # Locust workers (0 = one local process)
    keep_cluster: bool = False
    cluster_dir: str | None = None
    steady: float = 3.0                # seconds of success that count as "recovered"
    settle: float = 60.0               # seconds the checker waits for the relay / replicas


@dataclass
class LiveOutcome:
    run_dir: str
    summary: dict
    exit_code: int
    explanation: str


def load_spec_for(scenario, host: str, work: str, accounts_file: str, workers: int = 0) -> LoadSpec:
    """The Locust run the scenario asks for (``live.load``, ``workload.mix`` and ``.profile``)."""
    from sim.scenario.live import Live
    live = scenario.live or Live()
    load, mix, prof = live.load, scenario.workload.mix, scenario.workload.profile
    return LoadSpec(host=host, duration=float(load.duration), users=int(load.users), rate=float(load.rate),
                    shape=load.shape, mix=tuple(mix.shares().values()), hourly=prof.hourly,
                    peak_factor=prof.peak_factor, peak_hour=prof.peak_hour,
                    steps=getattr(load, "steps", "") or "", accounts_file=accounts_file,
                    record_dir=os.path.join(work, "records"), csv_prefix=os.path.join(work, "locust"),
                    html=os.path.join(work, "locust.html"),
                    op_deadline=live.retry.client_deadline_for(live.gateway_deadline), retry=live.retry,
                    timeout=live.retry.client_timeout_for(live.gateway_deadline), seed=scenario.simulation.seed % 2**31 or 1,
                    workers=workers)


def wait_first_request(record_dir: str, proc_alive: Callable[[], bool], timeout: float = 60.0) -> float:
    """Wall-clock time of the first request (the run's t=0), polling the record files."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc_alive():
        for path in glob.glob(os.path.join(record_dir, "requests-*.csv")):
            try:
                with open(path, encoding="utf-8") as f:
                    f.readline()
                    first = f.readline()
                if first.strip():
                    return float(first.split(",")[0])
            except (OSError, ValueError):
                pass
        time.sleep(0.1)
    return time.time()


def run_live(scenario, opts: LiveOptions, log: Callable[[str], None] = print) -> LiveOutcome:
    """One live run; see the module docstring."""
    from loadtests.bank.routing import account_id, cell_of
    from loadtests.chaos.adapter import ClusterAdapter, member_dsns
    from loadtests.chaos.injector import Injector
    from loadtests.checker import run_checker
    from loadtests.cluster import Cluster, check_prerequisites
    from sim.errors import HivesimError
    from sim.scenario.live import Live

    from loadtests.chaos.targets import check_schedule
    check_schedule(scenario)  # bad input fails before anything starts
    missing = check_prerequisites()
    if missing:
        raise HivesimError("hivesim live needs: " + "; ".join(missing))
    live = scenario.live or Live()
    t_start = time.time()  # the run id and run.started_utc (ISO 8601) name the same second
    run_id = opts.run_id or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t_start)) + "-" + secrets.token_hex(2)
    final = os.path.abspath(opts.out or os.path.join(opts.results_root, scenario.name, run_id))
    # the run is assembled in a hidden sibling, renamed into place at the end (never overwrites);
    # a run that dies half-way leaves the staging directory for inspection
    stage = StagedDir(final)
    work = str(stage.path)
    started = utc_iso(t_start)
    wall0 = time.monotonic()
    cluster = Cluster(scenario, run_dir=opts.cluster_dir or f"/tmp/hivesim-live-{scenario.name}-{run_id}")
    faults: list[dict] = []
    checker_dict: dict | None = None
    explanation, error, status = "", None, "ok"
    t0 = time.time()
    duration = float(live.load.duration)
    episodes = []
    cpu = None
    try:
        log(f"live: bringing up {scenario.name} ({scenario.topology.cells.count} cells) in {cluster.run_dir}")
        secs = cluster.up(seed=True)
        log(f"live: cluster up in {secs:.1f}s, gateway {cluster.gateway_url}")
        seeded = cluster.state["seeded"]
        initial = {account_id(i): seeded["initial_balance"] for i in range(seeded["accounts"])}
        accounts_file = os.path.join(work, "accounts.json")
        with open(accounts_file, "w", encoding="utf-8") as f:
            json.dump({a: {"cell": cell_of(a, cluster.cells), "balance": b} for a, b in initial.items()}, f)
        spec = load_spec_for(scenario, cluster.gateway_url, work, accounts_file, opts.workers)
        injector = Injector(ClusterAdapter(cluster, scenario), scenario.chaos, log=log)
        log(f"live: load {spec.shape} {spec.users} users, {spec.rate:g} req/s peak, {spec.duration:g}s; "
            f"{len(scenario.chaos)} faults scheduled")

        import threading
        result: dict = {}
        th = threading.Thread(target=lambda: result.update(r=run_locust(spec, os.path.join(work, "locust.log"),
                                                                           cwd=REPO_ROOT)), daemon=True)
        cpu = CpuSampler(cluster.all_pids).start()  # the bank's CPU: calibrate's service demand
        th.start()
        t0 = wait_first_request(spec.record_dir, th.is_alive)
        injector.start(t0)
        th.join()
        cpu.stop()
        episodes = injector.finish()
        lr = result.get("r")
        if lr is None or lr.returncode != 0:
            raise HivesimError(f"Locust failed (exit {getattr(lr, 'returncode', '?')}); see {work}/locust.log")
        log("live: load done; waiting for every cell to be healthy before checking")
        not_ready: list[str] = []
        try:
            cluster.wait_ready(timeout=60)
        except HivesimError as exc:
            log(f"live: {exc} (checking anyway)")
            cells = [str(c) for c in range(cluster.cells) if not cluster.cell_ready(c)]
            not_ready.append(f"members not ready 60s after the load: cell(s) {', '.join(cells) or '-'} without "
                             f"a running leader and its synchronous standbys" if cells else str(exc))
        history = read_transfers(spec.record_dir)
        # bounded: a stuck bank ends the check with what was seen (issue 15), never waits forever
        res = run_checker(cluster.gateway_url, history, initial, member_dsns(cluster), settle=opts.settle,
                          replica_wait=opts.settle, log=log, timeout=float(live.checker_timeout), stuck=not_ready)
        checker_dict = res.to_dict()
        explanation = res.explain()
        log(explanation)
    except KeyboardInterrupt:
        status, error = "failed", "interrupted"
        raise
    except Exception as exc:  # a failed run still leaves its config and the error in its result
        status, error = "failed", f"{type(exc).__name__}: {exc}"
        log(f"live: run failed: {error}")
        (open(os.path.join(work, "error.txt"), "w")).write(traceback.format_exc())
    finally:
        if not opts.keep_cluster:
            try:
                # keep the cluster's logs when anything went wrong, the checker's verdict included
                keep = status != "ok" or (checker_dict is not None and not checker_dict.get("valid", False))
                down = cluster.down(keep=keep)
                log(f"live: cluster down ({down['stopped']} processes, {down['seconds']}s)"
                    + (f"; its logs kept in {cluster.run_dir}/logs" if keep else ""))
            except Exception as exc:  # noqa: BLE001 - report, the results are still written
                log(f"live: teardown problem: {exc}")
                error = (error + "; " if error else "") + f"teardown: {exc}"
                status = "failed"
        else:
            log(f"live: cluster kept running in {cluster.run_dir} (hivesim cluster down SCENARIO --cluster-dir DIR)")

    rows = read_requests(os.path.join(work, "records"))
    slow_ms = float(scenario.slo.latency) * 1000
    faults = analyse_faults(rows, t0, episodes, duration, slow_ms, opts.steady) if episodes else []
    series = per_second(rows, t0, duration, slow_ms, episodes)
    if cpu is not None:
        per_cpu = per_second_cpu(cpu.samples, t0, duration)
        for i, row in enumerate(series):
            for key, col in per_cpu.items():
                v = col[i] if i < len(col) else float("nan")
                row[key] = "" if v != v else round(float(v), 4)  # NaN (not sampled) -> empty
    run = run_block(scenario, status=status, error=error or None, run_id=run_id, replications=1,
                    horizon_days=duration / 86400, warmup_days=0.0, mode="live",
                    wall_seconds=round(time.monotonic() - wall0, 2), scenario_file=opts.scenario_file,
                    workers=opts.workers, started_utc=started, load_started_unix=t0, duration_seconds=duration,
                    cpu_cores=os.cpu_count())
    sc_dump = scenario.model_dump(mode="json")
    summary = build_summary(rows=rows, series=series, faults=faults, checker=checker_dict, duration=duration,
                            run=run, scenario=sc_dump)
    write_json(os.path.join(work, "summary.json"), summary)
    if checker_dict is not None:
        write_json(os.path.join(work, "checker.json"), checker_dict)
    with open(os.path.join(work, "scenario.yaml"), "w", encoding="utf-8") as f:
        f.write(scenario_yaml(sc_dump, "hivesim live"))
    with open(os.path.join(work, "events.csv"), "w", encoding="utf-8", newline="") as f:
        f.write(csv_text(events_rows(faults), LIVE_EVENTS_COLUMNS))
    with open(os.path.join(work, "timeseries.csv"), "w", encoding="utf-8", newline="") as f:
        f.write(csv_text(series, LIVE_TIMESERIES_COLUMNS))
    stage.commit()  # a name taken meanwhile: ResultsError, results left in the staging directory
    log(f"live: results in {final}")
    # 1 = data lost (checker) or the run itself failed; 0 = a verdict and it is clean
    code = 0 if status == "ok" and checker_dict is not None and checker_dict["valid"] else 1
    return LiveOutcome(final, summary, code, explanation or (error or ""))

