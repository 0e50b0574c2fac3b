"""A short training run: G moves measurably toward the target; the run folder holds every file; load() reads it back."""

import copy
import json
import signal

import numpy as np
import pytest

import distgan
from distgan import metrics
from distgan.data import make_target
from distgan.engine import init_states
from distgan.files import read_jsonl
from distgan.gan import GAN
from distgan.train import Interrupted

FILES = ["config.toml", "metrics.jsonl", "summary.json", "checkpoint.safetensors", "checkpoint.json", "best.safetensors",
         "best.json", "mean_std.png", "histogram.png", "qq.png", "losses.png", "frames.safetensors", "report.html"]
SEED_LOG = ["step", "d_real", "d_fake", "g", "real_mean", "real_std", "fake_mean", "fake_std"]  # the seed's line


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    cfg = distgan.preset("seed")
    cfg.train.steps, cfg.train.eval_every = 3000, 1000
    cfg.eval.n_samples, cfg.eval.floor_draws = 2000, 20
    target = make_target(cfg.target)
    gan = GAN(cfg, target)
    before = metrics.Evaluator(gan.sample, target, cfg.eval.n_samples)(init_states(gan, 0, 1), 0)
    run = distgan.train(cfg, out=tmp_path_factory.mktemp("train") / "run", echo=None)
    return cfg, {k: float(v[0, 0]) for k, v in before.items()}, run


def test_training_moves_G_toward_the_target(trained):
    _, before, run = trained
    after = run.summary["replicates"][0]
    after = {k: float(after[k][0]) for k in ("mean", "std", "ks", "w1")}
    # at init G maps U(0, 1) to nearly a point far from N(4, 1.25): KS ~1, W1 ~4 (the target's mean)
    assert before["ks"] > 0.95 and before["w1"] > 3 and before["std"] < 0.2
    # after 3,000 steps of the seed's system (seed 0) G has found the bell: mean and std near 4 and 1.25
    assert abs(after["mean"] - 4) < 1.0 and abs(after["std"] - 1.25) < 0.5
    assert after["ks"] < 0.5 * before["ks"] and after["w1"] < 0.25 * before["w1"]


def test_run_folder_has_every_file(trained):
    _, _, run = trained
    names = sorted(p.name for p in run.folder.iterdir())
    assert names == sorted(FILES)  # and no temporary files left behind
    for png in [f for f in FILES if f.endswith(".png")]:
        data = (run.folder / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert (run.folder / "config.toml").read_text() == distgan.config.dumps(run.cfg)


def test_metrics_rows_log_the_seeds_quantities(trained):
    cfg, _, run = trained
    rows = read_jsonl(run.folder / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(200, 3001, 200))  # a row per progress line, every 200 steps
    for r in rows:
        assert set(SEED_LOG) <= set(r)
        assert all(np.isfinite(r[k]).all() for k in SEED_LOG)
        assert r["d_real"][0] >= 0 and r["d_fake"][0] >= 0 and r["g"][0] >= 0  # BCE errors
        assert abs(r["real_mean"][0][0] - 4) < 0.6 and abs(r["real_std"][0][0] - 1.25) < 0.5  # batches of 100 real
    fits = [r for r in rows if "fit" in r]
    assert [r["step"] for r in fits] == [1000, 2000, 3000]
    last = run.summary["replicates"][0]
    assert fits[-1]["fit"]["ks"] == [[pytest.approx(last["ks"][0])]]  # the summary is the last evaluation
    assert run.metrics == rows


def test_load_reads_the_run_back(trained):
    _, _, run = trained
    back = distgan.load(run.folder)
    assert isinstance(back, distgan.Run) and back.replicates == 1 and "step=3000" in repr(back)
    assert back.cfg == run.cfg
    np.testing.assert_array_equal(back.sample(500, seed=4), run.sample(500, seed=4))
    assert not np.array_equal(back.sample(500, seed=5), back.sample(500, seed=4))
    assert back.summary == json.loads((run.folder / "summary.json").read_text())
    assert back.sample(500).shape == (500, 1)


def test_a_stop_after_a_chunks_checkpoint_decision_stops_one_chunk_later_with_its_checkpoint(trained, tmp_path):
    """The loop reads `stop` once per chunk, before it decides whether to checkpoint: a stop that comes after that
    reading (here from on_eval, which runs after the decision) stops the run at the next chunk, with that chunk's
    checkpoint, and never without one."""
    cfg = copy.deepcopy(trained[0])
    cfg.train.eval_every = 200  # an evaluation, and so on_eval, after the first chunk
    stop = []
    with pytest.raises(Interrupted, match="stopped at step 400 of 3000"):
        distgan.train(cfg, tmp_path / "r", echo=None, plots=False, stop=stop,
                      on_eval=lambda step, result, floor: stop.append(signal.SIGINT))
    assert json.loads((tmp_path / "r" / "checkpoint.json").read_text())["step"] == 400
