"""The ``hivesim`` command line.

Each subcommand lives in its own module of this package exposing ``register(subparsers)``,
which adds its parser and sets ``func``. ``main`` turns ``HivesimError`` into a one-line
message with its exit code (2 = bad input, 1 = gate breached or data lost, 0 = success):
users never see a traceback for their own mistakes.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from sim.errors import HivesimError

__all__ = ["main", "build_parser", "COMMANDS"]

# order = order in --help; add a module here to add a subcommand
COMMANDS = ["run", "validate", "schema", "report", "compare", "gate", "sweep", "sensitivity", "bench",
            "cluster", "live", "check", "calibrate", "predict", "completion"]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line and exit 2, like every other bad input
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from sim import __version__
    parser = _Parser(prog="hivesim", description="High-availability simulator and chaos benchmark "
                     "for cell-based distributed banks.")
    parser.add_argument("--version", action="version", version=f"hivesim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f"sim.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code = args.func(args)
    except HivesimError as exc:
        print(f"hivesim: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("hivesim: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)
