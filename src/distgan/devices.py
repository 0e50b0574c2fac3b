"""Where replicates run: JAX's platform (--device), and on a CPU one XLA device per core, replicates split among them.

XLA's CPU backend runs a program on one device with a thread pool that networks this small barely fill. Given one
CPU device per core (`jax_num_cpu_devices`, set before JAX starts its backends), K replicates are split over the
devices along their leading axis, and each device runs its share on its own core (a shard_map in
distgan.engine.run_steps). Replicates never interact, so the split changes no replicate's computation, only how
XLA schedules and fuses it (float rounding at most); benchmarks/speed.md measures what it gains.

The split is lowered through GSPMD: JAX's default partitioner (Shardy) cannot lower the Philox random numbers of
the training step, even inside a shard_map (its `mulhi` has no StableHLO form: "Unable to convert MHLO to
StableHLO"), so Shardy is off for the process: from the start when the command line selects CPU devices
(`select`), else from the first split (`use_gspmd`, called by `split_replicates`).
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
        raise ConfigError(f"JAX sees no {device} device (is the CUDA build of jaxlib installed?)", "device") from None
    if device == "gpu" and platform != "gpu":
        raise ConfigError(f"JAX sees no GPU, only {platform}", "device")
    if platform == "cpu" and len(jax.devices()) > 1:  # one partitioner for every program of the process, split or
        use_gspmd()  # not: programs compiled before and after the first split run then share the compile cache
    return platform


def split_count(replicates: int) -> int:
    """How many CPU devices K replicates split over: the most that divide K evenly, up to cpu_devices_wanted.

    1 on an accelerator (one device per process here), for K = 1, or with DISTGAN_CPU_DEVICES=1.
    """
    devices = jax.devices()
    if devices[0].platform != "cpu":
        return 1
    most = min(len(devices), cpu_devices_wanted())
    return max(d for d in range(1, most + 1) if replicates % d == 0)


def use_gspmd() -> bool:
    """Turn JAX's Shardy partitioner off for this process, so that split programs lower through GSPMD (see the
    module's docstring); False where this JAX has no GSPMD (replicates then stay on one device)."""
    try:
        jax.config.update("jax_use_shardy_partitioner", False)
    except AttributeError:
        return False
    return True


def split_replicates(replicates: int) -> NamedSharding | None:
    """Split K replicates along their leading axis over split_count(K) CPU devices: the sharding, or None (one device).

    A split needs GSPMD: this turns it on for the process (use_gspmd); None where that is unavailable.
    """
    n = split_count(replicates)
    if n < 2 or not use_gspmd():
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
