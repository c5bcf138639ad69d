"""The live half of hivesim: a real cell-based bank to load and break, one stage per folder.

``cluster`` starts it (etcd, Patroni/PostgreSQL per cell, fault proxies, app servers, gateway,
relay) -> ``bank`` is the bank service itself -> ``load`` (Locust users, the day-shaped load) and
``chaos`` (the scenario's ``chaos:`` schedule: process signals, the TCP fault proxy, IDC down)
-> ``checker`` (exactly-once, money conserved, replicas converged) -> ``analysis`` (request
records -> summary.json, events.csv, timeseries.csv in the results contract) -> calibration
(``sim.calibration``, which reads only those files). ``run`` is ``hivesim live``: all of it.
"""
