"""Where replicates run: JAX's platform (--device), and on a CPU one XLA device per core, replicates split among them.

XLA's CPU backend runs a program on one device with a thread pool that networks this small barely fill: a
K = 256 step of the seed's network is only 1.25x faster on two cores than on one. Given one CPU device per core
(`jax_num_cpu_devices`, set before JAX starts its backends), K replicates are split over the devices along their
leading axis, and each device runs its share on its own core (a shard_map in gan.run_steps): 2x the
replicate-steps per second of one device at K = 256 on this 2-core machine (benchmarks/speed.py, its "1 CPU
device" row). Replicates never interact, so the split changes no replicate's computation, only how XLA schedules
and fuses it (float rounding at most).

The split is lowered through GSPMD: JAX's default partitioner (Shardy) cannot lower the Philox random numbers of
the training step, even inside a shard_map (its `mulhi` has no StableHLO form, jax 0.10: "Unable to convert MHLO
to StableHLO"), so a split run turns Shardy off for the process.
Where that option is gone (a later JAX) or the backend is already running, replicates stay on one device.
(XLA logs GSPMD's deprecation notice at every such compile; distgan/__init__.py keeps XLA's log to errors.)
DISTGAN_CPU_DEVICES sets the number of CPU devices (1: no split; default: the cores this process may use, at most
MAX_CPU_DEVICES).
"""

from __future__ import annotations

import contextlib
import os

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .config import ConfigError

MAX_CPU_DEVICES = 8
REPLICATES = "replicates"  # the mesh axis the replicates are split along

# Compiler options for the programs that run a few times a run (initialisers, evaluation, noise floor, sampling):
# LLVM's O1 compiles the initialisers in about 60 % of the time of XLA's default O2, and compiling decides a first
# run's wall time on a CPU (`make run` with nothing compiled: 0.91x, the README's figures). The training chunk,
# run thousands of times, keeps O2: at O1 its step is 7 % slower.
ONE_SHOT = {"xla_backend_optimization_level": 1}


def cpu_devices_wanted() -> int:
    """DISTGAN_CPU_DEVICES, or the cores this process may use (at most MAX_CPU_DEVICES); a bad value: ConfigError."""
    env = os.environ.get("DISTGAN_CPU_DEVICES", "")
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ConfigError(f"DISTGAN_CPU_DEVICES={env!r}: expected a whole number of devices, at least 1")
        return int(env)
    return max(1, min(MAX_CPU_DEVICES, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1))


def select(device: str) -> str:
    """Pin JAX's platform before it starts a backend: --device cpu|gpu|auto (auto: the GPU when JAX sees one).

    Also asks for one CPU device per core (cpu_devices_wanted) while that can still be set. JAX reads
    JAX_PLATFORMS when it is imported, which `python -m distgan` has already done: set the config instead.
    Returns the platform in use ('cpu' or 'gpu').
    """
    if device != "auto":
        jax.config.update("jax_platforms", {"cpu": "cpu", "gpu": "cuda"}[device])
    n = cpu_devices_wanted()
    if n > 1:
        try:
            jax.config.update("jax_num_cpu_devices", n)
        except (AttributeError, RuntimeError):  # an older JAX, or its backends already started: one CPU device
            pass
    try:
        platform = jax.devices()[0].platform
    except (RuntimeError, AssertionError):  # no such platform: jax 0.10 asserts, earlier versions raise
        raise ConfigError(f"--device {device}: JAX sees no such device (is the CUDA build of jaxlib installed?)") from None
    if device == "gpu" and platform != "gpu":
        raise ConfigError(f"--device gpu: JAX sees no GPU, only {platform}")
    return platform


def replicate_sharding(replicates: int) -> NamedSharding | None:
    """How K replicates split over the CPU devices (the most devices that divide K evenly), or None: one device.

    None on an accelerator (one device per process here), for K = 1, with DISTGAN_CPU_DEVICES=1, or when the
    GSPMD partitioner is unavailable.
    """
    devices = jax.devices()
    if devices[0].platform != "cpu":
        return None
    most = min(len(devices), cpu_devices_wanted())
    n = max(d for d in range(1, most + 1) if replicates % d == 0)
    if n < 2:
        return None
    try:
        jax.config.update("jax_use_shardy_partitioner", False)
    except AttributeError:  # a JAX without GSPMD
        return None
    return NamedSharding(mesh(n), PartitionSpec(REPLICATES))


def mesh(n: int) -> Mesh:
    """The first n devices, along the replicate axis."""
    return Mesh(jax.devices()[:n], (REPLICATES,))


def parts(sharding: NamedSharding | None) -> int:
    """How many devices share the replicates: each holds its part of the states and of the chunk's temporaries."""
    return 1 if sharding is None else sharding.mesh.size


def place(tree, sharding: NamedSharding | None):
    """Put a pytree of (K, ...) arrays (JAX or NumPy) on the devices of the split, or on the default device."""
    return jax.device_put(tree, sharding)


def shapes(tree, sharding: NamedSharding | None):
    """Shape-and-dtype stand-ins of a pytree of (K, ...) arrays, placed like `place` would, for ahead-of-time lowering."""
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding), tree)


def here(fn):
    """fn, to be run in another thread on this thread's default device (jax.default_device, as `beside` sets it,
    holds for the thread that set it only)."""
    device = jax.config.jax_default_device

    def run(*args, **kwargs):
        with jax.default_device(device):
            return fn(*args, **kwargs)
    return run


def beside():
    """A context (thread-local) in which unsplit work goes to the last CPU device rather than the first.

    `train --compare` trains the second preset in a thread beside the main run: at K = 1 each then has a core of
    its own. A no-op with one device (a GPU, or DISTGAN_CPU_DEVICES=1).
    """
    devices = jax.devices()
    return jax.default_device(devices[-1]) if len(devices) > 1 else contextlib.nullcontext()
