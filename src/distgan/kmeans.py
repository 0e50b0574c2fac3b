"""k-means (k-means++ seeding, then Lloyd's iterations) in JAX, traceable: G's codes can start at the centres of a
real sample's clusters (model.code_init = 'data'), with the clusters' shares as their probabilities."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def sq_dists(x: jax.Array, centres: jax.Array) -> jax.Array:
    """(n, dim), (k, dim) -> squared distances (n, k)."""
    return ((x[:, None, :] - centres[None, :, :]) ** 2).sum(-1)


def seed_centres(key: jax.Array, x: jax.Array, k: int) -> jax.Array:
    """k-means++ (Arthur and Vassilvitskii 2007): the first centre a random point, each next one a point drawn with
    probability proportional to its squared distance to the nearest centre so far. -> (k, dim)"""
    n = x.shape[0]
    k0, key = jax.random.split(key)
    centres = jnp.zeros((k, x.shape[1]), x.dtype).at[0].set(x[jax.random.randint(k0, (), 0, n)])

    def pick(i, centres):
        d2 = jnp.where(jnp.arange(k)[None, :] < i, sq_dists(x, centres), jnp.inf).min(1)
        p = d2 / jnp.maximum(d2.sum(), 1e-30)
        return centres.at[i].set(x[jax.random.choice(jax.random.fold_in(key, i), n, p=p)])

    return jax.lax.fori_loop(1, k, pick, centres)


def kmeans(key: jax.Array, x: jax.Array, k: int, iters: int = 25) -> tuple[jax.Array, jax.Array]:
    """Lloyd's iterations from k-means++ seeds on x (n, dim). -> centres (k, dim), each one's share of x (k,)
    (a centre left with no point stays where it is, share 0)."""

    def assign(centres):
        return jax.nn.one_hot(sq_dists(x, centres).argmin(1), k, dtype=x.dtype)  # (n, k)

    def step(_, centres):
        member = assign(centres)
        counts = member.sum(0)
        return jnp.where(counts[:, None] > 0, member.T @ x / jnp.maximum(counts, 1)[:, None], centres)

    centres = jax.lax.fori_loop(0, iters, step, seed_centres(key, x, k))
    return centres, assign(centres).mean(0)


def kmeans_best(key: jax.Array, x: jax.Array, k: int, restarts: int) -> tuple[jax.Array, jax.Array]:
    """The k-means run (kmeans) of least within-cluster squared distance over `restarts` runs: the first from `key`
    itself (one restart is kmeans(key, ...) exactly), the others from keys folded from it. -> centres, shares"""
    if restarts == 1:
        return kmeans(key, x, k)
    keys = jnp.stack([key] + [jax.random.fold_in(key, r) for r in range(1, restarts)])
    centres, shares = jax.vmap(lambda kr: kmeans(kr, x, k))(keys)
    spread = jax.vmap(lambda c: sq_dists(x, c).min(1).sum())(centres)
    best = spread.argmin()
    return centres[best], shares[best]
