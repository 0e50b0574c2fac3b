"""`--steps auto`: the stopping rule on constructed score sequences, the cooldown in the state, and a run that stops,
keeps its best state and resumes bit-identically."""

import signal

import jax.numpy as jnp
import numpy as np
import pytest
from safetensors.numpy import load_file

import distgan
from distgan import config
from distgan.auto import Decision, cooldown, decide
from distgan.config import ConfigError, TrainConfig
from distgan.data import make_target
from distgan.files import read_jsonl
from distgan.gan import GAN
from distgan.train import Interrupted

SE = 0.1  # the averaged score's standard error: improvements must beat the record by 2 SE = 0.2
EVERY = 1000


def _rule(**kw) -> TrainConfig:
    return TrainConfig(**{"steps": 40000, "auto_steps": True, "auto_every": EVERY, "patience": 3000,
                          "min_steps": 3000, "auto_margin": 2.0, "auto_cooldown": 1.0, **kw})


def _replay(scores, t: TrainConfig):
    """Feed decide() a (evaluations, K) sequence of scores at steps EVERY, 2 EVERY, ...; -> the Decision, and the
    step of each replicate's kept state."""
    scores = np.asarray(scores, float).reshape(len(scores), -1)
    d, kept = Decision.fresh(scores.shape[1]), np.full(scores.shape[1], -1)
    for i, s in enumerate(scores):
        step = (i + 1) * EVERY
        d, keep = decide(d, s, step, t, SE, EVERY)
        kept = np.where(keep, step, kept)
    return d, kept


def test_a_plateau_stops_after_patience_and_cools_down_as_long():
    # improves beyond the margin until 6,000, then sits there with noise of one standard error
    rng = np.random.default_rng(0)
    scores = [5, 3, 2, 1.6, 1.3, 1.0] + list(1.0 + SE * rng.standard_normal(14))
    d, _ = _replay(scores, _rule())
    assert d.improved[0] == 6000 and d.stopped[0] == 9000  # 3 evaluations (patience 3,000) without an improvement
    assert d.cool[0] == 9000 and d.ended(18000)[0] and not d.ended(17000)[0]


def test_a_run_that_still_improves_is_not_stopped():
    # 2.5 standard errors better at every evaluation: each counts, however small beside the score
    scores = 3.0 - 2.5 * SE * np.arange(15)
    d, _ = _replay(scores, _rule())
    assert d.stopped[0] == -1 and d.improved[0] == 15000


def test_improvements_within_the_noise_do_not_count_but_a_slow_trend_does():
    # lucky draws 1.5 standard errors below the record: not an improvement
    d, _ = _replay([3.0, 2.0, 1.85, 2.0, 1.85, 2.0, 1.85, 2.0], _rule())
    assert d.stopped[0] == 5000 and d.improved[0] == 2000 and d.record[0] == 2.0
    # 1.5 standard errors better at every evaluation: every second one beats the record by more than the margin
    d, _ = _replay(3.0 - 1.5 * SE * np.arange(15), _rule())
    assert d.stopped[0] == -1 and d.improved[0] >= 14000


def test_min_steps_and_the_budget_bound_the_constant_phase():
    flat = np.ones(20)
    d, _ = _replay(flat, _rule(min_steps=8000))
    assert d.stopped[0] == 8000  # patience ran out at 4,000, but not before min_steps
    d, _ = _replay(3.0 - 2.5 * SE * np.arange(20), _rule(steps=10000))
    assert d.stopped[0] == 5000 and d.cool[0] == 5000  # still improving: stopped where its cooldown just fits
    assert cooldown(4500, _rule(auto_cooldown=0.5), EVERY) == 3000  # whole evaluation intervals, rounded up


def test_replicates_decide_for_themselves_and_a_nonfinite_one_stops_at_once():
    improving, flat, broken = 3.0 - 2.5 * SE * np.arange(10), np.ones(10), np.r_[2.0, 1.5, np.full(8, np.inf)]
    d, _ = _replay(np.stack([improving, flat, broken], 1), _rule())
    assert d.stopped.tolist() == [-1, 4000, 3000]  # non-finite from 3,000 on
    assert d.cool[2] == 0 and d.ended(3000)[2]


def test_the_kept_state_is_the_latest_within_the_noise_of_the_best():
    t = _rule()
    # stops at 4,000 (cooldown to 8,000); in the cooldown the scores fall, then wobble within the margin
    d, kept = _replay([2.0, 2.0, 2.0, 2.0, 1.5, 1.2, 1.3, 1.25], t)
    assert d.stopped[0] == 4000 and kept[0] == 8000 and d.low[0] == 1.2
    # a later state worse than the best beyond the margin is not kept; after the cooldown nothing changes
    d, kept = _replay([2.0, 2.0, 2.0, 2.0, 1.5, 1.0, 1.3, 1.5, 0.1, 0.1], t)
    assert kept[0] == 6000 and d.low[0] == 1.0


