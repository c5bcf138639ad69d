"""The bank services' warm-spare gate (loadtests.bank.api.serve), without a database.

A spare (``HIVESIM_SPARE`` set by loadtests.cluster.supervisor) reads its config and imports
everything, then waits for a ``go`` line on stdin before it creates the app (database pools) and
binds its port; if stdin closes first it exits 0. Every wait is bounded.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("aiohttp")  # the gateway's client (the `live` extra)

from loadtests.bank import api  # noqa: E402
from loadtests.cluster import supervisor  # noqa: E402


@pytest.fixture
def served(monkeypatch, tmp_path):
    """serve() with a recording create_app and uvicorn_run; -> (run(stdin text), calls)."""
    (tmp_path / "gw.json").write_text(json.dumps({"port": 12345}))
    monkeypatch.setenv("HIVESIM_BANK_CONFIG", str(tmp_path / "gw.json"))
    calls = []
    monkeypatch.delenv("HIVESIM_LISTEN_FD", raising=False)

    def uvicorn_run(app, port, sock=None):
        calls.append(("run", app, port) if sock is None else ("run", app, port, sock.fileno()))
    monkeypatch.setattr(api, "uvicorn_run", uvicorn_run)

    def create_app(cfg):
        calls.append(("create", cfg))
        return "the app"

    def run(stdin: str) -> int:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        return api.serve(create_app, "gateway")
    return run, calls


def test_the_supervisor_and_serve_agree_on_the_name():
    assert api.SPARE_ENV == supervisor.SPARE_ENV == "HIVESIM_SPARE"
    assert api.LISTEN_FD_ENV == supervisor.LISTEN_FD_ENV == "HIVESIM_LISTEN_FD"


def test_under_a_supervisor_holding_the_port_it_serves_on_the_inherited_socket(served, monkeypatch):
    run, calls = served
    held = socket.create_server(("127.0.0.1", 0))
    fd = os.dup(held.fileno())  # serve() owns what it is handed, as a child owns its inherited fd
    monkeypatch.setenv("HIVESIM_LISTEN_FD", str(fd))
    try:
        assert run("") == 0
        assert calls == [("create", {"port": 12345}), ("run", "the app", 12345, fd)]
    finally:
        held.close()


def test_a_spare_waits_for_go_before_it_creates_the_app(served, monkeypatch):
    run, calls = served
    monkeypatch.setenv("HIVESIM_SPARE", "1")
    assert run("go\n") == 0
    assert calls == [("create", {"port": 12345}), ("run", "the app", 12345)]
    assert "HIVESIM_SPARE" not in os.environ  # the live process now


def test_a_spare_whose_stdin_closes_exits_0_without_creating_the_app(served, monkeypatch):
    run, calls = served
    monkeypatch.setenv("HIVESIM_SPARE", "1")
    assert run("") == 0
    assert calls == []


def test_a_normal_start_does_not_read_stdin(served, monkeypatch):
    run, calls = served
    monkeypatch.delenv("HIVESIM_SPARE", raising=False)
    assert run("") == 0  # stdin empty (as /dev/null): served all the same
    assert [c[0] for c in calls] == ["create", "run"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


@pytest.mark.parametrize("go", [False, True])
def test_the_real_gateway_as_a_spare(tmp_path, go):
    # the real module and its imports: no port until go; closed stdin -> exit 0; go -> it listens
    port = _free_port()
    (tmp_path / "gw.json").write_text(json.dumps({"port": port, "cells": [["http://127.0.0.1:9"]], "deadline": 1}))
    env = {**os.environ, "HIVESIM_BANK_CONFIG": str(tmp_path / "gw.json"), "HIVESIM_SPARE": "1"}
    p = subprocess.Popen([sys.executable, "-m", "loadtests.bank.gateway"], stdin=subprocess.PIPE, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        time.sleep(1.5)  # its imports (~0.5 s), then it waits
        assert p.poll() is None and not _listening(port)
        if go:
            p.stdin.write(b"go\n")
            p.stdin.flush()
            end = time.monotonic() + 10
            while not _listening(port):
                assert time.monotonic() < end and p.poll() is None, "the gateway did not listen after go"
                time.sleep(0.02)
        else:
            p.stdin.close()
            assert p.wait(timeout=10) == 0
            assert not _listening(port)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, 9)  # its own session, started here
        p.wait(timeout=10)
