"""Load -> records -> checker -> recovery, end to end over real HTTP with a real Locust process,
against the in-memory fake bank (loadtests/chaos/fakebank.py): no PostgreSQL needed.

Faults are switched on the fake bank for 1 s each; the recovery analysis must see them with a
recovery time near 1 s, the checker must pass an honest bank and fail a bank with a planted bug.
Also runs Locust once in master + worker mode (all on 127.0.0.1).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from loadtests.analysis.records import read_requests, read_transfers
from loadtests.analysis.recovery import FaultEpisode, analyse_faults
from loadtests.bank.routing import account_id
from loadtests.checker import run_checker
from loadtests.run import wait_first_request
from loadtests.load.loadrun import LoadSpec, run_locust

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "pipeline-test-token"


def _port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def fakebank(request, tmp_path):
    bug = getattr(request, "param", None)
    port = _port()
    argv = [sys.executable, "-m", "loadtests.chaos.fakebank", "--port", str(port)] + (["--bug", bug] if bug else [])
    proc = subprocess.Popen(argv, cwd=ROOT, env=dict(os.environ, HIVESIM_ADMIN_TOKEN=TOKEN),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        accts = {account_id(i): 10_000 for i in range(60)}  # as the cluster seeds them
        r = httpx.post(url + "/accounts", json={"accounts": [{"id": a, "balance": b} for a, b in accts.items()]})
        assert r.status_code == 201
        cells = {a: httpx.get(f"{url}/accounts/{a}").json()["cell"] for a in accts}
        path = tmp_path / "accounts.json"
        path.write_text(json.dumps({a: {"cell": cells[a], "balance": b} for a, b in accts.items()}))
        yield url, accts, str(path)
    finally:
        proc.kill()
        proc.wait()


def _run(url, accounts_file, tmp_path, duration, faults=(), workers=0):
    """Run Locust; switch each fault on at its time counted from the first request (Locust's
    start-up takes seconds on a busy machine, so the launch time is no clock to count from)."""
    rec = tmp_path / "records"
    spec = LoadSpec(host=url, duration=duration, users=6, rate=90, mix=(0.3, 0.5, 0.2), accounts_file=accounts_file,
                    record_dir=str(rec), csv_prefix=str(tmp_path / "locust"), op_deadline=4.0, timeout=3.0,
                    workers=workers, seed=7)
    result = {}
    th = threading.Thread(target=lambda: result.update(r=run_locust(spec, str(tmp_path / "locust.log"), cwd=ROOT)))
    th.start()
    t0 = wait_first_request(str(rec), th.is_alive)
    for at, mode, seconds in sorted(faults):
        time.sleep(max(0.0, t0 + at - time.time()))
        httpx.post(url + "/admin/fault", json={"mode": mode, "seconds": seconds},
                   headers={"Authorization": f"Bearer {TOKEN}"})
    th.join()
    res = result["r"]
    assert res.returncode == 0, (tmp_path / "locust.log").read_text()[-2000:]
    return str(rec), t0


def test_standalone_load_finds_the_seeded_accounts(fakebank, tmp_path):
    """``locust -f loadtests/load/locustfile.py`` without an accounts file discovers the accounts by id:
    they must be the ids seeding creates (bug: it asked for acct-00000, seeding made acct-0000000)."""
    url, accts, _ = fakebank
    rec = tmp_path / "records"
    spec = LoadSpec(host=url, duration=3.0, users=2, rate=20, record_dir=str(rec), op_deadline=4.0, timeout=3.0,
                    seed=7, extra=["--bank-accounts", str(len(accts))])
    res = run_locust(spec, str(tmp_path / "locust.log"), cwd=ROOT)
    assert res.returncode == 0, (tmp_path / "locust.log").read_text()[-2000:]
    log = (tmp_path / "locust.log").read_text()
    assert "no accounts found" not in log, log[-2000:]
    assert len(read_requests(str(rec))) > 5


def test_pipeline_honest_bank_passes_and_recovery_is_measured(fakebank, tmp_path):
    url, accts, afile = fakebank
    rec, t0 = _run(url, afile, tmp_path, 7.0, faults=[(2.0, "unknown", 1.0), (4.5, "unavailable", 1.0)])
    hist = read_transfers(rec)
    assert len(hist) > 100
    assert any(h.outcome == "resolved" for h in hist)  # 504s were resolved through the status endpoint
    res = run_checker(url, hist, accts, settle=5.0)
    assert res.valid, res.explain()
    assert res.acknowledged > 50 and res.total_after == res.total_before == 600_000
    rows = read_requests(rec)
    eps = [FaultEpisode("unknown-outcome", "bank", 2.0, 3.0), FaultEpisode("unavailable", "bank", 4.5, 5.5)]
    # faults are switched over HTTP right at their times; 0.6 s covers that call and the
    # 0.1 s resolution of the first-request clock on a busy machine
    for f in analyse_faults(rows, t0, eps, run_end=7.0, slow_ms=500):
        assert f["failed_requests"] > 5, f
        assert f["recovery_seconds"] == pytest.approx(1.0, abs=0.6), f
    assert os.path.exists(str(tmp_path / "locust_stats.csv")) and os.path.exists(str(tmp_path / "locust_stats_history.csv"))


@pytest.mark.parametrize("fakebank", ["duplicate"], indirect=True)
def test_pipeline_planted_duplicate_is_caught(fakebank, tmp_path):
    url, accts, afile = fakebank
    rec, _ = _run(url, afile, tmp_path, 4.0, faults=[(1.0, "unknown-dark", 1.5)])
    res = run_checker(url, read_transfers(rec), accts, settle=5.0)
    assert not res.valid and res.duplicated > 0, res.explain()
    assert "applied 2 times" in res.explain()


@pytest.mark.parametrize("fakebank", ["lose"], indirect=True)
def test_pipeline_planted_loss_is_caught(fakebank, tmp_path):
    url, accts, afile = fakebank
    rec, _ = _run(url, afile, tmp_path, 3.0)
    res = run_checker(url, read_transfers(rec), accts, settle=5.0)
    assert not res.valid and res.lost > 0, res.explain()


def test_locust_master_and_one_worker(fakebank, tmp_path):
    """Locust's distributed mode on this machine: --master plus one --worker, both on 127.0.0.1."""
    url, accts, afile = fakebank
    rec, _ = _run(url, afile, tmp_path, 4.0, workers=1)
    files = sorted(os.listdir(rec))
    assert len([f for f in files if f.startswith("transfers-")]) == 1  # written by the worker only
    hist = read_transfers(rec)
    assert len(hist) > 30
    res = run_checker(url, hist, accts, settle=5.0)
    assert res.valid, res.explain()
    log = (tmp_path / "locust.log").read_text()
    assert "Traceback" not in log, log[-2000:]
