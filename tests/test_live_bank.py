"""Live tests of the reference bank: real etcd, Patroni, PostgreSQL, app servers, gateway, relay.

One 2-cell cluster (scenarios/live-smoke.yaml, fewer accounts) serves the whole module; the last
test tears it down and checks nothing is left. Skipped when etcd/Patroni/PostgreSQL are missing,
unless HIVESIM_REQUIRE_LIVE=1 (CI), where a missing binary is a failure.
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
import time
import uuid

import httpx
import pytest

from loadtests.bank.routing import account_id, cell_of
from loadtests.cluster import Cluster
from loadtests.cluster import procs
from sim.scenario import load_scenario
from tests.conftest import require_live

pytestmark = pytest.mark.live

N_ACCOUNTS = 200
BALANCE = 10_000



@pytest.fixture(scope="module")
def cluster():
    require_live()
    sc = load_scenario("scenarios/live-smoke.yaml", sets=[f"live.accounts={N_ACCOUNTS}",
                                                          f"live.initial_balance={BALANCE}"])
    c = Cluster(sc, f"/tmp/hivesim-test-{uuid.uuid4().hex[:8]}")
    c.up()
    yield c
    if c.state:  # the teardown test did not run (or failed before down)
        c.down()


@pytest.fixture(scope="module")
def http(cluster):
    with httpx.Client(base_url=cluster.gateway_url, timeout=30) as client:
        yield client


def key() -> str:
    return uuid.uuid4().hex


def accounts_by_cell(cells: int) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for i in range(N_ACCOUNTS):
        a = account_id(i)
        out.setdefault(cell_of(a, cells), []).append(a)
    return out


def balance(http, a: str) -> int:
    r = http.get(f"/accounts/{a}")
    assert r.status_code == 200, r.text
    return r.json()["balance"]


def settled_audit(http, timeout: float = 30.0) -> dict:
    """The audit once the relay has delivered everything pending."""
    end = time.monotonic() + timeout
    while True:
        r = http.get("/audit")
        if r.status_code == 200 and r.json()["pending_transfers"] == 0:
            return r.json()
        assert time.monotonic() < end, f"relay did not drain: {r.text}"
        time.sleep(0.2)


# ---------------------------------------------------------------------- tests
def test_cells_have_leader_and_sync_standbys_in_their_idcs(cluster):
    members = cluster.status()
    assert len(members) == 6
    for cell in (0, 1):
        ms = [m for m in members if m["cell"] == cell]
        assert sorted(m["role"] for m in ms) == ["leader", "sync_standby", "sync_standby"], ms
        assert [m["idc"] for m in ms] == ["idc-a", "idc-b", "idc-c"]
        for m in ms:
            assert procs.alive(m["patroni_pid"]) and procs.alive(m["postmaster_pid"])
            assert m["timeline"] >= 1
    assert all(e["healthy"] for e in cluster.etcd_members)
    assert cluster.gateway_pid and len(cluster.app_servers) == 2


def test_a_primary_stop_is_bounded_in_every_cell(cluster):
    """Each member runs with ``primary_stop_timeout`` in synchronous mode (Patroni applies it only
    there): a thawed ex-primary's stop is SIGKILLed past it instead of waiting on its postmaster
    (docs/live-cluster.md)."""
    from loadtests.cluster.patroni import PRIMARY_STOP_SECONDS
    for m in cluster.status():
        config = httpx.get(f"{m['patroni_url']}/config", timeout=5).json()
        assert (config["primary_stop_timeout"], config["synchronous_mode"]) == (PRIMARY_STOP_SECONDS, True), m["name"]


def test_transfers_within_and_across_cells(cluster, http):
    by = accounts_by_cell(2)
    a, b = by[0][0], by[0][1]  # same cell
    c = by[1][0]  # other cell
    before = {x: balance(http, x) for x in (a, b, c)}
    k1, k2 = key(), key()
    r = http.post("/transfers", json={"key": k1, "from": a, "to": b, "amount": 250})
    assert r.status_code == 200 and r.json() == {"key": k1, "status": "applied", "cross_cell": False}
    r = http.post("/transfers", json={"key": k2, "from": a, "to": c, "amount": 100})
    assert r.status_code == 200 and r.json()["cross_cell"] is True and r.json()["status"] in ("pending", "applied")
    end = time.monotonic() + 15
    while http.get(f"/transfers/{k2}").json()["status"] != "applied":
        assert time.monotonic() < end, "relay never applied the cross-cell transfer"
        time.sleep(0.1)
    assert balance(http, a) == before[a] - 350
    assert balance(http, b) == before[b] + 250
    assert balance(http, c) == before[c] + 100
    # the status is found with and without the routing hint
    assert http.get(f"/transfers/{k1}", params={"from": a}).json()["status"] == "applied"
    assert http.get(f"/transfers/{key()}").status_code == 404
    keys = {t["key"] for t in http.get(f"/accounts/{c}/transfers").json()["transfers"]}
    assert k2 in keys


def test_idempotent_retry_applies_once(cluster, http):
    by = accounts_by_cell(2)
    a, b, c = by[0][2], by[0][3], by[1][1]
    before = {x: balance(http, x) for x in (a, b, c)}
    same, cross = key(), key()
    bodies = [{"key": same, "from": a, "to": b, "amount": 70}] * 6 + [{"key": cross, "from": a, "to": c, "amount": 30}] * 6
    with cf.ThreadPoolExecutor(6) as pool:  # concurrent retries race on the same key
        answers = list(pool.map(lambda body: httpx.post(cluster.gateway_url + "/transfers", json=body, timeout=30),
                                bodies))
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    settled_audit(http)
    assert balance(http, a) == before[a] - 100
    assert balance(http, b) == before[b] + 70
    assert balance(http, c) == before[c] + 30
    # same key, different transfer: refused, nothing changes
    r = http.post("/transfers", json={"key": same, "from": a, "to": b, "amount": 71})
    assert r.status_code == 409 and r.json()["error"] == "key_conflict"
    assert balance(http, a) == before[a] - 100


def test_bad_inputs_are_4xx_and_change_nothing(cluster, http):
    by = accounts_by_cell(2)
    a, b, c = by[0][4], by[0][5], by[1][2]
    audit0 = settled_audit(http)
    bal0 = {x: balance(http, x) for x in (a, b, c)}
    k = key()
    cases = [
        ({"key": k, "from": a, "to": b, "amount": -5}, 422),
        ({"key": k, "from": a, "to": b, "amount": 0}, 422),
        ({"key": k, "from": a, "to": b, "amount": "5"}, 422),
        ({"key": k, "from": a, "to": b, "amount": 5.0}, 422),
        ({"key": k, "from": a, "to": b, "amount": True}, 422),
        ({"key": k, "from": a, "to": b, "amount": 10**16}, 422),
        ({"key": k, "from": a, "to": a, "amount": 5}, 422),
        ({"key": "short", "from": a, "to": b, "amount": 5}, 422),
        ({"key": "bad key with spaces", "from": a, "to": b, "amount": 5}, 422),
        ({"key": k, "from": a, "to": b}, 422),
        ({"key": k, "from": a, "to": b, "amount": 5, "extra": 1}, 422),
        ({"key": k, "from": "no-such-acct", "to": b, "amount": 5}, 404),
        ({"key": k, "from": a, "to": "no-such-acct", "amount": 5}, 404),
        ({"key": k, "from": a, "to": c.replace("acct", "nope"), "amount": 5}, 404),
        ({"key": k, "from": "../etc", "to": b, "amount": 5}, 422),
        ([1, 2, 3], 422),
        ("just a string", 422),
    ]
    for body, want in cases:
        r = http.post("/transfers", json=body)
        assert r.status_code == want, (body, r.status_code, r.text)
        assert "error" in r.json()
    raw = [(b"{not json", 400), (b"", 400), (b"[" * 100000 + b"]" * 100000, 400), (b"x" * (3 * 1024 * 1024), 413)]
    for content, want in raw:
        r = http.post("/transfers", content=content, headers={"content-type": "application/json"})
        assert r.status_code == want, (content[:20], r.status_code, r.text[:200])
    over = key()  # overdraft: 422, recorded as rejected, money untouched; a retry answers the same
    for _ in range(2):
        r = http.post("/transfers", json={"key": over, "from": a, "to": c, "amount": bal0[a] + 1})
        assert r.status_code == 422 and r.json()["error"] == "insufficient_funds"
    assert http.get(f"/transfers/{over}").json()["status"] == "rejected"
    assert http.get("/accounts/bad%20id").status_code == 422
    assert http.get("/accounts/never-created").status_code == 404
    assert http.get("/transfers/x").status_code == 422
    assert http.post("/accounts", json={"accounts": [{"id": a, "balance": 1}]}).status_code == 409
    assert http.post("/accounts", json={"accounts": [{"id": "fresh-1", "balance": -1}]}).status_code == 422
    assert http.post("/accounts", json={"accounts": []}).status_code == 422
    assert http.post("/admin/fault", json={"error_rate": 1}).status_code == 401
    assert http.post("/admin/fault", json={"error_rate": 1}, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert http.get("/nope").status_code == 404
    assert {x: balance(http, x) for x in (a, b, c)} == bal0
    audit1 = settled_audit(http)
    assert audit1["total"] == audit0["total"] and audit1["cells"] == audit0["cells"]
    assert http.get(f"/transfers/{k}").status_code == 404  # none of the bad requests committed


def test_metrics_openapi_and_admin_fault(cluster, http):
    assert "hivesim_bank_requests_total" in http.get("/metrics").text
    paths = http.get("/openapi.json").json()["paths"]
    for p in ("/accounts", "/accounts/{id}", "/transfers", "/transfers/{key}", "/audit", "/admin/fault"):
        assert p in paths
    auth = {"Authorization": f"Bearer {cluster.admin_token}"}
    r = http.post("/admin/fault", json={"error_rate": 1.0}, headers=auth)
    assert r.status_code == 200
    try:
        assert http.get(f"/accounts/{account_id(0)}").status_code == 500
    finally:
        assert http.post("/admin/heal", headers=auth).status_code == 200
    assert http.get(f"/accounts/{account_id(0)}").status_code == 200


def test_relay_pause_keeps_money_in_flight(cluster, http):
    by = accounts_by_cell(2)
    a, c = by[1][3], by[0][6]
    auth = {"Authorization": f"Bearer {cluster.admin_token}"}
    assert httpx.post(cluster.relay_url + "/admin/pause", headers=auth).status_code == 200
    try:
        k = key()
        r = http.post("/transfers", json={"key": k, "from": a, "to": c, "amount": 123})
        assert r.status_code == 200 and r.json()["status"] == "pending"
        time.sleep(0.5)
        audit = http.get("/audit").json()
        assert audit["in_flight"] == 123 and audit["total"] == N_ACCOUNTS * BALANCE
        assert http.get(f"/transfers/{k}").json()["status"] == "pending"
    finally:
        assert httpx.post(cluster.relay_url + "/admin/resume", headers=auth).status_code == 200
    assert settled_audit(http)["in_flight"] == 0
    assert http.get(f"/transfers/{k}").json()["status"] == "applied"


def test_supervisor_restarts_gateway_and_app_server(cluster, http):
    old_gw = cluster.gateway_pid
    assert cluster.kill_gateway() == old_gw
    app = cluster.app_servers[1]
    assert cluster.kill_app_server(app["cell"], app["index"]) == app["pid"]
    end = time.monotonic() + 30
    while not (cluster.gateway_pid not in (None, old_gw) and cluster.app_servers[1]["pid"] not in (None, app["pid"])
               and cluster._http_ok(cluster.gateway_url + "/health")
               and cluster._http_ok(cluster.app_servers[1]["url"] + "/health?db=1", 4)):
        assert time.monotonic() < end, "supervisor did not restart the gateway and the app server"
        time.sleep(0.2)
    assert cluster.app_servers[1]["restarts"] == 1
    assert http.get(f"/accounts/{account_id(0)}").status_code == 200


def test_a_crashed_gateways_port_refuses_nothing(cluster):
    """The supervisor holds the gateway's listening socket: requests on new connections sent after
    the gateway died, before its spare serves, wait in the backlog and are answered (before,
    they were refused for the ~0.15 s of the takeover). Bounded: 20 requests, 10 s each."""
    end = time.monotonic() + 30
    while cluster.gateway_pid is None or not cluster._http_ok(cluster.gateway_url + "/health"):
        assert time.monotonic() < end, "no gateway serving"
        time.sleep(0.1)
    old = cluster.gateway_pid
    assert cluster.kill_gateway() == old
    while procs.alive(old):
        assert time.monotonic() < end
        time.sleep(0.002)
    answers = []
    for _ in range(20):  # a new connection each: none is refused
        with httpx.Client(timeout=10) as c:
            answers.append(c.get(cluster.gateway_url + "/health").status_code)
    assert answers == [200] * 20
    assert cluster.gateway_pid not in (None, old)


def test_etcd_member_kill_and_restart(cluster):
    pid = cluster.kill_etcd(2)
    assert pid is not None and not procs.wait_dead([pid], 5)
    assert cluster.etcd_members[2]["pid"] is None
    new = cluster.start_etcd(2)
    assert new != pid
    end = time.monotonic() + 30
    while not all(e["healthy"] for e in cluster.etcd_members):
        assert time.monotonic() < end, cluster.etcd_members
        time.sleep(0.3)
    assert cluster.cell_ready(0) and cluster.cell_ready(1)


def test_money_is_conserved(cluster, http):
    audit = settled_audit(http)
    assert audit["total"] == N_ACCOUNTS * BALANCE + 0  # every test above only moved money
    assert audit["in_flight"] == 0


def test_sigkill_primary_postmaster_during_writes_loses_nothing(cluster, http):
    """Writers keep transferring while cell 0's primary postmaster is SIGKILLed.

    Expected: Patroni promotes a synchronous standby; writes resume on it; every transfer the
    gateway acknowledged (200) exists afterwards; unknown outcomes resolve either way; balances
    equal the initial ones plus exactly the applied transfers; total money unchanged.
    """
    by = accounts_by_cell(2)
    pool0, pool1 = by[0][10:30], by[1][10:20]
    accounts = pool0 + pool1
    start_bal = {x: balance(http, x) for x in accounts}
    old = cluster.primary(0)
    assert old is not None
    acked, unknown, failed = {}, {}, []
    ok_times = []
    stop = threading.Event()
    lock = threading.Lock()

    def writer(seed: int):
        import random
        rng = random.Random(seed)
        with httpx.Client(base_url=cluster.gateway_url, timeout=30) as cl:
            while not stop.is_set():
                src = rng.choice(pool0)
                dst = rng.choice(pool1) if rng.random() < 0.3 else rng.choice([p for p in pool0 if p != src])
                body = {"key": key(), "from": src, "to": dst, "amount": rng.randint(1, 20)}
                try:
                    r = cl.post("/transfers", json=body)
                    code = r.status_code
                except httpx.HTTPError:
                    code = -1
                with lock:
                    if code == 200:
                        acked[body["key"]] = body
                        ok_times.append(time.monotonic())
                    elif code in (504, -1):
                        unknown[body["key"]] = body
                    else:
                        failed.append((code, body))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(2.0)
        assert len(acked) > 10, "writes did not run before the fault"
        t_kill = time.monotonic()
        killed = cluster.kill_postmaster(0)
        assert killed is not None
        # wait for a new leader and for writes acknowledged after it
        end = t_kill + 60
        while True:
            new = cluster.primary(0)
            if new and new["name"] != old["name"] and ok_times and ok_times[-1] > t_kill + 0.5:
                with lock:
                    after = [x for x in ok_times if x > t_kill]
                if len(after) > 20:
                    break
            assert time.monotonic() < end, "writes did not resume on a new primary within 60 s"
            time.sleep(0.2)
        time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    end = time.monotonic() + 15  # Patroni reports the new timeline a moment after promotion
    while (cluster.primary(0) or {}).get("timeline", 0) <= old["timeline"]:
        assert time.monotonic() < end, f"timeline did not advance: {cluster.members(0)}"
        time.sleep(0.2)
    # failed = 4xx/5xx other than unknown: only 503 (nothing changed) is acceptable here
    assert all(code == 503 for code, _ in failed), failed[:5]
    settled_audit(http, 60)
    applied = {}
    for k, body in list(acked.items()) + list(unknown.items()):
        r = http.get(f"/transfers/{k}", params={"from": body["from"]})
        if k in acked:
            assert r.status_code == 200, f"acknowledged transfer {k} lost: {r.status_code} {r.text}"
        assert r.status_code in (200, 404), r.text
        if r.status_code == 200:
            got = r.json()
            assert (got["from"], got["to"], got["amount"]) == (body["from"], body["to"], body["amount"])
            assert got["status"] == "applied", got
            applied[k] = body
    expect = dict(start_bal)
    for body in applied.values():
        expect[body["from"]] -= body["amount"]
        expect[body["to"]] += body["amount"]
    actual = {x: balance(http, x) for x in accounts}
    assert actual == expect, {x: (actual[x], expect[x]) for x in accounts if actual[x] != expect[x]}
    assert settled_audit(http)["total"] == N_ACCOUNTS * BALANCE
    gaps = [b - a for a, b in zip(ok_times, ok_times[1:])]
    print(f"\nfailover: {len(acked)} acked, {len(unknown)} unknown, {len(failed)} 503; "
          f"longest gap between acknowledged writes {max(gaps):.2f}s")


def test_blackholed_primary_gives_503_or_504_then_resolves(cluster, http):
    """Cut the app tier from cell 1's primary (proxy black hole: packets vanish, sockets stay open).

    Transfers must end as 200, 503 or 504 within the gateway deadline (never 500, never a hang);
    after healing, every 504 resolves through GET /transfers/{key}, every 200 exists, and money
    is conserved.
    """
    by = accounts_by_cell(2)
    src = by[1][10:20]
    primary = cluster.primary(1)
    answers = []

    def one(i):
        body = {"key": key(), "from": src[i % len(src)], "to": src[(i + 1) % len(src)], "amount": 5}
        t0 = time.monotonic()
        r = httpx.post(cluster.gateway_url + "/transfers", json=body, timeout=60)
        return body, r.status_code, time.monotonic() - t0

    proxy = cluster.proxy(primary["name"])
    proxy.partition("blackhole")
    try:
        with cf.ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(one, range(8)))
    finally:
        proxy.heal()
    codes = sorted(c for _, c, _ in answers)
    assert set(codes) <= {200, 503, 504}, codes
    deadline = cluster.scenario.live.gateway_deadline
    assert all(dt < deadline + 3 for _, _, dt in answers), [dt for _, _, dt in answers]
    settled_audit(http, 60)
    for body, code, _ in answers:
        r = http.get(f"/transfers/{body['key']}")
        if code == 200:
            assert r.status_code == 200
        assert r.status_code in (200, 404)
    assert settled_audit(http)["total"] == N_ACCOUNTS * BALANCE
    assert cluster.primary(1) is not None
    print(f"\nblack hole on {primary['name']}: answers {codes}")


def test_teardown_leaves_no_process_or_port(cluster):
    pids = cluster.all_pids()
    pids += [p for m in cluster.state["members"] for p in cluster.member_pids(m["name"])]  # backends too
    ports = cluster._all_ports()
    run_dir = cluster.run_dir
    assert len(pids) >= 20 and procs.listening_ports(ports)
    cluster.down()
    assert [p for p in pids if procs.alive(p)] == []
    assert procs.listening_ports(ports) == set()
    assert not run_dir.exists()
