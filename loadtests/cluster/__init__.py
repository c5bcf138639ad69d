"""Bring a live bank up from a scenario and tear it down (see docs/live-cluster.md).

    from loadtests.cluster import Cluster
    from sim.scenario import load_scenario
    with Cluster(load_scenario("scenarios/live-smoke.yaml")) as c:
        print(c.gateway_url, c.primary(0))
"""

from loadtests.cluster.manager import Cluster, ClusterError, ProxyControl, check_prerequisites

__all__ = ["Cluster", "ClusterError", "ProxyControl", "check_prerequisites"]
