"""API fuzzing of the live bank (issue 15 item 4): schemathesis against its OpenAPI document.

A 1-cell bank (scenarios/live-smoke.yaml, no chaos) is started on 127.0.0.1; schemathesis reads
``GET /openapi.json`` from the gateway and generates, per operation, a fixed number of schema-valid
(positive) and schema-violating (negative) requests, derandomized, sent to the gateway and to the
cell's app server (both serve the same API). Some generated requests are pointed at seeded
accounts, so that transfers really move money, overdraw, or repeat keys.

Asserted, over every response: no 5xx; every 4xx is a JSON object with a string ``error``
(docs/live-api.md); the admin/fault endpoints answer 401 with a JSON body, because the fuzzer is
never given the admin token (with it, one generated ``POST /admin/fault`` of error_rate 1 and
latency 600 s would take the bank down for the rest of the run); and the bank's audit total
after the relay drained equals the total before plus the balances of the accounts the fuzzer
created (201): rejected requests moved no money, accepted transfers conserved it.

Figures (examples, operations, statuses, seconds) are printed (``pytest -s``) and must stay under
the time bound. Skipped without etcd/Patroni/PostgreSQL (unless HIVESIM_REQUIRE_LIVE=1) or schemathesis.
"""

from __future__ import annotations

import collections
import json
import os
import time
import uuid

import httpx
import pytest
import requests

if os.environ.get("HIVESIM_REQUIRE_LIVE") == "1":  # CI: a missing fuzzer is a failure, not a skip
    import schemathesis
else:
    schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402

from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,  # noqa: E402
                                               status_code_conformance)

from loadtests.bank.openapi import OPENAPI  # noqa: E402
from loadtests.bank.routing import account_id  # noqa: E402
from loadtests.cluster import Cluster  # noqa: E402
from sim.scenario import load_scenario  # noqa: E402
from tests.conftest import require_live

pytestmark = pytest.mark.live

N_ACCOUNTS = 40
BALANCE = 10_000
EXAMPLES = 50  # per operation, per generation mode (positive, negative), per target
TIME_BOUND = 120.0  # seconds for the whole fuzz (the bound), cluster bring-up excluded
ADMIN = {"/admin/fault", "/admin/heal"}
CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]



@pytest.fixture(scope="module")
def cluster():
    require_live()
    sc = load_scenario("scenarios/live-smoke.yaml", sets=["topology.cells.count=1", "chaos=[]",
                                                          f"live.accounts={N_ACCOUNTS}",
                                                          f"live.initial_balance={BALANCE}"])
    c = Cluster(sc, f"/tmp/hivesim-test-fuzz-{uuid.uuid4().hex[:8]}")
    try:
        c.up()
        yield c
    finally:
        if c.state:
            c.down()


def settled_audit(url: str, timeout: float = 30.0) -> dict:
    end = time.monotonic() + timeout
    while True:
        r = httpx.get(url + "/audit", timeout=10)
        if r.status_code == 200 and r.json()["pending_transfers"] == 0:
            return r.json()
        assert time.monotonic() < end, f"relay did not drain: {r.text}"
        time.sleep(0.2)


def _error_body(resp) -> bool:
    try:
        body = resp.json()
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("error"), str)


# appended to a real account id (pick 2): an id that is almost a real one must not reach it.
# No "/" or "?": schemathesis leaves them unencoded in a path, where they end the id (HTTP's rule)
SUFFIXES = ("\n", "\r\n", " ", "\t", "\x00", "%", "\u00e9", ".", "\x7f", "\n" + "x" * 70)


def _asked_for_it(case, resp) -> bool:
    """A 503 ``unavailable, retry`` to a request that gave the app server less than a second
    (X-Hivesim-Deadline; at least MIN_REQUEST_SECONDS are used): the documented answer when the
    deadline passes before the database answered (a busy 2-core machine), not a server error."""
    if resp.status_code != 503:
        return False
    try:
        deadline = float((case.headers or {}).get("X-Hivesim-Deadline", "inf"))
        body = resp.json()
    except ValueError:
        return False
    return deadline < 1.0 and body.get("error") == "unavailable" and body.get("retry") is True


def _answers_what_was_asked(case, resp) -> bool:
    """A balance or a transfer found must be the one named in the path (not a near miss)."""
    path = case.operation.path
    if path == "/accounts/{id}":
        return resp.json().get("id") == case.path_parameters["id"]
    if path == "/transfers/{key}":
        return resp.json().get("key") == case.path_parameters["key"]
    return True


# X-Hivesim-Deadline values a schema-driven generator does not think of (pick 2)
DEADLINES = ("nan", "inf", "-inf", "1e400", "-1", "0", "1" * 5000, "0x10", "1_0")


def _steer(case, pick: int, a: str, b: str, amount: int, suffix: str, deadline: str) -> None:
    """Point some generated requests at seeded accounts, so they reach the database: pick 0, a
    transfer between real accounts or a real account's balance or history; pick 1, the same
    with a small amount that applies; pick 2, a real id with a hostile suffix; 3-5: as generated.
    Picks 0 and 2 also carry a hostile deadline header."""
    if pick > 2:
        return
    if pick in (0, 2) and any(p.name == "X-Hivesim-Deadline" for p in case.operation.headers):
        case.headers = {**(case.headers or {}), "X-Hivesim-Deadline": deadline}
    if pick == 2:
        a += suffix
    path = case.operation.path
    if path == "/transfers" and isinstance(case.body, dict):
        case.body["from"], case.body["to"] = a, b
        if pick == 1:
            case.body["amount"] = amount
    elif path.startswith("/accounts/{id}") and case.path_parameters:
        case.path_parameters["id"] = a
    elif path == "/transfers/{key}" and case.query is not None and pick != 1:
        case.query["from"] = a


