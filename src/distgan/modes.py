"""Mode-collapse metrics for mixtures with known components: the VEEGAN / PacGAN benchmark protocol.

Srivastava et al. 2017 (VEEGAN) and Lin et al. 2018 (PacGAN, Table 1) score a generator on the 2-D ring and grid:
draw 2,500 samples; a sample is *high quality* when it lies within 3 standard deviations of its nearest
component's mean; a mode is *captured* when it is the nearest component of at least one high-quality sample;
the *reverse KL* is KL(q || w) between q, the histogram of high-quality samples over components, and w, the
mixture weights.

Empty bins: a component no high-quality sample reaches has q = 0 and adds 0 log 0 = 0 to the sum (reverse KL
does not blow up for a dropped mode; `captured` counts those). With no high-quality sample at all q is undefined
and the reverse KL is reported as inf. A perfect sampler scores P(|z| <= 3) high quality: 99.7 % in 1-D and
1 - exp(-9/2) = 98.9 % in 2-D, and a reverse KL of about (c - 1) / (2 n_hq) from multinomial noise.
"""

from __future__ import annotations

import jax
import numpy as np
from scipy import stats

from .fast import ONE_SHOT

N_SAMPLES = 2500  # the protocol's sample size
N_STD = 3.0


def assign(x: np.ndarray, components: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Nearest component of each sample and whether it is high quality. x (n, dim) -> (n,) int, (n,) bool"""
    _, means, stds = components
    x = np.asarray(x, np.float64)
    d2 = ((x[:, None, :] - means[None, :, :]) ** 2).sum(-1)  # (n, c)
    nearest = d2.argmin(1)
    good = np.sqrt(d2[np.arange(len(x)), nearest]) <= N_STD * stds[nearest]
    return nearest, good & np.all(np.isfinite(x), axis=1)


def mode_stats(x: np.ndarray, components: tuple) -> dict[str, float]:
    """Modes captured, high-quality fraction and reverse KL of one sample x (n, dim) against a mixture."""
    weights = np.asarray(components[0], np.float64)
    nearest, good = assign(x, components)
    counts = np.bincount(nearest[good], minlength=len(weights))  # (c,)
    if counts.sum() == 0:
        kl = float("inf")
    else:
        q = counts / counts.sum()
        nz = q > 0  # empty bins: 0 log 0 = 0; a hit on a zero-weight component gives inf
        with np.errstate(divide="ignore"):
            kl = float(np.sum(q[nz] * (np.log(q[nz]) - np.log(weights[nz]))))
    return {"modes": int((counts > 0).sum()), "high_quality": float(good.mean()), "reverse_kl": kl}


def perfect(components: tuple, n: int = N_SAMPLES, draws: int = 200, seed: int = 0) -> dict[str, float]:
    """The same statistics for exact draws from the mixture: the mean over `draws` samples of size n."""
    weights, means, stds = components
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(draws):
        c = rng.choice(len(weights), n, p=weights)
        rows.append(mode_stats(means[c] + stds[c, None] * rng.standard_normal((n, means.shape[1])), components))
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def expected_high_quality(dim: int) -> float:
    """P(||z|| <= 3) for a standard normal z in `dim` dimensions: a perfect sampler's high-quality fraction."""
    return float(stats.chi2.cdf(N_STD**2, dim))


def summarize(samples: np.ndarray, components: tuple) -> dict:
    """Per-replicate statistics and their mean and standard error. samples (K, n, dim)."""
    reps = [mode_stats(x, components) for x in samples]
    out = {"n_samples": int(samples.shape[1]), "n_modes": len(components[0]), "replicates": reps}
    for key in ("modes", "high_quality", "reverse_kl"):
        v = np.array([r[key] for r in reps], np.float64)
        se = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 and np.all(np.isfinite(v)) else 0.0
        out[key] = {"mean": float(v.mean()), "se": se}
    out["all_modes"] = int(sum(r["modes"] == len(components[0]) for r in reps))
    out["perfect"] = perfect(components, samples.shape[1])
    return out


def evaluate(sample_fn, states: dict, target, n: int = N_SAMPLES, seed: int = 2500) -> dict:
    """The protocol for every replicate of a run: n samples each from sample_fn(state, key, n) -> (n, dim)."""
    key = jax.random.PRNGKey(seed)
    x = jax.jit(jax.vmap(lambda st: sample_fn(st, key, n)), compiler_options=ONE_SHOT)(states)  # (K, n, dim)
    return summarize(np.asarray(x), target.components)
