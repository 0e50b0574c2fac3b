"""`distgan bench fit` and `distgan train --compare`: the table's numbers, and the real CLI on a tiny budget."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file
from scipy import stats

import distgan
from distgan import bench, metrics
from distgan.bench import fit_table, verdict
from distgan.cli import main


def _summary(ks, w1, means):
    reps = [{"ks_ratio": k, "w1_ratio": w, "mean": [m], "std": [1.0], "skew": [0.0], "kurt": [0.0]}
            for k, w, m in zip(ks, w1, means)]
    table = {"replicates": len(ks), "within_floor": 1, "collapsed": 0, "diverged": 0, "non_finite": 0}
    return {"replicates": reps, "table": table,
            "target_moments": {"mean": [4.0], "std": [1.0], "skew": [0.0], "kurt": [0.0]}}


def test_fit_table_is_the_distribution_over_seeds():
    ks, w1 = [1.0, 1.2, 0.9, 3.0], [1.1, 1.0, 1.3, 1.2]
    r = fit_table(_summary(ks, w1, [4.1, 3.8, 4.0, 4.0]))
    assert r["ks_ratio"] == {"median": np.median(ks), "p90": pytest.approx(np.percentile(ks, 90)), "max": 3.0}
    assert r["w1_ratio"]["median"] == pytest.approx(1.15)
    assert r["mean_err"]["median"] == pytest.approx(0.05)  # |errors| 0.1, 0.2, 0, 0
    assert r["std_err"]["p90"] == 0.0
    assert verdict(r) == "not at the floor"  # p90 of KS is above 1.5
    r = fit_table(_summary([1.0] * 4, [1.1] * 4, [4.0] * 4))
    assert verdict(r) == "at the floor"
    # a target with no kurtosis (Student-t, df 3): its error is undefined, without a warning (warnings fail tests)
    summary = _summary(ks, w1, [4.1, 3.8, 4.0, 4.0])
    summary["target_moments"]["kurt"] = [float("inf")]
    r = fit_table(summary)
    assert r["kurt_err"] == {"median": None, "p90": None} and r["skew_err"]["p90"] == 0.0
    r.update(steps=100, batch_size=64, wall_s=1.0, compile_s=0.5)
    assert "kurt undefined" in "\n".join(bench.format_fit_table("t3", r))


# The CI budget of every bench run below, in process or not: the default (and the seed preset) on the seed's target
# with these seeds, steps (one chunk: bench's chunks are of BENCH_CHUNK steps) and samples compile the same programs,
# so each test after the first loads them from the session's compilation cache instead of compiling its own; no
# animation frames (nothing here looks at them)
SEEDS, STEPS, SAMPLES = 4, 500, 2000
BUDGET = ["--seeds", str(SEEDS), "--steps", str(STEPS), "--set", f"eval.n_samples={SAMPLES}", "--evals", "2", "--set",
          "report.frames=0"]


def test_pooled_evaluations_and_the_perfect_generator(tmp_path):
    """Pooled ratios are those of fresh evaluations of the final states; a perfect generator's KS ratios follow
    Smirnov's law (the exact floor's own law), so its p90 / median is that law's 0.9 / 0.5 quantile ratio."""
    cfg = distgan.preset("default")  # the CI budget's bench config (BUDGET): the programs of the tests below
    cfg.train.steps, cfg.train.replicates, cfg.train.log_every, cfg.train.eval_every = STEPS, SEEDS, STEPS, STEPS
    cfg.eval.n_samples, cfg.eval.floor_draws, cfg.report.frames = SAMPLES, bench.FLOOR_DRAWS, 0
    run = distgan.train(cfg, tmp_path / "r", echo=None, plots=False)
    p = bench.pooled(run, 2)
    floor = metrics.noise_floor(run.target, SAMPLES, bench.FLOOR_DRAWS)
    again = [metrics.ratios(metrics.Evaluator(run.gan.sample, run.target, SAMPLES)(run.states, STEPS + 1 + e),
                            floor)["ks"][:, 0] for e in range(2)]
    assert p["ks_ratio"]["median"] == pytest.approx(np.median(np.concatenate(again)))
    law = stats.kstwo(SAMPLES // 2)
    assert p["perfect_ks_ratio"]["median"] == pytest.approx(1.0, abs=0.06)  # 1,000 pairs: a 3 % standard error
    assert p["perfect_ks_ratio"]["p90"] == pytest.approx(law.ppf(0.9) / law.ppf(0.5), rel=0.07)
    assert p["perfect_w1_ratio"]["median"] == pytest.approx(1.0, abs=0.06)  # W1's floor: 1,000 draws


def test_bench_fit_rejects_an_unknown_preset(capsys):
    assert main(["bench", "fit", "--presets", "nope"]) == 2
    assert "unknown preset" in capsys.readouterr().err


def test_bench_fit_runs_the_cli(capsys, tmp_path):
    assert main(["bench", "fit", *BUDGET, "--out", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    for name in ("default", "seed"):
        assert f"{name}: {SEEDS} seeds, {STEPS} steps" in out
    assert "KS ratio  median / p90 / max" in out and "within floor" in out
    assert out.count("pooled over 2 more evaluations per seed") == 2 and "a perfect generator: KS " in out
    assert (tmp_path / "b" / "default" / "summary.json").exists()


# `distgan` with Ctrl-C's default action: a shell's background job ignores SIGINT and its children inherit that, so
# Python would never raise KeyboardInterrupt (a fork to reset it in the child would fork a JAX process)
DISTGAN = [sys.executable, "-c", "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
           "from distgan.cli import entry; entry()"]


def _wait_for(p, ready, what: str, seconds: float = 300) -> None:
    """Poll until ready() holds, while the process runs; a loaded machine may take minutes to import and compile."""
    deadline = time.monotonic() + seconds
    while not ready():
        assert p.poll() is None, f"exited {p.returncode} before {what}: {p.stderr.read()}"
        assert time.monotonic() < deadline, f"no {what} after {seconds} s"
        time.sleep(0.1)


@pytest.mark.parametrize("when", ["compiling", "training"])  # XLA used to crash on exit (139) while compiling
def test_bench_fit_stops_on_ctrl_c(tmp_path, when):
    """Bench runs train in chunks, so a Ctrl-C stops one within seconds: exit 130 and one line, no traceback."""
    cmd = [*DISTGAN, "bench", "fit", "--presets", "seed", "--seeds", str(SEEDS), "--steps", "1000000",
           "--set", f"eval.n_samples={SAMPLES}", "--set", f"train.checkpoint_every={STEPS}", "--out", str(tmp_path / "b")]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"),
                              "PYTHONUNBUFFERED": "1"})
    try:
        assert p.stdout.readline().startswith("bench fit: ")  # printed before the first compile
        if when == "training":  # the first chunk's row and checkpoint are written
            _wait_for(p, (tmp_path / "b" / "seed" / "metrics.jsonl").exists, "first chunk")
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=120)  # one chunk of a million steps would take many minutes
    finally:  # no process or pipe outlives the test
        p.kill()
        p.communicate()
    assert p.returncode == 130 and err.count("\n") == 1 and err.startswith("distgan: "), err


