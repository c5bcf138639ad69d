"""sim/files.py, the one safe reader, and sim/results/shape.py, in-process (the CLI corpus is
tests/test_bad_input_files.py): each rule, including the races a stat-then-open leaves open."""

from __future__ import annotations

import os
import stat

import pytest

from sim.errors import ResultsError, ScenarioError
from sim.files import JSON_MAX_DEPTH, YAML_MAX_DEPTH, load_json, parse_yaml, read_bytes, read_text
from sim.results.shape import LIVE_REQUIRED, check_summary


def test_regular_files_only(tmp_path):
    os.mkfifo(tmp_path / "f")
    with pytest.raises(ScenarioError, match="is a FIFO"):
        read_bytes(tmp_path / "f", "scenario YAML file", 100)
    with pytest.raises(ScenarioError, match="is a directory"):
        read_bytes(tmp_path, "scenario YAML file", 100)
    with pytest.raises(ResultsError, match="character device"):
        read_bytes("/dev/zero", "summary.json", 100, ResultsError)
    with pytest.raises(ScenarioError, match="file not found"):
        read_bytes(tmp_path / "missing", "scenario YAML file", 100)


def test_a_fifo_swapped_in_after_stat_does_not_block(tmp_path, monkeypatch):
    # stat says "regular file" (as it would have a moment before the swap); the open must not block
    os.mkfifo(tmp_path / "f")
    regular = os.stat(__file__)
    real_stat = os.stat
    monkeypatch.setattr(os, "stat", lambda p, *a, **k: regular if str(p).endswith("/f") else real_stat(p, *a, **k))
    with pytest.raises(ScenarioError, match="is a FIFO"):
        read_bytes(tmp_path / "f", "scenario YAML file", 10_000_000)


def test_size_limit_with_the_figure_and_a_file_that_grows(tmp_path, monkeypatch):
    p = tmp_path / "big.csv"
    p.write_bytes(b"x" * 2000)
    with pytest.raises(ResultsError, match=r"2,000 bytes; the limit for a CSV file is 1,000"):
        read_bytes(p, "CSV file", 1000, ResultsError)
    # a file that grew after its stat: never more than limit + 1 bytes are read
    small = os.stat(tmp_path)
    real_stat = os.stat
    fake = os.stat_result((stat.S_IFREG | 0o644,) + tuple(small)[1:6] + (10,) + tuple(small)[7:])
    monkeypatch.setattr(os, "stat", lambda q, *a, **k: fake if str(q) == str(p) else real_stat(q, *a, **k))
    with pytest.raises(ResultsError, match="more than 1,000 bytes"):
        read_bytes(p, "CSV file", 1000, ResultsError)


def test_utf8_error_names_line_and_byte(tmp_path):
    p = tmp_path / "t.csv"
    p.write_bytes(b"a,b\n1,2\n3,\xff\n")
    with pytest.raises(ResultsError) as ei:
        read_text(p, "CSV file", 1000, ResultsError)
    assert str(ei.value) == f"{p}:3: not UTF-8 text (byte 10: b'\\xff')"


def test_json_depth_checked_before_parsing(tmp_path):
    p = tmp_path / "s.json"
    p.write_text('{"a": "[[[[ not counted in strings",\n "b": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(ResultsError, match=f":2: nested deeper than {JSON_MAX_DEPTH} levels"):
        load_json(p)
    p.write_text('{"a": "]]]]"}' + "[" * JSON_MAX_DEPTH + "]" * JSON_MAX_DEPTH)
    with pytest.raises(ResultsError, match="not valid JSON"):  # depth is fine, the document is not
        load_json(p)
    p.write_text("[" * JSON_MAX_DEPTH + "]" * JSON_MAX_DEPTH)
    assert isinstance(load_json(p), list)


@pytest.mark.parametrize("text, path, needle", [
    ('{"a": {"b": [1, NaN]}}', "a.b[1]", "finite number, got NaN"),
    ('{"a": -Infinity}', "a", "finite number"),
    ('{"a": [{"x": 1e999}]}', "a[0].x", "finite number"),
    ('{"run": {"seed": ' + "1" * 5000 + "}}", "run.seed", "5,000 digits"),
    ('{"run": {"horizon_days": ' + "1" * 400 + "}}", "run.horizon_days", "floating-point range"),
])
def test_json_values_refused_with_their_key_path(tmp_path, text, path, needle):
    p = tmp_path / "s.json"
    p.write_text(text)
    with pytest.raises(ResultsError) as ei:
        load_json(p)
    assert str(ei.value).startswith(f"{p}: {path}: ") and needle in str(ei.value)


def test_yaml_depth_counted_while_composing():
    for text in ("a: " + "[" * 5000 + "]" * 5000, "a:\n" + "".join(" " * i + "- \n" for i in range(3000))):
        with pytest.raises(ScenarioError, match=f"deeper than {YAML_MAX_DEPTH} levels"):
            parse_yaml(text, "x.yaml")
    data, _ = parse_yaml("a: " + "[" * YAML_MAX_DEPTH + "]" * YAML_MAX_DEPTH, "x.yaml")
    assert isinstance(data["a"], list)


def test_yaml_aliases_big_ints_and_error_class():
    with pytest.raises(ResultsError, match="x.yaml:2: YAML aliases"):
        parse_yaml("a: 1\nb: *a\n", "x.yaml", ResultsError)
    with pytest.raises(ScenarioError, match="x.yaml:1: YAML anchors"):
        parse_yaml("- &a 1\n", "x.yaml")
    with pytest.raises(ScenarioError, match=r"x.yaml:2: sim.seed: integer too long \(5,000 digits"):
        parse_yaml("sim:\n  seed: " + "7" * 5000 + "\n", "x.yaml")
    assert parse_yaml("", "x.yaml") == (None, {})


def test_summary_shape_names_the_key_path():
    with pytest.raises(ResultsError, match=r"^s.json: run: missing, expected object"):
        check_summary({"kind": "live", "run": None}, "s.json", LIVE_REQUIRED)
    with pytest.raises(ResultsError, match=r"^s.json: faults: expected list, got a string"):
        check_summary({"faults": "all"}, "s.json")
    with pytest.raises(ResultsError, match=r"^s.json: faults\[1\].start: expected number, got a string"):
        check_summary({"faults": [{"start": 1}, {"start": "1"}]}, "s.json")
    with pytest.raises(ResultsError, match=r"^s.json: expected a JSON object, got a list"):
        check_summary([], "s.json")
    assert check_summary({"run": None, "faults": []}, "s.json") == {"run": None, "faults": []}
