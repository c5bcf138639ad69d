"""A live cluster brought up without fault proxies (``Cluster(..., fault_proxies=False)``, what
``benchmarks/bench_bank.py`` measures by default): app servers and the relay are given the
database members' own ports, and asking for a member's proxy is a clear error, not a connection
refused later. Built from a recorded state: no process is started here."""

import pytest

from loadtests.cluster.manager import Cluster, ClusterError


def _state(tmp_path, **extra) -> dict:
    members = [{"name": f"c0-m{i}", "cell": 0, "index": i, "idc": "IDC1", "pg_port": 5000 + i,
                "rest_port": 6000 + i, "proxy_port": 7000 + i, "proxy_control_port": 8000 + i,
                "member_dir": str(tmp_path / f"m{i}"), "pid": None, "proxy_pid": None} for i in range(2)]
    return {"run_dir": str(tmp_path), "members": members, "passwords": {"app": "pw"}, "token": "t", **extra}


@pytest.mark.parametrize("extra, via", [({}, "proxy_port"), ({"fault_proxies": True}, "proxy_port"),
                                        ({"fault_proxies": False}, "pg_port")],
                         ids=["state-before-the-option", "with-proxies", "without-proxies"])
def test_app_servers_reach_members_through_proxies_only_when_there_are_any(tmp_path, extra, via):
    c = Cluster(state=_state(tmp_path, **extra))
    ports = [m[via] for m in c.state["members"]]
    assert [m["port"] for m in c.db_members(0)] == ports
    assert f"port={ports[0]},{ports[1]} " in c.app_dsn(0)
    # the checker and the benchmark's raw path always go straight to the database
    assert "port=5000,5001 " in c.app_dsn(0, via_proxy=False)
    assert c.fault_proxies is (via == "proxy_port")


def test_a_cluster_without_proxies_refuses_proxy_faults_clearly(tmp_path):
    c = Cluster(state=_state(tmp_path, fault_proxies=False))
    with pytest.raises(ClusterError, match="without fault proxies"):
        c.proxy("c0-m0")
    view = c._member_static(c.state["members"][0])
    # the chaos adapter builds DbMember.proxy_control from proxy_url: None makes a network fault
    # fail with "has no fault proxy" (loadtests.chaos.faults._proxy)
    assert view["proxy_url"] is None and view["proxy_port"] is None
    with_proxies = Cluster(state=_state(tmp_path))
    assert with_proxies.proxy("c0-m0").url == "http://127.0.0.1:8000"


@pytest.mark.parametrize("wanted", [False, True])
def test_a_cluster_not_yet_up_says_what_it_was_asked_for(tmp_path, wanted):
    from sim.scenario import load_scenario
    c = Cluster(load_scenario("scenarios/live-smoke.yaml"), tmp_path / "cluster", fault_proxies=wanted)
    assert c.fault_proxies is wanted  # before up() records it in the state