# train --compare's budget in these tests: the seed's run alone is test_train.py's config (a chunk of 200 steps, 2,000
# samples, 20 floor draws), and a constant learning rate leaves the default's programs the same for any number of
# steps, so the runs of both tests below load the programs the first one compiled; no animation frames (neither test
# looks at them)
COMPARE = ["--set", "train.schedule=constant", "--set", "eval.n_samples=2000", "--set", "eval.floor_draws=20", "--set",
           "report.frames=0"]


def test_train_compare_prints_both_verdicts_and_equals_each_run_alone(capsys, tmp_path):
    """The comparison trains in a thread beside the main run, on the other CPU device: the same runs as alone."""
    budget = ["--steps", "200", *COMPARE, "--quiet", "--no-plots"]
    assert main(["train", *budget, "--compare", "seed", "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "for comparison, preset 'seed' on the same target, 200 steps" in out
    assert "  seed: " in out and "  default: " in out
    for preset, beside in (("seed", "r-vs-seed"), ("default", "r")):
        assert main(["train", *budget, "--preset", preset, "--out", str(tmp_path / preset)]) == 0
        alone, both = (load_file(tmp_path / f / "checkpoint.safetensors") for f in (preset, beside))
        assert alone.keys() == both.keys()
        for key in alone:
            np.testing.assert_allclose(both[key], alone[key], rtol=1e-6, atol=1e-7, err_msg=f"{preset} {key}")
        s_alone, s_both = (json.loads((tmp_path / f / "summary.json").read_text()) for f in (preset, beside))
        assert s_both["replicates"][0]["ks_ratio"] == pytest.approx(s_alone["replicates"][0]["ks_ratio"], rel=1e-6)


def test_train_compare_stops_both_runs_on_ctrl_c(tmp_path):
    """Ctrl-C stops the main run and the comparison beside it: exit 130, one line, a checkpoint in each folder."""
    cmd = [*DISTGAN, "train", "--compare", "seed", "--steps", "1000000", "--quiet", *COMPARE,
           "--out", str(tmp_path / "r")]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")})
    try:
        _wait_for(p, lambda: all((tmp_path / f / "metrics.jsonl").exists() for f in ("r", "r-vs-seed")), "training")
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=120)
    finally:  # no process or pipe outlives the test
        p.kill()
        p.communicate()
    assert p.returncode == 130 and err.count("\n") == 1 and err.startswith("distgan: "), err
    assert "--resume" in err
    for folder in ("r", "r-vs-seed"):
        assert (tmp_path / folder / "checkpoint.safetensors").exists(), folder
        assert not (tmp_path / folder / "summary.json").exists(), folder


# The suite's CI slice: what `train` picks (presets.choose: default on gauss and expon, mixture1d on mix2) on 3 of
# the suite's targets on the CI budget, 2 pooled evaluations per seed (benchmarks/suite.md, "The CI slice", has the
# figures). The bounds are gaps to that perfect generator, scored the same way in the same run: about twice the gaps
# measured or more, below what a broken run scores (the seed preset, or a G that collapsed, scores 10 or more; the
# default on mix2, 1.8 to 2.9; the exponential without the warp, 1.4 to 1.7).
CI_SLICE = {"gauss": (0.8, 1.2), "mix2": (1.0, 1.0), "expon": (1.1, 1.1)}  # the most its median / p90 may exceed


def test_the_suite_s_ci_slice_stays_near_a_perfect_generator(capsys, tmp_path):
    argv = ["bench", "suite", "--targets", ",".join(CI_SLICE), *BUDGET, "--json", str(tmp_path / "suite.json")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    rows = json.loads((tmp_path / "suite.json").read_text())["rows"]
    met = sum(not bench.suite_verdict(r) for r in rows.values())
    assert "| target | KS median / p90 | perfect KS |" in out and f"{met}/{len(CI_SLICE)} targets meet the bar" in out
    for name, (median_gap, p90_gap) in CI_SLICE.items():
        r, p = rows[name], rows[name]["pooled"]
        assert r["collapsed"] == r["diverged"] == r["non_finite"] == 0 and r["steps"] == STEPS
        for s in ("ks", "w1"):
            assert p[f"perfect_{s}_ratio"]["median"] == pytest.approx(1.0, abs=0.1), (name, s)  # the floor's median
            assert p[f"{s}_ratio"]["median"] - p[f"perfect_{s}_ratio"]["median"] < median_gap, (name, s, p)
            assert p[f"{s}_ratio"]["p90"] - p[f"perfect_{s}_ratio"]["p90"] < p90_gap, (name, s, p)
        assert f"| {name} | " in out


def test_suite_verdict_names_the_clauses_a_target_misses():
    pooled = {"ks_ratio": {"median": 1.1, "p90": 1.9}, "w1_ratio": {"median": 1.3, "p90": 1.6},
              "perfect_ks_ratio": {"median": 1.0, "p90": 1.5}, "perfect_w1_ratio": {"median": 1.0, "p90": 1.6}}
    row = {"pooled": pooled, "collapsed": 0, "diverged": 0, "non_finite": 0, "replicates": 16}
    assert bench.suite_verdict(row) == ["KS p90 +0.40", "W1 median +0.30"]
    row["modes"] = {"all_modes": 15, "high_quality": 0.975}
    assert bench.suite_verdict(row)[-1] == "modes lost in 1 seeds"
    pooled.update(ks_ratio={"median": 1.1, "p90": 1.7}, w1_ratio={"median": 1.1, "p90": 1.8})
    row["modes"]["all_modes"] = 16
    assert bench.suite_verdict(row) == []
