"""Command-line options that several commands share, spelled and handled in one place.

``--cluster-dir DIR``: the directory of a live cluster (data, logs, ``cluster.json``), used by
``hivesim live``, ``hivesim cluster`` and ``hivesim check``. ``cluster`` and ``check`` used to
call it ``--run-dir``, which elsewhere in hivesim means a *results* directory; that spelling
still works for now and prints one deprecation line on stderr.

``--json``: every command that produces a result can print it as one JSON document on stdout
(``add_json``, ``print_json``: NaN and infinity as null, like summary.json), with progress and
notes on stderr, so ``hivesim gate RUN --json | jq .passed`` works in CI.

``--scheduler tcp://HOST:PORT`` (``add_scheduler``, ``scheduler_of``): run the replications of
``hivesim run`` and ``hivesim sweep`` on a Dask distributed cluster (docs/scale-out.md). The
option wins over the ``HIVESIM_SCHEDULER`` environment variable; a malformed address, in either,
is refused before anything runs (exit 2). ``--workers`` sizes the local pool only, so giving it
with a scheduler is refused too.

``plain(text)``: a docstring made into help text (no RST double backticks).
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_cluster_dir", "add_json", "print_json", "plain", "add_scheduler", "scheduler_of"]


class _DeprecatedAlias(argparse.Action):
    """Stores the value like the new option, after one line on stderr naming the new spelling."""

    def __init__(self, option_strings, dest, new: str, **kw):
        self.new = new
        super().__init__(option_strings, dest, **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"hivesim: warning: {option_string} is deprecated, use {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_cluster_dir(parser: argparse.ArgumentParser, default: str, *, old: str | None = None) -> None:
    """Add ``--cluster-dir`` (into ``args.cluster_dir``); ``old``: a deprecated spelling kept working."""
    parser.add_argument("--cluster-dir", metavar="DIR",
                        help=f"directory of the live cluster: data, logs, cluster.json (default: {default})")
    if old:
        parser.add_argument(old, dest="cluster_dir", metavar="DIR", action=_DeprecatedAlias, new="--cluster-dir",
                            help=argparse.SUPPRESS)


def add_json(parser: argparse.ArgumentParser, what: str) -> None:
    """Add ``--json`` (into ``args.json``): print ``what`` as one JSON document instead of the table."""
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON on stdout instead of the table".replace("%", "%%"))


def print_json(obj) -> None:
    """``obj`` as one JSON document on stdout (NaN/inf as null, numpy scalars as numbers)."""
    from sim.results.writer import dumps_json
    sys.stdout.write(dumps_json(obj))
    sys.stdout.flush()


def plain(text: str) -> str:
    """Help text from a docstring: RST markup (double backticks, ``::``) removed."""
    return text.replace("``", "").replace("::", ":")


def _scheduler_address(text: str) -> str:
    from sim.executors import parse_scheduler
    try:
        return parse_scheduler(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_scheduler(parser: argparse.ArgumentParser, what: str) -> None:
    """Add ``--scheduler`` (into ``args.scheduler``, checked as it is parsed)."""
    from sim.executors import CONNECT_TIMEOUT_S, SCHEDULER_ENV
    parser.add_argument("--scheduler", metavar="tcp://HOST:PORT", type=_scheduler_address,
                        help=f"run {what} on this Dask scheduler (needs hivesim[dist]; default: ${SCHEDULER_ENV}, "
                             f"else the local process pool); unreachable within {CONNECT_TIMEOUT_S} s: exit 2; "
                             f"see docs/scale-out.md")


def scheduler_of(args) -> str | None:
    """The scheduler to use: ``--scheduler``, else ``HIVESIM_SCHEDULER``, else None (local pool)."""
    from sim.errors import HivesimError
    from sim.executors import SCHEDULER_ENV, scheduler_from_env
    scheduler = args.scheduler or scheduler_from_env()
    if scheduler and getattr(args, "workers", None) is not None:
        source = "--scheduler" if args.scheduler else SCHEDULER_ENV
        raise HivesimError(f"--workers sizes the local process pool; with {source} ({scheduler}) the cluster's "
                           f"workers run the replications: give one of them")
    return scheduler
