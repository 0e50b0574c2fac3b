"""N-D: the joint metrics against closed forms, their noise floors, and training, checkpoints and plots for dim 2..5."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import distgan
from distgan import metrics
from distgan.runs import load


def test_sliced_w1_of_a_shift_is_the_mean_projected_shift():
    x = jax.random.normal(jax.random.PRNGKey(0), (5000, 3))
    delta = jnp.array([0.5, -1.0, 2.0])
    dirs = metrics.directions(3)
    # every projection of x + delta is the projection of x shifted by theta . delta: W1 is exactly |theta . delta|
    assert float(metrics.sliced_w1(x, x + delta, dirs)) == pytest.approx(float(jnp.abs(dirs @ delta).mean()), rel=1e-5)


@pytest.mark.parametrize("dim", [2, 3, 5])
def test_sliced_w1_of_shifted_gaussians_matches_the_closed_form(dim):
    # E|theta . delta| over uniform unit theta = |delta| Gamma(d/2) / (sqrt(pi) Gamma((d+1)/2)); 2/pi in 2-D
    k1, k2 = jax.random.split(jax.random.PRNGKey(dim))
    delta = jnp.zeros(dim).at[0].set(1.0)
    x, y = jax.random.normal(k1, (20000, dim)), jax.random.normal(k2, (20000, dim)) + delta
    exact = math.gamma(dim / 2) / (math.sqrt(math.pi) * math.gamma((dim + 1) / 2))
    assert float(metrics.sliced_w1(x, y, metrics.directions(dim))) == pytest.approx(exact, rel=0.08)


def test_sliced_w1_in_1d_is_w1():
    x, y = jax.random.normal(jax.random.PRNGKey(1), (2, 3000, 1))
    assert float(metrics.sliced_w1(x, y, metrics.directions(1))) == pytest.approx(float(metrics.w1(x[:, 0], y[:, 0])),
                                                                                   rel=1e-5)


def test_correlation_error_of_a_known_correlation():
    rho = 0.6
    k1, k2 = jax.random.split(jax.random.PRNGKey(2))
    z = jax.random.normal(k1, (50000, 2))
    x = jnp.stack([z[:, 0], rho * z[:, 0] + math.sqrt(1 - rho**2) * z[:, 1]], 1)
    y = jax.random.normal(k2, (50000, 2))
    assert float(metrics.corr_error(x, y)) == pytest.approx(rho, abs=0.02)
    np.testing.assert_allclose(float(metrics.corr_error(x, x)), 0, atol=1e-6)


def test_joint_floors_exist_for_dim_2_and_a_perfect_sample_is_within_them():
    t = distgan.targets.parse("moons")
    floor = metrics.noise_floor(t, 2000, 30)
    assert set(floor) == {"ks", "w1", "sw1", "corr"}
    assert 0 < floor["sw1"]["median"] < floor["sw1"]["p95"] and 0 < floor["corr"]["median"] < 0.1
    k1, k2 = jax.random.split(jax.random.PRNGKey(5))
    result = jax.tree.map(lambda a: np.asarray(a)[None], jax.jit(metrics.fit)(t.sample(k1, 2000), t.sample(k2, 2000)))
    assert result["sw1"].shape == (1,) and metrics.within_floor(result, floor).tolist() == [True]
    result["corr"] = result["corr"] + 1.0  # a wrong correlation alone fails the verdict
    assert metrics.within_floor(result, floor).tolist() == [False]


def test_train_sample_reload_and_plot_in_5d(tmp_path):
    """Preset, replicates, metrics, checkpoint, reload and plots for an N-D data file (correlated Gaussians); 2-D:
    the next test."""
    dim = 5
    rng = np.random.default_rng(dim)
    a = rng.standard_normal((400, dim)) @ rng.standard_normal((dim, dim)) + np.arange(dim)
    np.save(tmp_path / "x.npy", a)
    cfg = distgan.preset("default")  # what `auto` picks for a data file
    cfg.target.data = str(tmp_path / "x.npy")
    cfg.train.steps, cfg.train.replicates, cfg.train.log_every = 100, 2, 50
    cfg.model.g_hidden = cfg.model.d_hidden = 16
    cfg.eval.n_samples, cfg.eval.floor_draws, cfg.report.frames = 500, 10, 0
    run = distgan.train(cfg, out=tmp_path / "r", echo=None, plots=True)
    rep = run.summary["replicates"][1]
    assert len(rep["ks"]) == dim and np.isfinite(rep["sw1"]) and np.isfinite(rep["corr_ratio"])
    assert "sw1_ratio" in run.summary["table"] and "corr" in run.summary["floor"]
    names = {p.name for p in (tmp_path / "r").iterdir()}
    assert {"scatter.png", "marginals.png", "replicates.png"} <= names and ("pairs.png" in names) == (dim > 2)
    again = load(tmp_path / "r")
    np.testing.assert_allclose(again.sample(50, seed=3, replicate=1), run.sample(50, seed=3, replicate=1), rtol=1e-5)
    assert again.sample(50).shape == (50, dim)


def test_fit_report_shows_joint_and_modes_lines(tmp_path):
    from distgan.console import format_fit, format_table

    cfg = distgan.preset("mixture2d")
    cfg.target.spec = "ring"
    cfg.train.steps, cfg.train.replicates, cfg.train.log_every = 60, 2, 30
    cfg.model.g_hidden = cfg.model.d_hidden = 16
    cfg.eval.n_samples, cfg.eval.floor_draws, cfg.report.frames = 500, 10, 0
    run = distgan.train(cfg, out=tmp_path / "r", echo=None, plots=True)
    text = "\n".join(format_fit(run.summary) + format_table(run.summary))
    assert "sliced W1" in text and "correlation error" in text and "of 8 captured" in text
    assert run.summary["modes"]["perfect"]["high_quality"] == pytest.approx(0.989, abs=0.005)
    names = {p.name for p in (tmp_path / "r").iterdir()}  # 2-D plots: no pairs plot
    assert {"scatter.png", "marginals.png", "replicates.png"} <= names and "pairs.png" not in names


def test_scatter_keeps_equal_axes_for_built_in_targets_only(tmp_path):
    """A data file's columns have units of their own: equal axes would flatten income against a score to a line."""
    from matplotlib.figure import Figure

    from distgan import plots
    from distgan.data import make_target
    from distgan.targets import parse

    np.savetxt(tmp_path / "t.csv", np.c_[np.linspace(1e4, 2e5, 50), np.linspace(-3, 3, 50)], delimiter=",",
               header="income,score", comments="")
    cfg = distgan.preset("default")
    cfg.target.data = str(tmp_path / "t.csv")
    for target, aspect in ((parse("ring"), 1.0), (make_target(cfg.target), "auto")):
        ax = Figure().subplots()
        plots._equal_axes(ax, target, "box")
        assert ax.get_aspect() == aspect
