"""Oracle tests for the objectives and penalties: values and gradients against hand computations."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from distgan import losses
from distgan.config import Config
from distgan.gan import GAN
from distgan.nets import group_rows
from distgan.targets import parse

REAL = np.array([0.5, -1.0, 2.0], np.float32)  # D's logits on a tiny real batch
FAKE = np.array([-0.3, 1.5, 0.0], np.float32)  # and on a tiny fake batch


def sig(x):
    return 1 / (1 + np.exp(-x))


def softplus(x):
    return np.log1p(np.exp(x))


# Hand computations: (D's error on real, D's error on fake, G's error) as plain numpy, and their derivatives
# with respect to each logit (d/dr of the real error, d/df of the fake error, d/df of G's error).
HAND = {
    "minimax": (lambda r: softplus(-r).mean(), lambda f: softplus(f).mean(), lambda f: -softplus(f).mean(),
                lambda r: -(1 - sig(r)) / r.size, lambda f: sig(f) / f.size, lambda f: -sig(f) / f.size),
    "nonsaturating": (lambda r: softplus(-r).mean(), lambda f: softplus(f).mean(), lambda f: softplus(-f).mean(),
                      lambda r: -(1 - sig(r)) / r.size, lambda f: sig(f) / f.size,
                      lambda f: -(1 - sig(f)) / f.size),
    "wgan": (lambda r: -r.mean(), lambda f: f.mean(), lambda f: -f.mean(),
             lambda r: -np.ones_like(r) / r.size, lambda f: np.ones_like(f) / f.size,
             lambda f: -np.ones_like(f) / f.size),
    "hinge": (lambda r: np.maximum(0, 1 - r).mean(), lambda f: np.maximum(0, 1 + f).mean(), lambda f: -f.mean(),
              lambda r: -(r < 1).astype(float) / r.size, lambda f: (f > -1).astype(float) / f.size, lambda f: -np.ones_like(f) / f.size),
    "lsgan": (lambda r: 0.5 * ((r - 1) ** 2).mean(), lambda f: 0.5 * (f**2).mean(), lambda f: 0.5 * ((f - 1) ** 2).mean(),
              lambda r: (r - 1) / r.size, lambda f: f / f.size, lambda f: (f - 1) / f.size),
}


@pytest.mark.parametrize("torch", [False, True])
@pytest.mark.parametrize("loss", list(HAND))
def test_objective_values_and_gradients(loss, torch):
    d_real, d_fake, g, dd_real, dd_fake, dg = HAND[loss]
    real_err, fake_err = losses.d_loss(loss, jnp.asarray(REAL), jnp.asarray(FAKE), torch)
    np.testing.assert_allclose(real_err, d_real(REAL), rtol=1e-5)
    np.testing.assert_allclose(fake_err, d_fake(FAKE), rtol=1e-5)
    np.testing.assert_allclose(losses.g_loss(loss, jnp.asarray(FAKE), torch), g(FAKE), rtol=1e-5)
    grad_real = jax.grad(lambda r: losses.d_loss(loss, r, jnp.asarray(FAKE), torch)[0])(jnp.asarray(REAL))
    grad_fake = jax.grad(lambda f: losses.d_loss(loss, jnp.asarray(REAL), f, torch)[1])(jnp.asarray(FAKE))
    grad_g = jax.grad(lambda f: losses.g_loss(loss, f, torch))(jnp.asarray(FAKE))
    np.testing.assert_allclose(grad_real, dd_real(REAL), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grad_fake, dd_fake(FAKE), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grad_g, dg(FAKE), rtol=1e-5, atol=1e-7)


def test_torch_bce_clamps_like_pytorch():
    # BCELoss clamps log at -100: a certain wrong answer costs 100, not infinity, and its gradient stays finite
    assert float(losses.torch_bce(jnp.float32(0.0), 1.0)) == pytest.approx(100.0)
    assert float(losses.torch_bce(jnp.float32(1.0), 0.0)) == pytest.approx(100.0)
    g = jax.grad(lambda p: losses.torch_bce(p, 1.0))(jnp.float32(0.25))
    assert float(g) == pytest.approx((0.25 - 1) / (0.25 * 0.75))  # d/dp -log p = -1/p


def test_unknown_loss_raises():
    with pytest.raises(ValueError):
        losses.d_loss("nope", jnp.zeros(2), jnp.zeros(2))
    with pytest.raises(ValueError):
        losses.g_loss("nope", jnp.zeros(2))


# A tiny linear D on samples: D(x) = x @ w + b, so grad_x D(x) = w for every x.
W = jnp.array([0.6, -0.8, 2.0])  # dim 3, ||w||^2 = 0.36 + 0.64 + 4 = 5


def linear_d_sum(x):
    return (x @ W + 0.3).sum()


def sample_groups(x):
    return x


def test_r1_of_a_linear_d_is_the_squared_weight_norm():
    x = jax.random.normal(jax.random.PRNGKey(0), (5, 3))
    assert float(losses.r1_penalty(linear_d_sum, x, sample_groups)) == pytest.approx(5.0, rel=1e-6)


def test_r1_of_a_quadratic_d_matches_its_closed_form():
    # D(x) = sum_i x_i^2: grad = 2x, so R1 = mean over rows of 4 ||x||^2
    x = jnp.array([[1.0, 2.0], [0.5, -1.0]])
    expected = np.mean([4 * 5.0, 4 * 1.25])
    assert float(losses.r1_penalty(lambda v: (v**2).sum(), x, sample_groups)) == pytest.approx(expected, rel=1e-6)


def test_gradient_penalty_of_a_linear_d():
    # ||grad D|| = ||w|| at every interpolate: GP = (||w|| - 1)^2 whatever the mixing weights
    real, fake = jnp.ones((4, 3)), -jnp.ones((4, 3))
    gp = losses.gradient_penalty(linear_d_sum, real, fake, jax.random.PRNGKey(1), sample_groups)
    assert float(gp) == pytest.approx((math.sqrt(5.0) - 1) ** 2, rel=1e-5)


def test_gradient_penalty_of_a_quadratic_d_on_a_fixed_interpolate():
    # D(x) = 0.5 ||x||^2 has grad x; with real == fake, every interpolate is the point itself
    x = jnp.array([[3.0, 4.0], [0.0, 0.5]])  # norms 5 and 0.5
    gp = losses.gradient_penalty(lambda v: 0.5 * (v**2).sum(), x, x, jax.random.PRNGKey(2), sample_groups)
    assert float(gp) == pytest.approx(np.mean([(5 - 1) ** 2, (0.5 - 1) ** 2]), rel=1e-5)


def test_r1_groups_rows_as_d_sees_them():
    # packed D: 4 samples of dim 1 in packs of 2, D(p) = p @ [1, 2]: per-pack gradient norm^2 = 1 + 4
    cfg = Config()
    cfg.model.d_input, cfg.model.pack = "pack", 2
    x = jnp.arange(4.0).reshape(4, 1)

    def d_sum(v):
        return (v.reshape(2, 2) @ jnp.array([1.0, 2.0])).sum()

    r1 = losses.r1_penalty(d_sum, x, lambda g: group_rows(cfg.model, g))
    assert float(r1) == pytest.approx(5.0)


def test_ema_of_g_matches_a_plain_loop():
    # the step's EMA against ema <- decay * ema + (1 - decay) * G, written out over a few steps
    cfg = Config()
    cfg.model.d_input, cfg.train.ema, cfg.train.batch_size, cfg.train.steps = "sample", 0.9, 8, 5
    gan = GAN(cfg, parse(cfg.target.spec))
    state = gan.init(3)
    ema = jax.tree.map(np.asarray, state["G"])
    step = jax.jit(gan.step)
    for _ in range(5):
        state, _ = step(state)
        ema = jax.tree.map(lambda e, g: 0.9 * e + 0.1 * np.asarray(g), ema, state["G"])
    for got, want in zip(jax.tree.leaves(state["ema"]), jax.tree.leaves(ema)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("k", [2.0, 10.0])
def test_ema_warmup_k(k):
    # warm-up decay min(ema, (1 + n) / (k + n)) at G update n; k = 2: the plain mean of G's initial weights and iterates
    cfg = Config()
    cfg.model.d_input, cfg.train.batch_size, cfg.train.steps = "sample", 8, 5
    cfg.train.ema, cfg.train.ema_warmup, cfg.train.ema_warmup_k = 0.999, True, k
    gan = GAN(cfg, parse(cfg.target.spec))
    state = gan.init(3)
    ema = jax.tree.map(np.asarray, state["G"])
    iterates = [ema]
    step = jax.jit(gan.step)
    for n in range(5):
        state, _ = step(state)
        iterates.append(jax.tree.map(np.asarray, state["G"]))
        d = min(0.999, (1 + n) / (k + n))
        ema = jax.tree.map(lambda e, g, d=d: d * e + (1 - d) * g, ema, iterates[-1])
    if k == 2.0:
        ema = jax.tree.map(lambda *g: np.mean(g, 0), *iterates)
    for got, want in zip(jax.tree.leaves(state["ema"]), jax.tree.leaves(ema)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_ema_is_used_for_sampling():
    cfg = Config()
    cfg.train.ema = 0.5
    gan = GAN(cfg, parse(cfg.target.spec))
    state = gan.init(0)
    state["ema"] = jax.tree.map(jnp.zeros_like, state["G"])  # an EMA of all zeros samples exactly 0
    assert np.all(np.asarray(gan.sample(state, jax.random.PRNGKey(0), 4)) == 0)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_schedules_decay_to_zero(kind):
    cfg = Config()
    cfg.train.schedule, cfg.train.steps, cfg.train.g_lr = kind, 10, 1e-3
    gan = GAN(cfg, parse(cfg.target.spec))
    # optax keeps the count in the Adam state; the scale of the update follows the schedule
    sched = {"linear": optax.linear_schedule(1e-3, 0.0, 10), "cosine": optax.cosine_decay_schedule(1e-3, 10)}[kind]
    assert float(sched(0)) == pytest.approx(1e-3) and float(sched(10)) == pytest.approx(0.0, abs=1e-12)
    state = gan.init(0)
    step = jax.jit(gan.step)
    for _ in range(10):
        state, _ = step(state)
    before = jax.tree.map(np.asarray, state["G"])
    state, _ = step(state)  # past the end of the schedule: learning rate 0, G does not move
    for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(state["G"])):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)
