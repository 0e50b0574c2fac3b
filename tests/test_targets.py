"""Every target's sampler against its exact distribution, the 2-D mixtures' geometry, and the spec parser."""

import jax
import numpy as np
import pytest
from scipy import stats

from distgan.config import ConfigError
from distgan.targets import TARGETS, example, parse

N = 20000
KEY = jax.random.PRNGKey(0)

SCIPY_TARGETS = ["gaussian:mean=4,std=1.25", "uniform:low=-1,high=3", "exponential:rate=2",
                 "lognormal:mu=0.5,sigma=0.7", "gamma:shape=2.5,scale=1.5", "beta:a=2,b=5",
                 "student_t:df=3,loc=1,scale=2", "laplace:loc=-1,scale=0.5"]


@pytest.mark.parametrize("spec", SCIPY_TARGETS)
def test_sampler_matches_exact_distribution(spec):
    t = parse(spec)
    x = np.asarray(t.sample(KEY, N), np.float64)
    assert x.shape == (N, 1)
    assert stats.kstest(x[:, 0], t.dist.cdf).pvalue > 0.01
    # the density integrates to 1 and is the scipy one
    grid = np.linspace(*t.dist.ppf([1e-6, 1 - 1e-6]), 20001)
    assert np.trapezoid(t.pdf(grid), grid) == pytest.approx(1, abs=2e-3)


@pytest.mark.parametrize("spec", ["gaussian:mean=4,std=1.25", "beta:a=0.5,b=0.5", "student_t:df=3",
                                  "mixture:weights=0.2,0.5,0.3;means=-3,0,3;stds=0.3,0.6,0.4", "ring"])
def test_numpy_draws_follow_the_sampler_s_law(spec):
    """Target.draws (scipy's or the mixture's own NumPy draws; JAX's sampler for the rest) against the JAX sampler:
    the same law, per dimension."""
    t = parse(spec)
    a, b = t.draws(N, seed=1), np.asarray(t.sample(KEY, N), np.float64)
    assert a.shape == b.shape == (N, t.dim)
    for j in range(t.dim):
        assert stats.ks_2samp(a[:, j], b[:, j]).pvalue > 0.01


def test_mixture_sampler_matches_its_cdf():
    t = parse("mixture:weights=0.3,0.7;means=-2,3;stds=0.5,1")
    w, mu, sd = t.components
    assert w.tolist() == pytest.approx([0.3, 0.7])
    cdf = lambda x: w[0] * stats.norm.cdf(x, mu[0, 0], sd[0]) + w[1] * stats.norm.cdf(x, mu[1, 0], sd[1])  # noqa: E731
    x = np.asarray(t.sample(KEY, N), np.float64)[:, 0]
    assert stats.kstest(x, cdf).pvalue > 0.01
    grid = np.linspace(-6, 8, 5001)
    assert np.trapezoid(t.pdf(grid), grid) == pytest.approx(1, abs=1e-4)


def test_mixture_default_weights_are_equal_and_one_std_broadcasts():
    w, mu, sd = parse("mixture:means=-1,0,1;stds=0.2").components
    assert w.tolist() == pytest.approx([1 / 3] * 3) and sd.tolist() == [0.2] * 3


def test_ring_has_8_distinct_modes_at_the_published_angles():
    t = parse("ring")
    w, mu, sd = t.components
    angles = 2 * np.pi * np.arange(8) / 8
    np.testing.assert_allclose(mu, np.stack([np.cos(angles), np.sin(angles)], 1), atol=1e-12)
    assert len({tuple(np.round(m, 6)) for m in mu}) == 8  # linspace(0, 2 pi, 8) would give 7 distinct modes
    assert sd.tolist() == [0.01] * 8 and w.tolist() == pytest.approx([1 / 8] * 8)
    _check_mixture_samples(t)


