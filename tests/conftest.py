"""Shared test helpers: build small scenarios from YAML text."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args, cwd=None, timeout=300):
    """Run ``python -m sim ARGS`` as a user would; return the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "sim", *map(str, args)], cwd=cwd or ROOT,
                          capture_output=True, text=True, timeout=timeout)


def require_live() -> None:
    """Skip (or, with HIVESIM_REQUIRE_LIVE=1 as in CI, fail) when the live stack is missing."""
    import os

    from loadtests.cluster import check_prerequisites
    missing = check_prerequisites()
    if missing:
        msg = "live cluster prerequisites missing: " + "; ".join(missing)
        if os.environ.get("HIVESIM_REQUIRE_LIVE") == "1":
            pytest.fail(msg + " (HIVESIM_REQUIRE_LIVE=1)")
        pytest.skip(msg)


@pytest.fixture
def cli():
    return run_cli
