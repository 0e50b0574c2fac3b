"""Many GANs at once: batched replicates equal the same seeds trained alone, seeding, memory check, devices, CLI."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import distgan
from distgan import memory
from distgan.cli import main
from distgan.data import make_target
from distgan.engine import init_states, run_steps
from distgan.gan import GAN

STEPS = 200
SRC = str(Path(distgan.__file__).parents[1])
BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


@pytest.fixture(autouse=True)
def _no_compile_cache(monkeypatch):
    monkeypatch.setenv("DISTGAN_XLA_CACHE", "")  # the CLI would keep compiled programs in ~/.cache


def _gan(d_input: str) -> GAN:
    cfg = distgan.preset("seed")
    cfg.model.d_input = d_input  # 'batch': the seed's whole-batch D; 'sample': a per-sample D
    return GAN(cfg, make_target(cfg.target))


def _train(gan: GAN, seed: int, replicates: int, steps: int = STEPS) -> dict:
    states, _ = jax.jit(run_steps, static_argnums=(0, 2))(gan, init_states(gan, seed, replicates), steps)
    return jax.device_get(states)


@pytest.mark.parametrize("preset", ["seed", "default", "mixture2d"])
def test_initial_states_are_each_replicates_own_to_the_bit(preset):
    """init_states (vmapped, compiled at LLVM's O1) gives replicate k exactly what gan.init(seed + k) gives alone
    at XLA's default optimisation: a faster compile changes no initial weight."""
    cfg = distgan.preset(preset)
    gan = GAN(cfg, make_target(cfg.target))
    batched = jax.device_get(init_states(gan, 5, 3))
    for k in range(3):
        alone = jax.device_get(jax.jit(gan.init)(5 + k))
        for path, b, a in zip(jax.tree_util.tree_leaves_with_path(batched), jax.tree.leaves(batched),
                              jax.tree.leaves(alone)):
            np.testing.assert_array_equal(b[k], a, err_msg=f"replicate {k} {path[0]}")


@pytest.mark.parametrize("d_input", ["batch", "sample"])
def test_batched_replicates_equal_each_trained_alone(d_input):
    # Not bit-equal: vmap turns each replicate's matmuls into one batched matmul whose summation order differs
    # (measured: max |difference| ~5e-7 after 300 steps). Within float tolerance, and far below the distance
    # between different seeds.
    gan = _gan(d_input)
    batched = _train(gan, 3, 4)
    for k in range(4):
        alone = _train(gan, 3 + k, 1)
        for path, b, a in zip(jax.tree_util.tree_leaves_with_path(batched), jax.tree.leaves(batched),
                              jax.tree.leaves(alone)):
            np.testing.assert_allclose(b[k], a[0], rtol=1e-4, atol=1e-5, err_msg=f"replicate {k} {path[0]}")


@pytest.mark.parametrize("parts", [1, 2])
def test_blocks_of_replicates_equal_all_at_once(monkeypatch, parts):
    """On a CPU each device's replicates run a chunk in cache-sized blocks, one after another: the same states and
    logs as all of them at once (parts 2: split over the session's two CPU devices, two blocks on each)."""
    from distgan import devices
    from distgan import engine as gan_mod

    gan, K = _gan("batch"), 8
    split = devices.split_replicates(K) if parts > 1 else None
    assert devices.parts(split) == parts

    def run(cache_bytes):
        monkeypatch.setattr(gan_mod, "CACHE_BYTES", cache_bytes)
        fn = jax.jit(lambda s: run_steps(gan, s, STEPS, parts))  # a new function: traced again under this CACHE_BYTES
        return jax.device_get(fn(devices.place(init_states(gan, 5, K), split)))

    monkeypatch.setattr(gan_mod, "CACHE_BYTES", 2 * gan.working_set())
    assert gan_mod.replicate_block(gan, K // parts) == 2
    blocked, together = run(2 * gan.working_set()), run(1 << 40)
    for path, b, a in zip(jax.tree_util.tree_leaves_with_path(together), jax.tree.leaves(blocked),
                          jax.tree.leaves(together)):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5, err_msg=str(path))
    assert np.abs(blocked[0]["G"][1]["w"][0] - blocked[0]["G"][1]["w"][1]).max() > 1e-2  # blocks kept their seeds


def test_replicate_block():
    from distgan import engine as gan_mod

    gan = _gan("batch")
    per = gan.working_set()
    assert 100_000 < per < 2_000_000  # the seed's nets: ~15k weights (x5), ~10k activations (x4), in bytes
    most = gan_mod.CACHE_BYTES // per
    assert gan_mod.replicate_block(gan, 1) == 1 and gan_mod.replicate_block(gan, most) == most
    assert gan_mod.replicate_block(gan, 4 * most) == most  # the largest divisor that fits
    assert gan_mod.replicate_block(gan, 7919) == 1  # a prime larger than a block: one at a time


def test_replicate_seeding():
    gan = _gan("batch")
    a, b = _train(gan, 0, 2, 50), _train(gan, 0, 2, 50)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(x, y)  # the same seeds repeat exactly
    w0, w1 = a["G"][1]["w"]
    assert np.abs(w0 - w1).max() > 1e-2  # seeds 0 and 1 differ
    assert not np.array_equal(a["key"][0], a["key"][1])
    c = _train(gan, 1, 1, 50)  # seed 1 alone is replicate 1 of seeds 0..1
    np.testing.assert_allclose(c["G"][1]["w"][0], w1, rtol=1e-4, atol=1e-5)


# --- memory -------------------------------------------------------------------------------------------------------

def _compiled(gan: GAN, replicates: int):
    shapes = jax.eval_shape(init_states, gan, 0, replicates)
    return jax.jit(run_steps, static_argnums=(0, 2), donate_argnums=1).lower(gan, shapes, 2).compile()


def test_memory_check_names_the_largest_k_that_fits():
    gan = _gan("batch")
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
    from distgan import engine as train_mod
    gan = _gan("batch")
    by_probe = memory.estimate(_compiled(gan, 64), 1024, 1, 1000, 1, compiled_for=64)["per_replicate"]
    by_k = memory.estimate(_compiled(gan, 1024), 1024, 1, 1000, 1)["per_replicate"]
    assert 0.95 < by_probe / by_k < 1.2  # the chunk's fixed part, spread over fewer replicates
    free = 4 << 30  # the states of 100,000 replicates take 18 GB
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: free)
    compiled_for = []

    def spy(gan, states, n, parts=1):
        compiled_for.append(jax.tree.leaves(states)[0].shape[0])
        return run_steps(gan, states, n, parts)

    monkeypatch.setattr(train_mod, "run_steps", spy)
    out = tmp_path / "huge"
    assert main(["train", "--preset", "seed", "--replicates", "100000", "--steps", "200", "--quiet", "--no-plots",
                 "--out", str(out)]) == 2
    assert compiled_for == [train_mod.PROBE_REPLICATES]
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "100000 replicates need about" in err, err
    fits = int(err.rsplit(" ", 1)[1])
    block = distgan.metrics.block_size(100000, 10000, 1)  # the evaluation's block, beside the training
    assert 0.8 < fits * by_k / (memory.HEADROOM * free - memory.eval_bytes(block, 10000, 1)) < 1.05, (fits, by_k)
    assert not out.exists()


