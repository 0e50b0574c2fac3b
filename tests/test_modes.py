"""The VEEGAN / PacGAN mixture protocol on hand-made samples with known answers."""

import numpy as np
import pytest

from distgan import modes
from distgan.targets import parse

N = modes.N_SAMPLES


def _draw(components, n, rng, keep=None, spread=1.0):
    """n exact mixture draws (components restricted to `keep`, std multiplied by `spread`)."""
    w, mu, sd = components
    p = w.copy()
    if keep is not None:
        p[[i for i in range(len(w)) if i not in keep]] = 0
        p /= p.sum()
    c = rng.choice(len(w), n, p=p)
    return mu[c] + spread * sd[c, None] * rng.standard_normal((n, mu.shape[1]))


@pytest.mark.parametrize("spec, n_modes", [("ring", 8), ("grid", 25)])
def test_a_perfect_sampler_scores_the_theory(spec, n_modes):
    comp = parse(spec).components
    s = modes.mode_stats(_draw(comp, N, np.random.default_rng(0)), comp)
    assert s["modes"] == n_modes
    assert s["high_quality"] == pytest.approx(1 - np.exp(-4.5), abs=0.006)  # 98.9 % in 2-D
    assert 0 < s["reverse_kl"] < 4 * (n_modes - 1) / (2 * N)  # multinomial noise only
    assert modes.expected_high_quality(2) == pytest.approx(0.98889, abs=1e-5)
    assert modes.perfect(comp, draws=50)["high_quality"] == pytest.approx(0.98889, abs=0.002)


def test_a_perfect_1d_sampler_scores_99_7_percent():
    # well separated: samples are judged against their *nearest* mean, so overlapping components lose a little
    comp = parse("mixture:weights=0.3,0.7;means=-5,5;stds=0.5,1").components
    s = modes.mode_stats(_draw(comp, 100_000, np.random.default_rng(0)), comp)
    assert s["modes"] == 2 and s["high_quality"] == pytest.approx(0.9973, abs=0.001)


def test_dropping_two_modes_of_the_ring():
    comp = parse("ring").components
    s = modes.mode_stats(_draw(comp, N, np.random.default_rng(1), keep=range(6)), comp)
    assert s["modes"] == 6
    # q is uniform on 6 of 8 equally weighted modes: KL = log(8/6), empty bins add 0
    assert s["reverse_kl"] == pytest.approx(np.log(8 / 6), abs=0.01)
    assert s["high_quality"] == pytest.approx(0.98889, abs=0.006)


def test_a_spread_too_wide_loses_quality_not_modes():
    comp = parse("grid").components
    s = modes.mode_stats(_draw(comp, N, np.random.default_rng(2), spread=2.0), comp)
    assert s["modes"] == 25
    assert s["high_quality"] == pytest.approx(1 - np.exp(-4.5 / 4), abs=0.02)  # P(|z| <= 1.5) in 2-D: 67.5 %


def test_known_counts_give_the_exact_kl_and_an_empty_sample_gives_inf():
    w, mu, sd = parse("ring").components
    x = np.repeat(mu[:2], [300, 100], axis=0)  # exactly on two centres: q = (3/4, 1/4, 0, ...)
    s = modes.mode_stats(x, (w, mu, sd))
    assert s == {"modes": 2, "high_quality": 1.0,
                 "reverse_kl": pytest.approx(0.75 * np.log(0.75 * 8) + 0.25 * np.log(0.25 * 8))}
    far = modes.mode_stats(np.full((10, 2), 5.0), (w, mu, sd))
    assert far["modes"] == 0 and far["high_quality"] == 0 and far["reverse_kl"] == np.inf
    nan = modes.mode_stats(np.full((10, 2), np.nan), (w, mu, sd))
    assert nan["high_quality"] == 0


def test_summarize_over_replicates():
    comp = parse("ring").components
    rng = np.random.default_rng(3)
    xs = np.stack([_draw(comp, N, rng), _draw(comp, N, rng, keep=range(6))])
    s = modes.summarize(xs, comp)
    assert s["modes"]["mean"] == 7 and s["modes"]["se"] == pytest.approx(1.0) and s["all_modes"] == 1
    assert s["n_modes"] == 8 and len(s["replicates"]) == 2
