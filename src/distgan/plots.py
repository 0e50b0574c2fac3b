"""The post's pictures, as PNGs in the run folder: mean and std over training, histogram, QQ plot, losses."""

from __future__ import annotations

from pathlib import Path

import jax
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

PLOTS = ("mean_std.png", "histogram.png", "qq.png", "losses.png")


def _save(fig, path: Path) -> None:
    import io

    from .runs import atomic_write

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write(path, buf.getvalue())


def _band(ax, steps, values, color, label):
    """values (T, K): the line for K = 1, else the median with a 10-90 % band over replicates."""
    if values.shape[1] == 1:
        ax.plot(steps, values[:, 0], color=color, label=label)
        return
    lo, med, hi = np.percentile(values, [10, 50, 90], axis=1)
    ax.plot(steps, med, color=color, label=f"{label} (median)")
    ax.fill_between(steps, lo, hi, color=color, alpha=0.25, label="10-90 % of replicates")


def plot_training(rows: list[dict], target_moments: dict, folder: Path) -> None:
    """Fake mean and std over training against the target's, and D's and G's errors."""
    steps = np.array([r["step"] for r in rows])
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, key in zip(axes, ("mean", "std")):
        values = np.array([r[f"fake_{key}"] for r in rows])  # (T, K, dim)
        for d in range(values.shape[2]):
            _band(ax, steps, values[:, :, d], f"C{d}", f"fake {key}" + (f" dim {d}" if values.shape[2] > 1 else ""))
            ax.axhline(target_moments[key][d], color=f"C{d}", ls="--", lw=1, label=f"target {key}")
        ax.set_xlabel("step")
        ax.set_title(f"generated {key} over training")
        ax.legend(fontsize=7)
    _save(fig, folder / "mean_std.png")

    fig, ax = plt.subplots(figsize=(6, 3.8))
    _band(ax, steps, np.array([r["d_real"] for r in rows]) + np.array([r["d_fake"] for r in rows]), "C0", "D error")
    _band(ax, steps, np.array([r["g"] for r in rows]), "C1", "G error")
    ax.set_xlabel("step")
    ax.set_title("losses over training")
    ax.legend(fontsize=7)
    _save(fig, folder / "losses.png")


def plot_fit(fake: np.ndarray, real: np.ndarray, target, folder: Path, title: str) -> None:
    """Histogram of G's samples with the target's density, and a QQ plot against the target (1-D: dimension 0)."""
    x, y = fake[:, 0], real[:, 0]
    lo, hi = np.percentile(np.concatenate([x, y]), [0.1, 99.9])
    grid = np.linspace(lo, hi, 400)
    fig, ax = plt.subplots(figsize=(6, 3.8))
    ax.hist(x, bins=80, range=(lo, hi), density=True, alpha=0.6, label="generated")
    density = target.pdf(grid) if target.dim == 1 else None
    if density is not None:
        ax.plot(grid, density, "k", lw=1.5, label="target density")
    else:
        ax.hist(y, bins=80, range=(lo, hi), density=True, histtype="step", color="k", label="real sample")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    _save(fig, folder / "histogram.png")

    p = (np.arange(len(x)) + 0.5) / len(x)
    q_target = target.dist.ppf(p) if target.dist is not None else np.quantile(y, p)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(q_target, np.sort(x), ".", ms=2)
    ax.plot([q_target[0], q_target[-1]], [q_target[0], q_target[-1]], "k--", lw=1)
    ax.set_xlabel("target quantile")
    ax.set_ylabel("generated quantile")
    ax.set_title("QQ plot")
    _save(fig, folder / "qq.png")


def plot_replicates(run, n: int, folder: Path, max_panels: int = 16) -> None:
    """Small multiples: the final histogram of up to max_panels replicates, with the target density."""
    K = min(run.replicates, max_panels)
    cols = int(np.ceil(np.sqrt(K)))
    rows = int(np.ceil(K / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 1.8 * rows), squeeze=False)
    reps = run.summary.get("replicates", [])
    real = run.target.to_data(np.asarray(run.target.reference(jax.random.PRNGKey(2), n)))[:, 0]
    for k, ax in enumerate(axes.flat):
        if k >= K:
            ax.axis("off")
            continue
        x = run.sample(n, seed=1, replicate=k)[:, 0]
        # one range for the target and the sample: a collapsed G shows as a spike, not as a zoomed-in histogram
        lo, hi = np.percentile(np.concatenate([real, x]), [0.5, 99.5])
        ax.hist(x, bins=50, range=(lo, hi), density=True, alpha=0.6)
        grid = np.linspace(lo, hi, 200)
        density = run.target.pdf(grid)
        if density is not None:
            ax.plot(grid, density, "k", lw=1)
        else:
            ax.hist(real, bins=50, range=(lo, hi), density=True, histtype="step", color="k")
        rep = reps[k] if k < len(reps) else {}
        tag = "within floor" if rep.get("within_floor") else ", ".join(rep.get("problems", []))
        ax.set_title(f"rep {k} (seed {rep.get('seed', '?')})" + (f": {tag}" if tag else ""), fontsize=7)
        ax.tick_params(labelsize=6)
    fig.tight_layout()
    _save(fig, folder / "histograms.png")


def plot_run(run) -> None:
    """Every plot of a run into its folder."""
    rows = run.metrics
    moments = {k: np.asarray(v) for k, v in run.summary["target_moments"].items()}
    plot_training(rows, moments, run.folder)
    k = run.summary["table"]["best"] if run.replicates > 1 else 0
    n = run.cfg.eval.n_samples
    fake = run.sample(n, seed=1, replicate=k)  # (n, dim), data units
    real = run.target.to_data(np.asarray(run.target.reference(jax.random.PRNGKey(2), n)))
    rep = run.summary["replicates"][k]
    title = f"replicate {k}: {rep['verdict'].split(' (')[0]}"
    plot_fit(fake, real, run.target, run.folder, title)
    if run.replicates > 1 and run.target.dim == 1:
        plot_replicates(run, min(n, 5000), run.folder)
