"""Fit metrics, calibrated: moments, two-sample KS and Wasserstein-1 per dimension, each beside its noise floor.

The noise floor of a statistic is its value between two independent real samples of the same size: a perfect
generator scores about that. The fit ratio is statistic / floor median, so 1 means "as good as sampling noise".
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from . import fast, files
from .fast import ONE_SHOT, sort
from .targets import Target

STATS = ("ks", "w1")  # per dimension
JOINT = ("sw1", "corr")  # one number each, for dim > 1
N_DIRECTIONS = 128


def moments(x: jax.Array) -> dict[str, jax.Array]:
    """Mean, std (population), skew and excess kurtosis per dimension. x (n, dim) -> each (dim,)"""
    mean = x.mean(0)
    d = x - mean
    var = (d**2).mean(0)
    std = jnp.sqrt(var)
    return {"mean": mean, "std": std, "skew": (d**3).mean(0) / std**3, "kurt": (d**4).mean(0) / var**2 - 3.0}


def ks_sorted(x: jax.Array, y: jax.Array) -> jax.Array:
    """ks_2samp of two samples that are sorted already. -> ()"""
    both = jnp.concatenate([x, y])
    cdf_x = jnp.searchsorted(x, both, side="right") / x.shape[0]
    cdf_y = jnp.searchsorted(y, both, side="right") / y.shape[0]
    return jnp.abs(cdf_x - cdf_y).max()


def ks_2samp(x: jax.Array, y: jax.Array) -> jax.Array:
    """Two-sample Kolmogorov-Smirnov statistic of 1-D samples (as scipy.stats.ks_2samp's). -> ()"""
    return ks_sorted(sort(x), sort(y))


def w1_sorted(x: jax.Array, y: jax.Array) -> jax.Array:
    """w1 of two samples of equal size that are sorted already. -> ()"""
    return jnp.abs(x - y).mean()


def w1(x: jax.Array, y: jax.Array) -> jax.Array:
    """Wasserstein-1 between two 1-D samples of equal size: the mean gap between sorted values. -> ()"""
    return w1_sorted(sort(x), sort(y))


def ks_pvalue(d: np.ndarray, n: int, m: int) -> np.ndarray:
    """Two-sided p-value of a two-sample KS statistic, by Smirnov's asymptotic law (scipy's method='asymp')."""
    return np.clip(stats.kstwo.sf(d, np.round(n * m / (n + m))), 0, 1)


def directions(dim: int, n: int = N_DIRECTIONS) -> jax.Array:
    """n fixed unit vectors, uniform on the sphere, the same in every run (for sliced W1). -> (n, dim)"""
    d = jax.random.normal(jax.random.PRNGKey(314159), (n, dim))
    return d / jnp.linalg.norm(d, axis=1, keepdims=True)


def sliced_w1(x: jax.Array, y: jax.Array, dirs: jax.Array) -> jax.Array:
    """Sliced Wasserstein-1 (Rabin et al. 2011): 1-D W1 of the projections, averaged over directions. -> ()

    x, y (n, dim), dirs (P, dim). Its expectation over uniform directions is a joint distance: zero only when
    every projection, hence the joint distribution, agrees.
    """
    return jax.vmap(w1, in_axes=1)(x @ dirs.T, y @ dirs.T).mean()


def corr_error(x: jax.Array, y: jax.Array) -> jax.Array:
    """Largest absolute difference between the correlation matrices of x and y (n, dim). -> ()"""
    return jnp.abs(jnp.corrcoef(x, rowvar=False) - jnp.corrcoef(y, rowvar=False)).max()


def fit(fake: jax.Array, real: jax.Array) -> dict[str, jax.Array]:
    """Moments of `fake` and its distances to `real`. fake, real (n, dim) -> each (dim,); sw1, corr () for dim > 1"""
    f, r = to_sort(fake, real)
    return fit_sorted(fake, real, sort(f), sort(r))


def to_sort(fake: jax.Array, real: jax.Array) -> tuple[jax.Array, jax.Array]:
    """What fit sorts, of each sample: its dimensions, and for dim > 1 its projections on the sliced W1's
    directions. -> (rows, n) each: dim rows, and N_DIRECTIONS more for dim > 1"""
    f, r = fake.T, real.T
    if fake.shape[1] > 1:
        dirs = directions(fake.shape[1])
        f, r = jnp.concatenate([f, (fake @ dirs.T).T]), jnp.concatenate([r, (real @ dirs.T).T])
    return f, r


def fit_sorted(fake: jax.Array, real: jax.Array, f: jax.Array, r: jax.Array) -> dict[str, jax.Array]:
    """fit, given to_sort's rows sorted along their last axis (f of fake, r of real)."""
    dim = fake.shape[1]
    out = moments(fake)
    out["ks"] = jax.vmap(ks_sorted)(f[:dim], r[:dim])
    out["w1"] = jax.vmap(w1_sorted)(f[:dim], r[:dim])
    if dim > 1:
        out["sw1"] = jax.vmap(w1_sorted)(f[dim:], r[dim:]).mean()  # sliced_w1
        out["corr"] = corr_error(fake, real)
    return out


def stats_of(result: dict) -> tuple[str, ...]:
    """The distances present in a fit result: KS and W1, and the joint ones for dim > 1."""
    return STATS + tuple(s for s in JOINT if s in result)


_FLOORS: dict[tuple, dict] = {}


def noise_floor(target: Target, n: int, draws: int = 100) -> dict[str, dict[str, np.ndarray]]:
    """KS and W1 between pairs of independent real samples of size n: median and 95th percentile per dimension.

    W1 (and for dim > 1 the sliced W1 and correlation error) are simulated: `draws` pairs from a fixed key, once per
    (target, n, draws) in a process, so the floor is the same in every run. The two-sample KS statistic of a
    continuous distribution does not depend on the distribution (Smirnov), so for the built-in targets its floor is
    exact: the quantiles of Smirnov's law for two samples of n, as in the KS p-value (a simulated median drifts with
    the draws; benchmarks/metrics.md). Data files, which can hold ties, keep the simulated KS.
    """
    cache_key = (target.spec, target.data is not None, n, draws)
    if cache_key not in _FLOORS:
        _FLOORS[cache_key] = _floor(target, n, draws)
    return _FLOORS[cache_key]


def score_noise(target: Target, n: int, draws: int = 100) -> float:
    """The standard deviation, over the noise floor's pairs of real samples, of a fit's score (the larger of the KS
    and W1 ratios, worst dimension; report.fit_score): how far one evaluation of a perfect generator moves it."""
    floor, pairs = noise_floor(target, n, draws), kept_pairs(target, n, draws)
    r = ratios(pairs, floor)
    return float(np.std(np.maximum(r["ks"].max(-1), r["w1"].max(-1)), ddof=1))


_PAIRS: dict[tuple, dict] = {}
FLOOR_SEED = 20180101  # the noise floor's fixed key


def kept_pairs(target: Target, n: int, draws: int, seed: int = FLOOR_SEED) -> dict[str, np.ndarray]:
    """real_pairs, once per (target, n, draws, seed) in a process, and for a built-in target once per machine where
    a compilation cache folder is set (_pairs_path)."""
    cache_key = (target.spec, target.data is not None, n, draws, seed)
    if cache_key not in _PAIRS:
        path = _pairs_path(target, n, draws, seed)
        pairs = _read_pairs(path)
        if pairs is None:
            pairs = real_pairs(target, n, draws, seed)
            _keep_pairs(path, pairs)
        _PAIRS[cache_key] = pairs
    return _PAIRS[cache_key]


@functools.cache
def _code_digest() -> str:
    """A digest of the code that draws and scores the pairs: an edit to it leaves every kept file unread."""
    h = hashlib.sha256(jax.__version__.encode())
    for module in ("metrics", "targets", "fast"):
        h.update((Path(__file__).parent / f"{module}.py").read_bytes())
    return h.hexdigest()


def _pairs_path(target: Target, n: int, draws: int, seed: int = FLOOR_SEED) -> Path | None:
    """Where the real pairs of a built-in target are kept between processes: in JAX's compilation cache folder
    (distgan.cli sets it; JAX reads only its own "*-cache" files there), named by the target, n, draws, seed and the
    code. Their compiled program calls back to the host (fast.sort), which JAX never writes to its cache, so
    without this every process would compile and run it again. None without a cache folder, or for a data file."""
    folder = jax.config.jax_compilation_cache_dir
    if not folder or target.data is not None:
        return None
    key = hashlib.sha256(repr((target.spec, n, draws, seed, _code_digest())).encode()).hexdigest()[:32]
    return Path(folder) / f"distgan-pairs-{key}.npz"


def _read_pairs(path: Path | None) -> dict[str, np.ndarray] | None:
    """The kept pairs, or None if there are none (or they cannot be read: they are computed again)."""
    if path is None or not path.exists():
        return None
    try:
        with np.load(path) as f:
            return {s: f[s] for s in f.files}
    except (OSError, ValueError, KeyError):
        return None


def _keep_pairs(path: Path | None, pairs: dict[str, np.ndarray]) -> None:
    """Write the pairs for later processes; a folder that refuses the write only loses the saving."""
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with files.atomic_file(path) as f:
            np.savez(f, **pairs)
    except (OSError, files.WriteError):
        pass


def real_pairs(target: Target, n: int, draws: int, seed: int = FLOOR_SEED) -> dict[str, np.ndarray]:
    """The fit between `draws` pairs of independent real samples of size n: what a perfect generator scores.

    A data file: training rows against held-out rows, each drawn n times with replacement, as the fit draws n
    generated samples against n held-out rows. -> each statistic (draws, dim); sw1, corr (draws,) for dim > 1
    """
    res = _pairs_program(target, n, draws)(jax.random.PRNGKey(seed))
    return {s: np.asarray(res[s]) for s in stats_of(res)}


_PAIRS_PROGRAMS: dict[tuple, Callable] = {}


def _pairs_program(target: Target, n: int, draws: int) -> Callable:
    """real_pairs' compiled program, key -> fits: one program (no op-by-op compiles), with the key its argument, so
    that pairs of another seed run the same program. JAX's persistent cache never holds it (its sort calls back to
    the host), so it is kept here, per (spec, n, draws) of a built-in target (bench scores a perfect generator on
    pairs of a seed of their own, beside the noise floor's)."""
    cache_key = None if target.key is None else (target.key, n, draws)
    if cache_key in _PAIRS_PROGRAMS:
        return _PAIRS_PROGRAMS[cache_key]
    if target.data is None:
        def one(key):
            k1, k2 = jax.random.split(key)
            return fit(target.sample(k1, n), target.sample(k2, n))
    else:
        train, held = jnp.asarray(target.train_data), jnp.asarray(target.data)

        def one(key):
            k1, k2 = jax.random.split(key)
            return fit(train[jax.random.randint(k1, (n,), 0, train.shape[0])],
                       held[jax.random.randint(k2, (n,), 0, held.shape[0])])
    program = jax.jit(lambda key: jax.lax.map(one, jax.random.split(key, draws)), compiler_options=ONE_SHOT)
    if cache_key is not None:
        _PAIRS_PROGRAMS[cache_key] = program
    return program


def _floor(target: Target, n: int, draws: int, exact_ks: bool = True) -> dict[str, dict[str, np.ndarray]]:
    res = kept_pairs(target, n, draws)
    floor = {s: {"median": np.median(x, 0), "p95": np.percentile(x, 95, 0)} for s, x in res.items()}
    if exact_ks and target.data is None:
        law = stats.kstwo(round(n / 2))  # the p-value's law (ks_pvalue) for two samples of n
        floor["ks"] = {q: np.full(target.dim, law.ppf(p), np.float32) for q, p in (("median", 0.5), ("p95", 0.95))}
    return floor


def block_size(replicates: int, n: int, dim: int) -> int:
    """Replicates evaluated at once: at most 2^24 generated numbers in memory."""
    return max(1, min(replicates, (1 << 24) // (n * dim)))


def _one_device(x: jax.Array) -> jax.Array:
    """x gathered on the default device if it is split over several (devices.split_replicates): the fit's sort
    (fast.sort) is a host callback, which a program partitioned over devices cannot call (XLA waits for it on every
    device). Through host memory, a copy on a CPU: an array moved from device to device keeps the split's mesh in
    its JAX type, and programs compiled ahead for a plain array (Evaluator.compile) would not be found for it."""
    return x if len(x.devices()) == 1 else jnp.asarray(np.asarray(x))


# fit over replicates, apart from the drawing, so that every run of a process shares these compiled programs
_fit_many = jax.jit(jax.vmap(fit), compiler_options=ONE_SHOT)
_to_sort_many = jax.jit(jax.vmap(to_sort), compiler_options=ONE_SHOT)
_fit_sorted_many = jax.jit(jax.vmap(fit_sorted), compiler_options=ONE_SHOT)


def fit_many(fake: jax.Array, real: jax.Array) -> dict[str, np.ndarray]:
    """fit of each replicate's samples. fake, real (K, n, dim) -> numpy arrays, each (K, ...) as fit's.

    With the sort trick (fast.sort_between) the sort is NumPy's, on the host between two compiled programs: no
    program calls back to the host, so JAX's persistent cache keeps them and a later process loads them."""
    if not fast.sort_between():
        return jax.device_get(_fit_many(fake, real))
    f, r = jax.device_get(_to_sort_many(fake, real))
    return jax.device_get(_fit_sorted_many(fake, real, fast.host_sort(f), fast.host_sort(r)))


class Evaluator:
    """`evaluate(states, step)`: the fit of every replicate, n generated samples against n fresh real ones.

    sample_fn(state, key, n) -> (n, dim) draws from one replicate. A call gives numpy arrays (K, dim) per
    statistic; it evaluates replicates in blocks so that K * n samples need not fit in memory at once.
    """

    def __init__(self, sample_fn, target: Target, n: int, block: int = 0):
        self.target, self.n, self.block = target, n, block

        def one(state, step, draw):
            key = jax.random.fold_in(jax.random.fold_in(state["key"], 0x7FFFFFFF), step)  # apart from training keys
            key = jnp.where(draw > 0, jax.random.fold_in(key, draw), key)  # draw 0: the step's own evaluation
            kf, kr = jax.random.split(key)
            return sample_fn(state, kf, n), target.reference(kr, n)

        self._draw = jax.jit(jax.vmap(one, in_axes=(0, None, None)), compiler_options=ONE_SHOT)

    def _size(self, replicates: int) -> int:
        """Replicates per block: `block`, or as many as block_size lets fit in memory (a data file's calibration
        draws count as samples, distgan.columns.decoder)."""
        return self.block or block_size(replicates, self.n + self.target.calibrate, self.target.dim)

    def _blocks(self, states: dict) -> list[dict]:
        """The states of each block of replicates evaluated together: all of them, or slices of them gathered on the
        default device (a slice of replicates split over devices would be copied to every device, and drawn on each)."""
        K = jax.tree.leaves(states)[0].shape[0]
        size = self._size(K)
        if size >= K and not self.target.calibrate:
            return [states]
        states = jax.tree.map(_one_device, states)  # a data file's calibration sorts by a host callback too
        return [jax.tree.map(lambda x, i=i: x[i:i + size], states) for i in range(0, K, size)]

    def __call__(self, states: dict, step: int, draw: int = 0) -> dict[str, np.ndarray]:
        """draw > 0: another fresh draw of generated and real samples at the same step (distgan.auto averages some)."""
        parts = []
        for part in self._blocks(states):
            fake, real = self._draw(part, step, draw)
            parts.append(fit_many(_one_device(fake), _one_device(real)))
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def samples(self, states: dict, step: int, replicates: list[int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """The generated and the real sample that a call at `step` scores, for each of these replicates (the same
        keys, so the same draws), from the same compiled program: nothing more to compile for the figures.
        -> {k: ((n, dim), (n, dim))}"""
        blocks = self._blocks(states)
        per = len(jax.tree.leaves(blocks[0])[0])  # replicates per block (all of them when there is one block)
        out = {}
        for b in sorted({k // per for k in replicates}):
            fake, real = jax.device_get(self._draw(blocks[b], step, 0))
            out.update({k: (fake[k % per], real[k % per]) for k in replicates if k // per == b})
        return out

    def compile(self, shapes: dict) -> None:
        """Compile, without running, the programs a call on states of these shapes runs (a pytree of
        jax.ShapeDtypeStruct, as devices.shapes gives): `train` does it while the training chunk compiles, so that
        the first evaluation does not stop training to compile. Calls find them in JAX's cache of compiled programs."""
        K = jax.tree.leaves(shapes)[0].shape[0]
        size = self._size(K)
        if size < K or self.target.calibrate:  # blocks of the states gathered on the default device (_blocks)
            shapes = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), shapes)
        for rows in sorted({min(size, K), K % size} - {0}):  # a last, smaller block has programs of its own
            part = jax.tree.map(lambda x, rows=rows: jax.ShapeDtypeStruct((rows,) + x.shape[1:], x.dtype,
                                                                          sharding=x.sharding), shapes)
            self._draw.lower(part, 0, 0).compile()
            samples = jax.eval_shape(self._draw, part, 0, 0)  # fake, real: on the default device (_one_device)
            samples = [jax.ShapeDtypeStruct(x.shape, x.dtype) for x in samples]
            if fast.sort_between():  # fit_many's two programs
                _to_sort_many.lower(*samples).compile()
                rows = [jax.ShapeDtypeStruct(x.shape, x.dtype) for x in jax.eval_shape(_to_sort_many, *samples)]
                _fit_sorted_many.lower(*samples, *rows).compile()
            else:
                _fit_many.lower(*samples).compile()


def ratios(result: dict[str, np.ndarray], floor: dict) -> dict[str, np.ndarray]:
    """Fit ratios: statistic / floor median, per replicate and dimension. -> (K, dim) each; (K,) for sw1, corr"""
    return {s: result[s] / floor[s]["median"] for s in stats_of(result)}


def within_floor(result: dict[str, np.ndarray], floor: dict) -> np.ndarray:
    """True where every dimension's KS and W1 (and for dim > 1 the sliced W1 and correlation error) are at or
    below the floor's 95th percentile. -> (K,)"""
    return np.all([np.all(np.reshape(result[s] <= floor[s]["p95"], (len(result["ks"]), -1)), axis=-1)
                   for s in stats_of(result)], axis=0)
