"""``hivesim bench --bank``: the live bank's overhead as an optional figure of ``hivesim bench``.

Without a live stack the figure is skipped with its reason (and ``--check`` does not count it);
with one (``-m live``), a short run brings a cluster up and reports both paths.
"""

import json

import pytest

from sim.cli import main


def test_bank_figure_skipped_with_its_reason(tmp_path, capsys, monkeypatch):
    import benchmarks.bench_bank as bb
    monkeypatch.setattr(bb, "skip_reason", lambda: "live stack missing: etcd")
    monkeypatch.setattr(bb, "measure", lambda **kw: pytest.fail("measured although skipped"))
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--only", "P3", "--bank", "--check", "--json", str(out)]) in (0, 1)
    data = json.loads(out.read_text())
    assert set(data) == {"P3", "bank"}
    bank = data["bank"]
    assert bank["skipped"] == "live stack missing: etcd" and bank["pass"] is None and bank["target"] == 0.75
    text = capsys.readouterr().out
    assert "skipped" in text and "live stack missing: etcd" in text


def test_check_ignores_a_skipped_bank_but_not_a_missed_one(monkeypatch, capsys):
    import benchmarks.bench_bank as bb
    import benchmarks.suite as suite
    monkeypatch.setattr(suite, "run", lambda **kw: {})  # no engine figures: only the bank decides
    monkeypatch.setattr(bb, "skip_reason", lambda: "live stack missing: etcd")
    assert main(["bench", "--bank", "--check"]) == 0
    monkeypatch.setattr(bb, "skip_reason", lambda: None)
    fig = {"ratio": 0.5, "pass": False, "raw_tps": 1000.0, "service_tps": 500.0, "raw_p50_ms": 10.0,
           "raw_p99_ms": 30.0, "service_p50_ms": 20.0, "service_p99_ms": 60.0, "rounds": 1, "seconds": 2.0,
           "concurrency": 16, "machine": {"cpus": 2, "loadavg_before": [1.0, 1.0, 1.0],
                                          "loadavg_after": [2.0, 1.0, 1.0]}}
    monkeypatch.setattr(bb, "measure", lambda **kw: fig)
    assert main(["bench", "--bank", "--check"]) == 1
    assert "raw 1,000/s" in capsys.readouterr().out


@pytest.mark.live
@pytest.mark.parametrize("fault_proxy", [False, True], ids=["service-tier", "through-fault-proxy"])
def test_bank_figure_measures_both_paths(fault_proxy):
    import uuid

    from tests.conftest import require_live
    require_live()
    import benchmarks.bench_bank as bb
    # under /tmp itself: the postgres user must traverse the run dir (pytest's tmp_path is 0700)
    r = bb.measure(seconds=2.0, rounds=1, cluster_dir=f"/tmp/hivesim-test-{uuid.uuid4().hex[:8]}",
                   fault_proxy=fault_proxy)
    assert r["fault_proxy"] is fault_proxy
    for path in ("raw", "service"):
        assert r[f"{path}_tps"] > 0 and 0 < r[f"{path}_p50_ms"] <= r[f"{path}_p99_ms"]
        assert all(not x.get("errors") for x in r[path])
    assert r["ratio"] == round(r["service_tps"] / r["raw_tps"], 3)
    # one round: its paired ratio, but no interval, hence no verdict either way
    assert r["ratio_rounds"] == [round(r["service"][0]["tps"] / r["raw"][0]["tps"], 4)]
    assert r["ratio_ci95"] is None and r["verdict"] == "one round" and r["pass"] is None
    assert len(r["machine"]["loadavg_before"]) == 3
    # where the time goes: only the service path runs the gateway and the app server (and, with
    # --fault-proxy, the proxies); both paths make the database and the load generator work
    raw, svc = r["raw_cpu_ms_per_transfer"], r["service_cpu_ms_per_transfer"]
    for part in ("gateway", "app", "proxy") if fault_proxy else ("gateway", "app"):
        assert svc[part] > 0 and raw[part] < svc[part] / 5, (part, raw, svc)
    if not fault_proxy:  # no proxy process was started: none of the CPU is a proxy's
        assert raw["proxy"] == svc["proxy"] == 0
    assert raw["database"] > 0 and svc["database"] > 0 and raw["client"] > 0 and svc["client"] > 0
    assert svc["total"] == pytest.approx(sum(v for k, v in svc.items() if k != "total"), abs=0.01)


def test_pooled_cpu_is_per_transfer_over_all_rounds():
    import benchmarks.bench_bank as bb
    rounds = [{"transfers": 100, "seconds": 1.0, "_lat": [0.01] * 100, "_cpu": {"app": 0.05, "client": 0.02}},
              {"transfers": 300, "seconds": 1.0, "_lat": [0.02] * 300, "_cpu": {"app": 0.15, "client": 0.02}}]
    out = bb._pooled(rounds)
    assert out["tps"] == 200.0 and out["cpu_ms"] == {"app": 0.5, "client": 0.1, "total": 0.6}


def _table_text(drop=(), **changes) -> str:
    """``bank_table`` of a 3-round result (without the keys in ``drop``, with ``changes``), as text."""
    from rich.console import Console

    from sim.cli.bankbench import bank_table
    fig = {"value": 0.7, "pass": False, "target": 0.75, "quick": False, "fault_proxy": False,
           "raw_tps": 1700.0, "service_tps": 1190.0, "raw_p50_ms": 9.0, "raw_p99_ms": 15.0,
           "service_p50_ms": 13.0, "service_p99_ms": 22.0, "rounds": 3, "seconds": 10.0, "concurrency": 16,
           "machine": {"cpus": 2, "loadavg_before": [1.0, 1.0, 1.0], "loadavg_after": [2.0, 1.0, 1.0]}}
    fig = {**{k: v for k, v in fig.items() if k not in drop}, **changes}
    console = Console(width=400, record=True)
    console.print(bank_table(fig))
    return console.export_text()


