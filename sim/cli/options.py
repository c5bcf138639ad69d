"""Command-line options that several commands share, spelled and handled in one place.

``--cluster-dir DIR``: the directory of a live cluster (data, logs, ``cluster.json``), used by
``hivesim live``, ``hivesim cluster`` and ``hivesim check``. ``cluster`` and ``check`` used to
call it ``--run-dir``, which elsewhere in hivesim means a *results* directory; that spelling
still works for now and prints one deprecation line on stderr.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_cluster_dir"]


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
