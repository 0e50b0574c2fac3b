"""losses.torch_bce against PyTorch's BCELoss as documented: l = -(y log p + (1 - y) log(1 - p)), each log clamped
at -100; backward (p - y) / max(p (1 - p), 1e-12) (ATen's binary_cross_entropy_backward, EPSILON = 1e-12)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from distgan.losses import torch_bce

P = np.array([0.0, 1e-45, 1e-30, 1e-12, 1e-6, 0.1, 0.5, 0.9, 1 - 1e-6, 1.0], np.float32)


def by_hand(p, y):
    p = p.astype(np.float64)
    with np.errstate(divide="ignore"):
        loss = -(y * np.maximum(np.log(p), -100) + (1 - y) * np.maximum(np.log(1 - p), -100))
    return loss, (p - y) / np.maximum(p * (1 - p), 1e-12)


@pytest.mark.parametrize("y", [0.0, 1.0])
def test_value_and_gradient_match_bceloss(y):
    value = np.asarray(jax.vmap(torch_bce, in_axes=(0, None))(jnp.asarray(P), y))
    grad = np.asarray(jax.vmap(jax.grad(torch_bce), in_axes=(0, None))(jnp.asarray(P), y))
    want_value, want_grad = by_hand(P, y)
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(value, want_value, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-4, atol=1e-30)  # XLA flushes float32 denormals (1e-45) to 0


def test_clamps_and_saturation():
    # the -100 clamp: a confident wrong answer costs exactly 100, not inf
    assert float(torch_bce(jnp.float32(0.0), 1.0)) == 100.0
    assert float(torch_bce(jnp.float32(1.0), 0.0)) == 100.0
    assert float(torch_bce(jnp.float32(1.0), 1.0)) == 0.0 and float(torch_bce(jnp.float32(0.0), 0.0)) == 0.0
    # the gradient's 1e-12 floor: at p = 0 with label 1 it is -1e12, finite (what PyTorch returns)
    assert float(jax.grad(torch_bce)(jnp.float32(0.0), 1.0)) == pytest.approx(-1e12, rel=1e-6)
    assert float(jax.grad(torch_bce)(jnp.float32(1.0), 0.0)) == pytest.approx(1e12, rel=1e-6)


def test_through_a_saturated_sigmoid_the_gradient_vanishes_as_in_pytorch():
    # D's logit -120 on a fake sample: sigmoid gives ~0 and G's nonsaturating loss -log D stays at 100 with a
    # vanishing gradient (1e12 times sigmoid' ~ 0): the seed's collapse. Unclamped softplus would give -1.
    f = lambda logit: torch_bce(jax.nn.sigmoid(logit), 1.0)  # noqa: E731
    assert float(f(jnp.float32(-120.0))) == 100.0
    assert abs(float(jax.grad(f)(jnp.float32(-120.0)))) < 1e-6
    # away from saturation the chain rule gives sigmoid(l) - 1, the textbook BCE-with-logits gradient
    for logit in (-3.0, 0.0, 2.0):
        want = 1 / (1 + np.exp(-logit)) - 1
        assert float(jax.grad(f)(jnp.float32(logit))) == pytest.approx(want, rel=1e-4)
