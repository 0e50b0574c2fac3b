"""Test session settings: a compilation cache shared by the tests, so that the same jitted step compiles once."""

import os

_LOG_LEVEL = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
import jax  # noqa: E402
import pytest  # noqa: E402

if _LOG_LEVEL is None:  # JAX sets it (to 1) on import; subprocesses get the environment of a fresh shell instead
    os.environ.pop("TF_CPP_MIN_LOG_LEVEL", None)

# two CPU devices, as the command line gives a 2-core machine (distgan.devices): runs of an even number of
# replicates are split over them, so the whole suite exercises the split; DISTGAN_CPU_DEVICES=1 turns it off
jax.config.update("jax_num_cpu_devices", 2)


@pytest.fixture(scope="session", autouse=True)
def _compilation_cache(tmp_path_factory):
    # several tests train the seed preset: its jitted chunk of steps is the same program, compiled once per session
    jax.config.update("jax_compilation_cache_dir", str(tmp_path_factory.mktemp("jax-cache")))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    yield
