"""G's discrete codes (issue 18): each part against a plain reference, values and gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

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

    np.testing.assert_allclose(jax.jit(coded)(params, z), jax.jit(plain)(params, z), rtol=1e-5, atol=1e-6)
    loss = lambda f: lambda p, z: jnp.sum(jnp.sin(f(p, z)))  # noqa: E731
    grad = lambda f: jax.jit(jax.grad(loss(f), (0, 1)))(params, z)  # noqa: E731  (one program each, not op by op)
    g_plain, g_coded = grad(plain), grad(coded)
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
    np.testing.assert_allclose(jax.jit(weighted)(logits), p @ np.float64(f), rtol=1e-5)
    np.testing.assert_allclose(jax.jit(jax.grad(weighted))(logits), p * (np.float64(f) - p @ np.float64(f)), rtol=1e-4,
                               atol=1e-6)


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
    assert x.shape == (20000, 1) and np.isfinite(x).all()
    new, logs = jax.jit(gan.step)(state)
    assert all(np.isfinite(a).all() for a in jax.tree.leaves(new["G"]))
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

    coded = lambda G: gan.G(G, z, code)  # noqa: E731
    np.testing.assert_allclose(jax.jit(coded)(G), jax.jit(plain)(G), rtol=1e-5, atol=1e-5)
    loss = lambda f: lambda G: jnp.sum(jnp.cos(f(G)))  # noqa: E731
    got, want = (jax.jit(jax.grad(loss(f)))(G) for f in (coded, plain))  # one program each, not op by op
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def _energy_gap_plain(loc, fake, code, real, spread):
    """losses.code_energy_gap written out with loops, in float64."""
    loc, fake, real, spread = (np.asarray(a, np.float64) for a in (loc, fake, real, spread))
    nearest = lambda x: ((x[:, None, :] - loc[None]) ** 2).sum(-1).argmin(1)  # noqa: E731
    dist = lambda a, b: np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))  # noqa: E731
    near, near_s = nearest(real), nearest(spread)
    gaps = []
    for c in range(len(loc)):
        f, r, s = fake[np.asarray(code) == c], real[near == c], spread[near_s == c]
        if len(f) < 2 or len(r) < 1 or len(s) < 2:
            continue
        within = lambda x: dist(x, x).sum() / (len(x) * (len(x) - 1))  # noqa: E731
        gaps.append((2 * dist(f, r).mean() - within(f)) / within(s) - 1)
    return np.mean(gaps)


def test_code_energy_gap_is_each_codes_energy_distance_with_its_gradient():
    rng = np.random.default_rng(0)
    loc = np.array([[-2.0, 0.0], [2.0, 0.0], [0.0, 9.0]])  # the third code has no real sample near it: left out
    real, spread = (np.concatenate([rng.normal([-2, 0], [0.3, 0.5], (40, 2)), rng.normal([2, 0], 0.2, (30, 2))])
                    for _ in range(2))
    code = np.asarray(nets.stratified_codes(60, 3))
    fake = loc[code] + rng.normal(0, 0.4, (60, 2))
    f32 = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
    gap = lambda f: losses.code_energy_gap(f32(loc), f, jnp.asarray(code), f32(real), f32(spread))  # noqa: E731
    assert float(jax.jit(gap)(f32(fake))) == pytest.approx(_energy_gap_plain(loc, fake, code, real, spread), rel=1e-4)
    grad = np.asarray(jax.jit(jax.grad(gap))(f32(fake)))
    h, want = 1e-5, np.zeros_like(fake)
    for i, j in np.ndindex(*fake.shape):
        up, down = fake.copy(), fake.copy()
        up[i, j] += h
        down[i, j] -= h
        want[i, j] = (_energy_gap_plain(loc, up, code, real, spread)
                      - _energy_gap_plain(loc, down, code, real, spread)) / (2 * h)
    np.testing.assert_allclose(grad, want, rtol=2e-3, atol=1e-5)
    assert np.abs(want[code == 2]).max() == 0  # the code without real samples gets no pull


def test_code_energy_gap_is_near_0_for_the_real_law_and_tells_two_points_from_it():
    """Averaged over batches: about 0 for G's law equal to the real one (N(0, 1)); for two points at -1 and 1 (the
    same mean and variance) and for N(0, 1.5^2), their energy distances in units of E|R - R'| = 2 / sqrt(pi): closed
    forms 0.182 and 0.0495 (from E|X - Y| for the pairs of laws)."""
    loc, n, m, batches = jnp.zeros((1, 1)), 32, 128, 2000
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    real, spread = (jax.random.normal(k, (batches, m, 1)) for k in keys[:2])
    code = jnp.zeros(n, jnp.int32)
    gaps = jax.jit(jax.vmap(losses.code_energy_gap, (None, 0, None, 0, 0)))
    mean_gap = lambda fake: float(gaps(loc, fake, code, real, spread).mean())  # noqa: E731
    same = jax.random.normal(keys[2], (batches, n, 1))
    two_points = jnp.sign(jax.random.normal(keys[3], (batches, n, 1)))
    unit = 2 / np.sqrt(np.pi)
    e_two = 2 * (2 * stats.norm.pdf(1) + 2 * stats.norm.cdf(1) - 1) - unit - 1  # E|X - 1| twice, minus the laws' own
    e_wide = 2 * np.sqrt(2 * (1 + 1.5**2) / np.pi) - unit - 1.5 * unit
    assert e_two / unit == pytest.approx(0.182, abs=1e-3) and e_wide / unit == pytest.approx(0.0495, abs=1e-3)
    assert abs(mean_gap(same)) < 0.01
    assert mean_gap(two_points) == pytest.approx(e_two / unit, abs=0.015)
    assert mean_gap(1.5 * same) == pytest.approx(e_wide / unit, abs=0.015)
