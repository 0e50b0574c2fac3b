"""GAN objectives on D's logits, the gradient penalties, and G's per-code energy distance."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from .kmeans import sq_dists


@partial(jax.custom_vjp, nondiff_argnums=(1,))
def torch_bce(p: jax.Array, y: float) -> jax.Array:
    """PyTorch's BCELoss on probabilities p: logs clamped at -100, gradient (p - y) / max(p (1 - p), 1e-12)."""
    return -(y * jnp.maximum(jnp.log(p), -100.0) + (1 - y) * jnp.maximum(jnp.log1p(-p), -100.0))


def _torch_bce_fwd(p, y):
    return torch_bce(p, y), p


def _torch_bce_bwd(y, p, g):
    return (g * (p - y) / jnp.maximum(p * (1 - p), 1e-12),)


torch_bce.defvjp(_torch_bce_fwd, _torch_bce_bwd)


def _real_label(logits, torch):  # -log D(x)
    return torch_bce(jax.nn.sigmoid(logits), 1.0) if torch else jax.nn.softplus(-logits)


def _fake_label(logits, torch):  # -log(1 - D(x))
    return torch_bce(jax.nn.sigmoid(logits), 0.0) if torch else jax.nn.softplus(logits)


def _mean(x: jax.Array, weights: jax.Array | None) -> jax.Array:
    """The mean of x, or of weights * x: a batch whose samples stand for different probabilities (G's codes)."""
    return x.mean() if weights is None else (weights * x).mean()


def d_loss(loss: str, real: jax.Array, fake: jax.Array, torch: bool = False,
           fake_weights: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """D's error on real and on fake logits (D minimises their sum); fake_weights weight the fake samples' terms."""
    w = fake_weights
    if loss in ("minimax", "nonsaturating"):  # Goodfellow et al. 2014: BCE with labels 1 (real) and 0 (fake)
        return _real_label(real, torch).mean(), _mean(_fake_label(fake, torch), w)
    if loss == "wgan":  # Arjovsky et al. 2017: the critic maximises E[D(real)] - E[D(fake)]
        return -real.mean(), _mean(fake, w)
    if loss == "hinge":  # Lim & Ye 2017; Miyato et al. 2018
        return jax.nn.relu(1 - real).mean(), _mean(jax.nn.relu(1 + fake), w)
    if loss == "lsgan":  # Mao et al. 2017, labels a=0, b=1
        return 0.5 * ((real - 1) ** 2).mean(), 0.5 * _mean(fake**2, w)
    raise ValueError(f"unknown loss {loss!r}")


def g_loss(loss: str, fake: jax.Array, torch: bool = False, fake_weights: jax.Array | None = None) -> jax.Array:
    """G's error on the logits D gives its samples; fake_weights weight each sample's term."""
    w = fake_weights
    if loss == "minimax":  # G minimises log(1 - D(G(z))): saturates when D wins
        return -_mean(_fake_label(fake, torch), w)
    if loss == "nonsaturating":  # G minimises -log D(G(z)), the seed's BCE against label 1
        return _mean(_real_label(fake, torch), w)
    if loss in ("wgan", "hinge"):
        return -_mean(fake, w)
    if loss == "lsgan":
        return 0.5 * _mean((fake - 1) ** 2, w)
    raise ValueError(f"unknown loss {loss!r}")


def _distances(x: jax.Array, y: jax.Array) -> jax.Array:
    """Euclidean distances (n, m) between the rows of x (n, dim) and y (m, dim); differentiable where they meet."""
    return jnp.sqrt(sq_dists(x, y) + 1e-20)


def _mean_over(d: jax.Array, group_x: jax.Array, group_y: jax.Array, k: int, same: bool = False) -> tuple:
    """Each group's mean of d (n, m) over the pairs (i, j) with group_x[i] = group_y[j] (and i != j when `same`: d
    between a sample and itself). -> means (k,), pair counts (k,)"""
    x, y = jax.nn.one_hot(group_x, k), jax.nn.one_hot(group_y, k)  # (n, k), (m, k)
    if same:
        d = d * (1.0 - jnp.eye(d.shape[0]))
        pairs = x.sum(0) * (x.sum(0) - 1)
    else:
        pairs = x.sum(0) * y.sum(0)
    return jnp.einsum("nk,nm,mk->k", x, d, y) / jnp.maximum(pairs, 1), pairs


def code_energy_gap(loc: jax.Array, fake: jax.Array, code: jax.Array, real: jax.Array, spread: jax.Array) -> jax.Array:
    """The energy distance between each code's samples and the real samples nearest its place, in units of those
    real samples' own mean distance; averaged over the codes.

    For code c with G's samples F, real samples R (of `real`) and S (of `spread`, a second real sample), all nearest
    c's place: (2 E|F - R| - E|F - F'|) / E|S - S'| - 1, each mean over distinct pairs. The energy distance 2 E|F - R|
    - E|F - F'| - E|R - R'| (Szekely and Rizzo 2013) is 0 only for equal laws; E|R - R'| is estimated from S alone,
    which also sets the unit. Every part is an unbiased mean over independent samples, so no shape is rewarded for
    its batch statistics varying less: what the term pulls towards is the real law itself, whatever D can resolve.
    A code with no sample of R near it, or fewer than two of S or of its own, is left out.

    loc (codes, dim): the codes' places; fake (n, dim) with code (n,): G's samples and their codes; real (m, dim) and
    spread (m', dim): real samples; all in the same units. The real samples carry no gradient. -> ()
    """
    k = loc.shape[0]
    loc, real, spread = (jax.lax.stop_gradient(a) for a in (loc, real, spread))
    near_r, near_s = sq_dists(real, loc).argmin(1), sq_dists(spread, loc).argmin(1)
    fr, n_fr = _mean_over(_distances(fake, real), code, near_r, k)
    ff, n_ff = _mean_over(_distances(fake, fake), code, code, k, same=True)
    ss, n_ss = _mean_over(_distances(spread, spread), near_s, near_s, k, same=True)
    used = (n_ff >= 2) & (n_fr >= 1) & (n_ss >= 2)  # two samples of its own and of S (2 pairs), one of R
    gap = (2 * fr - ff) / jnp.where(used, ss, 1.0) - 1
    return jnp.where(used, gap, 0.0).sum() / jnp.maximum(used.sum(), 1)


def r1_penalty(d_sum, x: jax.Array, group) -> jax.Array:
    """R1 (Mescheder et al. 2018): E ||grad_x D(x)||^2 over real D inputs; the caller weights it by gamma / 2."""
    g = group(jax.grad(d_sum)(x))  # (n_inputs, input size)
    return (g**2).sum(1).mean()


def gradient_penalty(d_sum, real: jax.Array, fake: jax.Array, key: jax.Array, group) -> jax.Array:
    """WGAN-GP (Gulrajani et al. 2017): E (||grad D(x_hat)|| - 1)^2 on random interpolates of real and fake."""
    eps = jax.random.uniform(key, (real.shape[0], 1))
    x_hat = real + eps * (fake - real)
    g = group(jax.grad(d_sum)(x_hat))
    return ((jnp.sqrt((g**2).sum(1) + 1e-12) - 1) ** 2).mean()
