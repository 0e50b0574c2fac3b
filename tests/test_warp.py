"""model.warp: the maps of edges and heavy tails against closed forms (values, inverse, gradients, moments), and
the GAN working in the warped space while its samples and D's input stay in the target's units."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

from distgan import warp
from distgan.gan import GAN
from distgan.presets import get as preset
from distgan.targets import parse

LOGNORMAL = stats.lognorm(s=0.7, scale=math.exp(0.5))
_lognormal_y = lambda x: np.log(np.expm1(x / LOGNORMAL.std()))  # noqa: E731
_expect = lambda f: LOGNORMAL.expect(f, lb=0, ub=LOGNORMAL.isf(1e-15))  # noqa: E731  (a 1e-15 tail left out)
T3 = stats.t(3, loc=0.5)  # heavy tails (infinite kurtosis): asinh((x - median) / std), std = sqrt(3)
_t3_y = lambda x: np.arcsinh((x - 0.5) / math.sqrt(3))  # noqa: E731
BOUNDED = {  # spec: (the plain map to the line, y's mean and std: closed forms, or scipy's quadrature)
    "uniform:low=-1,high=3": (lambda x: special.logit((x + 1) / 4), 0.0, math.pi / math.sqrt(3)),
    "beta:a=0.5,b=0.5": (special.logit, 0.0, math.sqrt(2 * special.polygamma(1, 0.5))),
    # softplus^-1(2x) of Exp(2) is logit(1 - exp(-2x)) of a uniform: the logistic
    "exponential:rate=2": (lambda x: np.log(np.expm1(2 * x)), 0.0, math.pi / math.sqrt(3)),
    "lognormal:mu=0.5,sigma=0.7": (_lognormal_y, _expect(_lognormal_y),
                                   math.sqrt(_expect(lambda x: _lognormal_y(x) ** 2) - _expect(_lognormal_y) ** 2)),
    "student_t:df=3,loc=0.5": (_t3_y, 0.0, math.sqrt(T3.expect(lambda x: _t3_y(x) ** 2))),  # y symmetric about 0
}


@pytest.mark.parametrize("spec", BOUNDED)
def test_the_map_is_the_closed_form_its_inverse_and_its_gradient(spec):
    target = parse(spec)
    w, (plain, _, _) = warp.of(target), BOUNDED[spec]
    x = np.asarray(target.dist.rvs(size=(2000, 1), random_state=0), dtype=np.float32)
    x = x[(x > w.low + 1e-6) & (x < w.high - 1e-6)].reshape(-1, 1)  # off the edges, where the map clips
    y = w.to_free(x)
    np.testing.assert_allclose(y, plain(x.astype(np.float64)), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(w.to_free(jnp.asarray(x), jnp)), y, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(w.from_free(y), x, rtol=1e-5, atol=1e-6)  # the inverse
    order = np.argsort(x[:, 0])
    assert np.all(np.diff(y[order, 0]) >= 0)  # increasing: ranks, hence KS, are the same in both spaces
    # from_free's gradient: (b - a) sigmoid'(y), w sigmoid(y) (softplus' = sigmoid), or w cosh(y)
    ys = jnp.linspace(-6, 6, 25).reshape(-1, 1)
    grad = jax.jit(jax.vmap(jax.grad(lambda v: w.from_free(v.reshape(1, 1), jnp)[0, 0])))(ys[:, 0])
    a, b = w.low[0], w.high[0]
    exact = (b - a) * special.expit(ys) * special.expit(-ys) if np.isfinite(b) else \
        w.width[0] * special.expit(ys) if np.isfinite(a) else w.width[0] * np.cosh(ys)
    np.testing.assert_allclose(grad, exact[:, 0], rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("spec", BOUNDED)
def test_y_s_moments_against_closed_forms(spec):
    _, mean, std = BOUNDED[spec]
    m, s = warp.of(parse(spec)).moments(parse(spec))
    se = std / math.sqrt(warp.MOMENT_DRAWS)
    assert abs(m[0] - mean) < 5 * se and abs(s[0] - std) < 5 * se * math.sqrt(2)


def test_draws_on_an_edge_map_to_finite_values_and_one_edge_above():
    w = warp.of(parse("uniform:low=0,high=1"))
    assert np.all(np.isfinite(w.to_free(np.array([[0.0], [1.0]], np.float32))))
    assert np.all(np.isfinite(warp.of(parse("exponential:rate=1")).to_free(np.zeros((1, 1), np.float32))))
    upper = warp.Warp(np.array([-np.inf]), np.array([2.0]), np.array([0.5]), np.array([False]), np.zeros(1))  # only b
    x = np.array([[1.5], [-3.0]], np.float32)
    np.testing.assert_allclose(upper.to_free(x), -np.log(np.expm1((2 - x) / 0.5)), rtol=1e-6)
    np.testing.assert_allclose(upper.from_free(upper.to_free(x)), x, rtol=1e-6)


@pytest.mark.parametrize("spec", ["gaussian:mean=4,std=1.25", "mixture:weights=0.35,0.65;means=-2,2;stds=0.5,1",
                                  "student_t:df=30", "laplace", "ring"])
def test_targets_open_on_both_sides_with_light_tails_have_no_warp(spec):
    assert warp.of(parse(spec)) is None
    cfg = preset("default")
    assert cfg.model.warp == "auto" and GAN(cfg, parse(spec)).warp is None  # the same program as without


def test_a_warped_gan_samples_inside_the_support_and_d_judges_the_target_s_units():
    cfg = preset("default")
    gan = GAN(cfg, parse("beta:a=0.5,b=0.5"))
    state = jax.jit(gan.init)(0)
    state["ema"]["loc"] = state["ema"]["loc"] * 40.0  # codes far out on the line (sample draws from the EMA)

    @jax.jit
    def check(state):
        x = gan.sample(state, jax.random.PRNGKey(1), 4000)
        y = gan.G(state["G"], gan.noise(jax.random.PRNGKey(2), 8), jnp.arange(8))  # G's output: on the line
        return x, gan.D(state["D"], gan.from_free(y)), gan._D_free(state["D"], y)

    x, d_of_x, d_of_y = (np.asarray(a) for a in check(state))
    assert np.all((x >= 0) & (x <= 1)) and x.min() < 1e-6 and x.max() > 1 - 1e-6
    np.testing.assert_allclose(d_of_x, d_of_y, rtol=1e-4, atol=1e-4)
    # standardised in y: y's exact moments (logit of beta(1/2, 1/2): mean 0, var 2 psi'(1/2) = pi^2)
    np.testing.assert_allclose(gan.shift, 0.0, atol=0.02)
    np.testing.assert_allclose(gan.scale, math.pi, rtol=5e-3)  # 10^6 draws: 2 standard errors is 2e-3


def _short_run(kind: str, steps: int) -> np.ndarray:
    """The default with model.warp = kind, `steps` steps on U(0, 1), batch 128: 20,000 samples of its G."""
    cfg = preset("default")
    cfg.model.warp, cfg.train.steps, cfg.train.batch_size = kind, steps, 128
    gan = GAN(cfg, parse("uniform:low=0,high=1"))
    state = jax.jit(lambda s: jax.lax.fori_loop(0, steps, lambda i, s: gan.step(s)[0], s))(gan.init(3))
    return np.asarray(gan.sample(state, jax.random.PRNGKey(5), 20000))[:, 0]


def test_a_short_warped_run_keeps_the_uniform_s_edges():
    """Without the warp G leaks mass past the edges, with it none; both near the target (a fair comparison)."""
    outside = {}
    for kind in ("none", "auto"):
        x = _short_run(kind, 300)
        outside[kind] = np.mean((x < 0) | (x > 1))
        assert stats.kstest(x, "uniform").statistic < 0.1
    assert outside["auto"] == 0 and outside["none"] > 0.002, outside
