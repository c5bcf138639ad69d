"""Random streams of one replication: a seeded generator, and keyed sub-streams per component.

Replication ``i`` of a scenario with seed ``s`` draws from child ``i`` of ``SeedSequence(s)``;
each component or process then draws from its own stream keyed by its scope name
(``cell[3].db.replica[1]/server``). Keys, not order, fix the streams: a variant with one more
replica draws the same failure times for every other component (common random numbers).
Crew-free components with exponential laws (nearly all of a bank's: app, DB, service, router
and bus nodes) draw from counter-based streams on the same keys and root instead
(``sim.engine.timelines``: their whole timelines at once, in numpy, no stream seeded); the
streams here serve the rest (failovers, correlated groups, changes, gray nodes, other laws).
"""

from __future__ import annotations

import hashlib
import random

import numpy as np

# ``random.Random(x)`` runs Python's ``Random.__init__`` and ``Random.seed`` around the C seeding
# (type checks for str/bytes seeds, then ``super().seed``); a stream's seed is always an int, so
# these go straight to the C seeding: the same generator state (MT19937 by init_by_array of the
# int's 32-bit words), ~1.5 us less per stream, of ~6 (a replication creates ~1,700)
_new = random.Random.__new__
_seed = random.Random.__mro__[1].seed   # _random.Random.seed

__all__ = ["replication_rng", "Streams"]


def replication_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of replication ``index``: child ``index`` of ``SeedSequence(seed)``.

    ``SeedSequence.spawn`` children depend only on (seed, child number), so the stream of a
    replication is the same whatever the number of replications or workers.
    """
    ss = np.random.SeedSequence(entropy=seed, spawn_key=(index,))
    return np.random.Generator(np.random.PCG64(ss))


class Streams:
    """The keyed sub-streams of one replication."""

    def __init__(self, seed: int, index: int):
        # the root key is the first draw of the replication's generator
        self.root = int(replication_rng(seed, index).integers(0, 2**63))
        # the hash of "root|key" continues the hash of "root|" (BLAKE2 is incremental): the
        # prefix is hashed once per replication, not once per stream (thousands of them)
        self._prefix = hashlib.blake2b(f"{self.root}|".encode(), digest_size=8)

    def stream(self, key: str) -> random.Random:
        """The random stream of one component or process, keyed by its scope."""
        h = self._prefix.copy()
        h.update(key.encode())
        rng = _new(random.Random)
        _seed(rng, int.from_bytes(h.digest(), "little"))
        rng.gauss_next = None  # as Random.seed leaves it
        return rng
