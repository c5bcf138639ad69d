"""loadtests.cluster.procs.free_ports: the live cluster's ports, clear of the ephemeral range."""

from __future__ import annotations

import socket

from loadtests.cluster.procs import LOW_PORT, _ephemeral_low, free_ports


def test_ports_are_distinct_bindable_and_below_the_ephemeral_range():
    """Outgoing connections take their local ports from the ephemeral range, so a port picked
    there can be taken before the service binds it; the picks stay below it."""
    ports = free_ports(40)
    assert len(set(ports)) == 40
    assert all(LOW_PORT <= p < _ephemeral_low() for p in ports)
    for p in ports[:5]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", p))


def test_a_taken_port_is_never_picked():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        assert taken not in free_ports(50, base=taken - 10)
    assert free_ports(3, base=LOW_PORT + 7)[0] >= LOW_PORT + 7