class Fuzz:
    """Runs the generated cases of one operation against one target and tallies the answers."""

    def __init__(self, accounts: list[str]):
        self.accounts = accounts
        self.statuses: collections.Counter = collections.Counter()
        self.examples = 0
        self.steered = 0
        self.deadline_503 = 0  # 503s the request asked for with a deadline under a second
        self.bad: list[dict] = []
        self.created = 0  # cents in accounts the fuzzer created (201)
        self.operations: set[str] = set()
        self.session = requests.Session()  # schemathesis' transport

    def run(self, op, mode, base_url: str) -> None:
        strategy = st.tuples(op.as_strategy(generation_mode=mode), st.integers(0, 5),
                             st.sampled_from(self.accounts), st.sampled_from(self.accounts), st.integers(1, 500))

        @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(strategy)
        def one(args):
            case, pick, a, b, amount = args
            if a != b:
                # the suffixes in turn: Hypothesis' choice among them is skewed to the first few
                self.steered += 1
                _steer(case, pick, a, b, amount, SUFFIXES[self.steered % len(SUFFIXES)],
                       DEADLINES[self.steered % len(DEADLINES)])
            self.send(case, mode, base_url)

        try:
            one()
        except Unsatisfiable:  # no parameters or body to violate (GET /audit in negative mode)
            pass

    def send(self, case, mode, base_url: str) -> None:
        resp = case.call(base_url=base_url, session=self.session, timeout=30)
        self.examples += 1
        self.operations.add(case.operation.label)
        self.statuses[resp.status_code] += 1
        where = {"target": base_url, "mode": mode.value, "op": case.operation.label, "status": resp.status_code,
                 "path": case.path_parameters, "query": case.query, "headers": case.headers,
                 "body": repr(case.body)[:300], "answer": resp.text[:300]}
        if _asked_for_it(case, resp):
            self.deadline_503 += 1
        elif resp.status_code >= 500:
            self.bad.append({"why": "5xx", **where})
        elif resp.status_code >= 400 and not _error_body(resp):
            self.bad.append({"why": "4xx without a JSON error body", **where})
        if resp.status_code == 200 and not _answers_what_was_asked(case, resp):
            self.bad.append({"why": "200 for another account or key than the one asked", **where})
        try:  # status, content type and body as the document declares them
            case.validate_response(resp, checks=CONFORMANCE)
        except (schemathesis.errors.FailureGroup, AssertionError) as exc:
            msgs = [str(e).splitlines()[0] for e in getattr(exc, "exceptions", [exc])]
            self.bad.append({"why": "answer does not match the OpenAPI document: " + "; ".join(msgs), **where})
        if case.operation.path in ADMIN and resp.status_code != 401:
            self.bad.append({"why": "admin endpoint answered without the token", **where})
        if resp.status_code == 201 and case.operation.path == "/accounts":
            self.created += sum(a["balance"] for a in case.body["accounts"])


def test_fuzz_the_public_api_no_5xx_json_errors_money_unchanged(cluster):
    gw = cluster.gateway_url
    served = httpx.get(gw + "/openapi.json", timeout=10).json()
    assert served == json.loads(json.dumps(OPENAPI))
    # the served document (from_url would leave out GET /openapi.json itself)
    schema = schemathesis.openapi.from_dict(served)
    ops = [r.ok() for r in schema.get_all_operations()]
    targets = [gw] + [a["url"] for a in cluster.app_servers]
    for t in targets[1:]:  # the app servers serve the same document
        assert httpx.get(t + "/openapi.json", timeout=10).json() == served

    before = settled_audit(gw)
    fuzz = Fuzz([account_id(i) for i in range(N_ACCOUNTS)])
    t0 = time.monotonic()
    for base in targets:
        for op in ops:
            for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
                fuzz.run(op, mode, base)
    seconds = time.monotonic() - t0
    after = settled_audit(gw)

    figures = {"examples": fuzz.examples, "operations": len(fuzz.operations), "targets": len(targets),
               "examples_per_operation_mode_target": EXAMPLES, "statuses": dict(sorted(fuzz.statuses.items())),
               "five_xx": sum(n for s, n in fuzz.statuses.items() if s >= 500) - fuzz.deadline_503,
               "deadline_503": fuzz.deadline_503, "seconds": round(seconds, 1),
               "audit_total": [before["total"], after["total"]], "created_cents": fuzz.created}
    print("\nfuzz figures:", json.dumps(figures))
    assert not fuzz.bad, f"{len(fuzz.bad)} bad answers, first: {json.dumps(fuzz.bad[:5], indent=1)}"
    assert len(fuzz.operations) == len(ops) == sum(len(v) for v in OPENAPI["paths"].values())
    assert after["total"] == before["total"] + fuzz.created, figures
    assert after["in_flight"] == 0
    assert seconds < TIME_BOUND, figures


def test_admin_endpoints_refuse_requests_without_the_right_token(cluster):
    targets = [cluster.gateway_url] + [a["url"] for a in cluster.app_servers]
    for base in targets:
        for method, path in (("GET", "/admin/fault"), ("POST", "/admin/fault"), ("POST", "/admin/heal")):
            for headers in ({}, {"authorization": "Bearer not-the-token"},
                            {"authorization": cluster.admin_token}):  # the token without "Bearer "
                r = httpx.request(method, base + path, headers=headers, json={"error_rate": 1}, timeout=10)
                assert r.status_code == 401 and r.json()["error"] == "unauthorized", (base, path, headers, r.text)
    # the refused requests injected nothing
    r = httpx.get(cluster.gateway_url + "/admin/fault",
                  headers={"authorization": f"Bearer {cluster.admin_token}"}, timeout=10)
    assert r.status_code == 200 and r.json()["error_rate"] == 0
