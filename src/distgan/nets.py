"""G and D: small MLPs as plain parameter pytrees, and the views of a batch that D judges."""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp

from .config import ModelConfig

Params = list[dict[str, jax.Array]]  # one {"w": (fan_in, fan_out), "b": (fan_out,)} per linear map

# exp and expm1 for the seed's activations (ELU and sigmoid are the step's largest elementwise cost on a CPU): the
# textbook reduction x = k ln2 + r, |r| <= ln2 / 2, then exp(x) = 2^k (1 + expm1(r)) with expm1(r) by its Taylor
# series to r^7 (relative truncation error < 2e-8). expm1(x) = 2^k expm1(r) + (2^k - 1) keeps full relative
# accuracy near 0 (k = 0 there), so ELU needs no second branch. ELU within 1.5 ulp of the exact values, sigmoid within
# 2.5 as jax.nn.sigmoid (tests/test_nets.py); in XLA on a CPU they cost 0.6 and 0.8 of the earlier ELU (a Taylor
# branch beside exp) and jax.nn.sigmoid, and the seed's whole step 0.94 (a block of 8 replicates on one core).
_LN2_HI, _LN2_LO = 0.693145751953125, 1.428606765330187e-06  # ln 2 = HI + LO; k * HI is exact for |k| < 2^9


def _exp_parts(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(2^k, expm1(r)) with x = k ln2 + r, for -88 <= x <= 88: exp(x) = 2^k * expm1(r) + 2^k."""
    k = jnp.round(x * (1 / math.log(2)))
    r = (x - k * _LN2_HI) - k * _LN2_LO
    p = r * (1 + r * (1 / 2 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120 + r * (1 / 720 + r / 5040))))))
    two_k = jax.lax.bitcast_convert_type(  # the float 2^k built from its exponent bits, k + 127 in [0, 254]
        jax.lax.bitcast_convert_type(k + (12582912.0 + 127.0), jnp.int32) << 23, jnp.float32)  # 1.5 * 2^23 + k + 127
    return two_k, p


@jax.custom_jvp
def elu(x: jax.Array) -> jax.Array:
    """ELU (alpha 1), as torch's: x for x > 0, else expm1(x)."""
    two_k, p = _exp_parts(jnp.clip(x, -88.0, 0.0))  # expm1(-88) is -1 in float32
    return jnp.where(x > 0, x, two_k * p + (two_k - 1.0))


@elu.defjvp
def _elu_jvp(primals, tangents):  # torch's backward: the slope from the output, 1 or elu(x) + 1, no second exp
    (x,), (t,) = primals, tangents
    y = elu(x)
    return y, jnp.where(x > 0, 1.0, y + 1.0) * t


@jax.custom_jvp
def sigmoid(x: jax.Array) -> jax.Array:
    """1 / (1 + exp(-x)), as jax.nn.sigmoid."""
    two_k, p = _exp_parts(jnp.clip(-x, -88.0, 88.0))
    return 1.0 / (1.0 + (two_k * p + two_k))


@sigmoid.defjvp
def _sigmoid_jvp(primals, tangents):  # the slope from the output, y (1 - y), as jax.nn.sigmoid's
    (x,), (t,) = primals, tangents
    y = sigmoid(x)
    return y, y * (1.0 - y) * t


ACTIVATIONS = {
    "elu": elu,
    "sigmoid": sigmoid,
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
