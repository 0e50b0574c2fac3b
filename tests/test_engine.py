"""The engine: batched replicates equal the same seeds trained alone, blocks and the split over devices change no
replicate, seeding, the memory check against a real allocation, and K too large for memory."""

import dataclasses
import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import distgan
from distgan import devices, engine, fast, memory, metrics
from distgan.cli import main
from distgan.data import make_target
from distgan.engine import init_states, run_chunk, run_steps
from distgan.gan import GAN
from distgan.targets import parse

STEPS = 200
SRC = str(Path(distgan.__file__).parents[1])
BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


@functools.cache
def _gan(d_input: str = "batch") -> GAN:
    """One GAN per D input for the module, so that run_chunk's programs for it are compiled once and shared."""
    cfg = distgan.preset("seed")
    cfg.model.d_input = d_input  # 'batch': the seed's whole-batch D; 'sample': a per-sample D
    return GAN(cfg, make_target(cfg.target))


def _train(gan: GAN, seed: int, replicates: int, parts: int = 1) -> dict:
    states = devices.place(init_states(gan, seed, replicates), devices.split_replicates(replicates) if parts > 1
                           else None)
    return jax.device_get(run_chunk(gan, states, STEPS, parts)[0])


@functools.cache
def _together(d_input: str, seed: int, replicates: int) -> dict:
    """Replicates seed, seed + 1, ... trained together on one device (read-only: the tests share it)."""
    return _train(_gan(d_input), seed, replicates)


def _close(a: dict, b: dict, what: str) -> None:
    for path, x, y in zip(jax.tree_util.tree_leaves_with_path(a), jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5, err_msg=f"{what} {path}")


@pytest.mark.parametrize("preset", ["seed", "default"])
def test_initial_states_are_each_replicates_own_to_the_bit(preset):
    """init_states (vmapped, compiled at LLVM's O1) gives replicate k exactly what gan.init(seed + k) gives alone
    at XLA's default optimisation (fast.MANY_SHOT, stated: the suite's default is lower): a faster compile changes
    no initial weight."""
    cfg = distgan.preset(preset)
    gan = GAN(cfg, make_target(cfg.target))
    batched = jax.device_get(init_states(gan, 5, 3))
    for k in range(3):
        alone = jax.device_get(jax.jit(gan.init, compiler_options=fast.MANY_SHOT)(5 + k))
        for path, b, a in zip(jax.tree_util.tree_leaves_with_path(batched), jax.tree.leaves(batched),
                              jax.tree.leaves(alone)):
            np.testing.assert_array_equal(b[k], a, err_msg=f"replicate {k} {path[0]}")
    # made where the split puts them (Engine.init): each device draws its replicates' states, the same bits
    split = devices.split_replicates(4)
    placed = engine.init_placed(split)(gan, 5, 4)
    assert jax.tree.leaves(placed)[0].sharding == split
    for b, p in zip(jax.tree.leaves(jax.device_get(init_states(gan, 5, 4))), jax.tree.leaves(jax.device_get(placed))):
        np.testing.assert_array_equal(p, b)


@pytest.mark.parametrize("d_input", ["batch", "sample"])
def test_batched_replicates_equal_each_trained_alone(d_input):
    # Not bit-equal: vmap turns each replicate's matmuls into one batched matmul whose summation order differs
    # (max |difference| ~5e-7 after 300 steps). Within float tolerance, and far below the distance between seeds.
    # The whole-batch D's 8 replicates are those the blocks and the split are checked against below.
    gan, K = _gan(d_input), {"batch": 8, "sample": 4}[d_input]
    batched = _together(d_input, 3, K)
    for k in range(K):
        _close(jax.tree.map(lambda x, k=k: x[k:k + 1], batched), _train(gan, 3 + k, 1), f"replicate {k}")
    again = _train(gan, 3, K)  # the same seeds repeat exactly
    for x, y in zip(jax.tree.leaves(batched), jax.tree.leaves(again)):
        np.testing.assert_array_equal(x, y)
    w = batched["G"][1]["w"]
    assert np.abs(w[0] - w[1]).max() > 1e-2 and not np.array_equal(batched["key"][0], batched["key"][1])


