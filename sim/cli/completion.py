"""``hivesim completion bash|zsh|tcsh``: print a shell completion script for hivesim (shtab).

Generated from the argument parser itself by shtab (a small, well-kept library: no completion
code to keep in step by hand), so every command and option completes, and options that take a
file or directory complete paths. Install, for example::

    hivesim completion bash > ~/.local/share/bash-completion/completions/hivesim
    hivesim completion zsh > "${fpath[1]}/_hivesim"
"""

from __future__ import annotations

__all__ = ["register", "cmd_completion", "SHELLS"]

SHELLS = ("bash", "zsh", "tcsh")
_FILES = {"scenario", "files", "run_dir", "runs", "variants", "calibration", "junit", "markdown", "baseline"}
_DIRS = {"out", "results", "cluster_dir"}


def register(sub) -> None:
    p = sub.add_parser("completion", help="print a shell completion script (bash, zsh, tcsh)",
                       description="Print the completion script of hivesim for SHELL on stdout. Install it with "
                                   "hivesim completion bash > ~/.local/share/bash-completion/completions/hivesim "
                                   "(bash) or hivesim completion zsh > \"${fpath[1]}/_hivesim\" (zsh), then "
                                   "open a new shell.")
    p.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    p.set_defaults(func=cmd_completion)


def _mark_paths(parser) -> None:
    """Tell shtab which arguments are files or directories (it completes paths for them)."""
    import argparse

    import shtab
    for action in parser._actions:  # argparse keeps no public list of a parser's actions
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _mark_paths(sub)
        elif action.dest in _FILES:
            action.complete = shtab.FILE
        elif action.dest in _DIRS:
            action.complete = shtab.DIRECTORY


def cmd_completion(args) -> int:
    import shtab

    from sim.cli import build_parser
    parser = build_parser()
    _mark_paths(parser)
    print(shtab.complete(parser, shell=args.shell), end="")
    return 0
