"""live.retry reaches the gateway (its config file) and the Locust client (its command line)."""

from __future__ import annotations

import os

from loadtests.run import load_spec_for
from loadtests.load.loadrun import locust_argv
from sim.scenario import load_scenario

SMOKE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "scenarios", "live-smoke.yaml")


def test_client_retry_settings_reach_the_locust_command_line(tmp_path):
    sc = load_scenario(SMOKE, sets=["live.retry.client_backoff=0.3s", "live.retry.client_max_backoff=2s",
                                    "live.retry.client_deadline=17s"])
    argv = locust_argv(load_spec_for(sc, "http://127.0.0.1:1", str(tmp_path), ""))
    assert argv[argv.index("--bank-backoff") + 1] == "0.3"
    assert argv[argv.index("--bank-max-backoff") + 1] == "2.0"
    assert argv[argv.index("--bank-op-deadline") + 1] == "17.0"
    sc = load_scenario(SMOKE, sets=["live.gateway_deadline=12s"])  # default client deadline: 2 x gateway's
    argv = locust_argv(load_spec_for(sc, "http://127.0.0.1:1", str(tmp_path), ""))
    assert argv[argv.index("--bank-op-deadline") + 1] == "24.0"


def test_gateway_reads_its_backoff_from_the_config():
    from loadtests.bank.gateway import create_app
    from sim.scenario.live import LiveRetry
    app = create_app({"cells": [["http://127.0.0.1:1"]], "deadline": 3.0, "backoff": 0.05, "max_backoff": 0.4})
    r = app.state.router
    assert (r.deadline, r.backoff, r.max_backoff) == (3.0, 0.05, 0.4)
    r = create_app({"cells": [["http://127.0.0.1:1"]]}).state.router  # no keys: the settings' defaults
    assert (r.backoff, r.max_backoff) == (LiveRetry().gateway_backoff, LiveRetry().gateway_max_backoff)
