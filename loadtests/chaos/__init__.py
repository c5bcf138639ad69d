"""Fault injection for the live benchmark, driven by the scenario's ``chaos:`` schedule.

``targets``  -- resolve a chaos target (``cell[0].db.primary``, ``idc[b]``, ``etcd[quorum]`` ...)
                to the processes and proxy links of a running cluster;
``faults``   -- what each fault kind does (signals by PID, the TCP fault proxy, restarts);
``injector`` -- plays the schedule against the run's clock and records every fault episode;
``fakebank`` -- an in-memory bank with fault switches, a test double for the pipeline.
"""
