"""distgan sweep: bad specs are refused in one line before Ray starts; the trial grid; a tiny sweep on one local Ray
runtime, with ASHA, killed with SIGKILL after its first trial and run again, ends with every trial once and the
finished one untouched; a changed spec on its folder is refused."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
import warnings
from pathlib import Path

import jax
import pytest

from distgan import config, presets, sweep
from distgan.cli import main
from distgan.files import FolderLock
from runhelp import reference

# the tiny spec is the reliability tests' tiny config (runhelp.FLAGS: seed preset, 8-wide nets, 300 samples, 8 floor
# draws, chunks of 50 steps, an EMA, 2 seeds) and, at 2 CPUs a trial, split over 2 devices as a `distgan train` on
# this machine is: its trials load the programs runhelp.reference compiled instead of compiling them in Ray's workers
TOP = """preset = "seed"
seeds = 2
steps = 100
plots = false
cpus_per_trial = 2
"""
SET = """[set]
"model.g_hidden" = 8
"model.d_hidden" = 8
"eval.n_samples" = 300
"eval.floor_draws" = 8
"train.log_every" = 50
"train.eval_every" = 50
"train.ema" = 0.9
"""
# two axes that leave the compiled programs alone (the seed's constant schedule does not depend on steps, and
# without an EMA warm-up its k is unused): every trial runs the same programs
GRID = """[axes]
"train.steps" = [100, 150]
"train.ema_warmup_k" = [5.0, 10.0]
"""

ASHA = "asha = {grace_steps = 50, reduction_factor = 2}\n"  # may stop a trial at step 50, its first evaluation


def tiny(top: str = "", axes: str = GRID) -> str:
    """The tiny spec: 2 seeds of an 8-wide seed preset for 100 steps, with more top-level keys and the axes."""
    return TOP + top + SET + axes


COLUMNS = ["train.steps", "train.ema_warmup_k", "target", "ks_ratio_median", "ks_ratio_p90", "w1_ratio_median",
           "w1_ratio_p90", "within_floor", "collapsed", "diverged", "seconds"]


@pytest.fixture
def no_ray(monkeypatch):
    """Ray must not be started: connecting fails the test."""
    def connect(address):
        raise AssertionError("Ray was started")
    monkeypatch.setattr(sweep, "connect", connect)


def write(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, words", [
    (tiny(axes='[axes]\n"train.dlr" = [1e-3]\n'), "unknown config key 'train.dlr'"),
    (tiny(axes='[axes]\n"train.d_lr" = []\n'), "axes: train.d_lr: empty list"),
    (tiny(axes='[axes]\n"train.batch_size" = [16, "big"]\n'), "axes: train.batch_size: expected an integer, got 'big'"),
    (tiny(axes='[axes]\n"train.batch_size" = {uniform = [16, 64]}\n'), "uniform does not fit a field of type int"),
    (tiny(axes='[axes]\n"train.r1" = {loguniform = [0.1, 10]}\n'), "samples: a random axis needs"),
    (tiny(axes='[axes]\n"train.seed" = [0, 1]\n'), "train.seed: set by the spec's seeds and seed"),
    (tiny(axes='[axes]\n"train.d_lr" = [-1e-3]\n'), "train.d_lr: expected a positive value"),
    (tiny().replace("seeds = 2", "seeds = 0"), "seeds: expected a whole number in [1, inf], got 0"),
    (tiny().replace("steps = 100", 'steps = "many"'), "steps: expected an integer, got 'many'"),
    (tiny('targets = ["gaussian:mean=4,sd=1"]\n'), "sd"),
    (tiny("axis = 3\n"), "unknown key 'axis'"),
])
def test_a_bad_spec_is_one_line_and_exit_2_before_ray(tmp_path, capsys, no_ray, text, words):
    spec = write(tmp_path / "bad.toml", text)
    code = main(["sweep", str(spec), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith(f"distgan: error: {spec}: ") and words in err, err
    assert not (tmp_path / "out").exists()


def test_the_grid_crosses_targets_axes_and_random_points(tmp_path):
    spec = sweep.load_spec(write(tmp_path / "s.toml", tiny('targets = ["gaussian", "uniform"]\nsamples = 3\n',
                                                           '[axes]\n"train.d_lr,train.g_lr" = [2e-4, 1e-3]\n'
                                                           '"train.r1" = {loguniform = [0.1, 10]}\n'
                                                           '"model.noise_dim" = {randint = [1, 4]}\n')))
    trials = spec.trials
    assert len(trials) == 2 * 2 * 3 and len({t.name for t in trials}) == 12
    assert trials[0].name.startswith("000-d_lr,g_lr=0.0002-r1=") and trials[0].name.endswith("-gaussian")
    for t in trials:  # one axis value sets both learning rates; draws are in range, kept to 4 digits
        assert t.cfg.train.d_lr == t.cfg.train.g_lr == t.values["train.d_lr,train.g_lr"]
        assert 0.1 <= t.cfg.train.r1 <= 10 and float(f"{t.cfg.train.r1:.4g}") == t.cfg.train.r1
        assert 1 <= t.cfg.model.noise_dim <= 4 and t.cfg.train.replicates == 2 and t.cfg.train.steps == 100
    # the same random points for every grid point and target, and again on a second reading
    assert [t.values["train.r1"] for t in trials[:3]] == [t.values["train.r1"] for t in trials[9:]]
    assert [t.cfg for t in sweep.load_spec(spec.path).trials] == [t.cfg for t in trials]


@pytest.fixture(scope="module")
def ray_address():
    """One local Ray runtime for this module's tests (2 CPUs, no dashboard, a small object store): its address. It
    shuts down with the module, so that its idle processes do not share the cores with the tests after it."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.tune")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"os\.fork\(\) was called", RuntimeWarning)
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 << 20, log_to_driver=False,
                 logging_level="error")
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def test_a_sweep_killed_after_its_first_trial_finishes_once(ray_address, request, tmp_path_factory, tmp_path,
                                                            monkeypatch):
    reference(request, tmp_path_factory)  # the tiny config's programs, in the session's compilation cache
    spec, out = write(tmp_path / "tiny.toml", tiny(ASHA)), tmp_path / "sweep"
    # the sweep in another process on the session's Ray runtime, killed once a trial is in place
    env = {**os.environ, "PYTHONPATH": str(Path(sweep.__file__).parents[1]),
           "DISTGAN_XLA_CACHE": jax.config.jax_compilation_cache_dir}  # this session's, as the second run's
    with open(tmp_path / "first.log", "wb") as log:
        first = subprocess.Popen([sys.executable, "-m", "distgan", "sweep", str(spec), "--out", str(out),
                                  "--address", ray_address], env=env, stdout=log, stderr=subprocess.STDOUT)
        t0 = time.monotonic()
        while not list(out.glob("*/trial.json")):
            assert first.poll() is None and time.monotonic() - t0 < 180, (tmp_path / "first.log").read_text()
            time.sleep(0.1)
        first.send_signal(signal.SIGKILL)
        first.wait()
    kept = {p.parent.name: (p.stat().st_ino, p.read_text()) for p in out.glob("*/trial.json")}

    # the killed run's workers may live on for a moment, and finish a trial or start another in .partial/: a
    # rerun may find more finished than `kept`, and an attempt of theirs that lands first stands
    lines = []
    rows, failures = sweep.run(sweep.load_spec(spec), out, echo=lines.append)  # this process's Ray runtime
    assert failures == [] and int(lines[0].split(": ")[1].split(" of 4 trials already finished")[0]) >= len(kept)
    with open(out / "results.csv") as f:
        table = list(csv.DictReader(f))
    names = [r["trial"] for r in table]
    assert len(table) == 4 and sorted(names) == sorted(set(names)) == sorted(t.name for t in
                                                                          sweep.load_spec(spec).trials)
    assert list(table[0])[:len(COLUMNS)] == COLUMNS
    assert {(int(r["train.steps"]), float(r["train.ema_warmup_k"])) for r in table} == \
        {(a, b) for a in (100, 150) for b in (5.0, 10.0)}
    for r in table:
        assert float(r["ks_ratio_median"]) > 0 and 0 <= int(r["within_floor"]) <= 2 and float(r["seconds"]) > 0
    for name, (inode, text) in kept.items():  # the finished trial was not trained again
        assert (out / name / "trial.json").stat().st_ino == inode and (out / name / "trial.json").read_text() == text
    for r in table:  # each trial folder is a whole run of its 2 seeds, or one ASHA stopped at an evaluation
        folder, stopped = out / r["trial"], r["stopped_at"]
        if stopped:
            assert int(stopped) == 50 and (folder / "checkpoint.json").exists()
            assert json.loads((folder / "checkpoint.json").read_text())["step"] == 50
        else:
            assert json.loads((folder / "summary.json").read_text())["table"]["replicates"] == 2

    best = tomllib.loads((out / "best.toml").read_text())  # ready for --config
    cfg = presets.get(best["preset"])
    config.apply_toml(cfg, out / "best.toml")
    assert config.validate(cfg).train.replicates == 2 and cfg.model.g_hidden == 8

    # the same folder with another spec: refused in one line, before Ray
    monkeypatch.setattr(sweep, "connect", lambda address: pytest.fail("Ray was started"))
    other = write(tmp_path / "other.toml", tiny(ASHA, GRID.replace("150", "200")))
    with pytest.raises(config.ConfigError, match=r"holds a sweep made from another spec \(trial 2: train.steps is 150 "
                       r"there, 200 here\)"):
        sweep.run(sweep.load_spec(other), out)


