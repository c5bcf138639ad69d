"""Print the services and overrides oracles' figures: ``python -m tests.services_figures``.

Runs each oracle test of tests/test_services_oracles.py and tests/test_overrides.py with its
check replaced by a printer: the closed form's unavailability U, the simulated U, its 95 % CI
and the half-width relative to U (the tests require the CI to hold U and that ratio <= 15 %).
"""

from __future__ import annotations

from unittest import mock

import tests.test_overrides as overrides
import tests.test_services_oracles as services

_ORACLES = {
    services: ["test_series_of_services_with_k_of_n", "test_a_service_shared_by_two_paths",
               "test_a_fallback_serves_while_its_service_is_down",
               "test_a_service_with_its_own_database_fails_writes_on_quorum_loss",
               "test_cross_cell_transfers_need_the_source_path_and_a_writable_destination"],
    overrides: ["test_lognormal_failover_time_enters_through_its_mean", "test_per_replica_failure_models",
                ("test_app_repair_crews_for_the_bank_or_per_idc", "bank"),
                ("test_app_repair_crews_for_the_bank_or_per_idc", "idc"),
                "test_router_blip_as_a_distribution_enters_through_its_mean"],
}


def main() -> None:
    for mod, names in _ORACLES.items():
        for entry in names:
            name, args = (entry[0], entry[1:]) if isinstance(entry, tuple) else (entry, ())
            label = name + (f"[{args[0]}]" if args else "")

            def show(summary, u, key="request", max_rel_hw=0.15, label=label):
                b = summary["availability"][key]
                lo, hi = b["ci95"]
                print(f"{label:<75} {key:<7} closed U={u:.5f}  simulated U={1 - b['mean']:.5f}  "
                      f"CI95 [{1 - hi:.5f}, {1 - lo:.5f}]  half-width/U={b['half_width'] / u:.1%}")
            with mock.patch.object(mod, "check", show):
                getattr(mod, name)(*args)


if __name__ == "__main__":
    main()
