"""The engine: K replicates of one GAN's step run as one program on this machine.

`run_steps` is the batching (vmap over replicates, scan over steps, split over CPU devices, cache-sized blocks);
`Engine` holds a run's compiled chunk of steps, its states' placement and its evaluator, and checks that K fits in
memory before anything of size K is allocated. `distgan.train` and the benchmarks both drive training through it.

    engine = Engine(gan, replicates=8, seed=0, chunk=200, n_eval=10_000)
    floor = engine.compile(beside=lambda: metrics.noise_floor(...))   # the thread beside the compile runs it
    states = engine.init()                                           # every leaf (K, ...)
    states, logs, guard = engine.run(states, 200)                    # 200 steps; logs of the last one, numpy
    fit = engine.evaluate(states, step)                              # (K, dim) per statistic, numpy
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache, lru_cache, partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import PartitionSpec

from . import devices, fast, memory, metrics
from .gan import GAN, all_finite

# Replicates per block on a CPU: about this many bytes of working set (replicate_block; benchmarks/tricks.md).
CACHE_BYTES = 4 << 20
# Replicates in the chunk that sizes one replicate when K surely will not fit (memory.probe_needed): compiling for
# K itself can run out of memory on a GPU.
PROBE_REPLICATES = 256


def replicate_block(gan: GAN, replicates: int) -> int:
    """How many of a device's replicates run the chunk together: on a CPU the largest divisor of `replicates` whose
    working set (GAN.working_set) fits CACHE_BYTES, at least 1; all of them on an accelerator (or with the
    `blocks` trick off, distgan.fast)."""
    if jax.default_backend() != "cpu" or not fast.on("blocks"):
        return replicates
    most = max(1, CACHE_BYTES // gan.working_set())
    return max(b for b in range(1, min(most, replicates) + 1) if replicates % b == 0)


def run_steps(gan: GAN, states: dict, n: int, parts: int = 1) -> tuple[dict, dict]:
    """n steps of K replicates: vmap over the replicate axis, scan over steps.

    Returns the new states and the logs of the last step (GAN.step's, with the norm of G's gradients, g_grad, in
    place of the gradients), each with leading axis K. A replicate that went non-finite during these n steps (or
    before) is rolled back to its state at their start: it keeps its last finite values, for good, while the others
    go on.
    parts: the devices the replicates are split over (devices.parts): each device runs its K / parts replicates
    (shard_map), so its program sees only its own share. On a CPU a share runs the n steps a block at a time
    (replicate_block): a block's weights, Adam moments and activations then stay in the cache over the whole scan
    instead of streaming through memory every step. Replicates never interact, so neither the split nor the
    blocks change any replicate's computation (float rounding at most).
    """
    if parts > 1:  # each device's own program (a vmap over a part axis leaves XLA a size-1 axis to fuse around)
        spec = PartitionSpec(devices.REPLICATES)
        return jax.shard_map(partial(_run_share, gan, n=n), mesh=devices.mesh(parts), in_specs=spec,
                             out_specs=spec, check_vma=False)(states)  # no collectives: nothing to check
    return _run_share(gan, states, n)


def _run_share(gan: GAN, states: dict, n: int) -> tuple[dict, dict]:
    """One device's replicates for n steps: in blocks of replicate_block(gan, K), one block after another."""
    K = jax.tree.leaves(states)[0].shape[0]
    block = replicate_block(gan, K)
    if block == K:
        return _run_block(gan, states, n)
    split = lambda x: x.reshape((K // block, block) + x.shape[1:])  # noqa: E731
    joined = lambda x: x.reshape((K,) + x.shape[2:])  # noqa: E731
    new, logs = jax.lax.map(lambda b: _run_block(gan, b, n), jax.tree.map(split, states))  # one block after another
    return jax.tree.map(joined, new), jax.tree.map(joined, logs)


def _run_block(gan: GAN, states: dict, n: int) -> tuple[dict, dict]:
    vstep = jax.vmap(gan.step)

    def body(carry, _):
        states, _ = carry
        return vstep(states), None

    logs0 = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(vstep, states)[1])
    (new, logs), _ = jax.lax.scan(body, (states, logs0), None, length=n)
    logs["g_grad"] = jax.vmap(optax.tree.norm)(logs.pop("g_grads"))
    # the guard's per-chunk part: one check of every replicate's nets, then a select, once per n steps
    d_ok, g_ok = jax.vmap(all_finite)(new["D"]), jax.vmap(all_finite)(new["G"])  # (K,) each
    missed = (new["nonfinite"] == 0) & ~(d_ok & g_ok)  # non-finite nets whose losses stayed finite: dated n's end
    flags = {"nonfinite": jnp.where(missed, jnp.where(d_ok, 2, 1), new["nonfinite"]).astype(jnp.int32),
             "nonfinite_step": jnp.where(missed, new["step"], new["nonfinite_step"])}
    stopped = flags["nonfinite"] != 0
    keep = lambda a, b: jnp.where(stopped.reshape((-1,) + (1,) * (a.ndim - 1)), b, a)  # noqa: E731
    new = {k: v if k in ("step", "key") else jax.tree.map(keep, v, states[k]) for k, v in new.items()}
    return {**new, **flags}, logs


@partial(jax.jit, static_argnums=(0, 2), compiler_options=fast.ONE_SHOT)
def init_states(gan: GAN, seed: int, replicates: int) -> dict:
    """States for replicates seed, seed + 1, ..., stacked on a leading axis K, in one compiled call.

    Call it outside jit (JAX takes compiler options on a top-level jit only); jax.eval_shape(init_states, ...)
    gives the states' shapes without computing them.
    """
    return jax.vmap(gan.init)(seed + jnp.arange(replicates))


@cache
def init_placed(sharding):
    """init_states with its states made where the split puts them (devices.split_replicates): each device draws its
    own replicates' states, the same bits, and nothing is copied and sliced from one device to the others (which
    compiles a program per array shape). sharding None: init_states."""
    if sharding is None:
        return init_states
    return jax.jit(init_states.__wrapped__, static_argnums=(0, 2), out_shardings=sharding,
                   compiler_options=fast.ONE_SHOT)


@lru_cache(maxsize=8)
def evaluator(gan: GAN, n: int) -> metrics.Evaluator:
    """The evaluator of n generated samples of this GAN against its target, one per (GAN, n) in a process: equal GANs
    (GAN.__eq__: the same config on the same built-in target) share it, and the programs it has compiled."""
    return metrics.Evaluator(gan.sample, gan.target, n)


# the chunk of steps as train runs it: the GAN, n and parts fixed (static), the states' buffers reused (donated)
run_chunk = jax.jit(run_steps, static_argnums=(0, 2, 3), donate_argnums=1, compiler_options=fast.MANY_SHOT)


class Engine:
    """K replicates of one GAN on this machine: their placement, the compiled chunk of steps and the evaluator."""

    def __init__(self, gan: GAN, replicates: int, seed: int, chunk: int, n_eval: int):
        self.gan, self.replicates, self.seed, self.chunk = gan, replicates, seed, chunk
        self.sharding = devices.split_replicates(replicates)  # on a CPU: one device per core
        self.parts = devices.parts(self.sharding)
        self.shapes = devices.shapes(jax.eval_shape(init_states, gan, seed, replicates), self.sharding)
        self.evaluator = evaluator(gan, n_eval)
        self.steps_fn = run_chunk
        self.compiled, self.compile_s, self._ready = None, 0.0, None

    def __repr__(self):
        return f"Engine({self.gan!r}, replicates={self.replicates}, devices={self.parts}, chunk={self.chunk})"

    def _check_memory(self, compiled, compiled_for: int | None = None, parts: int | None = None) -> None:
        memory.check(compiled, self.replicates, metrics.block_size(self.replicates, self.evaluator.n, self.gan.dim),
                     self.evaluator.n, self.gan.dim, parts=parts or self.parts, compiled_for=compiled_for)

    def compile(self, beside=None):
        """Compile the chunk of steps for K replicates and check that K fits the device's memory (a one-line error
        naming the K that fits, if not), while a thread compiles the initialiser and the evaluator and runs
        beside() (compiling keeps one core busy but seldom two). Returns beside()'s result."""
        if memory.probe_needed(self.shapes):  # K surely will not fit: size one replicate on a small chunk instead
            k0 = min(self.replicates, PROBE_REPLICATES)
            small = devices.split_replicates(k0)
            shapes = devices.shapes(jax.eval_shape(init_states, self.gan, self.seed, k0), small)
            probe = self.steps_fn.lower(self.gan, shapes, self.chunk, devices.parts(small)).compile()
            self._check_memory(probe, compiled_for=k0, parts=devices.parts(small))
        pool = ThreadPoolExecutor(1)
        try:
            side: Future = pool.submit(devices.here(self._side), beside)
            self._ready = pool.submit(devices.here(self.evaluator.compile), self.shapes)  # awaited at evaluation
            t0 = time.perf_counter()
            self.compiled = self.steps_fn.lower(self.gan, self.shapes, self.chunk, self.parts).compile()
            self.compile_s = time.perf_counter() - t0
            self._check_memory(self.compiled)
            result = side.result()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return result

    def _side(self, beside):
        self._init = init_placed(self.sharding).lower(self.gan, self.seed, self.replicates).compile()
        return beside() if beside is not None else None

    def init(self) -> dict:
        """Fresh states of the K replicates, placed on the devices (every leaf (K, ...))."""
        return self.place(self._init(self.seed))

    def place(self, tree):
        """A pytree of (K, ...) arrays (JAX or NumPy) on the devices the replicates are split over."""
        return devices.place(tree, self.sharding)

    def run(self, states: dict, n: int) -> tuple[dict, dict, np.ndarray]:
        """n training steps: (new states, the last step's logs as NumPy, guard (K, 2): non-finite code and step)."""
        states, logs = self.compiled(states) if n == self.chunk else self.steps_fn(self.gan, states, n, self.parts)
        logs, guard = jax.device_get((logs, (states["nonfinite"], states["nonfinite_step"])))  # waits for the chunk
        return states, logs, np.stack(guard, 1)

    def _compiled_evaluator(self) -> metrics.Evaluator:
        """The evaluator, once the thread beside `compile` has compiled its programs."""
        if self._ready is not None:
            self._ready.result()
        return self.evaluator

    def samples(self, states: dict, step: int, replicates: list[int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """The generated and real samples that `evaluate(states, step)` scores, for these replicates, in the data's
        units (metrics.Evaluator.samples): what the run's figures show. -> {k: ((n, dim), (n, dim))}"""
        to_data = self.gan.target.to_data
        return {k: (to_data(fake), to_data(real)) for k, (fake, real) in
                self._compiled_evaluator().samples(states, step, replicates).items()}

    def evaluate(self, states: dict, step: int, draw: int = 0) -> dict[str, np.ndarray]:
        """The fit of every replicate at `step` (metrics.Evaluator; draw > 0: another fresh draw), once the evaluator
        has compiled."""
        return self._compiled_evaluator()(states, step, draw)
