"""Every objective, penalty, D input mode, noise and schedule runs a few real steps with finite, moving weights."""

import jax
import numpy as np
import pytest

from distgan.config import Config, validate
from distgan.gan import GAN
from distgan.nets import batch_moments
from distgan.targets import parse

CASES = [
    {"train.loss": "minimax"},
    {"train.loss": "nonsaturating", "train.torch_bce": False, "train.r1": 1.0},
    {"train.loss": "wgan", "train.gp": 10.0, "model.d_input": "sample", "model.codes": 2, "train.code_energy": 1.0},
    {"train.loss": "hinge", "model.d_input": "pack", "model.pack": 4},
    {"train.loss": "lsgan", "model.noise": "normal", "model.noise_dim": 3},
    {"model.d_features": "raw", "train.schedule": "cosine"},
    {"model.d_features": "moments", "train.d_steps": 2, "train.g_steps": 2, "train.ema": 0.9},
    {"model.detach_mean": False, "model.standardize": True, "train.ema": 0.99, "train.ema_warmup": True,
     "train.schedule": "linear"},
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: ",".join(f"{k.split('.')[1]}={v}" for k, v in c.items()))
def test_a_few_steps_move_both_nets_and_stay_finite(case):
    cfg = Config()
    cfg.train.batch_size, cfg.train.steps = 8, 4
    for key, value in case.items():
        section, name = key.split(".")
        setattr(getattr(cfg, section), name, value)
    gan = GAN(validate(cfg), parse(cfg.target.spec))
    state = gan.init(0)
    step = jax.jit(gan.step)
    new, logs = step(state)
    for _ in range(2):
        new, logs = step(new)
    for net in ("G", "D"):
        moved = [not np.allclose(a, b) for a, b in zip(jax.tree.leaves(state[net]), jax.tree.leaves(new[net]))]
        assert any(moved), f"{net} did not move"
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(new))
    assert all(np.all(np.isfinite(v)) for v in jax.tree.leaves(logs))
    x = gan.sample(new, jax.random.PRNGKey(1), 5)
    assert x.shape == (5, 1) and np.all(np.isfinite(x))


def test_batch_moments_of_a_collapsed_batch_are_finite():
    x = np.full((6, 1), 0.7, np.float32)
    f = batch_moments(x)
    g = jax.grad(lambda v: batch_moments(v).sum())(x)
    assert np.all(np.isfinite(f)) and np.all(np.isfinite(g))