@pytest.mark.parametrize("fault_proxy", [False, True])
def test_the_table_says_whether_the_fault_proxies_ran(fault_proxy):
    cpu = {"client": 0.07, "gateway": 0.15, "app": 0.46, "proxy": 0.14 if fault_proxy else 0.0,
           "database": 0.65, "etcd": 0.03, "total": 1.5}
    text = _table_text(fault_proxy=fault_proxy, raw_cpu_ms_per_transfer={**cpu, "total": 0.95},
                       service_cpu_ms_per_transfer=cpu)
    assert ("through fault proxy" in text) is fault_proxy and ("no fault proxy" in text) is not fault_proxy
    assert ("proxy 0.14" in text) is fault_proxy and "proxy 0.00" not in text


def test_a_result_from_before_the_option_reads_as_through_the_proxies():
    cpu = {"client": 0.07, "gateway": 0.14, "app": 0.42, "proxy": 0.14, "database": 0.63, "total": 1.44}
    # no "fault_proxy" key: every result before it crossed the proxies
    text = _table_text(drop=("fault_proxy",), raw_cpu_ms_per_transfer={**cpu, "total": 0.93},
                       service_cpu_ms_per_transfer=cpu)
    assert "through fault proxy" in text and "proxy 0.14" in text


def test_the_verdict_needs_the_whole_interval_on_one_side():
    import benchmarks.bench_bank as bb
    # mean 0.74, sd 0.02, t(0.975, 2) = 4.303: 0.74 -+ 0.0497
    assert bb.ratio_interval([0.74, 0.72, 0.76]) == pytest.approx((0.6903, 0.7897), abs=1e-4)
    assert bb.verdict(bb.ratio_interval([0.74, 0.72, 0.76])) == "inconclusive"
    assert bb.verdict(bb.ratio_interval([0.80, 0.81, 0.79])) == "met"
    assert bb.verdict(bb.ratio_interval([0.60, 0.61, 0.62])) == "not met"
    assert bb.ratio_interval([0.8]) is None and bb.verdict(None) == "one round"
    raws = [{"tps": 1000.0}, {"tps": 1200.0}]
    svcs = [{"tps": 750.0}, {"tps": 840.0}]
    assert bb.round_ratios(raws, svcs) == [0.75, 0.7]


def test_a_wrong_verdict_is_as_rare_as_stated():
    """The interval's claim: under its assumptions (independent, normal round ratios), a true
    ratio exactly at the target is called "not met" in at most 2.5 % of runs, and so is "met".
    20,000 seeded runs of 3 rounds (sd 0.02, as measured): each rate within 2.1-2.9 % (binomial
    sd 0.11 points at 2.5 %: over 3.5 sd either way). Seeded, so no false alarm of its own."""
    import random

    import benchmarks.bench_bank as bb
    rng = random.Random(17)
    said = [bb.verdict(bb.ratio_interval([rng.gauss(0.75, 0.02) for _ in range(3)])) for _ in range(20_000)]
    for v in ("met", "not met"):
        assert 0.021 <= said.count(v) / len(said) <= 0.029, (v, said.count(v))


@pytest.mark.parametrize("said,shown", [("inconclusive", "inconclusive"), ("met", "yes"), ("not met", "no")])
def test_the_table_shows_the_rounds_and_their_verdict(said, shown):
    text = _table_text(value=0.74, service_tps=1258.0, ratio_rounds=[0.74, 0.72, 0.76],
                       ratio_ci95=[0.6903, 0.7897], verdict=said)
    row = next(line for line in text.splitlines() if "bank" in line and "0.74" in line)
    cells = [c.strip() for c in row.split("│")]
    assert cells[4] == shown and "rounds 0.740, 0.720, 0.760" in row and "[0.690, 0.790]" in row


def test_one_round_is_shown_as_no_verdict():
    text = _table_text(value=0.8, quick=True, rounds=1, seconds=2.0, raw_tps=1000.0, service_tps=800.0,
                       ratio_rounds=[0.8], ratio_ci95=None, verdict="one round", **{"pass": None})
    assert "one round" in text and "rounds 0.800" in text and "CI" not in text and " yes " not in text


@pytest.mark.parametrize("argv,said", [
    (["--rounds", "0"], "bench_bank: error: --rounds: expected an integer >= 1, got 0"),
    (["--concurrency", "-3"], "bench_bank: error: --concurrency: expected an integer >= 1, got -3"),
    (["--concurrency", "x"], "argument --concurrency: invalid int value: 'x'"),
    (["--seconds", "nan"], "bench_bank: error: --seconds: expected a number of seconds > 0, got nan"),
    (["--scenario", "no-such.yaml"], "bench_bank: error: no-such.yaml: file not found"),
    (["--out", "/no-such-dir/r.json"], "bench_bank: error: --out /no-such-dir/r.json: its directory does not exist"),
])
def test_bench_bank_refuses_bad_input_before_any_work(argv, said, capsys, monkeypatch, tmp_path):
    """One clear line, exit 2, no traceback, no cluster: checked before ``measure`` brings one up
    (a bad scenario is the first thing it reads, before any process starts)."""
    import benchmarks.bench_bank as bb
    monkeypatch.chdir(tmp_path)  # the default scenario is found from anywhere, a relative one is not
    monkeypatch.setattr(bb, "Cluster", lambda *a, **k: pytest.fail("a cluster was made"))
    try:
        code = bb.main(argv)
    except SystemExit as exc:  # argparse's own refusal
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and said in err and "Traceback" not in err
