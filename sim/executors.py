"""Where replications run: the local process pool or a Dask distributed cluster.

``run``, ``sweep`` (and sensitivity) build a list of ``Task``s, each a chunk of consecutive
replications of one scenario (or one whole simulation, for request mode), and hand the list
to an executor opened with ``open_executor``: ``LocalPool`` (``workers`` processes, or this
process when ``workers`` is 1) or ``DaskCluster`` (``scheduler="tcp://host:port"``, which the
CLI takes from ``--scheduler`` or ``HIVESIM_SCHEDULER``, or a ``distributed.Client``). Both yield every
task's result as it completes, so the caller streams progress; every task of every scenario
goes out as one batch (one ``client.map`` and one ``as_completed`` over every chunk), so a
sweep's variants share the cluster instead of running one after another.

Results never depend on where or in how many chunks replications run: each replication has
its own seeded generator (``SeedSequence(seed)`` child ``index``) and callers put results back
in replication order. ``chunk_size`` sizes chunks at ~4 per worker over the whole batch, so
task overhead stays small and the last chunks still balance.

Dask is the optional ``dist`` extra (pyproject.toml). Bad scheduler setups are bad input: one
line, exit 2, before anything is written: the extra missing; an address that is not
``tcp://HOST:PORT`` or ``tls://HOST:PORT`` (``parse_scheduler``); a scheduler not reached
within ``CONNECT_TIMEOUT_S`` seconds; no worker within the same bound; a worker whose hivesim
(version and a digest of its code) or numpy differs from this one's (it would give other
numbers).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from sim.errors import HivesimError

__all__ = ["usable_cpus", "Task", "LocalPool", "DaskCluster", "open_executor", "parse_scheduler", "scheduler_from_env",
           "chunk_size", "chunks", "SCHEDULER_ENV", "CONNECT_TIMEOUT_S", "LOCAL_NAME", "CHUNKS_PER_WORKER"]

SCHEDULER_ENV = "HIVESIM_SCHEDULER"
CONNECT_TIMEOUT_S = 10      # connecting to the scheduler, then waiting for a first worker
LOCAL_NAME = "local-process-pool"   # run.scheduler of a run that did not use Dask
CHUNKS_PER_WORKER = 4       # chunks per worker over the whole batch: small overhead, balanced tail


@dataclass(frozen=True)
class Task:
    """One unit of work: ``fn(scenario, *args)``; ``fn`` is a module-level function (pickled by
    reference, so a Dask worker imports it from its own hivesim)."""

    fn: Callable
    scenario: object
    args: tuple = ()


def _call(task: Task):
    """Run one task (what a Dask worker is sent: the task, pickled with its function's name)."""
    return task.fn(task.scenario, *task.args)


def usable_cpus() -> int:
    """The CPUs this process may run on: its affinity mask where the OS has one (a container's
    cpuset, ``taskset``), else ``os.cpu_count()``. What ``workers: auto`` and the report's plot
    pool count, so neither starts more processes than can run at once."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


# --------------------------------------------------------------------------- chunks
def chunk_size(total: int, workers: int) -> int:
    """Replications per chunk for ``total`` replications over ``workers`` slots."""
    return max(1, math.ceil(total / (max(1, workers) * CHUNKS_PER_WORKER)))


def chunks(n: int, size: int) -> list[list[int]]:
    """``range(n)`` cut into consecutive lists of at most ``size`` indices."""
    return [list(range(i, min(n, i + size))) for i in range(0, n, size)]


# --------------------------------------------------------------------------- the scheduler address
def parse_scheduler(text: str) -> str:
    """``tcp://HOST:PORT`` or ``tls://HOST:PORT`` (port 1-65535), stripped; ValueError otherwise."""
    raw = (text or "").strip()
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if (parts is None or parts.scheme not in ("tcp", "tls") or not parts.hostname or port is None
            or not 1 <= port <= 65535 or parts.path or parts.query or parts.fragment or "@" in parts.netloc):
        raise ValueError(f"expected tcp://HOST:PORT or tls://HOST:PORT, got {text!r}")
    return raw


def scheduler_from_env() -> str | None:
    """``HIVESIM_SCHEDULER`` checked like ``--scheduler`` (None when unset or empty)."""
    raw = os.environ.get(SCHEDULER_ENV, "").strip()
    if not raw:
        return None
    try:
        return parse_scheduler(raw)
    except ValueError as exc:
        raise HivesimError(f"{SCHEDULER_ENV}: {exc}") from None


# --------------------------------------------------------------------------- local
class LocalPool:
    """``workers`` local processes (``concurrent.futures``); one worker runs in this process."""

    def __init__(self, workers: int):
        self.workers = max(1, int(workers))
        self.name = LOCAL_NAME

    def run(self, tasks: Sequence[Task]) -> Iterator[tuple[int, object, BaseException | None]]:
        """``(task index, result, None)`` or ``(index, None, exception)`` as tasks complete."""
        if self.workers <= 1 or len(tasks) <= 1:
            for i, t in enumerate(tasks):  # in order, in this process: no pickling, no pool start-up
                try:
                    res = _call(t)
                except Exception as exc:  # noqa: BLE001 - the caller decides what a failed task means
                    yield i, None, exc
                else:
                    yield i, res, None
            return
        pool = ProcessPoolExecutor(max_workers=min(self.workers, len(tasks)))
        try:
            futs = {pool.submit(_call, t): i for i, t in enumerate(tasks)}
            for f in as_completed(futs):
                exc = f.exception()
                yield futs[f], (None if exc else f.result()), exc
        finally:
            # an error or an interrupt in the caller: drop the chunks not started yet
            pool.shutdown(wait=True, cancel_futures=True)


# --------------------------------------------------------------------------- Dask
@lru_cache(maxsize=1)
def code_identity() -> tuple[str, str, str]:
    """(hivesim version, digest of the ``sim`` package's Python files, numpy version): what must
    match between this process and every worker for the numbers to match."""
    import numpy

    from sim import __version__
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return __version__, h.hexdigest()[:12], numpy.__version__


def _import_distributed():
    # Dask is the optional ``dist`` extra: its absence is the user's setup, not a bug, so it gets
    # one line saying what to install. No other import in hivesim is guarded.
    try:
        import distributed
    except ModuleNotFoundError as exc:
        if exc.name not in ("distributed", "dask"):
            raise  # Dask is installed but broken: show the real error
        raise HivesimError("--scheduler runs replications on Dask, an optional extra: install hivesim[dist] "
                           "(pip install 'hivesim[dist]')") from None
    return distributed


class DaskCluster:
    """A Dask distributed cluster reached through its scheduler (an address or a ``Client``)."""

    def __init__(self, scheduler, timeout: float | None = None):
        timeout = CONNECT_TIMEOUT_S if timeout is None else timeout
        distributed = _import_distributed()
        self._own = not isinstance(scheduler, distributed.Client)
        if self._own:
            self.name = parse_scheduler(scheduler) if isinstance(scheduler, str) else str(scheduler)
            try:
                self.client = distributed.Client(self.name, timeout=f"{timeout}s", set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise HivesimError(f"Dask scheduler {self.name}: cannot connect within {timeout:g} s ({exc})") from None
        else:
            self.client = scheduler
            self.name = scheduler.scheduler.address
        try:
            self._check_workers(timeout)
        except BaseException:
            self.close()
            raise

    def _check_workers(self, timeout: float) -> None:
        try:
            self.client.wait_for_workers(1, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            raise HivesimError(f"Dask scheduler {self.name}: no worker connected within {timeout:g} s ({exc}); "
                               f"start one with: dask worker {self.name}") from None
        mine = code_identity()
        try:
            theirs = self.client.run(code_identity, on_error="return")
        except Exception as exc:  # noqa: BLE001 - any failure here means the workers cannot run hivesim
            raise HivesimError(f"Dask scheduler {self.name}: the workers cannot run hivesim ({type(exc).__name__}: "
                               f"{exc}); install hivesim {mine[0]} on every worker") from None
        for worker, ident in sorted(theirs.items()):
            if isinstance(ident, BaseException) or tuple(ident) != mine:
                found = f"{type(ident).__name__}: {ident}" if isinstance(ident, BaseException) else \
                    "hivesim {} (code {}), numpy {}".format(*ident)
                raise HivesimError(f"Dask scheduler {self.name}: worker {worker} runs {found}, this machine hivesim "
                                   f"{mine[0]} (code {mine[1]}), numpy {mine[2]}; install the same versions on "
                                   f"every worker (their numbers would differ)")
        self.workers = max(1, sum(self.client.nthreads().values()))

    def run(self, tasks: Sequence[Task]) -> Iterator[tuple[int, object, BaseException | None]]:
        """``(task index, result, None)`` or ``(index, None, exception)`` as tasks complete."""
        from distributed import as_completed as dask_completed
        # one client.map of every task (pure=False: two equal chunks are still two tasks)
        futs = self.client.map(_call, list(tasks), pure=False)
        index = {f.key: i for i, f in enumerate(futs)}
        try:
            for f in dask_completed(futs, loop=self.client.loop):
                exc = f.exception() if f.status == "error" else None
                yield index[f.key], (None if exc else f.result()), exc
                f.release()  # the result is ours now: free the worker's copy
        finally:
            self.client.cancel([f for f in futs if not f.done()])

    def close(self) -> None:
        if self._own:
            self.client.close()


@contextmanager
def open_executor(scheduler=None, workers: int = 1):
    """``LocalPool(workers)`` when ``scheduler`` is None, else ``DaskCluster(scheduler)`` (connected
    and checked here, so a bad scheduler fails before any work or any file)."""
    if scheduler is None:
        yield LocalPool(workers)
        return
    ex = DaskCluster(scheduler)
    try:
        yield ex
    finally:
        ex.close()
