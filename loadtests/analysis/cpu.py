"""CPU used by the live bank during a run, sampled from /proc once a second.

``hivesim calibrate`` derives the bank's service demand from it (CPU seconds per request: the
utilisation law), which latency alone cannot give on a machine the load generator shares.

* **bank CPU**: user + system time of every process of the cluster (``Cluster.all_pids()``:
  etcd, Patroni, postmasters, fault proxies, app servers, gateway, relay, supervisor) and of
  their descendants (PostgreSQL backends, walsenders). The roots are asked again at each sample,
  so a postmaster restarted after a fault is followed. A process's reaped children count too
  (``cutime``/``cstime``): a backend that exits moves its CPU into its postmaster's reading
  instead of out of the sum, so the reading never goes down while the roots live (a benchmark's
  closed connections ending between two readings once read as a negative delta, clamped to 0).
  CPU of a root that exits is lost (its parent is not ours).
* **machine CPU**: the busy fraction of all cores (``/proc/stat``), which includes Locust and
  anything else running on the machine.

Per-second buckets (``per_second_cpu``) interpolate the cumulative samples linearly to the
bucket edges of timeseries.csv (seconds since the load started).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Callable

import numpy as np

__all__ = ["CpuSampler", "process_cpu_seconds", "machine_cpu", "per_second_cpu"]

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat_fields(int(name))
            if st is not None:
                kids.setdefault(int(st[1]), []).append(int(name))
    return kids


def process_cpu_seconds(roots: list[int]) -> float:
    """User + system CPU seconds of ``roots`` and all their descendants: alive ones, and exited
    ones their parent has reaped (the parent's ``cutime`` + ``cstime``)."""
    kids = _children_map()
    seen: set[int] = set()
    todo = [p for p in roots if p]
    total = 0
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        st = _stat_fields(pid)
        if st is None:
            continue
        # utime, stime, cutime, cstime (fields 14-17 of stat): the last two are reaped children's
        total += int(st[11]) + int(st[12]) + int(st[13]) + int(st[14])
        todo.extend(kids.get(pid, ()))
    return total / _TICK


def machine_cpu() -> tuple[float, float]:
    """(busy seconds, total seconds) of all cores since boot (``/proc/stat`` first line)."""
    with open("/proc/stat", encoding="ascii") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)  # idle + iowait
    total = sum(v[:8])  # guest time is already inside user
    return (total - idle) / _TICK, total / _TICK


class CpuSampler:
    """A daemon thread sampling ``(unix time, bank CPU s, machine busy s, machine total s)``."""

    def __init__(self, roots: Callable[[], list[int]], interval: float = 1.0):
        self.roots, self.interval = roots, interval
        self.samples: list[tuple[float, float, float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cpu-sampler", daemon=True)

    def _sample(self) -> None:
        try:
            bank = process_cpu_seconds([p for p in self.roots() if p])
            busy, total = machine_cpu()
        except Exception:  # noqa: BLE001 - a missed sample must not break the run
            return
        self.samples.append((time.time(), bank, busy, total))

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def start(self) -> "CpuSampler":
        self._thread.start()
        return self

    def stop(self) -> list[tuple[float, float, float, float]]:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sample()
        return self.samples


def per_second_cpu(samples, t0: float, duration: float) -> dict[str, np.ndarray]:
    """Per 1 s bucket from ``t0``: ``bank_cpu_s`` (CPU seconds the bank used in that second) and
    ``machine_busy`` (busy fraction of all cores); NaN where the samples do not cover the bucket."""
    n = max(1, int(np.ceil(duration)))
    out = {"bank_cpu_s": np.full(n, np.nan), "machine_busy": np.full(n, np.nan)}
    if len(samples) < 2:
        return out
    s = np.array(sorted(samples), dtype=float)
    t = s[:, 0] - t0
    edges = np.arange(n + 1, dtype=float)
    inside = (edges >= t[0]) & (edges <= t[-1])
    cover = inside[:-1] & inside[1:]
    bank = np.interp(edges, t, np.maximum.accumulate(s[:, 1]))  # a dead process must not make it fall
    busy = np.interp(edges, t, s[:, 2])
    total = np.interp(edges, t, s[:, 3])
    out["bank_cpu_s"][cover] = np.diff(bank)[cover]
    dt = np.diff(total)
    frac = np.divide(np.diff(busy), dt, out=np.full(n, np.nan), where=dt > 0)
    out["machine_busy"][cover] = frac[cover]
    return out
