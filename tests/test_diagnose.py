"""Failure diagnosis: non-finite values (which net, which step; that replicate stopped, the others untouched), D
saturation, mode collapse and divergence, each named per replicate in the summary and the verdict."""

import jax
import numpy as np
import pytest

import distgan
from distgan import cli
from distgan.data import make_target
from distgan.engine import Engine, init_states, run_chunk
from distgan.gan import GAN
from runhelp import FLAGS, reference


def config(*sets, steps=300):
    """runhelp's tiny config (2 replicates, chunks of 50 steps, EMA of G) with `sets` on top: without them, its
    compiled programs are those of runhelp's reference run."""
    argv = ["train", *FLAGS, "--steps", str(steps), "--set", "train.eval_every=100"]
    for s in sets:
        argv += ["--set", s]
    return cli.config_from_args(cli.build_parser().parse_args(argv))


@pytest.fixture
def cached(request, tmp_path_factory):
    """The reference run made (once a session): its compiled programs are in the session's cache to be loaded."""
    reference(request, tmp_path_factory)


def test_guard_stops_only_the_replicate_that_goes_non_finite(cached):
    cfg = config()
    gan = GAN(cfg, make_target(cfg.target))
    engine = Engine(gan, 2, 0, 50, cfg.eval.n_samples)  # the chunk train runs: replicates split over the devices
    chunk = run_chunk.lower(gan, engine.shapes, 50, engine.parts).compile()
    copy = lambda tree: engine.place(jax.device_get(tree))  # noqa: E731  (the chunk takes its input's buffers)
    states, _ = chunk(engine.place(init_states(gan, 0, 2)))  # 50 good steps
    # poison replicate 1's Adam moment of D: its next D update is NaN
    def poison(path, x):
        if "mu" not in jax.tree_util.keystr(path):
            return x
        x = np.array(x)
        x[1] = np.nan
        return x

    bad = {**states, "opt_D": jax.tree_util.tree_map_with_path(poison, jax.device_get(states["opt_D"]))}
    clean, _ = chunk(copy(states))
    after, logs = chunk(copy(bad))
    np.testing.assert_array_equal(after["nonfinite"], [0, 1])  # 1: D
    np.testing.assert_array_equal(after["nonfinite_step"], [-1, 51])  # the chunk's first step made it non-finite
    np.testing.assert_array_equal(after["step"], [100, 100])
    for name in ("G", "D", "ema", "opt_G"):  # replicate 1 kept its last finite state, replicate 0 went on untouched
        for a, c, s in zip(jax.tree.leaves(after[name]), jax.tree.leaves(clean[name]), jax.tree.leaves(states[name])):
            np.testing.assert_array_equal(a[0], c[0])
            np.testing.assert_array_equal(a[1], s[1])
    assert all(np.isfinite(np.asarray(x)[1]).all() for x in jax.tree.leaves((after["G"], after["D"])))


def reps(run):
    return run.summary["replicates"]


def test_nan_is_detected_named_and_the_checkpoint_stays_finite(cached, tmp_path, capsys):
    run = distgan.train(config("train.loss=lsgan", "train.d_lr=1e20", "train.g_lr=1e20"), tmp_path / "r",
                        echo=print, plots=False)
    for r in reps(run):
        assert "non-finite" in r["problems"]
        assert r["nonfinite"]["net"] in ("D", "G") and 1 <= r["nonfinite"]["step"] <= 300
        assert r["first_step"]["non-finite"] == r["nonfinite"]["step"]
        assert "NaN" in r["verdict"] and f"at step {r['nonfinite']['step']}" in r["verdict"]
    assert run.summary["table"]["non_finite"] == 2
    assert "non-finite values" in capsys.readouterr().out
    loaded = distgan.load(tmp_path / "r")
    assert all(bool(np.isfinite(x).all()) for x in jax.tree.leaves((loaded.states["G"], loaded.states["D"])))


@pytest.mark.parametrize("sets, problem", [
    ((), "collapsed"),  # the seed's own run: G maps all noise to a point within a few hundred steps
    (("train.loss=wgan", "train.d_lr=1e-1", "train.g_lr=1e-1"), "diverged"),  # an unconstrained critic: G runs off
    (("train.loss=minimax", "train.d_lr=1e-1", "train.torch_bce=false"), "saturated"),  # D wins, log(1 - D) flattens
])
def test_failures_are_named_per_replicate(cached, tmp_path, sets, problem):
    run = distgan.train(config(*sets), tmp_path / "r", echo=None, plots=False)
    hit = [r for r in reps(run) if problem in r["problems"]]
    assert hit, [r["problems"] for r in reps(run)]
    words = {"collapsed": "collapsed", "diverged": "diverged", "saturated": "saturated"}[problem]
    for r in hit:
        assert words in r["verdict"] and r["verdict"].startswith("FAILED")
        assert problem in r["first_step"] and 0 < r["first_step"][problem] <= 300
    assert run.summary["table"][problem] == len(hit)