def test_blocks_and_the_split_over_devices_equal_all_at_once(monkeypatch):
    """On a CPU each device's replicates run a chunk in cache-sized blocks, one after another, and an even K is split
    over the session's two CPU devices: the same states as all of them at once on one device."""
    gan, K = _gan(), 8
    assert engine.replicate_block(gan, K) == K  # 8 of the seed's replicates fit the cache: all at once
    together = _together("batch", 3, K)  # trained as run_chunk trains them (shared with the test above)
    monkeypatch.setattr(engine, "CACHE_BYTES", 2 * gan.working_set())
    assert engine.replicate_block(gan, K) == 2 and engine.replicate_block(gan, K // 2) == 2
    # new functions, traced afresh under the smaller cache (run_chunk would reuse its trace for this GAN)
    _close(jax.device_get(jax.jit(lambda s: run_steps(gan, s, STEPS))(init_states(gan, 3, K))[0]), together,
           "blocks of 2")
    assert devices.parts(devices.split_replicates(K)) == 2
    split = jax.jit(lambda s: run_steps(gan, s, STEPS, 2))(devices.place(init_states(gan, 3, K),
                                                                         devices.split_replicates(K)))[0]
    assert len(split["G"][0]["w"].devices()) == 2
    _close(jax.device_get(split), together, "split over 2 devices, blocks of 2")
    assert np.abs(together["G"][1]["w"][0] - together["G"][1]["w"][1]).max() > 1e-2  # blocks kept their seeds


def test_gans_of_one_config_and_spec_share_their_traced_and_compiled_programs(caplog):
    """A second GAN of an equal config on the same built-in spec is equal to the first (a hash key of JAX's caches):
    engine.run_chunk's program for it is neither traced nor lowered again, and it has the first one's evaluator.
    Another config, another spec or a target made by hand give a GAN equal only to itself."""
    import logging

    made = lambda cfg=None, spec="gaussian": GAN(cfg or distgan.preset("seed"), parse(spec))  # noqa: E731
    a, b = made(), made()
    assert a == b and hash(a) == hash(b)
    other = distgan.preset("seed")
    other.train.d_lr *= 2
    by_hand = dataclasses.replace(parse("gaussian"), key=None)
    assert made(other) != a and made(spec="gaussian:mean=1") != a
    assert GAN(distgan.preset("seed"), by_hand) != GAN(distgan.preset("seed"), by_hand)
    assert engine.evaluator(b, 300) is engine.evaluator(a, 300) is not engine.evaluator(made(other), 300)
    shapes = jax.eval_shape(init_states, a, 0, 2)
    run_chunk.lower(a, shapes, 7, 1)
    caplog.clear()
    with jax.log_compiles(True), caplog.at_level(logging.WARNING, logger="jax"):
        run_chunk.lower(b, shapes, 7, 1)
        traced = [r.getMessage() for r in caplog.records if "run_steps" in r.getMessage()]
        assert traced == []
        run_chunk.lower(made(other), shapes, 7, 1)
        assert any("run_steps" in r.getMessage() for r in caplog.records)  # the other config: traced


def test_replicate_block():
    gan = _gan()
    per = gan.working_set()
    assert 100_000 < per < 2_000_000  # the seed's nets: ~15k weights (x5), ~10k activations (x4), in bytes
    most = engine.CACHE_BYTES // per
    assert engine.replicate_block(gan, 1) == 1 and engine.replicate_block(gan, most) == most
    assert engine.replicate_block(gan, 4 * most) == most  # the largest divisor that fits
    assert engine.replicate_block(gan, 7919) == 1  # a prime larger than a block: one at a time


def test_split_count_follows_distgan_cpu_devices(monkeypatch):
    assert len(jax.devices()) == 2  # conftest gives the session two CPU devices
    assert devices.split_count(4) == 2 and devices.split_count(3) == 1 and devices.split_count(1) == 1
    monkeypatch.setenv("DISTGAN_CPU_DEVICES", "1")
    assert devices.split_count(4) == 1 and devices.split_replicates(4) is None
    monkeypatch.setenv("DISTGAN_CPU_DEVICES", "3")  # 4 replicates do not split three ways: the most that divide K
    assert devices.split_replicates(4).mesh.size == 2
    monkeypatch.setenv("DISTGAN_CPU_DEVICES", "two")
    with pytest.raises(distgan.ConfigError, match="DISTGAN_CPU_DEVICES='two': expected a whole number"):
        devices.split_replicates(4)


# --- memory -------------------------------------------------------------------------------------------------------

@functools.cache
def _compiled(gan: GAN, replicates: int):
    """The seed's 2-step chunk for K replicates on one device, compiled once for the module's tests."""
    return run_chunk.lower(gan, jax.eval_shape(init_states, gan, 0, replicates), 2, 1).compile()


def test_memory_check_names_the_largest_k_that_fits():
    gan = _gan()
    compiled = _compiled(gan, 64)
    est = memory.estimate(compiled, 64, 1, 1000, 1)
    assert 64 * 12651 * 4 * 4 < est["train"]  # at least D's weights, gradient and two Adam moments per replicate
    memory.check(compiled, 64, 1, 1000, 1, available=10 * est["total"])  # fits: no error
    with pytest.raises(distgan.ConfigError, match=r"largest that fits is about (\d+)") as e:
        memory.check(compiled, 64, 1, 1000, 1, available=est["total"] // 2)
    fits = int(e.value.args[0].rsplit(" ", 1)[1])
    assert 20 <= fits < 32  # half the memory, minus headroom and the evaluation block
    assert "\n" not in str(e.value)


def test_a_k_too_large_to_compile_is_sized_on_a_small_chunk(tmp_path, monkeypatch, capsys):
    # When the states of K replicates alone exceed the free memory, train compiles no chunk for K (on a GPU the
    # autotuner then runs each matrix product at full size and runs out of memory itself): a chunk for
    # PROBE_REPLICATES sizes one replicate, and the one-line error names the K that fits by that size.
    gan = _gan()
    by_probe = memory.estimate(_compiled(gan, 64), 1024, 1, 1000, 1, compiled_for=64)["per_replicate"]
    by_k = memory.estimate(_compiled(gan, 1024), 1024, 1, 1000, 1)["per_replicate"]
    assert 0.95 < by_probe / by_k < 1.2  # the chunk's fixed part, spread over fewer replicates
    free = 4 << 30  # the states of 100,000 replicates take 18 GB
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: free)
    compiled_for = []

    def spy(gan, states, n, parts=1):
        compiled_for.append(jax.tree.leaves(states)[0].shape[0])
        return run_steps(gan, states, n, parts)

    monkeypatch.setattr(engine, "run_chunk", jax.jit(spy, static_argnums=(0, 2, 3), donate_argnums=1))
    out = tmp_path / "huge"
    assert main(["train", "--preset", "seed", "--replicates", "100000", "--steps", "200", "--quiet", "--no-plots",
                 "--out", str(out)]) == 2
    assert compiled_for == [engine.PROBE_REPLICATES]
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "100000 replicates need about" in err, err
    fits = int(err.rsplit(" ", 1)[1])
    block = metrics.block_size(100000, 10000, 1)  # the evaluation's block, beside the training
    assert 0.8 < fits * by_k / (memory.HEADROOM * free - memory.eval_bytes(block, 10000, 1)) < 1.05, (fits, by_k)
    assert not out.exists()


@pytest.mark.parametrize("n_devices", [1, 2])
def test_memory_estimate_against_a_real_allocation(n_devices):
    # benchmarks/memory.py's worker, in a fresh process: K = 1024 replicates (about 0.3 GB), on one CPU device or
    # split over two. The growth of its peak resident memory while it allocates the states and runs one 2-step
    # chunk (peak reset after compiling, whose own peak can exceed the run's), against the compiled chunk's own
    # figures (a split chunk's are one device's share).
    out = subprocess.run([sys.executable, str(BENCHMARKS / "memory.py"), "--worker", "1024", "--device", "cpu",
                          "--steps", "2"], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": SRC, "DISTGAN_CPU_DEVICES": str(n_devices)})
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["parts"] == n_devices
    assert r["estimate"] > 2.5e8
    assert 0.7 * r["estimate"] < r["measured"] < 1.3 * r["estimate"], r


def test_work_handed_to_a_thread_keeps_the_comparisons_device():
    """The engine hands part of its set-up to a thread; under `train --compare` the comparison's default device is
    the last CPU device (devices.beside), which JAX holds per thread: devices.here carries it over."""
    from concurrent.futures import ThreadPoolExecutor

    import jax.numpy as jnp

    where = lambda: jnp.zeros(1).devices()  # noqa: E731
    with devices.beside():
        carried = devices.here(where)
        assert where() == {jax.devices()[-1]}
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(carried).result() == {jax.devices()[-1]} != {jax.devices()[0]}
        assert pool.submit(where).result() == {jax.devices()[0]}  # a thread left alone: the first device
