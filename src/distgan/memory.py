"""Will K replicates fit? The compiled training chunk's own memory figures against the device's free memory.

Checked before any state is allocated, so that a K too large for the device fails with one line naming the
largest K that would fit, instead of an out-of-memory crash minutes in.
"""

from __future__ import annotations

import os

import jax

from .config import ConfigError

EVAL_ARRAYS = 12  # live (block, n, dim) float32 arrays in one evaluation block: samples, sorts, concatenations, CDFs
HEADROOM = 0.9  # use at most this fraction of the free memory


def available_bytes(device=None) -> int:
    """Free memory where JAX allocates: the accelerator's (bytes_limit - bytes_in_use) or the host's MemAvailable."""
    device = device or jax.devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo") as f:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f}
        return info["MemAvailable"]
    except (OSError, KeyError, ValueError):  # not Linux: physical pages free
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def chunk_bytes(compiled) -> int:
    """Peak bytes of one compiled training chunk: states in and out (donated buffers counted once) plus temporaries."""
    m = compiled.memory_analysis()
    return int(m.argument_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes + m.temp_size_in_bytes)


def eval_bytes(block: int, n: int, dim: int) -> int:
    """Working memory of one evaluation block: block replicates x n samples x dim, EVAL_ARRAYS float32 arrays."""
    return EVAL_ARRAYS * block * n * dim * 4


def estimate(compiled, replicates: int, block: int, n: int, dim: int, parts: int = 1,
             compiled_for: int | None = None) -> dict:
    """Bytes that training `replicates` GANs needs: the chunk (linear in K) and one evaluation block beside it.

    parts: the devices the replicates are split over (devices.parts); a split chunk's figures are one device's
    share, and on a CPU every share is in the same memory. compiled_for: the K the chunk was compiled for, when
    it is not `replicates` (a small chunk that sizes one replicate: `probe_needed`).
    """
    train = chunk_bytes(compiled) * parts * replicates / (compiled_for or replicates)
    return {"train": train, "eval": eval_bytes(block, n, dim), "per_replicate": train / replicates,
            "total": train + eval_bytes(block, n, dim)}


def tree_bytes(tree) -> int:
    """Bytes of a pytree of arrays or shape stand-ins."""
    return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(tree))


def probe_needed(state_shapes) -> bool:
    """True when the states alone exceed the free memory: K surely will not fit, and compiling the chunk for K
    can itself fail (a GPU's autotuner runs each matrix product at full size while compiling); size one replicate
    on a small chunk instead (estimate's compiled_for) and let `check` name the K that fits."""
    return tree_bytes(state_shapes) > HEADROOM * available_bytes()


def check(compiled, replicates: int, block: int, n: int, dim: int, available: int | None = None,
          parts: int = 1, compiled_for: int | None = None) -> dict:
    """Raise ConfigError naming the largest K that fits when `replicates` will not; else return the estimate."""
    est = estimate(compiled, replicates, block, n, dim, parts, compiled_for)
    available = available_bytes() if available is None else available
    budget = HEADROOM * available
    if est["total"] > budget:
        fits = int((budget - eval_bytes(min(block, replicates), n, dim)) // est["per_replicate"])
        hint = f"the largest that fits is about {fits}" if fits >= 1 else "not even one replicate fits"
        raise ConfigError(f"train.replicates: {replicates} replicates need about {est['total'] / 2**30:.2f} GiB "
                          f"(training {est['train'] / 2**30:.2f} GiB, evaluation {est['eval'] / 2**30:.2f} GiB) but "
                          f"{jax.devices()[0].platform} has {available / 2**30:.2f} GiB free: {hint}")
    return est
