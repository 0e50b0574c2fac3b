"""`distgan bench fit` and `distgan train --compare`: the table's numbers, and the real CLI on a tiny budget."""

import numpy as np
import pytest

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
    assert verdict(r) == "misses the bar"  # p90 of KS is above 1.5
    r = fit_table(_summary([1.0] * 4, [1.1] * 4, [4.0] * 4))
    assert verdict(r) == "meets the bar"


def test_bench_fit_rejects_an_unknown_preset(capsys):
    assert main(["bench", "fit", "--presets", "nope"]) == 2
    assert "unknown preset" in capsys.readouterr().err


def test_bench_fit_runs_the_cli(capsys, tmp_path):
    argv = ["bench", "fit", "--seeds", "2", "--steps", "40", "--set", "eval.n_samples=500", "--out", str(tmp_path / "b")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    for name in ("default", "seed"):
        assert f"{name}: 2 seeds, 40 steps" in out
    assert "KS ratio  median / p90 / max" in out and "within floor" in out
    assert (tmp_path / "b" / "default" / "summary.json").exists()


def test_train_compare_prints_both_verdicts(capsys, tmp_path):
    argv = ["train", "--steps", "40", "--set", "eval.n_samples=500", "--compare", "seed", "--quiet", "--no-plots",
            "--out", str(tmp_path / "r")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "for comparison, preset 'seed' on the same target, 40 steps" in out
    assert "  seed: " in out and "  default: " in out
    assert (tmp_path / "r-vs-seed" / "summary.json").exists()