@pytest.mark.parametrize("n_devices", [1, 2])
def test_memory_estimate_against_a_real_allocation(n_devices):
    # benchmarks/memory.py's worker, in a fresh process: K = 4096 replicates (about 1.2 GB), on one CPU device or
    # split over two. The growth of its peak resident memory while it allocates the states and runs one 2-step
    # chunk (peak reset after compiling, whose own peak can exceed the run's), against the compiled chunk's own
    # figures (a split chunk's are one device's share).
    out = subprocess.run([sys.executable, str(BENCHMARKS / "memory.py"), "--worker", "4096", "--device", "cpu",
                          "--steps", "2"], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": SRC, "DISTGAN_CPU_DEVICES": str(n_devices)})
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["parts"] == n_devices
    assert r["estimate"] > 1e9
    assert 0.7 * r["estimate"] < r["measured"] < 1.3 * r["estimate"], r


# --- devices and the command line ---------------------------------------------------------------------------------

def test_cli_replicates(tmp_path, capsys):
    run = tmp_path / "k3"
    args = ["train", "--preset", "seed", "--replicates", "3", "--seed", "5", "--steps", "400", "--out", str(run),
            "--device", "cpu", "--set", "eval.n_samples=2000", "--set", "eval.floor_draws=20", "--set",
            "train.eval_every=200"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "over 3 replicates:" in out and "best replicate" in out and "replicate-steps/s" in out
    assert "step 400: " in out and "of replicates within the noise floor" in out  # non-tty progress line
    summary = json.loads((run / "summary.json").read_text())
    table = summary["table"]
    assert table["replicates"] == 3
    assert {"within_floor", "collapsed", "diverged", "ks_ratio", "w1_ratio", "best"} <= set(table)
    assert [r["seed"] for r in summary["replicates"]] == [5, 6, 7]
    ks = [r["ks_ratio"] for r in summary["replicates"]]
    assert table["ks_ratio"]["median"] == pytest.approx(np.median(ks))
    assert table["ks_ratio"]["p90"] == pytest.approx(np.percentile(ks, 90))
    score = [max(r["ks_ratio"], r["w1_ratio"]) for r in summary["replicates"]]
    assert table["best"] == int(np.argmin(score))
    assert table["within_floor"] == sum(r["within_floor"] for r in summary["replicates"])
    for png in ("mean_std.png", "histograms.png", "histogram.png"):
        assert (run / png).stat().st_size > 1000

    assert main(["sample", str(run), "--replicate", "2", "-n", "500", "-o", str(tmp_path / "x.npy")]) == 0
    x = np.load(tmp_path / "x.npy")
    assert x.shape == (500, 1)
    loaded = distgan.load(run)
    np.testing.assert_allclose(x, loaded.sample(500, seed=0, replicate=2))
    assert not np.allclose(x, loaded.sample(500, seed=0, replicate=1))
    assert main(["sample", str(run), "--replicate", "3", "-n", "5", "-o", str(tmp_path / "y.npy")]) == 2

    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0
    out = capsys.readouterr().out
    assert "over 3 replicates:" in out and "fit of replicate 0 (seed 5)" in out
    assert main(["evaluate", str(run), "--replicate", "2"]) == 0
    assert "fit of replicate 2 (seed 7)" in capsys.readouterr().out


def test_device_cpu_and_auto_train(tmp_path, capsys):
    for device in ("cpu", "auto"):
        assert main(["train", "--steps", "200", "--out", str(tmp_path / device), "--device", device, "--quiet",
                     "--no-plots", "--set", "eval.n_samples=1000", "--set", "eval.floor_draws=10"]) == 0
    assert jnp.zeros(1).devices().pop().platform == "cpu"


def test_work_handed_to_a_thread_keeps_the_comparisons_device():
    """train hands part of its set-up to a thread; under `train --compare` the comparison's default device is the
    last CPU device (devices.beside), which JAX holds per thread: devices.here carries it over."""
    from concurrent.futures import ThreadPoolExecutor

    from distgan import devices

    where = lambda: jnp.zeros(1).devices()  # noqa: E731
    with devices.beside():
        carried = devices.here(where)
        assert where() == {jax.devices()[-1]}
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(carried).result() == {jax.devices()[-1]} != {jax.devices()[0]}
        assert pool.submit(where).result() == {jax.devices()[0]}  # a thread left alone: the first device


def test_split_over_cpu_devices_equals_one_device(tmp_path, monkeypatch, capsys):
    # conftest gives the session two CPU devices; an even K is split over them, DISTGAN_CPU_DEVICES=1 keeps one.
    # Each replicate's computation is unchanged; XLA fuses a device's share differently (float rounding at most).
    from distgan import devices
    from distgan.runs import load

    assert len(jax.devices()) == 2
    args = ["train", "--preset", "seed", "--replicates", "4", "--steps", "300", "--no-plots", "--set",
            "train.log_every=100", "--set", "train.eval_every=300", "--set", "eval.n_samples=2000", "--set",
            "eval.floor_draws=20"]
    lines, runs = {}, {}
    for n in (1, 2):
        monkeypatch.setenv("DISTGAN_CPU_DEVICES", str(n))
        assert main([*args, "--out", str(tmp_path / str(n))]) == 0
        lines[n] = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("trained "))
        runs[n] = load(tmp_path / str(n))
        assert runs[n].summary["timing"]["devices"] == n
    assert "split over" not in lines[1] and lines[2].endswith("replicate-steps/s, split over 2 CPU devices")
    one, two = (jax.device_get(runs[n].states) for n in (1, 2))
    for path, a, b in zip(jax.tree_util.tree_leaves_with_path(one), jax.tree.leaves(one), jax.tree.leaves(two)):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5, err_msg=str(path))
    ratios = [runs[n].summary["table"]["ks_ratio"]["median"] for n in (1, 2)]
    assert ratios[1] == pytest.approx(ratios[0], rel=1e-3)
    monkeypatch.setenv("DISTGAN_CPU_DEVICES", "3")  # 4 replicates do not split three ways: the most that divide K
    assert devices.split_replicates(4).mesh.size == 2
    assert devices.split_replicates(3) is None  # jax.devices() has 2
    monkeypatch.setenv("DISTGAN_CPU_DEVICES", "two")
    with pytest.raises(distgan.ConfigError, match="DISTGAN_CPU_DEVICES='two': expected a whole number"):
        devices.split_replicates(4)
