"""The warp (model.warp = 'auto'): per dimension, a map of a target's values to a variable G and D learn more
easily, for a target with hard edges or heavy tails.

A continuous net on unbounded noise rounds off a hard edge and leaves mass beyond it, and a piecewise-linear one
gives normal noise tails no heavier than the noise's. With the warp, G and D work on y = to_free(x), a variable with
no edges and light tails, and G's samples are x = from_free(y), which stays inside the support by construction.
Per dimension, with a and b the support's ends, c the target's median and w its std:

    both ends finite              y = logit((x - a) / (b - a))      x = a + (b - a) * sigmoid(y)
    only a finite                 y = softplus^-1((x - a) / w)      x = a + w * softplus(y)
    only b finite                 y = -softplus^-1((b - x) / w)     x = b - w * softplus(-y)
    neither, heavy tails          y = asinh((x - c) / w)            x = c + w * sinh(y)
    neither, other tails          y = x                             x = y

softplus^-1(u) = log(expm1(u)) is a log near the edge (the edge goes to -inf) and nearly u far from it, so a tail
stays a tail of the same kind: the exponential maps to the logistic, as the uniform does under the logit. asinh is
linear near c and a log far from it: a power-law tail (Student-t) becomes an exponential one. "Heavy" is an excess
kurtosis above HEAVY (or none finite). Every map is strictly increasing, so a sample's ranks (and hence its KS
distance to the target) are the same in either space. The same functions serve NumPy (the standardising moments)
and JAX (the step): `xp` is the module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# the smallest distance kept from an edge, as a share of the support's width (or of w): a draw exactly on it (float32
# uniforms include 0) maps to a finite y (logit 2^-24 = -16.6)
EDGE = 2.0 ** -24
MOMENT_DRAWS = 1_000_000  # draws of the target behind y's mean and std
MOMENT_SEED = 12345
HEAVY = 3.0  # the excess kurtosis above which an open dimension's tails are mapped (the Laplace's is 3, Student-t's
# 6 / (df - 4), infinite for df <= 4)
SINH_MAX = 80.0  # |y| is clipped here before sinh, whose float32 range ends near 89


@dataclass(frozen=True, eq=False)
class Warp:
    """Per dimension (dim,): the support's ends (inf where open), w, whether an open dimension's tails are mapped
    (bool), and c."""

    low: np.ndarray
    high: np.ndarray
    width: np.ndarray
    tails: np.ndarray
    centre: np.ndarray

    def to_free(self, x, xp=np):
        """Samples in the target's units (n, dim) -> y (n, dim) on the whole line."""
        a, b, w, c = (xp.asarray(v, dtype=x.dtype) for v in (self.low, self.high, self.width, self.centre))
        lo, hi = np.isfinite(self.low), np.isfinite(self.high)
        u = xp.clip((x - xp.where(lo & hi, a, 0)) / xp.where(lo & hi, b - a, 1), EDGE, 1 - EDGE)
        below = _softplus_inv(xp.maximum((x - xp.where(lo, a, 0)) / w, EDGE), xp)
        above = -_softplus_inv(xp.maximum((xp.where(hi, b, 0) - x) / w, EDGE), xp)
        open_ = xp.where(self.tails, xp.arcsinh((x - c) / w), x)
        return xp.where(lo & hi, xp.log(u) - xp.log1p(-u), xp.where(lo, below, xp.where(hi, above, open_)))

    def from_free(self, y, xp=np):
        """y (n, dim) -> samples in the target's units (n, dim), inside the support."""
        a, b = (xp.asarray(np.where(np.isfinite(v), v, 0), dtype=y.dtype) for v in (self.low, self.high))
        w, c = (xp.asarray(v, dtype=y.dtype) for v in (self.width, self.centre))
        lo, hi = np.isfinite(self.low), np.isfinite(self.high)
        # sigmoid(y) = exp(-softplus(-y)), in functions NumPy has too: exact near 0 (where 0.5 + 0.5 tanh(y / 2)
        # would step by float32's spacing at 0.5), and finite gradients for any y
        both = a + (b - a) * xp.exp(-xp.logaddexp(0.0, -y))
        softplus = lambda v: xp.logaddexp(v, 0.0)  # noqa: E731
        open_ = xp.where(self.tails, c + w * xp.sinh(xp.clip(y, -SINH_MAX, SINH_MAX)), y)
        return xp.where(lo & hi, both, xp.where(lo, a + w * softplus(y), xp.where(hi, b - w * softplus(-y), open_)))

    def moments(self, target) -> tuple[np.ndarray, np.ndarray]:
        """y's mean and std per dimension, from MOMENT_DRAWS draws of the target (a fixed seed)."""
        x = np.asarray(target.dist.rvs(size=(MOMENT_DRAWS, 1), random_state=MOMENT_SEED), dtype=np.float64)
        y = self.to_free(x)
        return y.mean(0), y.std(0)


def _softplus_inv(u, xp):
    """log(expm1(u)) for u > 0, written so that it neither overflows for large u nor loses small u."""
    return u + xp.log(-xp.expm1(-u))


def of(target) -> Warp | None:
    """The warp of a scipy target with an end to its support (uniform, beta, exponential, lognormal, gamma) or heavy
    tails (Student-t with df below 6); None for any other target: every dimension would map to itself (and data
    files' columns are mapped by their own codecs, distgan.columns)."""
    if target.dist is None:
        return None
    low, high = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in target.dist.support())
    kurt = np.atleast_1d(np.asarray(target.dist.stats("k"), dtype=np.float64))
    tails = ~np.isfinite(low) & ~np.isfinite(high) & ~(np.isfinite(kurt) & (kurt <= HEAVY))
    if not (np.isfinite(low).any() or np.isfinite(high).any() or tails.any()):
        return None
    width = np.atleast_1d(np.asarray(target.dist.std(), dtype=np.float64))
    width = np.where(np.isfinite(width) & (width > 0), width, 1.0)
    return Warp(low, high, width, tails, np.atleast_1d(np.asarray(target.dist.median(), dtype=np.float64)))