def test_grid_has_25_modes_on_the_published_lattice():
    t = parse("grid")
    w, mu, sd = t.components
    assert sorted(map(tuple, mu.tolist())) == [(float(x), float(y)) for x in range(-4, 5, 2) for y in range(-4, 5, 2)]
    assert sd.tolist() == [0.05] * 25
    _check_mixture_samples(t)


def _check_mixture_samples(t):
    """Counts per component match the weights (chi-square) and each coordinate's deviation is N(0, std)."""
    w, mu, sd = t.components
    x = np.asarray(t.sample(KEY, N), np.float64)
    c = ((x[:, None] - mu[None]) ** 2).sum(-1).argmin(1)
    assert stats.chisquare(np.bincount(c, minlength=len(w)), N * w).pvalue > 0.01
    dev = (x - mu[c]) / sd[c, None]
    assert stats.kstest(dev.ravel(), "norm").pvalue > 0.01


def test_moons_match_an_independent_numpy_sampler():
    x = np.asarray(parse("moons:noise=0.05").sample(KEY, N), np.float64)
    rng = np.random.default_rng(1)  # sklearn.datasets.make_moons, written out
    t, upper = np.pi * rng.random(N), rng.random(N) < 0.5
    y = np.stack([np.where(upper, np.cos(t), 1 - np.cos(t)), np.where(upper, np.sin(t), 0.5 - np.sin(t))], 1)
    y += 0.05 * rng.standard_normal((N, 2))
    for d in range(2):
        assert stats.ks_2samp(x[:, d], y[:, d]).pvalue > 0.01


def test_spiral_lies_on_the_swiss_roll():
    x = np.asarray(parse("spiral:noise=0").sample(KEY, N), np.float64) * 7.5
    r, theta = np.hypot(x[:, 0], x[:, 1]), np.arctan2(x[:, 1], x[:, 0])
    assert stats.kstest(r, stats.uniform(1.5 * np.pi, 3 * np.pi).cdf).pvalue > 0.01  # t = r ~ U[1.5 pi, 4.5 pi]
    np.testing.assert_allclose(np.cos(theta - r), 1, atol=1e-3)  # the angle is t itself


@pytest.mark.parametrize("name", list(TARGETS))
def test_every_documented_example_parses(name):
    # N draws, as the samplers' tests above take: the same compiled sampler (its parameters are arguments)
    t = parse(example(name))
    assert t.name == name and t.sample(KEY, N).shape == (N, t.dim)


@pytest.mark.parametrize("spec, words", [
    ("gauss", "unknown target 'gauss'"),
    ("gaussian:mean=4,sd=1", "unknown parameter 'sd=1'"),
    ("gaussian:std=-1", "parameter std must be > 0"),
    ("gaussian:mean=abc", "parameter mean expected numbers"),
    ("gaussian:mean=inf", "parameter mean must be finite"),
    ("gaussian:mean=1,2", "parameter mean expected one number"),
    ("gaussian:mean=1,mean=2", "parameter mean given twice"),
    ("uniform:low=2,high=1", "expected high > low"),
    ("mixture:weights=0.5,0.5;means=1,2,3", "same length"),
    ("mixture:weights=-1,2;means=1,2", "weights must be >= 0"),
    ("mixture:means=1,2;stds=0.5,0", "parameter stds must be > 0"),
    ("ring:modes=7.5", "parameter modes expected a whole number"),
    ("grid:side=0", "parameter side must be > 0"),
    ("moons:noise=-1", "parameter noise must be >= 0"),
    ("beta:a", "unknown parameter 'a'"),
])
def test_bad_specs_fail_with_one_line_naming_the_parameter(spec, words):
    with pytest.raises(ConfigError) as e:
        parse(spec)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_targets_command_prints_parsable_examples(capsys):
    from distgan.cli import main

    assert main(["targets"]) == 0
    out = capsys.readouterr().out
    specs = [line.split("e.g. ")[1] for line in out.splitlines() if "e.g. " in line]
    assert len(specs) == len(TARGETS) and "mixture:weights=0.3,0.7;means=-2,3;stds=0.5,1" in specs
    for spec in specs:
        parse(spec)
