"""model.code_init = 'data': k-means in JAX against a plain NumPy Lloyd's loop, and G's codes starting on it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from distgan.gan import GAN
from distgan.kmeans import kmeans, kmeans_best, seed_centres
from distgan.presets import get as preset
from distgan.targets import parse


def _lloyd(x, centres, iters):
    """Lloyd's algorithm, one point at a time."""
    centres = centres.copy()
    for _ in range(iters):
        members = [[] for _ in centres]
        for p in x:
            members[int(np.argmin([np.sum((p - c) ** 2) for c in centres]))].append(p)
        centres = np.array([np.mean(m, 0) if m else c for m, c in zip(members, centres)])
    share = np.array([len(m) for m in members]) / len(x)
    return centres, share


def test_kmeans_is_lloyds_loop_from_its_kmeans_plus_plus_seeds():
    x = jax.random.normal(jax.random.PRNGKey(0), (300, 2)) * jnp.array([1.0, 0.3])
    key = jax.random.PRNGKey(1)
    seeds = np.asarray(jax.jit(seed_centres, static_argnums=2)(key, x, 5))
    xs = np.asarray(x)
    assert all(np.any(np.all(xs == s, 1)) for s in seeds) and len(np.unique(seeds, axis=0)) == 5  # 5 points of x
    centres, share = jax.jit(kmeans, static_argnums=(2, 3))(key, x, 5, 10)
    plain_centres, plain_share = _lloyd(xs.astype(np.float64), seeds.astype(np.float64), 10)
    np.testing.assert_allclose(centres, plain_centres, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(share, plain_share, atol=1e-7)


def test_kmeans_plus_plus_seeds_far_apart():
    """On 4 tight clusters, the seeds' squared-distance draws land one in each cluster nearly always."""
    centres = np.array([[-4.0, 0], [4, 0], [0, 4], [0, -4]])
    x = jnp.asarray(np.repeat(centres, 50, 0) + 0.01 * np.random.default_rng(0).normal(size=(200, 2)), jnp.float32)
    seeds = np.asarray(jax.jit(jax.vmap(lambda k: seed_centres(jax.random.PRNGKey(k), x, 4)))(jnp.arange(20)))
    hits = [len({int(np.argmin(((centres - s) ** 2).sum(1))) for s in one}) for one in seeds]
    assert np.mean(np.array(hits) == 4) >= 0.9, hits  # a seeded cluster is drawn again at odds of about 0.01^2 / 4^2
    found, share = jax.jit(kmeans, static_argnums=2)(jax.random.PRNGKey(0), x, 4)
    order = np.argsort(np.asarray(found) @ np.array([1.0, 0.1]))
    np.testing.assert_allclose(np.asarray(found)[order], centres[np.argsort(centres @ np.array([1.0, 0.1]))],
                               atol=0.01)
    np.testing.assert_allclose(share, 0.25)


def test_codes_start_on_the_clusters_of_the_target_in_standard_units():
    cfg = preset("default")
    cfg.model.code_init = "data"
    gan = GAN(cfg, parse("mixture:weights=0.25,0.75;means=-5,5;stds=0.1,0.1"))
    G = jax.jit(gan.init)(0)["G"]
    places = np.asarray(G["loc"])[:, 0] * float(gan.scale[0]) + float(gan.shift[0])  # back in the target's units
    assert np.all(np.minimum(np.abs(places + 5), np.abs(places - 5)) < 0.3)  # every code on a mode
    p = np.asarray(jax.nn.softmax(G["logits"]))
    np.testing.assert_allclose(p[places < 0].sum(), 0.25, atol=0.03)  # 2,048 draws: 3 standard errors


def test_the_best_of_several_runs_is_the_run_of_least_spread():
    """On the grid's 25 modes, k-means from key 0 leaves a mode without a centre of its own (two centres share one);
    the tightest of 8 runs gives every mode its own. One run is kmeans itself."""
    target = parse("grid")
    modes = np.asarray(target.components[1])
    x = target.sample(jax.random.PRNGKey(7), 2048)
    spread = lambda c: float(((np.asarray(x)[:, None] - np.asarray(c)[None]) ** 2).sum(-1).min(1).sum())  # noqa: E731
    own = lambda c: len(set(np.argmin(((np.asarray(c)[:, None] - modes[None]) ** 2).sum(-1), 1).tolist()))  # noqa: E731
    one_run, best_of = jax.jit(kmeans, static_argnums=2), jax.jit(kmeans_best, static_argnums=(2, 3))
    one, _ = one_run(jax.random.PRNGKey(0), x, 25)
    assert own(one) == 24
    np.testing.assert_array_equal(best_of(jax.random.PRNGKey(0), x, 25, 1)[0], one)
    runs = [one_run(jax.random.PRNGKey(0) if r == 0 else jax.random.fold_in(jax.random.PRNGKey(0), r), x, 25)[0]
            for r in range(8)]
    best, share = best_of(jax.random.PRNGKey(0), x, 25, 8)
    assert spread(best) == pytest.approx(min(spread(c) for c in runs), rel=1e-5) and spread(best) < spread(one)
    assert own(best) == 25 and np.all(np.asarray(share) > 0.02)
