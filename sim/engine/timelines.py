"""Whole-horizon failure timelines of independent components, drawn in bulk with numpy.

A component with exponential times to failure and to repair and no crew to wait for is an
alternating renewal process that nothing else in the bank influences: its timeline can be drawn
before the run, for all such components at once, instead of as two SimPy events per failure.
``sim.engine.faults.bulk_nodes`` then gives the engine only the instants that can change a figure.

Draws are counter-based: draw ``j`` of a component is SplitMix64 of (the stream's seed + (j + 1)
golden gammas), the stream's seed being SplitMix64 of (the replication's root XOR a 64-bit hash
of the component's key). Like ``Streams.stream``, the key (its scope and cause), not the order,
fixes a component's draws (common random numbers across variants), and the block size used to
draw them changes nothing: draw ``j`` is a function of ``j`` alone.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

import numpy as np

__all__ = ["key_ids", "uniforms", "alternating", "step_counts", "group_steps", "GroupSteps"]

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's output function (uint64 arithmetic wraps, as the algorithm wants)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def key_ids(keys: list[str]) -> np.ndarray:
    """A 64-bit hash of each key (independent of the replication: computable once per plan)."""
    return np.array([int.from_bytes(hashlib.blake2b(k.encode(), digest_size=8).digest(), "little")
                     for k in keys], dtype=np.uint64)


def uniforms(root: int, ids: np.ndarray, start: int, n: int) -> np.ndarray:
    """Draws ``start .. start + n - 1`` of each stream ``ids``, uniform on (0, 1]: shape (len(ids), n)."""
    with np.errstate(over="ignore"):
        seeds = _mix(ids ^ np.uint64(root & 0xFFFFFFFFFFFFFFFF))
        j = np.arange(start + 1, start + n + 1, dtype=np.uint64) * _GAMMA
        z = _mix(seeds[:, None] + j[None, :])
    return ((z >> _S11).astype(np.float64) + 1.0) * (1.0 / 9007199254740992.0)


def alternating(root: int, ids: np.ndarray, mttf: np.ndarray, mttr: np.ndarray, horizon: float):
    """Failure and repair times of each component up to its first failure after ``horizon``.

    Returns ``(component, fail, repair)`` arrays, one row per failure before ``horizon`` (its
    repair may fall after it). Draw 0 is the first time to failure (for an exponential the
    residual life is the same law), then repair and failure alternate. Times accumulate
    sequentially from 0 (``np.cumsum``), so they do not depend on how the draws are blocked.
    """
    n = len(ids)
    cycles = horizon / np.maximum(np.min(mttf + mttr), 1e-300) if n else 0.0
    # draws per component and round: the fastest component's mean cycles and one standard
    # deviation (the few that fail more draw a second round; the values do not depend on it)
    block = 2 * int(min(cycles, 1e5) + np.sqrt(min(cycles, 1e5)) + 2)
    comp, fails, reps = [], [], []
    active = np.arange(n)
    t0 = np.zeros(n)
    start = 0
    while active.size:
        d = -np.log(uniforms(root, ids[active], start, block))
        d[:, 0::2] *= mttf[active, None]
        d[:, 1::2] *= mttr[active, None]
        t = np.cumsum(np.concatenate([t0[:, None], d], axis=1), axis=1)[:, 1:]
        f, r = t[:, 0::2], t[:, 1::2]
        keep = f < horizon
        comp.append(np.broadcast_to(active[:, None], f.shape)[keep])
        fails.append(f[keep])
        reps.append(r[keep])
        more = r[:, -1] < horizon  # the next failure may still fall inside the horizon
        active, t0 = active[more], r[more, -1]
        start += block
    if not comp:
        return np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0)
    return np.concatenate(comp), np.concatenate(fails), np.concatenate(reps)


def step_counts(owner: np.ndarray, times: np.ndarray, delta: np.ndarray, by_time=None):
    """Per owner, the running count of ``+1``/``-1`` steps in time order.

    ``owner``, ``times``, ``delta`` describe steps whose deltas sum to 0 per owner. Returns the
    steps sorted by (owner, time) and the count after each one: ``(order, count)`` with
    ``order`` the permutation applied. ``by_time``: ``np.argsort(times)``, when the caller has it.
    """
    if len(owner) and owner.max() < 65536:
        # np.lexsort((times, owner))'s order but for exact ties in time (an instant failure
        # and repair, probability ~2**-53 a draw: a zero-length span either way), ~4x faster:
        # a sort by time, then a stable radix sort by owner (16-bit keys)
        order = np.argsort(times) if by_time is None else by_time
        order = order[np.argsort(owner[order].astype(np.uint16), kind="stable")]
    else:
        order = np.lexsort((times, owner))
    return order, np.cumsum(delta[order])


class GroupSteps(NamedTuple):
    """``group_steps``'s answer: the groups' steps, sorted by (group, time)."""

    T: np.ndarray        # each step's time
    G: np.ndarray        # its group
    C: np.ndarray        # the group's nodes down after it
    level: np.ndarray    # max of the count before and after: the nodes down at once around it
    node: np.ndarray     # the node that went down (+1) or came back (-1)
    delta: np.ndarray    # +1 or -1
    cause: np.ndarray    # the cause code of the component whose span made the step
    span_start: np.ndarray  # each node's down spans (union of its components'), node by node
    span_end: np.ndarray
    span_node: np.ndarray


def group_steps(node, cause, fail, rep, group_of) -> GroupSteps:
    """Nodes down, per group of nodes, as a step function, from the components' spans.

    Component ``i`` (of node ``node[i]``, cause code ``cause[i]``) is down from ``fail[i]`` to
    ``rep[i]``; a node is down while any of its components is (the union of their spans), and
    ``group_of[n]`` is node n's group (a service, an app tier). Shared by ``faults.bulk_nodes``
    and ``faults.bulk_apps``.
    """
    n = len(fail)
    times = np.concatenate([fail, rep])
    owner = np.concatenate([node, node])
    delta = np.concatenate([np.ones(n, dtype=np.int64), -np.ones(n, dtype=np.int64)])
    by_time = np.argsort(times)
    order, cum = step_counts(owner, times, delta, by_time)
    d = delta[order]
    starts, ends = (d == 1) & (cum == 1), (d == -1) & (cum == 0)   # a node goes down, comes back
    t, o = times[order], owner[order]
    # the nodes' transitions in time order without sorting their times again: the steps'
    # time order (``by_time``) kept to those that are transitions
    is_tr = np.zeros(len(times), dtype=bool)
    is_tr[order[starts | ends]] = True
    sub = by_time[is_tr[by_time]]
    grp = group_of[owner[sub]]
    order2, count = step_counts(grp, times[sub], delta[sub], np.arange(len(sub)))
    idx = sub[order2]
    G = grp[order2]
    prev = np.concatenate([[0], count[:-1]])
    if len(prev):
        prev[np.concatenate([[True], G[1:] != G[:-1]])] = 0
    return GroupSteps(times[idx], G, count, np.maximum(count, prev), owner[idx], delta[idx],
                      np.concatenate([cause, cause])[idx], t[starts], t[ends], o[starts])
