"""Small helpers shared by the benchmarks: timing, medians, child processes with their peak RSS."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["ROOT", "timed", "median", "run_child", "figure"]

ROOT = Path(__file__).resolve().parents[1]


def timed(fn, *args, **kwargs):
    """(result, wall seconds) of one call."""
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def figure(value, target, op, **details) -> dict:
    """The JSON shape of one figure; ``op`` is '>=' or '<='."""
    ok = value is not None and (value >= target if op == ">=" else value <= target)
    return {"value": value, "target": target, "op": op, "pass": bool(ok), **details}


def run_child(code: str, timeout: float = 1800.0) -> dict:
    """Run ``code`` in a fresh interpreter (repo root on the path) and return the JSON it prints
    last (with ``CHILD_FOOTER`` appended, that includes the child's own ``peak_rss_mib``)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, cwd=str(ROOT), text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"child failed ({proc.returncode}): {err.strip().splitlines()[-1] if err.strip() else ''}")
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1])


# The child reports its own peak RSS as VmHWM from /proc/self/status: the high-water mark of
# its address space since exec. (getrusage's ru_maxrss is not usable here: Linux folds the
# parent's RSS at fork into the child's maxrss, so every child would "peak" at the parent's size.)
CHILD_FOOTER = """
import json as _j
_hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
print(_j.dumps({**_out, "peak_rss_mib": int(_hwm) / 1024}))
"""