def test_results_rank_the_finished_trials_and_best_is_one_that_ran_to_the_end(tmp_path):
    spec = sweep.load_spec(write(tmp_path / "s.toml", tiny().replace("plots = false", "plots = true")))
    fits = {0: (1.3, 1.1, None), 1: (0.9, 1.0, None), 3: (0.8, 0.7, 50)}  # trial: KS, W1 medians, stopped_at
    for i, (ks, w1, stopped) in fits.items():  # three trials finished (one stopped by ASHA), one still to run
        t = spec.trials[i]
        (tmp_path / t.name).mkdir()
        row = {**t.values, "target": t.target, "ks_ratio_median": ks, "ks_ratio_p90": 2 * ks, "w1_ratio_median": w1,
               "w1_ratio_p90": 2 * w1, "within_floor": 1, "collapsed": 0, "diverged": 0, "seconds": 1.5,
               "stopped_at": stopped, "trial": t.name}
        (tmp_path / t.name / "trial.json").write_text(json.dumps(row))
    rows = sweep.write_results(spec, tmp_path)
    with open(tmp_path / "results.csv") as f:
        table = list(csv.DictReader(f))
    assert [r["trial"] for r in table] == [spec.trials[i].name for i in (0, 1, 3)]  # trial order
    assert list(table[0]) == COLUMNS + ["stopped_at", "trial"] and [r["stopped_at"] for r in table] == ["", "", "50"]
    ranked = sweep.format_results(spec, rows)
    assert ranked[0].split() == ["rank", "steps", "ema_warmup_k", "KS", "med/p90", "W1", "med/p90", "within", "coll",
                                 "div", "seconds", "stopped"]
    # by fit, the trials that ran to the end first: trial 3's figures are of step 50
    assert [line.split()[0] for line in ranked[1:]] == ["1", "2", "3"] and ranked[3].endswith("50")
    assert ranked[1].split()[1:3] == [sweep._short(v) for v in spec.trials[1].values.values()]
    assert spec.trials[1].name in (tmp_path / "best.toml").read_text().splitlines()[0]  # the best that ran to the end
    assert (tmp_path / "sweep.png").stat().st_size > 10_000


def test_a_sweep_folder_in_use_is_refused_naming_the_holder(tmp_path, no_ray):
    spec, out = sweep.load_spec(write(tmp_path / "s.toml", tiny())), tmp_path / "sweep"
    sweep.prepare(spec, out).release()
    held = FolderLock.take(out)  # another sweep on the folder
    try:
        with pytest.raises(config.ConfigError, match=rf"in use by another distgan process \(pid {os.getpid()},"):
            sweep.run(spec, out)
    finally:
        held.release()
    sweep.prepare(spec, out).release()  # free again


def test_without_ray_the_sweep_says_how_to_install_it_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    code = main(["sweep", str(write(tmp_path / "s.toml", tiny())), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "pip install 'distgan[sweep]'" in err, err
