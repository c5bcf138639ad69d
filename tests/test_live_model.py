"""The scenario's live: section, the account routing, the service's input handling and OpenAPI (no database)."""

from __future__ import annotations

import collections

import pytest
from starlette.testclient import TestClient

from loadtests.bank import app as app_mod
from loadtests.bank import gateway as gw_mod
from loadtests.bank.openapi import OPENAPI
from loadtests.bank.routing import account_id, cell_of
from sim.errors import ScenarioError
from sim.scenario import load_scenario, load_scenario_text


def test_live_smoke_scenario_loads():
    sc = load_scenario("scenarios/live-smoke.yaml")
    assert sc.topology.cells.count == 2 and sc.topology.cells.template.db.replicas == 3
    assert sc.live.patroni.ttl == 20 and sc.live.app_servers_per_cell == 1


@pytest.mark.parametrize("text, where", [
    ("live: {patroni: {ttl: 10}}", "live.patroni.ttl"),
    ("live: {patroni: {ttl: 20, loop_wait: 5, retry_timeout: 10}}", "live.patroni"),
    ("live: {accounts: -1}", "live.accounts"),
    ("live: {app_servers: 2}", "live"),
    ("live: {gateway_deadline: soon}", "live.gateway_deadline"),
    ("live: {etcd: {heartbeat_ms: 500, election_ms: 1000}}", "live.etcd"),
])
def test_live_section_rejects_bad_values(text, where):
    with pytest.raises(ScenarioError) as exc:
        load_scenario_text(text)
    assert where in str(exc.value)


def test_live_section_units_and_defaults():
    sc = load_scenario_text("live: {gateway_deadline: 2m, db_timeout: 1500ms}")
    assert sc.live.gateway_deadline == 120 and sc.live.db_timeout == 1.5
    assert sc.live.patroni.synchronous_node_count == 2


def test_cell_of_is_stable_and_spreads_accounts():
    assert cell_of("acct-0000000", 2) == cell_of("acct-0000000", 2)
    counts = collections.Counter(cell_of(account_id(i), 4) for i in range(4000))
    # 4,000 ids over 4 cells: each expects 1,000; +-15 % is > 9 standard deviations (sd ~27)
    assert all(850 <= counts[c] <= 1150 for c in range(4)), counts


@pytest.fixture(scope="module")
def gateway():
    # no app server listens on port 9: the gateway must answer bad input itself, without a backend
    with TestClient(gw_mod.create_app({"port": 0, "cells": [["http://127.0.0.1:9"], ["http://127.0.0.1:9"]],
                                        "deadline": 0.3})) as client:
        yield client


@pytest.mark.parametrize("body, status", [
    ({"key": "k" * 8, "from": "a", "to": "b", "amount": 0}, 422),
    ({"key": "k" * 8, "from": "a", "to": "b", "amount": -1}, 422),
    ({"key": "k" * 8, "from": "a", "to": "b", "amount": 1.5}, 422),
    ({"key": "k" * 8, "from": "a", "to": "b", "amount": "1"}, 422),
    ({"key": "k" * 8, "from": "a", "to": "b", "amount": False}, 422),
    ({"key": "k" * 7, "from": "a", "to": "b", "amount": 1}, 422),
    ({"key": "k" * 8, "from": "a b", "to": "b", "amount": 1}, 422),
    ({"key": "k" * 8, "from": "a", "to": "a", "amount": 1}, 422),
    ({"key": "k" * 8, "from": "a", "to": "b", "amount": 1, "memo": "x"}, 422),
    ([], 422),
])
def test_gateway_rejects_bad_transfers_without_backend(gateway, body, status):
    r = gateway.post("/transfers", json=body)
    assert r.status_code == status and r.json()["error"] == "invalid", r.text


def test_gateway_malformed_and_oversized(gateway):
    assert gateway.post("/transfers", content=b"{nope").status_code == 400
    assert gateway.post("/transfers", content=b"x" * (2 * 1024 * 1024 + 1)).status_code == 413
    assert gateway.get("/accounts/bad%20id").status_code == 422


def test_gateway_without_cells_is_503_not_500(gateway):
    r = gateway.get("/accounts/a1")
    assert r.status_code == 503 and r.json()["error"] == "unavailable"
    r = gateway.post("/transfers", json={"key": "k" * 8, "from": "a", "to": "b", "amount": 1})
    # nothing could have been sent (connection refused): unavailable, not unknown
    assert r.status_code == 503, r.text


def test_admin_requires_token(gateway, monkeypatch):
    monkeypatch.setenv("HIVESIM_ADMIN_TOKEN", "s3cret-token")
    assert gateway.post("/admin/fault", json={"error_rate": 1}).status_code == 401
    ok = gateway.post("/admin/fault", json={"error_rate": 0.5}, headers={"Authorization": "Bearer s3cret-token"})
    assert ok.status_code == 200 and ok.json()["error_rate"] == 0.5
    assert gateway.post("/admin/fault", json={"error_rate": 2},
                        headers={"Authorization": "Bearer s3cret-token"}).status_code == 422
    gateway.post("/admin/heal", headers={"Authorization": "Bearer s3cret-token"})
    monkeypatch.delenv("HIVESIM_ADMIN_TOKEN")
    # no token configured: admin is closed, not open
    assert gateway.post("/admin/heal", headers={"Authorization": "Bearer "}).status_code == 401


def test_openapi_documents_every_public_route():
    documented = set(OPENAPI["paths"])
    for create in (gw_mod.create_app, app_mod.create_app):
        cfg = {"port": 0, "cells": 1, "cell": 0, "name": "t", "dsn": "", "deadline": 1,
               **({"cells": [["http://127.0.0.1:9"]]} if create is gw_mod.create_app else {})}
        routes = {r.path for r in create(cfg).routes} - {"/internal/applied", "/admin/routes"}
        assert routes <= documented, routes - documented


def test_cluster_cli_without_a_cluster_is_a_one_line_error(capsys, tmp_path):
    from sim.cli import main
    code = main(["cluster", "status", "scenarios/live-smoke.yaml", "--cluster-dir", str(tmp_path / "none")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "no cluster here" in err


@pytest.mark.parametrize("command", ["cluster status", "check"])
def test_old_run_dir_spelling_still_works_with_one_deprecation_line(capsys, tmp_path, command):
    # --cluster-dir is the one name in live, cluster and check; --run-dir (cluster, check) is deprecated
    from sim.cli import main
    code = main([*command.split(), "scenarios/live-smoke.yaml", "--run-dir", str(tmp_path / "none")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 2, err
    assert err[0] == "hivesim: warning: --run-dir is deprecated, use --cluster-dir"
    assert "no cluster here" in err[1] and str(tmp_path / "none") in err[1]


def test_live_cluster_and_check_share_the_cluster_dir_option():
    from sim.cli import build_parser
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices
    for command in ("live", "cluster", "check"):
        opts = {o for a in sub[command]._actions for o in a.option_strings if a.help != "==SUPPRESS=="}
        assert "--cluster-dir" in opts and "--run-dir" not in opts, command


def test_cluster_cli_bad_scenario_value(capsys):
    from sim.cli import main
    code = main(["cluster", "up", "scenarios/live-smoke.yaml", "--set", "live.patroni.ttl=5"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "live.patroni.ttl" in err
