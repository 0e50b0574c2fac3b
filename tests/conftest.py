"""Test session settings: two CPU devices, one compilation cache for the whole session (both xdist workers, the
CLI in-process and every subprocess), so that a program compiled once is loaded everywhere else, and XLA's lowest
optimisation level as the default."""

import os

# What the tests compile for themselves (their oracle steps, op-by-op arithmetic) compiles at XLA's O0, faster than
# the default. The programs distgan compiles whole state their levels (fast.ONE_SHOT, fast.MANY_SHOT), so the suite
# trains, evaluates, draws frames and samples with the programs a user's run compiles.
os.environ["XLA_FLAGS"] = " ".join(filter(None, [os.environ.get("XLA_FLAGS"), "--xla_backend_optimization_level=0"]))

_LOG_LEVEL = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
import jax  # noqa: E402
import pytest  # noqa: E402

if _LOG_LEVEL is None:  # JAX sets it (to 1) on import; subprocesses get the environment of a fresh shell instead
    os.environ.pop("TF_CPP_MIN_LOG_LEVEL", None)

from distgan import devices  # noqa: E402  (after the pop: its default, XLA errors only, reaches the subprocesses)

# two CPU devices, as the command line gives a 2-core machine (distgan.devices): runs of an even number of
# replicates are split over them, so the whole suite exercises the split; DISTGAN_CPU_DEVICES=1 turns it off
jax.config.update("jax_num_cpu_devices", 2)
devices.use_gspmd()  # one partitioner for the whole session, as devices.select gives the command line


@pytest.fixture(scope="session", autouse=True)
def compilation_cache(tmp_path_factory):
    """One folder for the session: xdist's workers have base folders of their own beside each other."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "jax-cache"
    folder.mkdir(exist_ok=True)
    os.environ["DISTGAN_XLA_CACHE"] = str(folder)  # the CLI's cache, in this process and in subprocesses
    os.environ["JAX_COMPILATION_CACHE_DIR"] = str(folder)
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    yield folder
