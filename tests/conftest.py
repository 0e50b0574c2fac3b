"""Test session settings: a compilation cache shared by the tests, so that the same jitted step compiles once."""

import jax
import pytest


@pytest.fixture(scope="session", autouse=True)
def _compilation_cache(tmp_path_factory):
    # several tests train the seed preset: its jitted chunk of steps is the same program, compiled once per session
    jax.config.update("jax_compilation_cache_dir", str(tmp_path_factory.mktemp("jax-cache")))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    yield
