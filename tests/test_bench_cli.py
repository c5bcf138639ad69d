"""``hivesim bench``: runs, writes its JSON atomically, rejects bad input (no timing asserts)."""

import json

import pytest

from sim.cli import main


def test_bench_quick_writes_figures(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--only", "P3", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert set(data) == {"P3"}
    p3 = data["P3"]
    assert {"value", "target", "pass", "cases"} <= set(p3) and p3["target"] == 100.0
    assert all(c["exact"] > 0 and c["is_years"] > 0 for c in p3["cases"])
    assert "P3" in capsys.readouterr().out
    # an existing file is never silently replaced
    assert main(["bench", "--quick", "--only", "P3", "--json", str(out)]) == 2
    assert "exists" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["bench", "--only", "P9"], ["bench", "--runs", "0"]])
def test_bench_bad_arguments_exit_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("hivesim: error:") and "Traceback" not in err
