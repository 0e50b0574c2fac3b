"""Nets: torch.nn.Linear's init, D's views of a batch against the seed's NumPy/PyTorch code, the detached mean."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from distgan import nets
from distgan.config import ModelConfig
from distgan.gan import GAN
from distgan.presets import get as preset
from distgan.targets import parse


def test_init_is_torch_linear_uniform_within_one_over_sqrt_fan_in():
    params = nets.init_mlp(jax.random.PRNGKey(0), [200, 50, 50, 1])  # the seed's D
    assert [p["w"].shape for p in params] == [(200, 50), (50, 50), (50, 1)]
    assert [p["b"].shape for p in params] == [(50,), (50,), (1,)]
    for layer in params:
        bound = 1 / math.sqrt(layer["w"].shape[0])
        for a in (np.asarray(layer["w"]).ravel(), np.asarray(layer["b"])):
            assert np.abs(a).max() <= bound
    w = np.asarray(params[0]["w"]).ravel() * math.sqrt(200)  # 10,000 values, U(-1, 1) after scaling
    assert w.max() > 0.99 and w.min() < -0.99  # uses the whole range, not a narrower one
    assert abs(w.mean()) < 0.03 and abs(w.var() - 1 / 3) < 0.02
    assert stats.kstest(w, "uniform", args=(-1, 2)).pvalue > 1e-3
    wb = np.concatenate([np.asarray(p["b"]) for p in nets.init_mlp(jax.random.PRNGKey(1), [1, 2000, 1])[:1]])
    assert stats.kstest(wb, "uniform", args=(-1, 2)).pvalue > 1e-3  # G's first bias: fan_in 1, U(-1, 1)
    again = nets.init_mlp(jax.random.PRNGKey(0), [200, 50, 50, 1])
    assert all(np.array_equal(a["w"], b["w"]) for a, b in zip(params, again))  # the key alone decides


MODES = [  # (d_input, d_features, pack) -> (n_inputs, input size) for a batch (B, dim)
    ("sample", "raw", 2, lambda B, d: (B, d)),
    ("batch", "raw", 2, lambda B, d: (1, B * d)),
    ("batch", "variances", 2, lambda B, d: (1, 2 * B * d)),
    ("batch", "moments", 2, lambda B, d: (1, 4 * d)),
    ("pack", "raw", 4, lambda B, d: (B // 4, 4 * d)),
]


@pytest.mark.parametrize("dim", [1, 2])
@pytest.mark.parametrize("d_input, d_features, pack, shape", MODES)
def test_d_input_shapes(d_input, d_features, pack, shape, dim):
    m = ModelConfig(d_input=d_input, d_features=d_features, pack=pack)
    B = 100
    x = jax.random.normal(jax.random.PRNGKey(0), (B, dim))
    v = nets.d_inputs(m, x)
    assert v.shape == shape(B, dim)
    assert v.shape[1] == nets.d_input_size(m, B, dim)
    assert nets.group_rows(m, x).shape[0] == v.shape[0]  # one row of x-gradients per D input


@pytest.mark.parametrize("d_input, d_features, pack, shape", MODES)
def test_gan_D_gives_one_logit_per_input_and_G_one_sample_per_noise(d_input, d_features, pack, shape):
    cfg = preset("seed")
    cfg.model.d_input, cfg.model.d_features, cfg.model.pack = d_input, d_features, pack
    gan = GAN(cfg, parse("gaussian"))
    state = gan.init(0)
    x = gan.sample(state, jax.random.PRNGKey(1), 100)
    assert x.shape == (100, 1)
    assert gan.D(state["D"], x).shape == (shape(100, 1)[0],)


def decorate_with_diffs(data, exponent):
    """The seed's decorate_with_diffs in NumPy: data (1, B) -> (1, 2B), the batch mean taken as a constant."""
    mean = float(np.mean(data, 1, keepdims=True).tolist()[0][0])
    diffs = np.power(data - np.ones(data.shape) * mean, exponent)
    return np.concatenate([data, diffs], 1)


