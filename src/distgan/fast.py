"""Speed tricks, each a named function that computes the same thing as its plain version beside it.

tests/test_fast.py checks every pair agrees (values, and slopes where they are differentiated); benchmarks/tricks.py
measures what each one saves, against its plain version, in fresh processes (benchmarks/tricks.md). A trick is
turned off, for such a measurement or to rule it out, by naming it in DISTGAN_PLAIN (comma-separated names from
TRICKS) before distgan is imported.

    elu, sigmoid   the seed's activations from one range-reduced exp, not two transcendental calls (CPU)
    materialize    keeps G's noise and the real batch in memory rather than recomputing each draw once per hidden
                   unit of the first layer it feeds (XLA fusion)
    sort           NumPy's sort on a CPU (XLA's CPU sort is a comparator loop): in the evaluator between two compiled
                   programs (sort_between), elsewhere called back from inside one (sort)
    blocks         replicates run the training chunk in cache-sized blocks on a CPU (distgan.engine)
    one_shot       programs run a few times a run compile at LLVM's O1, not XLA's default level 3 (ONE_SHOT)
    gc_freeze      the objects of the imports leave the cyclic garbage collector's walks (freeze_imports)
    threefry       JAX's threefry hash lowered unrolled on a CPU too, not as a rolled loop (unrolled_threefry)
"""

from __future__ import annotations

import gc
import math
import os

import jax
import jax.numpy as jnp
import numpy as np

try:  # JAX's own lowerings of its threefry hash (unrolled_threefry); another JAX may keep them elsewhere
    from jax._src.interpreters import mlir as _mlir
    from jax._src.random import threefry2x32 as _threefry
except ImportError:
    _mlir = _threefry = None

TRICKS = ("elu", "sigmoid", "materialize", "sort", "blocks", "one_shot", "gc_freeze", "threefry")
PLAIN = {name.strip() for name in os.environ.get("DISTGAN_PLAIN", "").split(",") if name.strip()}


def on(name: str) -> bool:
    """Whether trick `name` is in use (read when a program is traced, so set DISTGAN_PLAIN before importing)."""
    return name not in PLAIN


# Compiler options for the programs that run a few times a run (initialisers, evaluation, noise floor, sampling):
# LLVM's O1 compiles faster than XLA's default level (3), and on a CPU compiling takes more of a short run than these
# programs' running does. Plain: XLA's default options. Either way the same numbers (tests/test_engine.py checks the
# initial states).
ONE_SHOT = {"xla_backend_optimization_level": 1} if on("one_shot") else {}
# The training chunk, run thousands of times, compiles at XLA's default level, which makes a faster step; stated, so
# that the chunk is the same program in a process whose XLA_FLAGS lower the default (the test suite's do).
MANY_SHOT = {"xla_backend_optimization_level": 3}


def freeze_imports() -> None:
    """Move every object allocated so far out of the cyclic garbage collector's generations (gc.freeze).

    After the imports (JAX, SciPy, NumPy) the collector tracks a few hundred thousand objects, which none of its full
    passes during a run or at the interpreter's shutdown would free; frozen, they are not walked at all. Plain:
    nothing.
    """
    if on("gc_freeze"):
        gc.freeze()


def unrolled_threefry(unrolled: bool = True) -> bool:
    """Lower JAX's default PRNG hash (threefry2x32) on a CPU as JAX lowers it on a GPU: its 20 rounds written out,
    one fused kernel per draw. JAX's CPU lowering keeps them in a loop of 5 steps, about 25 small kernels per draw,
    which XLA compiles one by one: every initialiser and evaluator draws with threefry (training draws with Philox,
    distgan.gan). Integer arithmetic either way: the same bits. It applies to programs lowered after the call, in
    this whole process. unrolled=False: JAX's own CPU lowering back. Plain: nothing. -> whether it was applied
    (False where this JAX has no such lowering to choose)."""
    rules = ("_threefry2x32_lowering_rule", "_threefry2x32_cpu_lowering_rule")
    if not on("threefry") or _threefry is None or not all(hasattr(_threefry, r) for r in rules):
        return False
    _mlir.register_lowering(_threefry.threefry2x32_p, getattr(_threefry, rules[0 if unrolled else 1]), platform="cpu")
    return True


