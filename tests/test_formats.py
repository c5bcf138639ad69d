"""One format per figure: the registry's ``format_value`` (and its delta and threshold forms)."""

from __future__ import annotations

from sim.results.formatting import format_delta, format_duration, format_number, format_threshold, format_value


def test_rates_and_counts_never_scientific():
    assert format_value("throughput.capacity_tps", 1526154.3) == "1,526,154"
    assert format_value("throughput.capacity_tps", 1526154.3, unit=True) == "1,526,154 tx/s"
    assert format_value("throughput.peak_daily_transactions", 4.391e10) == "43.9 billion"
    assert format_value("outages.count", 12345) == "12,345"
    assert "e" not in format_number(1.23e-5) and format_number(1.23e-5) == "0.0000123"


def test_five_nines_and_their_interval():
    assert format_value("availability.request.mean", 0.99999812) == "99.9998120%"
    lo_hi = format_value("availability.request.ci95", [0.9999912, 0.9999995])
    assert lo_hi == "[99.99912000%, 99.99995000%]"
    assert format_value("availability.request.failed_per_million", 1.88) == "1.88"


def test_durations_in_human_units():
    assert format_duration(42) == "42 s" and format_duration(200) == "3 min 20 s"
    assert format_duration(7500) == "2 h 5 min" and format_duration(3.5 * 86400) == "3.5 days"
    assert format_value("run.wall_seconds", 0.25) == "0.25 s"


def test_deltas_in_the_keys_unit_and_thresholds_as_written():
    assert format_delta("availability.request.mean", -5.455349e-07) == "-0.0000546 pp"
    assert format_delta("cost.per_account_per_year", 0.5) == "+0.5"
    assert format_threshold("availability.request.mean", 0.9999) == "99.99%"
    assert format_threshold("availability.request.nines", 5) == "5"


def test_deltas_read_cleanly():
    assert format_delta("availability.request.mean", 1e-6) == "+0.0001 pp"
    assert format_delta("cost.total_per_year", 0) == "0"


def test_a_key_of_no_known_format_keeps_its_digits():
    assert format_value("my.fraction", 0.99999812) == "0.99999812"
    assert format_value("my.count", 4.391e10) == "43,910,000,000"