def get_moments(d):
    """The later repository's get_moments in NumPy: mean, std, skew, excess kurtosis of a batch."""
    mean = np.mean(d)
    diffs = d - mean
    var = np.mean(np.power(diffs, 2.0))
    std = np.power(var, 0.5)
    zscores = diffs / std
    skews = np.mean(np.power(zscores, 3.0))
    kurtoses = np.mean(np.power(zscores, 4.0)) - 3.0
    return np.array([mean, std, skews, kurtoses])


def test_variances_match_the_seeds_decorate_with_diffs():
    x = np.asarray(4 + 1.25 * jax.random.normal(jax.random.PRNGKey(3), (100, 1)))
    ours = np.asarray(nets.d_inputs(ModelConfig(d_features="variances"), jnp.asarray(x)))
    want = decorate_with_diffs(x.T.astype(np.float64), 2.0)  # the seed feeds D the batch as one row, (1, 100)
    assert ours.shape == want.shape == (1, 200)
    np.testing.assert_allclose(ours, want, rtol=1e-5, atol=1e-5)
    raw = np.asarray(nets.d_inputs(ModelConfig(d_features="raw"), jnp.asarray(x)))
    np.testing.assert_array_equal(raw, x.T)  # the seed's "raw data" mode: the 100 values alone


def test_moments_match_get_moments_and_scipy():
    x = np.asarray(jax.random.gamma(jax.random.PRNGKey(4), 2.0, (100, 2)))  # skewed, per dimension
    ours = np.asarray(nets.d_inputs(ModelConfig(d_features="moments"), jnp.asarray(x)))[0]  # (4 * dim,)
    for d in range(2):
        want = get_moments(x[:, d].astype(np.float64))
        np.testing.assert_allclose(ours[d::2], want, rtol=1e-4, atol=1e-5)  # layout [mean, std, skew, kurt] x dim
        np.testing.assert_allclose(want[2:], [stats.skew(x[:, d]), stats.kurtosis(x[:, d])], rtol=1e-4)
    assert ours[4] > 0.5  # gamma(2) is right-skewed: a wrong formula would not show it


def test_detach_mean_stops_the_gradient_through_the_batch_mean():
    B = 100
    x = jax.random.normal(jax.random.PRNGKey(5), (B, 1))
    a, c = (jax.random.normal(k, (2 * B,)) for k in jax.random.split(jax.random.PRNGKey(6)))
    w = jnp.concatenate([a[:B], c[B:]])  # a weight on each value and on each squared deviation

    def grad(detach):
        m = ModelConfig(d_features="variances", detach_mean=detach)
        return np.asarray(jax.jit(jax.grad(lambda x: (nets.d_inputs(m, x)[0] * w).sum()))(x))[:, 0]

    xs, mean, aa, cc = np.asarray(x)[:, 0], float(np.mean(x)), np.asarray(a[:B]), np.asarray(c[B:])
    by_hand = aa + 2 * cc * (xs - mean)  # d/dx_i of a_i x_i + c_i (x_i - m)^2, m held constant (the seed's .data)
    through_mean = by_hand - 2 / B * np.sum(cc * (xs - mean))  # ... plus dm/dx_i = 1/B when m is not detached
    np.testing.assert_allclose(grad(True), by_hand, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(grad(False), through_mean, rtol=1e-5, atol=1e-5)
    assert np.abs(grad(True) - grad(False)).max() > 1e-2  # the two really differ


def test_mlp_matches_numpy_forward():
    params = nets.init_mlp(jax.random.PRNGKey(7), [1, 50, 50, 1])  # the seed's G
    z = np.asarray(jax.random.uniform(jax.random.PRNGKey(8), (10, 1)))
    h = [np.asarray(p["w"], np.float64) for p in params], [np.asarray(p["b"], np.float64) for p in params]
    elu = lambda v: np.where(v > 0, v, np.expm1(v))  # noqa: E731
    y = elu(z @ h[0][0] + h[1][0])
    y = 1 / (1 + np.exp(-(y @ h[0][1] + h[1][1])))
    y = y @ h[0][2] + h[1][2]
    np.testing.assert_allclose(nets.mlp(params, jnp.asarray(z), ("elu", "sigmoid")), y, rtol=1e-5, atol=1e-6)