THREEFRY_UNROLLED = unrolled_threefry()  # on import: every program distgan lowers draws through the unrolled hash


# --- elu and sigmoid ---------------------------------------------------------------------------------------------
# The textbook reduction x = k ln2 + r, |r| <= ln2 / 2, then exp(x) = 2^k (1 + expm1(r)), with expm1(r) from its
# Taylor series to r^7 (relative truncation error < 2e-8). expm1(x) = 2^k expm1(r) + (2^k - 1) keeps full relative
# accuracy near 0 (k = 0 there), so ELU needs no second branch for small |x|.
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
def _elu(x: jax.Array) -> jax.Array:
    two_k, p = _exp_parts(jnp.clip(x, -88.0, 0.0))  # expm1(-88) is -1 in float32
    return jnp.where(x > 0, x, two_k * p + (two_k - 1.0))


@_elu.defjvp
def _elu_jvp(primals, tangents):  # torch's backward: the slope from the output, 1 or elu(x) + 1, no second exp
    (x,), (t,) = primals, tangents
    y = _elu(x)
    return y, jnp.where(x > 0, 1.0, y + 1.0) * t


@jax.custom_jvp
def _sigmoid(x: jax.Array) -> jax.Array:
    two_k, p = _exp_parts(jnp.clip(-x, -88.0, 88.0))
    return 1.0 / (1.0 + (two_k * p + two_k))


@_sigmoid.defjvp
def _sigmoid_jvp(primals, tangents):  # the slope from the output, y (1 - y), as jax.nn.sigmoid's
    (x,), (t,) = primals, tangents
    y = _sigmoid(x)
    return y, y * (1.0 - y) * t


def elu(x: jax.Array) -> jax.Array:
    """ELU with alpha 1, as torch's and jax.nn.elu: x for x > 0, else expm1(x)."""
    return _elu(x) if on("elu") else jax.nn.elu(x)


def sigmoid(x: jax.Array) -> jax.Array:
    """1 / (1 + exp(-x)), as jax.nn.sigmoid."""
    return _sigmoid(x) if on("sigmoid") else jax.nn.sigmoid(x)


# --- materialize ---------------------------------------------------------------------------------------------------

def materialize(z: jax.Array) -> jax.Array:
    """z itself, for every finite z (G's noise, a batch of real draws).

    rem(z, inf) == z exactly there, but XLA counts a remainder as expensive and so keeps z in memory. Fused into the
    first layer of a net on a 1-D input (an outer product) instead, each draw, with the hash and the transforms that
    made it, would be recomputed once per hidden unit, and compiled once more into every fusion that reads it.
    """
    return jax.lax.rem(z, jnp.array(jnp.inf, z.dtype)) if on("materialize") else z


# --- sort ------------------------------------------------------------------------------------------------------------

def sort_between() -> bool:
    """Whether the evaluator sorts on the host between two compiled programs (host_sort) rather than inside one:
    on a CPU, with the sort trick on. A program that calls back to the host (sort) is never written to JAX's
    persistent cache; the two programs around host_sort are."""
    return on("sort") and jax.default_backend() == "cpu"


def host_sort(x: np.ndarray) -> np.ndarray:
    """x sorted along its last axis by NumPy, outside any compiled program (sort_between)."""
    return np.sort(x, axis=-1)


def sort(x: jax.Array) -> jax.Array:
    """x sorted along its last axis, as jnp.sort.

    On a CPU the sort is NumPy's, called back from the compiled program: XLA's CPU sort calls its comparator once
    per comparison. Sorting is exact, so both give the same values. On a GPU XLA's own sort is the fast one, and
    the samples stay on the device. A program that calls back cannot be split over several devices: the evaluator
    gathers its samples on one (distgan.metrics).
    """
    if not on("sort") or jax.default_backend() != "cpu":
        return jnp.sort(x)
    return jax.pure_callback(lambda a: np.sort(a, axis=-1), jax.ShapeDtypeStruct(x.shape, x.dtype), x,
                             vmap_method="expand_dims")
