"""The live bank's CPU sampling (loadtests/analysis/cpu.py) and the demand calibrate derives."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time

import numpy as np

from loadtests.analysis.cpu import CpuSampler, machine_cpu, per_second_cpu, process_cpu_seconds


def _burn(seconds: float) -> None:
    end = time.process_time() + seconds
    x = 0
    while time.process_time() < end:
        x += 1


def test_process_cpu_counts_the_process_and_its_children():
    me = os.getpid()
    before = process_cpu_seconds([me])
    _burn(0.3)
    assert process_cpu_seconds([me]) - before >= 0.25  # clock ticks are 10 ms
    # a child burning CPU is counted through the parent (PostgreSQL backends under the postmaster)
    child = subprocess.Popen([sys.executable, "-c",
                              "import time\nend=time.process_time()+0.4\nwhile time.process_time()<end: pass\n"
                              "time.sleep(30)"])
    try:
        deadline = time.time() + 20
        while time.time() < deadline and process_cpu_seconds([child.pid]) < 0.35:
            time.sleep(0.1)
        own = process_cpu_seconds([me]) - process_cpu_seconds([child.pid])
        assert process_cpu_seconds([child.pid]) >= 0.35
        assert process_cpu_seconds([me]) >= own + 0.35
    finally:
        child.kill()
        child.wait()
    assert process_cpu_seconds([]) == 0 and process_cpu_seconds([2 ** 22 + 7]) == 0  # no such pid


def test_machine_cpu_is_monotone():
    b0, t0 = machine_cpu()
    _burn(0.2)
    b1, t1 = machine_cpu()
    assert 0 < b0 <= t0 and b1 >= b0 + 0.1 and t1 > t0


def test_sampler_thread_collects_and_stops():
    """Sampling a separate process, as in a live run (the bank's processes are not ours; a CPU
    burner in this process's own threads would starve the sampler of the GIL)."""
    child = subprocess.Popen([sys.executable, "-c",
                              "import time\nend=time.process_time()+0.5\nwhile time.process_time()<end: pass\n"
                              "time.sleep(30)"])
    try:
        s = CpuSampler(lambda: [child.pid], interval=0.05).start()
        deadline = time.time() + 20
        while time.time() < deadline and (not s.samples or s.samples[-1][1] < 0.45):
            time.sleep(0.05)
        samples = s.stop()
    finally:
        child.kill()
        child.wait()
    assert len(samples) >= 3
    assert samples[-1][1] - samples[0][1] >= 0.2 and samples[-1][1] >= 0.45
    assert all(b[0] >= a[0] for a, b in zip(samples, samples[1:]))
    assert all(b[1] >= a[1] for a, b in zip(samples, samples[1:]))


def test_per_second_buckets_interpolate_the_cumulative_samples():
    # bank uses 0.5 CPU s per second; the machine (2 cores) is busy 1.2 of every 2 s
    t0 = 1000.0
    samples = [(t0 + 0.5 + k, 10 + 0.5 * (k + 0.5), 100 + 1.2 * k, 500 + 2.0 * k) for k in range(6)]
    out = per_second_cpu(samples, t0, 7)
    bank, busy = out["bank_cpu_s"], out["machine_busy"]
    assert math.isnan(bank[0]) and math.isnan(bank[5]) and math.isnan(bank[6])  # not covered
    assert np.allclose(bank[1:5], 0.5) and np.allclose(busy[1:5], 0.6)
    # a process that exits takes its CPU with it: the cumulative must not fall (counted as 0)
    samples[3] = (samples[3][0], samples[2][1] - 5, samples[3][2], samples[3][3])
    out = per_second_cpu(samples, t0, 7)
    assert np.nanmin(out["bank_cpu_s"]) >= 0
    assert all(math.isnan(v) for v in per_second_cpu(samples[:1], t0, 3)["bank_cpu_s"])


def test_process_cpu_keeps_an_exited_childs_cpu():
    """A child that burns CPU and exits (a backend whose connection closed) stays in its parent's
    reading once reaped: the reading never goes down (a benchmark once read a negative delta)."""
    parent = subprocess.Popen([sys.executable, "-c",
                               "import subprocess, sys, time\n"
                               "c = subprocess.Popen([sys.executable, '-c', "
                               "'import time\\nend=time.process_time()+0.4\\nwhile time.process_time()<end: pass\\n"
                               "time.sleep(1.5)'])\n"
                               "c.wait()\ntime.sleep(30)"])
    try:
        deadline = time.time() + 20
        # the child's burn alone is 0.4 s, less one 10 ms clock tick; the two interpreters' start-up
        # adds 0.03-0.06 s depending on the cache (CI once read 0.44 and waited here for 0.45)
        while time.time() < deadline and process_cpu_seconds([parent.pid]) < 0.39:
            time.sleep(0.05)
        alive = process_cpu_seconds([parent.pid])  # the child burnt its 0.4 s and sleeps, alive
        time.sleep(3)  # the child has exited and been reaped
        kids = [p for p in os.listdir("/proc") if p.isdigit() and _ppid(int(p)) == parent.pid]
        assert kids == []
        assert alive >= 0.39 and process_cpu_seconds([parent.pid]) >= alive
    finally:
        parent.kill()
        parent.wait()


def _ppid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None
