"""CLI smoke tests: the README's own commands on a tiny budget, and bad input (exit 2, one line, nothing written)."""

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import distgan
from distgan.cli import main
from distgan.console import format_fit

FAST = ["--set", "eval.n_samples=2000", "--set", "eval.floor_draws=20"]  # test_train.py's fit evaluation: its programs
SRC = str(Path(distgan.__file__).parents[1])


def run_cli(capsys, *argv):
    """main(argv) in-process: (exit code, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def seed_run(tmp_path_factory):
    """`distgan train --preset seed --steps 400 --out RUN`, once for the module: (folder, stdout lines)."""
    folder = tmp_path_factory.mktemp("cli") / "run"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(["train", "--preset", "seed", "--steps", "400", "--out", str(folder), "--no-plots", *FAST])
    assert code == 0
    return folder, stdout.getvalue().splitlines()


def test_train_prints_seed_lines_verdict_and_writes_the_run(seed_run):
    folder, lines = seed_run
    seed = [line for line in lines if line[:1].isdigit()]  # the seed's lines; problems get lines of their own
    assert seed[0].startswith("200: D: ") and "(Real: [" in seed[0] and "Fake: [" in seed[0]
    assert seed[1].startswith("400: D: ")
    assert "step 200: G collapsed (fake std near 0) (replicate 0)" in lines  # the seed's collapse, named as it starts
    assert any(line.startswith("verdict: ") for line in lines)
    assert lines[-2:] == [f"run folder: {folder}", f"report: {folder / 'report.html'}"]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["preset"] == "seed" and summary["n_samples"] == 2000
    assert json.loads((folder / "checkpoint.json").read_text())["step"] == 400
    assert "steps = 400" in (folder / "config.toml").read_text()


def test_sample_csv_and_npy_repeat_with_the_seed(seed_run, tmp_path, capsys):
    seed_run = seed_run[0]
    csv, npy, npy2, other = (tmp_path / n for n in ("x.csv", "x.npy", "y.npy", "z.npy"))
    for path, seed in ((csv, 0), (npy, 0), (npy2, 0), (other, 1)):
        code, stdout, _ = run_cli(capsys, "sample", seed_run, "-n", "1000", "-o", path, "--seed", seed)
        assert code == 0 and "wrote 1000 samples" in stdout
    text = csv.read_text().splitlines()
    assert text[0] == "x" and len(text) == 1001
    x = np.load(npy)
    assert x.shape == (1000, 1) and np.all(np.isfinite(x))
    np.testing.assert_allclose(np.array(text[1:], float), x[:, 0], rtol=1e-6)  # CSV and NPY hold the same draws
    np.testing.assert_array_equal(np.load(npy2), x)  # the same seed gives the same samples
    assert not np.allclose(np.load(other), x)  # another seed, other samples
    run = distgan.load(seed_run)
    np.testing.assert_array_equal(run.sample(1000, seed=0), x)  # the Python API draws what the CLI wrote


def test_evaluate_reproduces_the_summarys_final_fit(seed_run, capsys):
    seed_run = seed_run[0]
    code, stdout, _ = run_cli(capsys, "evaluate", seed_run)
    assert code == 0
    summary = json.loads((seed_run / "summary.json").read_text())
    fit = format_fit(summary, 0)
    lines = stdout.splitlines()
    assert lines[0].startswith(f"run {seed_run}: gaussian:mean=4,std=1.25, preset seed, step 400")
    assert lines[1:] == fit  # every number (moments, KS, p, W1, floors, ratios) and the verdict


def test_presets_and_targets_list_a_line_each(capsys):
    code, stdout, _ = run_cli(capsys, "presets")
    names = [line.split()[0] for line in stdout.splitlines()]
    assert code == 0 and "seed" in names and "default" in names
    code, stdout, _ = run_cli(capsys, "targets")
    names = [line.split()[0] for line in stdout.splitlines() if line and not line[0].isspace()]
    assert code == 0 and "gaussian" in names and "ring" in names and "e.g. gaussian:mean=4,std=1.25" in stdout


def test_config_file_set_and_shortcuts_override_in_order(tmp_path, capsys):
    # fields that leave the compiled programs as seed_run's (the learning rates would not): its programs are loaded
    toml = tmp_path / "my.toml"
    toml.write_text('preset = "seed"\n[train]\nsteps = 5000\neval_every = 400\ncheckpoint_every = 600\n'
                    "[eval]\nn_samples = 2000\nfloor_draws = 20\n")
    out = tmp_path / "x"
    code, _, err = run_cli(capsys, "train", "--config", toml, "--set", "train.checkpoint_every=200", "--steps", "400",
                           "--seed", "3", "--out", out, "--quiet", "--no-plots")
    assert code == 0, err
    cfg = distgan.load(out).cfg
    assert cfg.preset == "seed"  # the file's preset
    assert cfg.train.eval_every == 400  # from the file
    assert cfg.train.checkpoint_every == 200  # --set over the file
    assert cfg.train.steps == 400 and cfg.train.seed == 3  # the shortcuts over both
    assert json.loads((out / "summary.json").read_text())["replicates"][0]["seed"] == 3


def test_device_cpu_and_auto_train(tmp_path, capsys):
    for device in ("cpu", "auto"):
        assert main(["train", "--preset", "seed", "--steps", "200", "--out", str(tmp_path / device), "--device", device,
                     "--quiet", "--no-plots", *FAST]) == 0
    assert jax.numpy.zeros(1).devices().pop().platform == "cpu"


# --- bad input: exit 2, one line naming the thing, no traceback, nothing written ---------------------------------

def _not_a_run(tmp_path):
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty"


TRAIN_ERRORS = [
    (["--preset", "nope"], "'nope'"),
    (["--set", "train.stepz=3"], "train.stepz"),
    (["--set", "train.steps=abc"], "train.steps"),
    (["--steps", "1.5"], "--steps: expected an integer"),  # a field set by a flag is named by the flag
    (["--set", "train.d_lr=-1e-3"], "train.d_lr"),
    (["--steps", "0"], "--steps: expected a positive value"),
    (["--set", "train.batch_size=0"], "train.batch_size"),
    (["--set", "train.steps"], "--set"),
    (["--bogus"], "--bogus"),
    (["--target", "gaussian:sd=2"], "sd=2"),
    (["--config", "missing.toml"], "missing.toml"),
]


@pytest.mark.parametrize("args, words", TRAIN_ERRORS)
def test_bad_training_input(tmp_path, capsys, args, words):
    out = tmp_path / "run"
    code, stdout, err = run_cli(capsys, "train", *args, "--out", out)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("distgan: error: ") and words in lines[0], err
    assert "Traceback" not in err and stdout == ""
    assert not out.exists()


def test_train_refuses_missing_parent_and_nonempty_out(tmp_path, capsys):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    for out, words in ((tmp_path / "no" / "such" / "run", "does not exist"), (tmp_path / "full", "not empty")):
        before = sorted(tmp_path.rglob("*"))
        code, _, err = run_cli(capsys, "train", "--steps", "10", "--out", out)
        assert code == 2 and len(err.strip().splitlines()) == 1 and str(out) in err and words in err
        assert sorted(tmp_path.rglob("*")) == before  # nothing written


@pytest.mark.parametrize("case", ["missing run", "not a run", "missing -o dir", "bad suffix", "n=0", "bad -n",
                                  "replicate", "no -o", "-o is a dir"])
def test_bad_sample_input(seed_run, tmp_path, capsys, case):
    run, out, extra = seed_run[0], tmp_path / "x.csv", []
    words = {"missing run": "run folder not found", "not a run": "not a distgan run folder",
             "missing -o dir": "does not exist", "bad suffix": "unknown file type '.txt'", "n=0": "-n 0",
             "bad -n": "invalid int value", "replicate": "--replicate: 3 is not one", "no -o": "-o/--output",
             "-o is a dir": "is a directory"}[case]
    if case == "missing run":
        run = tmp_path / "nowhere"
    elif case == "not a run":
        run = _not_a_run(tmp_path)
    elif case == "missing -o dir":
        out = tmp_path / "nodir" / "x.csv"
    elif case == "bad suffix":
        out = tmp_path / "x.txt"
    elif case in ("n=0", "bad -n"):
        extra = ["-n", "0" if case == "n=0" else "ten"]
    elif case == "replicate":
        extra = ["--replicate", "3"]
    elif case == "-o is a dir":
        out = tmp_path / "out.csv"
        out.mkdir()
    argv = ["sample", run, *extra] + ([] if case == "no -o" else ["-o", out])
    before = sorted(tmp_path.rglob("*"))
    code, stdout, err = run_cli(capsys, *argv)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and words in lines[0] and "Traceback" not in err, err
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.parametrize("case", ["missing run", "not a run", "no checkpoint"])
def test_bad_evaluate_input(tmp_path, capsys, case):
    run = tmp_path / "nowhere" if case == "missing run" else _not_a_run(tmp_path)
    if case == "no checkpoint":
        (run / "config.toml").write_text(distgan.config.dumps(distgan.preset("seed")))
    code, _, err = run_cli(capsys, "evaluate", run)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and str(run) in lines[0], err
    assert {"missing run": "not found", "not a run": "no config.toml", "no checkpoint": "no checkpoint"}[case] in err


def test_no_command_is_one_line_too(capsys):
    code, _, err = run_cli(capsys)
    assert code == 2 and err.strip().splitlines() == ["distgan: error: the following arguments are required: command"]


@pytest.mark.parametrize("argv, words", [
    (["train", "--bogus"], "unrecognized arguments: --bogus"),
    (["sample", "/no/such/run", "-o", "x.csv"], "/no/such/run: run folder not found"),
])
def test_python_m_distgan_in_a_real_process(argv, words, tmp_path):
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.run([sys.executable, "-m", "distgan", *argv], capture_output=True, text=True, cwd=tmp_path, env=env,
                       timeout=120)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.strip().splitlines() == [p.stderr.strip()] and words in p.stderr and "Traceback" not in p.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written, not even runs/


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine may have a GPU")
def test_device_gpu_without_a_gpu_is_one_line(tmp_path):
    # a real process: JAX picks its platform once, so this cannot run after other tests started JAX in-process
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    argv = ["train", "--device", "gpu", "--steps", "1", "--no-plots", "--set", "eval.n_samples=100",
            "--set", "eval.floor_draws=5", "--out", "r"]
    p = subprocess.run([sys.executable, "-m", "distgan", *argv], capture_output=True, text=True, cwd=tmp_path, env=env,
                       timeout=120)
    assert p.returncode == 2 and p.stderr.strip().splitlines() == ["distgan: error: --device: JAX sees no gpu device "
                                                                   "(is the CUDA build of jaxlib installed?)"]
    assert list(tmp_path.iterdir()) == []


def test_default_run_folder_is_never_overwritten(tmp_path, monkeypatch, capsys):
    # `make run` twice: the second run gets runs/gaussian-seed-s0-2 instead of failing on the existing folder (seed_run's
    # programs: chunks of 200 steps, the same evaluation)
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        code, stdout, _ = run_cli(capsys, "train", "--preset", "seed", "--steps", "200", "--quiet", "--no-plots", *FAST)
        assert code == 0
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["gaussian-seed-s0", "gaussian-seed-s0-2"]
    assert "run folder: runs/gaussian-seed-s0-2" in stdout


# --- replicates ---

def test_quiet_with_replicates_prints_only_the_fit(tmp_path, capsys):
    # --quiet once crashed here: the "training K replicates" line went to echo=None. K = 4 and chunks of 200 steps,
    # as test_cli_replicates: the two share their compiled programs
    code, stdout, err = run_cli(capsys, "train", "--preset", "seed", "--steps", "200", "--replicates", "4", "--quiet",
                                "--no-plots", "--out", tmp_path / "k4", *FAST)
    assert code == 0, err
    lines = stdout.splitlines()
    assert lines[0].startswith("fit of replicate 0 (seed 0)") and not any(": D: " in line for line in lines)
    assert any(line.startswith("over 4 replicates: ") for line in lines)


def test_cli_replicates(tmp_path, capsys):
    run = tmp_path / "k3"
    args = ["train", "--preset", "seed", "--replicates", "4", "--seed", "5", "--steps", "400", "--out", str(run),
            "--device", "cpu", *FAST, "--set",
            "train.eval_every=200"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "over 4 replicates:" in out and "best replicate" in out
    assert "replicate-steps/s, split over 2 CPU devices" in out  # an even K on the session's two CPU devices
    assert "step 400: " in out and "of replicates within the noise floor" in out  # non-tty progress line
    summary = json.loads((run / "summary.json").read_text())
    table = summary["table"]
    assert table["replicates"] == 4 and summary["timing"]["devices"] == 2
    assert {"within_floor", "collapsed", "diverged", "ks_ratio", "w1_ratio", "best"} <= set(table)
    assert [r["seed"] for r in summary["replicates"]] == [5, 6, 7, 8]
    ks = [r["ks_ratio"] for r in summary["replicates"]]
    assert table["ks_ratio"]["median"] == pytest.approx(np.median(ks))
    assert table["ks_ratio"]["p90"] == pytest.approx(np.percentile(ks, 90))
    score = [max(r["ks_ratio"], r["w1_ratio"]) for r in summary["replicates"]]
    assert table["best"] == int(np.argmin(score))
    assert table["within_floor"] == sum(r["within_floor"] for r in summary["replicates"])
    for png in ("mean_std.png", "histograms.png", "histogram.png"):
        assert (run / png).stat().st_size > 1000

    assert main(["sample", str(run), "--replicate", "2", "-n", "500", "-o", str(tmp_path / "x.npy")]) == 0
    x = np.load(tmp_path / "x.npy")
    assert x.shape == (500, 1)
    loaded = distgan.load(run)
    np.testing.assert_allclose(x, loaded.sample(500, seed=0, replicate=2))
    assert not np.allclose(x, loaded.sample(500, seed=0, replicate=1))
    assert main(["sample", str(run), "--replicate", "4", "-n", "5", "-o", str(tmp_path / "y.npy")]) == 2

    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0
    out = capsys.readouterr().out
    assert "over 4 replicates:" in out and "fit of replicate 0 (seed 5)" in out
    assert main(["evaluate", str(run), "--replicate", "2"]) == 0
    assert "fit of replicate 2 (seed 7)" in capsys.readouterr().out
