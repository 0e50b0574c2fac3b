"""Test session settings: two CPU devices, one compilation cache for the whole session (both xdist workers, the
CLI in-process and every subprocess), so that a program compiled once is loaded everywhere else, and XLA's lowest
optimisation level as the default. xdist's controller, which runs no test, starts no JAX."""

import os

import pytest


def _runs_tests(config) -> bool:
    """False in xdist's controller (tests distributed over workers, as xdist decides it): it hands the tests to the
    workers, which import and run them, so it needs no JAX (importing it would hold up the workers' start)."""
    if "PYTEST_XDIST_WORKER" in os.environ or config.getvalue("collectonly"):
        return True
    return getattr(config.option, "dist", "no") == "no" or not getattr(config.option, "tx", None)


def pytest_configure(config):
    if not _runs_tests(config):
        return
    # What the tests compile for themselves (their oracle steps, op-by-op arithmetic) compiles at XLA's O0, faster
    # than the default. The programs distgan compiles whole state their levels (fast.ONE_SHOT, fast.MANY_SHOT), so
    # the suite trains, evaluates, draws frames and samples with the programs a user's run compiles. Set before the
    # test modules import JAX (they are collected after this hook).
    os.environ["XLA_FLAGS"] = " ".join(filter(None, [os.environ.get("XLA_FLAGS"),
                                                     "--xla_backend_optimization_level=0"]))
    log_level = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    import jax

    if log_level is None:  # JAX sets it (to 1) on import; subprocesses get the environment of a fresh shell instead
        os.environ.pop("TF_CPP_MIN_LOG_LEVEL", None)
    from distgan import devices  # after the pop: its default, XLA errors only, reaches the subprocesses

    # two CPU devices, as the command line gives a 2-core machine (distgan.devices): runs of an even number of
    # replicates are split over them, so the whole suite exercises the split; DISTGAN_CPU_DEVICES=1 turns it off
    jax.config.update("jax_num_cpu_devices", 2)
    devices.use_gspmd()  # one partitioner for the whole session, as devices.select gives the command line


@pytest.fixture(scope="session", autouse=True)
def compilation_cache(tmp_path_factory):
    """One folder for the session: xdist's workers have base folders of their own beside each other."""
    import jax

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
