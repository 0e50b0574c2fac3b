"""Metrics against scipy, the noise floor against the seed README's figures and closed forms, verdicts in words."""

import dataclasses
import itertools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

from distgan import metrics, report
from distgan.targets import parse

RNG = np.random.default_rng(0)


def test_moments_match_scipy():
    x = RNG.gamma(2.0, 1.5, size=(3000, 2)).astype(np.float32)  # skewed and heavy-tailed, two dimensions
    m = {k: np.asarray(v) for k, v in metrics.moments(jnp.asarray(x)).items()}
    np.testing.assert_allclose(m["mean"], x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(m["std"], x.std(0), rtol=1e-4)  # population std, as the seed's np.std
    np.testing.assert_allclose(m["skew"], stats.skew(x, axis=0), rtol=1e-3)
    np.testing.assert_allclose(m["kurt"], stats.kurtosis(x, axis=0), rtol=1e-3)  # excess, biased (scipy's default)
    assert np.all(m["skew"] > 1) and np.all(m["kurt"] > 2)  # gamma(2): skew 1.41, excess kurtosis 3


@pytest.mark.parametrize("n, m, shift, ties", [(500, 500, 0.0, False), (400, 700, 0.3, False), (300, 300, 0.1, True),
                                               (1000, 50, 2.0, False)])
def test_ks_2samp_matches_scipy(n, m, shift, ties):
    x, y = RNG.normal(0, 1, n), RNG.normal(shift, 1, m)
    if ties:  # rounded values: many equal values within and across the samples
        x, y = np.round(x, 1), np.round(y, 1)
    x, y = x.astype(np.float32), y.astype(np.float32)
    want = stats.ks_2samp(x, y).statistic
    assert float(metrics.ks_2samp(jnp.asarray(x), jnp.asarray(y))) == pytest.approx(want, abs=1e-6)


@pytest.mark.parametrize("shift, scale", [(0.0, 1.0), (0.5, 1.0), (0.0, 3.0), (40.0, 0.01)])
def test_w1_matches_scipy(shift, scale):
    x, y = RNG.normal(4, 1.25, 2000), RNG.normal(4 + shift, 1.25 * scale, 2000)
    x, y = x.astype(np.float32), y.astype(np.float32)
    want = stats.wasserstein_distance(x, y)
    assert float(metrics.w1(jnp.asarray(x), jnp.asarray(y))) == pytest.approx(want, rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("n, m", [(10000, 10000), (1000, 1000), (300, 700)])
def test_ks_pvalue_matches_scipy_asymp(n, m):
    for shift in (0.0, 0.05, 0.1, 0.3):
        x, y = RNG.normal(0, 1, n), RNG.normal(shift, 1, m)
        ref = stats.ks_2samp(x, y, method="asymp")
        assert metrics.ks_pvalue(np.array([ref.statistic]), n, m)[0] == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-12)


def test_fit_is_per_dimension():
    fake = jnp.asarray(RNG.normal([0, 5], [1, 2], (1000, 2)), jnp.float32)
    real = jnp.asarray(RNG.normal([0, 0], [1, 2], (1000, 2)), jnp.float32)
    out = {k: np.asarray(v) for k, v in jax.jit(metrics.fit)(fake, real).items()}
    assert all(out[k].shape == (2,) for k in ("mean", "std", "skew", "kurt", "ks", "w1"))
    assert out["corr"].shape == () and out["sw1"].shape == ()  # the joint distances of dim > 1
    assert out["ks"][0] < 0.1 < 0.7 < out["ks"][1] and out["w1"][0] < 0.2 < 4.5 < out["w1"][1]


def test_noise_floor_of_the_seeds_target_matches_the_readme_and_closed_forms():
    n = 10_000
    target = parse("gaussian:mean=4,std=1.25")
    floor = metrics.noise_floor(target, n, draws=100)  # the default eval.floor_draws
    ks, w1 = {k: float(v[0]) for k, v in floor["ks"].items()}, {k: float(v[0]) for k, v in floor["w1"].items()}
    # Closed forms: sqrt(n m / (n + m)) KS -> Kolmogorov's law (median 0.828, p95 1.358); sqrt(n) E W1 ->
    # sigma sqrt(2/pi) sqrt(2) int sqrt(Phi (1 - Phi)) dz for two samples of N(mu, sigma).
    ks_median, ks_p95 = (stats.kstwo.ppf(q, n // 2) for q in (0.5, 0.95))  # 0.0117, 0.0192
    integral = integrate.quad(lambda z: np.sqrt(stats.norm.cdf(z) * stats.norm.sf(z)), -np.inf, np.inf)[0]
    w1_mean = 1.25 * np.sqrt(2 / np.pi) * np.sqrt(2 / n) * integral  # 0.0228
    # With 100 draws, a median has a standard error of about 4 % of its value and a 95th percentile about 7 %
    # (KS: sd 0.0035 at n = 10,000): tolerances are about 3 standard errors.
    # KS: Smirnov's law itself (distribution-free); the simulation it replaces agrees with it
    assert ks["median"] == pytest.approx(ks_median, rel=1e-6) and ks["p95"] == pytest.approx(ks_p95, rel=1e-6)
    simulated = {k: float(v[0]) for k, v in metrics._floor(target, n, 100, exact_ks=False)["ks"].items()}
    assert simulated["median"] == pytest.approx(0.012, rel=0.12) and simulated["median"] == pytest.approx(ks_median, rel=0.12)
    assert simulated["p95"] == pytest.approx(0.0196, rel=0.2) and simulated["p95"] == pytest.approx(ks_p95, rel=0.2)
    assert w1["median"] == pytest.approx(0.023, rel=0.15) and w1["median"] == pytest.approx(w1_mean, rel=0.15)
    assert w1["p95"] == pytest.approx(0.038, rel=0.25)
    assert ks["median"] < ks["p95"] and w1["median"] < w1["p95"]
    assert metrics.noise_floor(target, n, draws=100) is floor  # cached per (target, n, draws)


def test_noise_floor_scales_as_one_over_sqrt_n():
    target = parse("gaussian:mean=4,std=1.25")
    small, large = metrics.noise_floor(target, 400, 60), metrics.noise_floor(target, 3600, 60)
    for s in metrics.STATS:  # 9x the samples: a third of the floor
        assert float(small[s]["median"][0] / large[s]["median"][0]) == pytest.approx(3.0, rel=0.25)


def test_real_pairs_are_kept_in_the_cache_folder_and_read_back_as_computed(monkeypatch):
    """A built-in target's pairs are written into the compilation cache folder (the session's, tests/conftest.py)
    and read by a later process (here: with the process's own copy dropped) as they were computed; a damaged file is
    computed again."""
    target = parse("uniform:low=0,high=1")
    path = metrics._pairs_path(target, 300, 7)
    assert path.parent == Path(jax.config.jax_compilation_cache_dir) and path.name.startswith("distgan-pairs-")
    assert path != metrics._pairs_path(target, 300, 8) != metrics._pairs_path(target, 300, 7, seed=1) != path
    path.unlink(missing_ok=True)
    monkeypatch.setattr(metrics, "_PAIRS", {})
    computed = metrics.real_pairs(target, 300, 7)
    assert metrics.kept_pairs(target, 300, 7).keys() == computed.keys() and path.exists()
    monkeypatch.setattr(metrics, "real_pairs", lambda *a: pytest.fail("computed again"))
    monkeypatch.setattr(metrics, "_PAIRS", {})
    again = metrics.kept_pairs(target, 300, 7)
    for s in computed:
        np.testing.assert_array_equal(again[s], computed[s])
    path.write_bytes(b"not a zip")
    monkeypatch.setattr(metrics, "real_pairs", lambda *a: computed)
    monkeypatch.setattr(metrics, "_PAIRS", {})
    assert metrics.kept_pairs(target, 300, 7) is computed  # unreadable: computed, and written again
    assert metrics._read_pairs(path).keys() == computed.keys()


def test_pairs_of_another_seed_run_the_same_program_and_draw_their_own_samples():
    """The pairs' program takes the key: another seed of a built-in target reuses it (bench's perfect generator
    beside the floor) and scores other draws, the same as a program made for that seed alone; a target made by hand
    gets a program of its own each time."""
    target = parse("uniform:low=0,high=1")
    assert metrics._pairs_program(target, 300, 7) is metrics._pairs_program(parse("uniform:low=0,high=1"), 300, 7)
    assert metrics._pairs_program(target, 300, 7) is not metrics._pairs_program(target, 300, 8)
    by_hand = dataclasses.replace(target, key=None)
    assert metrics._pairs_program(by_hand, 300, 7) is not metrics._pairs_program(by_hand, 300, 7)
    a, b = metrics.real_pairs(target, 300, 7, seed=1), metrics.real_pairs(target, 300, 7, seed=2)
    alone = metrics.real_pairs(by_hand, 300, 7, seed=2)
    assert not np.array_equal(a["ks"], b["ks"])
    for s in b:
        np.testing.assert_array_equal(b[s], alone[s])


def test_evaluator_scores_a_perfect_generator_near_one_and_a_shifted_one_far_above():
    target = parse("gaussian:mean=4,std=1.25")
    n = 2000
    floor = metrics.noise_floor(target, n, 30)
    sample = lambda state, key, n: target.sample(key, n) + state["shift"]  # noqa: E731
    states = {"shift": jnp.array([0.0, 0.0, 0.0, 0.5]), "key": jax.random.split(jax.random.PRNGKey(0), 4)}
    result = metrics.Evaluator(sample, target, n, block=3)(states, 1000)  # blocks of 3: the last block has one
    assert result["ks"].shape == (4, 1)
    r = metrics.ratios(result, floor)
    assert np.all(r["ks"][:3] < 3) and np.all(r["w1"][:3] < 3)
    assert r["ks"][3, 0] > 4 and r["w1"][3, 0] > 8  # a 0.4 std shift: KS about 0.16 against a floor of 0.026
    assert not metrics.within_floor(result, floor)[3]


def test_evaluator_of_replicates_split_over_devices_equals_one_device():
    """The fit sorts by a host callback on a CPU; replicates split over two devices are gathered on one first
    (a partitioned program calling it waited forever in 2-D, where the sliced W1 projects the samples)."""
    from distgan import devices

    target = parse("ring")
    sample = lambda state, key, n: target.sample(key, n) * state["scale"]  # noqa: E731
    states = {"scale": jnp.array([1.0, 1.0, 1.1, 0.9]), "key": jax.random.split(jax.random.PRNGKey(0), 4)}
    split = devices.split_replicates(4)  # as train splits them (with XLA's GSPMD partitioner)
    assert len(jax.device_put(states, split)["scale"].devices()) == 2  # conftest gives the session 2 CPU devices
    evaluate = metrics.Evaluator(sample, target, 500)
    one, both = evaluate(states, 7), evaluate(jax.device_put(states, split), 7)
    blocks = metrics.Evaluator(sample, target, 500, block=3)(jax.device_put(states, split), 7)  # gathered, sliced
    assert set(one) == {"mean", "std", "skew", "kurt", "ks", "w1", "sw1", "corr"}
    for k in one:
        np.testing.assert_array_equal(both[k], one[k])
        np.testing.assert_array_equal(blocks[k], one[k])
    assert one["sw1"][0] < one["sw1"][2] / 3  # scaled by 1.1: visibly further than sampling noise


def test_evaluator_compiled_ahead_compiles_nothing_when_called(caplog):
    """train compiles the evaluator's programs while the training chunk compiles: the first evaluation must then find
    them all (else it stops training to compile), in one block or two, with the replicates on one device or split
    over two as train splits them; the results are those of a plain call."""
    import logging

    from distgan import devices

    target = parse("ring")
    sample = lambda state, key, n: target.sample(key, n) * state["scale"]  # noqa: E731
    states = {"scale": jnp.array([1.0, 1.0, 1.1, 0.9]), "key": jax.random.split(jax.random.PRNGKey(0), 4)}

    def compiled_by(evaluate, placed):
        caplog.clear()
        with jax.log_compiles(True), caplog.at_level(logging.WARNING, logger="jax"):
            result = evaluate(placed, 7)
        return {name for r in caplog.records for name in ("jit(one)", "jit(fit)") if name in r.getMessage()}, result

    for n, (block, split) in enumerate(itertools.product((0, 3), (None, devices.split_replicates(4)))):
        placed, n = devices.place(states, split), 331 + n  # new sample sizes: new programs
        ahead = metrics.Evaluator(sample, target, n, block=block)  # block 3: blocks of 3 and of 1
        ahead.compile(devices.shapes(states, split))
        names, result = compiled_by(ahead, placed)
        assert names == set(), (block, split)
        names, again = compiled_by(metrics.Evaluator(sample, target, n, block=block), placed)  # not compiled ahead
        assert "jit(one)" in names  # (the fit's programs are shared by every evaluator: compiled already)
        for k in result:
            np.testing.assert_array_equal(again[k], result[k])


def _result(mean, std, ks, w1):
    """A hand-made fit of K replicates on a 1-D target: each argument a list of K numbers."""
    arr = lambda v: np.asarray(v, float)[:, None]  # noqa: E731  (K, dim=1)
    return {"mean": arr(mean), "std": arr(std), "skew": arr([0.0] * len(mean)), "kurt": arr([0.0] * len(mean)),
            "ks": arr(ks), "w1": arr(w1)}


TARGET_MOMENTS = {"mean": np.array([4.0]), "std": np.array([1.25])}
FLOOR = {"ks": {"median": np.array([0.012]), "p95": np.array([0.0196])},
         "w1": {"median": np.array([0.023]), "p95": np.array([0.038])}}


def test_diagnose_and_verdict_on_hand_made_results():
    #                   good   collapsed  diverged  off but sane  saturated  NaN
    result = _result([4.01, 0.73, 30.0, 4.3, 4.1, np.nan], [1.24, 0.01, 1.3, 1.4, 1.2, np.nan],
                     [0.010, 0.995, 1.0, 0.09, 0.05, np.nan], [0.020, 3.27, 26.0, 0.30, 0.1, np.nan])
    logs = {"d_fake_out": np.array([0.4, 0.3, 0.5, 0.5, 1e-5, 0.5]),
            "g_grad": np.array([0.1, 0.1, 0.1, 0.1, 1e-7, 0.1])}
    problems = report.diagnose(result, logs, TARGET_MOMENTS)
    assert problems == [[], ["collapsed"], ["diverged"], [], ["saturated"], ["non-finite"]]
    words = [report.verdict(result, FLOOR, problems[k], k) for k in range(6)]
    assert words[0].startswith("GOOD: within sampling noise")
    assert words[1].startswith("FAILED") and "collapsed" in words[1]
    assert words[2].startswith("FAILED") and "diverged" in words[2] and "mean ran away" in words[2]
    assert words[3].startswith("NOT YET") and "KS 0.0900 = 7.50x floor" in words[3]
    assert words[4].startswith("FAILED") and "saturated" in words[4]
    assert words[5].startswith("FAILED") and "NaN" in words[5]
    assert all("\n" not in w for w in words)
    assert metrics.within_floor(result, FLOOR).tolist() == [True, False, False, False, False, False]


def test_within_floor_needs_both_statistics_under_the_p95():
    result = _result([4.0, 4.0], [1.25, 1.25], [0.019, 0.021], [0.039, 0.02])
    assert metrics.within_floor(result, FLOOR).tolist() == [False, False]  # W1 over in the first, KS in the second