def test_the_cooldown_lives_in_the_state():
    cfg = distgan.preset("default")
    config.set_field(cfg, "train.steps", "auto")
    gan = GAN(cfg, make_target(cfg.target))
    state = {"step": jnp.int32(0), "cool_from": jnp.int32(-1), "cool_steps": jnp.int32(1)}
    assert float(gan.lr_scale(state)) == 1.0
    state.update(cool_from=jnp.int32(100), cool_steps=jnp.int32(50))
    scales = [float(gan.lr_scale({**state, "step": jnp.int32(s)})) for s in (100, 125, 150, 400)]
    assert scales == [1.0, 0.5, 0.0, 0.0]
    assert GAN(distgan.preset("default"), gan.target).lr_scale({"step": 0}) is None  # fixed steps: unchanged


def test_steps_auto_in_toml_and_set(tmp_path):
    cfg = distgan.preset("default")
    config.set_field(cfg, "train.steps", "auto")
    assert cfg.train.auto_steps and cfg.train.steps == config.AUTO_STEPS
    (tmp_path / "a.toml").write_text('[train]\nsteps = "auto"\npatience = 2000\n')
    other = distgan.preset("default")
    config.apply_toml(other, tmp_path / "a.toml")
    assert other.train.auto_steps and other.train.patience == 2000
    assert config.loads(config.dumps(other)) == other  # config.toml holds steps and auto_steps as numbers
    config.set_field(other, "train.patience", "-1")
    with pytest.raises(ConfigError, match="^train.patience: expected a value >= 0"):
        config.validate(other)


# the resume tests' small seed system (runhelp.FLAGS: its floor and evaluator are compiled once per session), in
# auto steps
TINY = {"model.g_hidden": 8, "model.d_hidden": 8, "eval.n_samples": 300, "eval.floor_draws": 8, "train.log_every": 50,
        "train.ema": 0.9, "train.replicates": 2, "train.auto_every": 50, "train.min_steps": 100, "train.patience": 100,
        "train.auto_cooldown": 0.5, "train.auto_draws": 2}


def _tiny(steps: int = 1000):
    cfg = distgan.preset("seed")
    config.set_field(cfg, "train.steps", "auto")
    for key, value in TINY.items():
        config.set_field(cfg, key, value)
    cfg.train.steps = steps
    return cfg


def _cut_at(step: int, stop: list):
    """An echo that asks the run to stop (as SIGTERM does) after the chunk ending at `step` (its progress line)."""
    return lambda line: stop.append(signal.SIGTERM) if line.startswith(f"{step}: ") else None


@pytest.fixture(scope="module")
def alone(tmp_path_factory):
    return distgan.train(_tiny(), tmp_path_factory.mktemp("auto") / "alone", echo=None, plots=False)


def test_an_auto_run_stops_and_samples_the_state_it_keeps(alone):
    a, reps = alone.summary["auto"], alone.summary["replicates"]
    assert a["steps"] < 1000 and alone.at == "best"  # every replicate stopped and cooled down before the budget
    for r, k in zip(a["replicates"], range(2)):
        assert 100 <= r["stopped"] < r["ended"] <= a["steps"] and r["kept"] <= r["ended"]
        assert reps[k]["best"]["step"] == r["kept"] and int(alone.states["step"][k]) == r["kept"]
    rows = read_jsonl(alone.folder / "metrics.jsonl")
    assert rows[-1]["step"] == a["steps"] and all("auto_score" in r for r in rows)
    kept = load_file(alone.folder / "best.safetensors")  # what `distgan sample --at best` reads
    np.testing.assert_array_equal(kept["state/ema/0/w"], np.asarray(alone.states["ema"][0]["w"]))


def test_an_auto_run_stopped_and_resumed_is_bit_identical(alone, tmp_path):
    out, stop = tmp_path / "cut", []
    inside = alone.summary["auto"]["replicates"][0]["stopped"] + 50  # inside replicate 0's cooldown
    with pytest.raises(Interrupted):
        distgan.train(_tiny(), out, echo=_cut_at(inside, stop), plots=False, stop=stop)
    back = distgan.train(_tiny(), out, echo=None, plots=False, resume=True)
    assert (out / "metrics.jsonl").read_bytes() == (alone.folder / "metrics.jsonl").read_bytes()
    for name in ("checkpoint.safetensors", "best.safetensors"):
        x, y = load_file(alone.folder / name), load_file(out / name)
        assert x.keys() == y.keys()
        for k in x:
            np.testing.assert_array_equal(x[k], y[k], err_msg=f"{name}: {k}")
    assert back.summary["auto"] == alone.summary["auto"]
