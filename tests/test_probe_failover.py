"""benchmarks/probe_failover.py reads Patroni's and PostgreSQL's log lines by their UTC stamps."""

from benchmarks.probe_failover import STEPS, first_line_after, log_instant

LOG = """2026-12-04 18:49:55,429 INFO: Lock owner: c0-m0; I am c0-m0
2026-12-04 18:49:55,440 INFO: Primary crashed. Failing over.
2026-12-04 18:49:55.578 UTC [27522] LOG:  database system is ready to accept connections
2026-12-04 18:49:57.863 UTC [28036] LOG:  database system is ready to accept read-only connections
2026-12-04 18:49:57.877 UTC [28048] LOG:  standby "c0-m0" is now a synchronous standby with priority 1
not a log line""".splitlines()


def test_both_stamp_styles_read_as_utc():
    assert log_instant(LOG[1]) == 1796410195.44  # Patroni: comma before the milliseconds
    assert abs(log_instant(LOG[2]) - 1796410195.578) < 1e-6  # PostgreSQL: dot, "UTC"
    assert log_instant(LOG[-1]) is None


def test_steps_are_found_after_the_kill_and_read_only_start_up_is_not_ready():
    kill = 1796410193.684
    assert first_line_after(LOG, STEPS["failover"], kill, kill + 12) == 1.756
    assert first_line_after(LOG, STEPS["ready"], kill, kill + 12) == 1.894  # not the read-only line
    assert first_line_after(LOG, STEPS["sync"], kill, kill + 12) == 4.193
    assert first_line_after(LOG, STEPS["sync"], kill, kill + 4) is None  # outside the window
