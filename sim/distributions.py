"""Sampling times to failure and to repair from the scenario's distributions.

All draws come from a keyed stream of the replication (``Replication.stream``: a
``random.Random`` seeded from the replication's numpy Generator and the component's scope), so
a seed fixes a replication exactly and adding a component does not shift anyone else's draws. Every distribution is parameterised by
its **mean**, so switching exponential -> Weibull keeps MTBF/MTTR as written.
"""

from __future__ import annotations

import math

__all__ = ["Sampler"]


class Sampler:
    """Draws from one (distribution, mean, shape/sigma) triple with a given generator."""

    __slots__ = ("kind", "mean", "_a", "_b")

    def __init__(self, kind: str, mean: float, shape: float = 1.0, sigma: float = 1.0):
        self.kind, self.mean = kind, float(mean)
        if kind == "weibull":
            self._a = float(shape)
            self._b = self.mean / math.gamma(1.0 + 1.0 / shape)  # scale giving this mean
        elif kind == "lognormal":
            self._a = math.log(self.mean) - sigma * sigma / 2.0 if self.mean > 0 else 0.0
            self._b = float(sigma)
        elif kind in ("exponential", "fixed"):
            self._a = self._b = 0.0
        else:
            raise ValueError(f"unknown distribution {kind!r}")

    def draw(self, rng) -> float:
        if self.mean <= 0:
            return 0.0
        k = self.kind
        if k == "exponential":
            return rng.expovariate(1.0 / self.mean)
        if k == "fixed":
            return self.mean
        if k == "weibull":
            return rng.weibullvariate(self._b, self._a)
        return rng.lognormvariate(self._a, self._b)

    def draw_residual(self, rng) -> float:
        """Remaining life at a random moment of a long-running renewal process (stationary start).

        Components start a replication at a random point of their life rather than new, so a
        one-year replication measures the steady state the closed forms describe. The residual
        life is U * L with L length-biased (density x f(x) / mean): for exponential it is the
        exponential itself; Weibull(k, b) has L^k ~ Gamma(1 + 1/k, b^k); lognormal(mu, s) has
        L ~ lognormal(mu + s^2, s).
        """
        if self.mean <= 0:
            return 0.0
        k = self.kind
        if k == "exponential":
            return rng.expovariate(1.0 / self.mean)
        u = rng.random()
        if k == "fixed":
            return u * self.mean
        if k == "weibull":
            length = rng.gammavariate(1.0 + 1.0 / self._a, self._b ** self._a) ** (1.0 / self._a)
        else:
            length = rng.lognormvariate(self._a + self._b * self._b, self._b)
        return u * length

    @classmethod
    def ttf(cls, fd) -> "Sampler":
        """Time-to-failure sampler of a ``FailureDist``."""
        return cls(fd.distribution, fd.mean_ttf, fd.shape, fd.sigma)

    @classmethod
    def ttr(cls, fd, mean: float | None = None) -> "Sampler":
        """Time-to-repair sampler of a ``FailureDist`` (optionally with another mean)."""
        return cls(fd.repair_distribution, fd.mttr if mean is None else mean, fd.repair_shape,
                   fd.repair_sigma)
