"""Reproducibility: the same config and seed on the same machine give the same numbers, to the bit."""

import numpy as np
from safetensors.numpy import load_file

from runhelp import env, reference, same_run, start


def test_same_config_and_seed_give_the_same_run(request, tmp_path_factory, tmp_path):
    first, again = reference(request, tmp_path_factory), tmp_path / "again"
    p = start(again, env=env(request))
    assert p.wait() == 0
    same_run(first, again)  # weights (last and best), every metrics row, the summary
    w = load_file(again / "checkpoint.safetensors")["state/G/0/w"]  # (K, 1, hidden)
    assert not np.array_equal(w[0], w[1])  # replicates 0 and 1 have their own seeds
