"""The live half of hivesim: a real cell-based bank to load and break.

``loadtests.cluster`` starts it (etcd, Patroni/PostgreSQL per cell, fault proxies, app servers,
gateway, relay); ``loadtests.bank`` is the bank service itself; ``loadtests.proxy`` is the TCP
fault proxy on the app -> database path. Load and chaos (issue 6) build on these.
"""
