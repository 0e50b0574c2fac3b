"""Targets R: what G learns. Each has a JAX sampler (used inside the jitted step) and, where known, an exact density.

Spec syntax: `name` or `name:key=value,key=value`; a list value is comma-separated and then
parameters are separated by ';', e.g. `mixture:weights=0.3,0.7;means=-2,3;stds=0.5,1`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from .config import ConfigError

Sampler = Callable[[jax.Array, int], jax.Array]  # (key, n) -> (n, dim)


@dataclass(eq=False)
class Target:
    """A distribution to learn: a sampler, its dimension and, where known, an exact 1-D density or mixture."""

    spec: str
    name: str
    dim: int
    sample: Sampler = field(repr=False)
    dist: object = field(default=None, repr=False)  # scipy frozen 1-D distribution, exact density and moments
    components: tuple | None = field(default=None, repr=False)  # mixtures: (weights (c,), means (c, dim), stds (c,))
    columns: tuple[str, ...] = ()  # data files: column names, in order
    data: np.ndarray | None = field(default=None, repr=False)  # data files: held-out rows (n, dim), the real sample
    train_data: np.ndarray | None = field(default=None, repr=False)  # data files: training rows (m, dim)
    info: dict = field(default_factory=dict, repr=False)  # data files: format, column kinds, sha256 (see data.py)
    shift: np.ndarray | float = 0.0  # data files: metrics compare (x - shift) / scale, one per column
    scale: np.ndarray | float = 1.0
    types: tuple = ()  # data files: each column's type and codec (distgan.columns.Column)
    decode: Callable | None = field(default=None, repr=False)  # data files: G's output (and ref) -> typed, standard units
    exact: Callable | None = field(default=None, repr=False)  # data files: values in the data's units made exact
    calibrate: int = 0  # data files: G's draws that decode calibrates each column by (0: none)
    key: str | None = field(default=None, repr=False)  # the spec, where it alone makes the target (parse); else None

    def to_data(self, x: np.ndarray) -> np.ndarray:
        """Map samples (GAN.sample's, (..., dim)) back to the data's units, exact for their column types (identity for
        built-in targets)."""
        x = np.asarray(x) * self.scale + self.shift
        return x if self.exact is None else self.exact(x.reshape(-1, x.shape[-1])).reshape(x.shape)

    def pdf(self, x: np.ndarray) -> np.ndarray | None:
        """Exact density at x (1-D targets only); None where no closed form is known."""
        if self.dist is not None:
            return self.dist.pdf(x)
        if self.components is not None and self.dim == 1:
            w, mu, sd = self.components
            return sum(wi * stats.norm.pdf(x, m[0], s) for wi, m, s in zip(w, mu, sd))
        return None

    def moments(self) -> dict[str, np.ndarray]:
        """Mean, std, skew and excess kurtosis per dimension: exact for scipy targets, else from 10^6 draws."""
        if self.dist is not None:
            m, v, s, k = (np.atleast_1d(np.asarray(a, dtype=float)) for a in self.dist.stats("mvsk"))
            return {"mean": m, "std": np.sqrt(v), "skew": s, "kurt": k}
        if self.data is not None:  # a data file: the held-out rows themselves
            x = np.asarray(self.data, dtype=np.float64)
        else:
            x = np.asarray(self.reference(jax.random.key(12345), 1_000_000), dtype=np.float64)
        return {"mean": x.mean(0), "std": x.std(0), "skew": stats.skew(x, axis=0), "kurt": stats.kurtosis(x, axis=0)}

    def draws(self, n: int, seed: int = 0) -> np.ndarray:
        """n draws of the sampler's law as NumPy (n, dim): from the exact law where it is known (scipy's, a
        mixture's components), so that nothing is compiled, else from the JAX sampler."""
        rng = np.random.default_rng(seed)
        if self.dist is not None:
            return np.asarray(self.dist.rvs(size=n, random_state=rng), np.float64).reshape(n, 1)
        if self.components is not None:
            w, mu, sd = self.components
            c = rng.choice(len(w), n, p=w)
            return mu[c] + sd[c, None] * rng.standard_normal((n, self.dim))
        return np.asarray(self.sample(jax.random.key(seed), n), np.float64)

    def reference(self, key: jax.Array, n: int) -> jax.Array:
        """A real sample of n points for metrics: fresh draws, or the held-out rows of a data file."""
        if self.data is None:
            return self.sample(key, n)
        idx = jax.random.choice(key, self.data.shape[0], (n,), replace=self.data.shape[0] < n)
        return jnp.asarray(self.data)[idx]


def _scipy_target(spec, name, dist, draw) -> Target:
    return Target(spec, name, 1, lambda key, n: draw(key, n).reshape(n, 1).astype(jnp.float32), dist=dist)


def _mixture_sampler(weights, means, stds) -> Sampler:
    w = jnp.asarray(weights, jnp.float32)
    mu = jnp.asarray(means, jnp.float32)  # (c, dim)
    sd = jnp.asarray(stds, jnp.float32)  # (c,)

    def sample(key, n):
        kc, kn = jax.random.split(key)
        c = jax.random.choice(kc, w.shape[0], (n,), p=w)
        return mu[c] + sd[c, None] * jax.random.normal(kn, (n, mu.shape[1]))

    return sample


def _mixture(spec, name, weights, means, stds) -> Target:
    weights = np.asarray(weights, float) / np.sum(weights)
    means = np.asarray(means, float)
    stds = np.broadcast_to(np.asarray(stds, float), (len(weights),)).copy()
    return Target(spec, name, means.shape[1], _mixture_sampler(weights, means, stds),
                  components=(weights, means, stds))


def _count(spec, p, key, most):
    v = p[key]
    if v != int(v) or not 1 <= v <= most:
        raise ConfigError(f"target {spec!r}: parameter {key} expected a whole number in 1..{most}, got {v:g}")
    return int(v)


def _ring(spec, p):
    _count(spec, p, "modes", 1000)
    k = np.arange(int(p["modes"]))  # angles 2*pi*k/modes, k = 0..modes-1 (not linspace to 2*pi: that repeats a mode)
    angles = 2 * np.pi * k / p["modes"]
    means = p["radius"] * np.stack([np.cos(angles), np.sin(angles)], 1)
    return _mixture(spec, "ring", np.ones(len(k)), means, p["std"])


def _grid(spec, p):
    side = _count(spec, p, "side", 30)
    coords = (np.arange(side) - (side - 1) / 2) * p["spacing"]
    means = np.array([(x, y) for x in coords for y in coords])
    return _mixture(spec, "grid", np.ones(len(means)), means, p["std"])


def _noise(spec, p):
    if p["noise"] < 0:
        raise ConfigError(f"target {spec!r}: parameter noise must be >= 0, got {p['noise']:g}")
    return p["noise"]


def _spiral(spec, p):
    noise = _noise(spec, p)

    def sample(key, n):  # swiss roll in 2-D: t in [1.5 pi, 4.5 pi], scaled to about unit std
        kt, kn = jax.random.split(key)
        t = 1.5 * jnp.pi * (1 + 2 * jax.random.uniform(kt, (n,)))
        x = jnp.stack([t * jnp.cos(t), t * jnp.sin(t)], 1) / 7.5
        return x + noise * jax.random.normal(kn, (n, 2))

    return Target(spec, "spiral", 2, sample)


def _moons(spec, p):
    noise = _noise(spec, p)

    def sample(key, n):  # two interleaved half circles, as sklearn's make_moons
        kt, kc, kn = jax.random.split(key, 3)
        t = jnp.pi * jax.random.uniform(kt, (n,))
        upper = jax.random.bernoulli(kc, 0.5, (n,))
        x = jnp.where(upper, jnp.cos(t), 1 - jnp.cos(t))
        y = jnp.where(upper, jnp.sin(t), 0.5 - jnp.sin(t))
        return jnp.stack([x, y], 1) + noise * jax.random.normal(kn, (n, 2))

    return Target(spec, "moons", 2, sample)


def _gaussian(spec, p):
    mean, std = p["mean"], p["std"]
    return _scipy_target(spec, "gaussian", stats.norm(mean, std),
                         lambda k, n: mean + std * jax.random.normal(k, (n,)))


def _uniform(spec, p):
    lo, hi = p["low"], p["high"]
    if not hi > lo:
        raise ConfigError(f"target {spec!r}: expected high > low, got low={lo}, high={hi}")
    return _scipy_target(spec, "uniform", stats.uniform(lo, hi - lo),
                         lambda k, n: jax.random.uniform(k, (n,), minval=lo, maxval=hi))


def _exponential(spec, p):
    rate = p["rate"]
    return _scipy_target(spec, "exponential", stats.expon(scale=1 / rate),
                         lambda k, n: jax.random.exponential(k, (n,)) / rate)


def _lognormal(spec, p):
    mu, sigma = p["mu"], p["sigma"]
    return _scipy_target(spec, "lognormal", stats.lognorm(s=sigma, scale=math.exp(mu)),
                         lambda k, n: jnp.exp(mu + sigma * jax.random.normal(k, (n,))))


def _gamma(spec, p):
    shape, scale = p["shape"], p["scale"]
    return _scipy_target(spec, "gamma", stats.gamma(shape, scale=scale),
                         lambda k, n: scale * jax.random.gamma(k, shape, (n,)))


def _beta(spec, p):
    a, b = p["a"], p["b"]
    return _scipy_target(spec, "beta", stats.beta(a, b), lambda k, n: jax.random.beta(k, a, b, (n,)))


def _student_t(spec, p):
    df, loc, scale = p["df"], p["loc"], p["scale"]
    return _scipy_target(spec, "student_t", stats.t(df, loc, scale),
                         lambda k, n: loc + scale * jax.random.t(k, df, (n,)))


def _laplace(spec, p):
    loc, scale = p["loc"], p["scale"]
    return _scipy_target(spec, "laplace", stats.laplace(loc, scale),
                         lambda k, n: loc + scale * jax.random.laplace(k, (n,)))


def _mixture_1d(spec, p):
    means, stds, weights = p["means"], p["stds"], p["weights"]
    if len(stds) == 1:
        stds = stds * len(means)
    if weights is None:
        weights = [1.0] * len(means)
    if not len(means) == len(stds) == len(weights):
        raise ConfigError(f"target {spec!r}: weights, means and stds must have the same length, got "
                          f"{len(weights)}, {len(means)} and {len(stds)}")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ConfigError(f"target {spec!r}: weights must be >= 0 and not all 0")
    return _mixture(spec, "mixture", weights, np.asarray(means, float)[:, None], stds)


# name: (builder, {parameter: default}, {parameters that must be > 0}, {list parameters}); None = required
TARGETS = {
    "gaussian": (_gaussian, {"mean": 4.0, "std": 1.25}, {"std"}, set()),
    "uniform": (_uniform, {"low": 0.0, "high": 1.0}, set(), set()),
    "exponential": (_exponential, {"rate": 1.0}, {"rate"}, set()),
    "lognormal": (_lognormal, {"mu": 0.0, "sigma": 0.5}, {"sigma"}, set()),
    "gamma": (_gamma, {"shape": 2.0, "scale": 1.0}, {"shape", "scale"}, set()),
    "beta": (_beta, {"a": 2.0, "b": 5.0}, {"a", "b"}, set()),
    "student_t": (_student_t, {"df": 5.0, "loc": 0.0, "scale": 1.0}, {"df", "scale"}, set()),
    "laplace": (_laplace, {"loc": 0.0, "scale": 1.0}, {"scale"}, set()),
    "mixture": (_mixture_1d, {"weights": None, "means": [-2.0, 3.0], "stds": [0.5, 1.0]}, {"stds"},
                {"weights", "means", "stds"}),
    "ring": (_ring, {"modes": 8, "radius": 1.0, "std": 0.01}, {"modes", "radius", "std"}, set()),
    "grid": (_grid, {"side": 5, "spacing": 2.0, "std": 0.05}, {"side", "spacing", "std"}, set()),
    "spiral": (_spiral, {"noise": 0.05}, set(), set()),
    "moons": (_moons, {"noise": 0.05}, set(), set()),
}
DESCRIPTIONS = {
    "gaussian": "normal distribution N(mean, std) (the seed's: mean=4, std=1.25)",
    "uniform": "uniform on [low, high)",
    "exponential": "exponential with the given rate",
    "lognormal": "exp of N(mu, sigma)",
    "gamma": "gamma with shape and scale",
    "beta": "beta(a, b) on [0, 1]",
    "student_t": "Student-t with df degrees of freedom, loc and scale",
    "laplace": "Laplace (double exponential) with loc and scale",
    "mixture": "1-D mixture of Gaussians: weights=..;means=..;stds=.. (lists, weights default equal)",
    "ring": "2-D ring of `modes` Gaussians at angles 2*pi*k/modes, radius 1, std 0.01 (VEEGAN, PacGAN)",
    "grid": "2-D grid of side x side Gaussians, means at {-4,-2,0,2,4}^2, std 0.05 (VEEGAN, PacGAN)",
    "spiral": "2-D swiss roll with Gaussian noise",
    "moons": "2-D two moons with Gaussian noise",
}
EXAMPLES = {"mixture": "mixture:weights=0.3,0.7;means=-2,3;stds=0.5,1", "ring": "ring:modes=8,radius=1,std=0.01",
            "grid": "grid:side=5,spacing=2,std=0.05"}


def example(name: str) -> str:
    """A spec for target `name` that parses: its defaults, lists comma-separated and then ';' between parameters."""
    if name in EXAMPLES:
        return EXAMPLES[name]
    defaults, lists = TARGETS[name][1], TARGETS[name][3]
    fmt = lambda v: ",".join(f"{x:g}" for x in v) if isinstance(v, list) else f"{v:g}"  # noqa: E731
    return f"{name}:" + (";" if lists else ",").join(f"{k}={fmt(v)}" for k, v in defaults.items() if v is not None)


_SPLIT = re.compile(r"[;,](?=\s*[A-Za-z_]\w*\s*=)")


def parse(spec: str) -> Target:
    """Build a Target from a spec string, or raise a one-line ConfigError naming the bad part."""
    name, _, rest = spec.strip().partition(":")
    name = name.strip().lower()
    if name not in TARGETS:
        raise ConfigError(f"target {spec!r}: unknown target {name!r}, expected one of {', '.join(TARGETS)}")
    build, defaults, positive, lists = TARGETS[name]
    params, seen = dict(defaults), set()
    for part in (_SPLIT.split(rest) if rest.strip() else []):
        key, eq, value = part.partition("=")
        key = key.strip()
        if not eq or key not in defaults:
            raise ConfigError(f"target {spec!r}: unknown parameter {part.strip()!r}, {name} takes {', '.join(defaults)}")
        if key in seen:
            raise ConfigError(f"target {spec!r}: parameter {key} given twice")
        seen.add(key)
        try:
            values = [float(v) for v in value.split(",")]
        except ValueError:
            raise ConfigError(f"target {spec!r}: parameter {key} expected numbers, got {value.strip()!r}") from None
        if not all(math.isfinite(v) for v in values):
            raise ConfigError(f"target {spec!r}: parameter {key} must be finite, got {value.strip()!r}")
        if key not in lists and len(values) != 1:
            raise ConfigError(f"target {spec!r}: parameter {key} expected one number, got {value.strip()!r}")
        params[key] = values if key in lists else values[0]
    for key in positive:
        vals = params[key] if isinstance(params[key], list) else [params[key]]
        if any(v <= 0 for v in vals):
            raise ConfigError(f"target {spec!r}: parameter {key} must be > 0, got {params[key]}")
    target = build(spec, params)
    target.key = spec  # the same spec builds the same target: GANs on the two compare equal (GAN.__eq__)
    return target
