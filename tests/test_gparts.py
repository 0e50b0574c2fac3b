"""G's discrete codes (issue 18): each part against a plain reference, values and gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from distgan import losses, nets
from distgan.gan import GAN
from distgan.presets import get as preset
from distgan.targets import parse

jax.config.update("jax_enable_x64", False)


def test_mlp_coded_is_the_mlp_on_noise_and_a_one_hot_code():
    K, nz = 5, 3
    params = nets.init_mlp(jax.random.PRNGKey(0), [nz + K, 16, 16, 2])
    z = jax.random.normal(jax.random.PRNGKey(1), (40, nz))
    code = jnp.arange(40) % K
    acts = ("leaky_relu", "elu")

    def plain(params, z):
        return nets.mlp(params, jnp.concatenate([z, jax.nn.one_hot(code, K)], 1), acts)

    def coded(params, z):
        return nets.mlp_coded(params, z, code, acts)

    np.testing.assert_allclose(coded(params, z), plain(params, z), rtol=1e-5, atol=1e-6)
    loss = lambda f: lambda p, z: jnp.sum(jnp.sin(f(p, z)))  # noqa: E731
    g_plain, g_coded = jax.grad(loss(plain), (0, 1))(params, z), jax.grad(loss(coded), (0, 1))(params, z)
    for a, b in zip(jax.tree.leaves(g_coded), jax.tree.leaves(g_plain)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("batch, codes", [(256, 8), (256, 5), (10, 3)])
def test_code_weights_make_a_stratified_batch_an_exact_expectation(batch, codes):
    """sum_i w_i f(c_i) / B = sum_c p_c f(c), and its gradient in the logits p_c (f_c - sum p f)."""
    code = nets.stratified_codes(batch, codes)
    counts = np.bincount(np.asarray(code), minlength=codes)
    assert counts.max() - counts.min() <= 1 and counts.sum() == batch
    logits = jnp.asarray(np.random.default_rng(0).normal(size=codes), jnp.float32)
    f = jnp.asarray(np.random.default_rng(1).normal(size=codes), jnp.float32)
    weighted = lambda lg: (nets.code_weights(lg, code) * f[code]).mean()  # noqa: E731
    p = np.exp(np.float64(logits)) / np.exp(np.float64(logits)).sum()
    np.testing.assert_allclose(weighted(logits), p @ np.float64(f), rtol=1e-5)
    np.testing.assert_allclose(jax.grad(weighted)(logits), p * (np.float64(f) - p @ np.float64(f)), rtol=1e-4, atol=1e-6)


def test_weighted_losses_are_the_plain_ones_with_unit_weights_and_weight_each_term():
    f = jnp.linspace(-3, 3, 12)
    r = jnp.linspace(-2, 4, 12)
    w = jnp.linspace(0.5, 1.5, 12)
    for loss in ("minimax", "nonsaturating", "wgan", "hinge", "lsgan"):
        assert jnp.allclose(jnp.stack(losses.d_loss(loss, r, f)), jnp.stack(losses.d_loss(loss, r, f, False, jnp.ones(12))))
        assert jnp.allclose(losses.g_loss(loss, f), losses.g_loss(loss, f, False, jnp.ones(12)))
    np.testing.assert_allclose(losses.g_loss("nonsaturating", f, False, w), np.mean(w * np.log1p(np.exp(-f))), rtol=1e-5)
    np.testing.assert_allclose(losses.d_loss("nonsaturating", r, f, False, w)[1], np.mean(w * np.log1p(np.exp(f))),
                               rtol=1e-5)


@pytest.mark.parametrize("weights", ["fixed", "learned"])
def test_coded_gan_samples_codes_by_their_probabilities_and_trains(weights):
    cfg = preset("default")
    cfg.model.codes, cfg.model.code_weights = 4, weights
    gan = GAN(cfg, parse("mixture:weights=0.3,0.7;means=-2,2;stds=0.5,1"))
    state = gan.init(0)
    assert state["G"]["net"][0]["w"].shape == (8 + 4, 64)
    if weights == "learned":
        state["G"]["logits"] = jnp.log(jnp.array([0.1, 0.2, 0.3, 0.4]))
        state["ema"] = state["G"]
    logits = gan.code_logits(state["G"])
    code = jax.random.categorical(jax.random.split(jax.random.PRNGKey(5))[1], logits, shape=(20000,))
    freq = np.bincount(np.asarray(code), minlength=4) / 20000
    want = np.asarray(jax.nn.softmax(logits))
    assert np.abs(freq - want).max() < 0.015
    x = gan.sample(state, jax.random.PRNGKey(5), 20000)
    assert x.shape == (20000, 1) and bool(jnp.isfinite(x).all())
    new, logs = jax.jit(gan.step)(state)
    assert all(bool(jnp.isfinite(a).all()) for a in jax.tree.leaves(new["G"]))
    if weights == "learned":
        assert not np.allclose(new["G"]["logits"], state["G"]["logits"])  # the weights learn


def test_coded_G_is_each_codes_place_plus_its_scale_times_the_net():
    """GAN.G against the plain composition: the MLP on [z, one_hot(c)], then loc_c + exp(log_scale_c) * that, then the
    target's standard units undone; and its gradients in every parameter."""
    cfg = preset("default")
    cfg.model.noise, cfg.model.codes, cfg.model.code_weights = "normal", 3, "learned"
    gan = GAN(cfg, parse("gaussian:mean=4,std=1.25"))
    G = gan.init(7)["G"]
    G["log_scale"] = G["log_scale"] + jnp.array([[0.5], [-1.0], [0.2]])
    z = gan.noise(jax.random.PRNGKey(3), 30)
    code = jnp.arange(30) % 3

    def plain(G):
        net = nets.mlp(G["net"], jnp.concatenate([z, jax.nn.one_hot(code, 3)], 1), gan.g_acts)
        return 4.0 + 1.25 * (G["loc"][code] + jnp.exp(G["log_scale"][code]) * net)

    np.testing.assert_allclose(gan.G(G, z, code), plain(G), rtol=1e-5, atol=1e-5)
    loss = lambda f: lambda G: jnp.sum(jnp.cos(f(G)))  # noqa: E731
    got, want = jax.grad(loss(lambda G: gan.G(G, z, code)))(G), jax.grad(loss(plain))(G)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
