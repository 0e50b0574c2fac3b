"""G and D: small MLPs as plain parameter pytrees, and the views of a batch that D judges."""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp

from . import fast
from .config import ModelConfig

Params = list[dict[str, jax.Array]]  # one {"w": (fan_in, fan_out), "b": (fan_out,)} per linear map

ACTIVATIONS = {
    "elu": fast.elu,  # jax.nn.elu, made faster on a CPU (distgan.fast)
    "sigmoid": fast.sigmoid,  # jax.nn.sigmoid, likewise
    "relu": jax.nn.relu,
    "leaky_relu": partial(jax.nn.leaky_relu, negative_slope=0.2),
    "tanh": jnp.tanh,
}


def init_mlp(key: jax.Array, sizes: list[int]) -> Params:
    """Linear maps sizes[0] -> ... -> sizes[-1], initialised as torch.nn.Linear: U(+-1/sqrt(fan_in)) for w and b."""
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        key, kw, kb = jax.random.split(key, 3)
        bound = 1.0 / math.sqrt(fan_in)
        params.append({"w": jax.random.uniform(kw, (fan_in, fan_out), minval=-bound, maxval=bound),
                       "b": jax.random.uniform(kb, (fan_out,), minval=-bound, maxval=bound)})
    return params


def mlp(params: Params, x: jax.Array, acts: tuple[str, ...]) -> jax.Array:
    """Apply the MLP: an activation after every map but the last. x (..., fan_in) -> (..., fan_out)."""
    for layer, act in zip(params[:-1], acts):
        x = ACTIVATIONS[act](x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def acts(spec: str) -> tuple[str, ...]:
    return tuple(a.strip() for a in spec.split(","))


def d_input_size(m: ModelConfig, batch_size: int, dim: int) -> int:
    """Length of one D input vector for the configured view of a batch."""
    if m.d_input == "sample":
        return dim
    if m.d_input == "pack":
        return m.pack * dim
    return {"raw": batch_size * dim, "variances": 2 * batch_size * dim, "moments": 4 * dim}[m.d_features]


def batch_moments(x: jax.Array) -> jax.Array:
    """Per-dimension mean, std, skew and excess kurtosis of a batch. (B, dim) -> (4 * dim,)"""
    mean = x.mean(0)
    diffs = x - mean
    std = jnp.sqrt((diffs**2).mean(0) + 1e-12)  # + eps: a collapsed batch gives finite features and gradients
    z = diffs / std
    return jnp.concatenate([mean, std, (z**3).mean(0), (z**4).mean(0) - 3.0])


def d_inputs(m: ModelConfig, x: jax.Array) -> jax.Array:
    """What D sees of a batch. x (B, dim) -> (n_inputs, d_input_size); n_inputs = B, B/pack or 1."""
    B, dim = x.shape
    if m.d_input == "sample":
        return x
    if m.d_input == "pack":
        return x.reshape(B // m.pack, m.pack * dim)
    if m.d_features == "raw":
        return x.reshape(1, B * dim)
    if m.d_features == "moments":
        return batch_moments(x)[None]
    # variances: the values, then each one's squared deviation from the batch mean (the seed's decorate_with_diffs,
    # which takes the mean through .data: no gradient flows through it when detach_mean is set)
    mean = x.mean(0)
    if m.detach_mean:
        mean = jax.lax.stop_gradient(mean)
    return jnp.concatenate([x.reshape(1, B * dim), ((x - mean) ** 2).reshape(1, B * dim)], axis=1)


def group_rows(m: ModelConfig, x: jax.Array) -> jax.Array:
    """Rows of x (B, dim) grouped as D's inputs group them, for gradient norms per D input. -> (n_inputs, -1)"""
    B, dim = x.shape
    if m.d_input == "sample":
        return x
    if m.d_input == "pack":
        return x.reshape(B // m.pack, m.pack * dim)
    return x.reshape(1, B * dim)


# --- G's parts for shapes a connected map cannot make ---------------------------------------------------------


def mlp_coded(params: Params, z: jax.Array, code: jax.Array, acts: tuple[str, ...]) -> jax.Array:
    """The MLP on [z, one_hot(code)]: the code's row of the first weight matrix is added as a bias (a gather, not a
    matmul with the one-hot). params[0]["w"] is (noise_dim + codes, hidden); z (n, noise_dim), code (n,) int."""
    first = params[0]
    nz = z.shape[-1]
    h = z @ first["w"][:nz] + first["w"][nz + code] + first["b"]
    return _mlp_from_hidden(params[1:], h, acts)


def _mlp_from_hidden(params: Params, h: jax.Array, acts: tuple[str, ...]) -> jax.Array:
    """The rest of an MLP after its first linear map's pre-activation h."""
    x = ACTIVATIONS[acts[0]](h)
    for layer, act in zip(params[:-1], acts[1:]):
        x = ACTIVATIONS[act](x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def stratified_codes(batch_size: int, codes: int) -> jax.Array:
    """Every code equally often in a batch, in order: code i % codes for sample i. -> (batch_size,) int"""
    return jnp.arange(batch_size) % codes


def code_weights(logits: jax.Array, code: jax.Array) -> jax.Array:
    """Per-sample weights that make a stratified batch (stratified_codes) an unbiased draw from softmax(logits):
    p(code) / (the code's share of the batch). Differentiable in logits. -> code's shape"""
    p = jax.nn.softmax(logits)
    share = jnp.bincount(code, length=logits.shape[0]) / code.shape[0]
    return (p / share)[code]
