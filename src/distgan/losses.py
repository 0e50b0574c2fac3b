"""GAN objectives on D's logits, and the gradient penalties. Each returns means over D's outputs."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp


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
