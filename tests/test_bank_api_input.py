"""Regression tests for bank API bugs found by the API fuzzer (tests/test_live_fuzz.py), without a cluster.

The gateway runs in-process (Starlette's TestClient, no lifespan) with cells pointing at a closed
port: every case here must be answered at the edge, before anything is forwarded.
"""

from __future__ import annotations

import pytest

pytest.importorskip("aiohttp")  # the gateway's client (the `live` extra)

from starlette.testclient import TestClient  # noqa: E402

from loadtests.bank import gateway  # noqa: E402
from loadtests.bank.openapi import OPENAPI  # noqa: E402
from loadtests.bank.routing import ACCOUNT_RE, KEY_RE  # noqa: E402


@pytest.fixture
def gw():
    app = gateway.create_app({"port": 0, "cells": [["http://127.0.0.1:9"]], "deadline": 0.2})
    return TestClient(app, raise_server_exceptions=True)


@pytest.mark.parametrize("value", ["acct-1\n", "acct-1\r\n", "\nacct-1", "acct 1", ""])
def test_ids_and_keys_match_the_whole_string(value):
    # Python's "$" matches before a trailing newline: "acct-1\n" used to pass
    assert not ACCOUNT_RE.match(value)
    assert not KEY_RE.match("abcdefgh" + value if value else "abcdefg")


@pytest.mark.parametrize("path", ["/accounts/acct-0000000%0A", "/accounts/acct-0000000%0A/transfers",
                                  "/transfers/abcdefghij%0A", "/transfers/abcdefghij?from=acct-1%0A"])
def test_gateway_refuses_a_trailing_newline_before_forwarding(gw, path):
    # before the fix the gateway forwarded "acct-0000000\n", its HTTP client dropped the newline
    # and the answer was acct-0000000's balance under another id
    r = gw.get(path)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid"


def test_405_is_json_and_lists_allowed_methods(gw):
    r = gw.request("TRACE", "/transfers")
    assert r.status_code == 405
    assert r.json()["error"] == "method_not_allowed"
    assert r.headers["allow"] == "POST"


def test_admin_endpoints_without_token_answer_401_json(gw, monkeypatch):
    monkeypatch.setenv("HIVESIM_ADMIN_TOKEN", "s3cret")
    for method, path in (("GET", "/admin/fault"), ("POST", "/admin/fault"), ("POST", "/admin/heal"),
                         ("GET", "/admin/routes")):
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "s3cret"}):
            r = gw.request(method, path, headers=headers, json={"error_rate": 1})
            assert r.status_code == 401 and r.json()["error"] == "unauthorized", (method, path, headers)


def test_openapi_any_json_answers_are_not_error_shaped():
    # _r("ok", {}) used to fall back to the Error schema, so a valid /health answer broke the document
    for path, code in (("/health", "200"), ("/admin/fault", "200"), ("/admin/heal", "200")):
        for op in OPENAPI["paths"][path].values():
            if code in op["responses"]:
                assert op["responses"][code]["content"]["application/json"]["schema"] == {}, path


@pytest.mark.parametrize("raw, expected", [("nan", 5.0), ("inf", 5.0), ("-inf", 5.0), ("1e400", 5.0), ("abc", 5.0),
                                           ("1" * 5000, 5.0), ("2", 2.0), ("-1", 0.05), ("0", 0.05), (None, 5.0)])
def test_app_server_deadline_header_is_a_finite_number_or_ignored(raw, expected):
    # "nan" used to survive min()/max() (comparisons with NaN are false) and end the request in a bare 500
    import time
    from types import SimpleNamespace

    from loadtests.bank import app
    req = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(cfg={"deadline": 5.0})),
                          headers={} if raw is None else {"x-hivesim-deadline": raw})
    t0 = time.monotonic()
    assert app._deadline(req) - t0 == pytest.approx(expected, abs=0.01)
