"""The post's pictures, as PNGs in the run folder: mean and std over training, histogram, QQ plot, losses."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
from scipy import stats

from .files import atomic_write

_ONE_AT_A_TIME = threading.Lock()
PLOTS = ("mean_std.png", "histogram.png", "qq.png", "losses.png")  # 1-D
PLOTS_ND = ("mean_std.png", "losses.png", "scatter.png", "marginals.png")  # dim >= 2 (+ pairs.png for dim >= 3)


def _save(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    atomic_write(path, buf.getvalue())


def _subplots(*grid, figsize, **kw):
    """pyplot.subplots without pyplot: a free-standing figure (nothing to close, no global state shared between
    threads) and its axes. Matplotlib is imported here, when a run plots, not when distgan is imported."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*grid, **kw)


def _band(ax, steps, values, color, label):
    """values (T, K): the line for K = 1, else the median with a 10-90 % band over replicates."""
    if values.shape[1] == 1:
        ax.plot(steps, values[:, 0], color=color, label=label)
        return
    lo, med, hi = np.percentile(values, [10, 50, 90], axis=1)
    ax.plot(steps, med, color=color, label=f"{label} (median)")
    ax.fill_between(steps, lo, hi, color=color, alpha=0.25, label="10-90 % of replicates")


def plot_training(rows: list[dict], target_moments: dict, folder: Path, columns: tuple[str, ...] = ()) -> None:
    """Fake mean and std over training against the target's, and D's and G's errors.
    columns: a data file's column names, for the legend (its moments are in standard units)."""
    steps = np.array([r["step"] for r in rows])
    fig, axes = _subplots(1, 2, figsize=(10, 3.8))
    for ax, key in zip(axes, ("mean", "std")):
        values = np.array([r[f"fake_{key}"] for r in rows])  # (T, K, dim)
        for d in range(values.shape[2]):
            name = f" {columns[d]}" if columns else f" dim {d}" if values.shape[2] > 1 else ""
            _band(ax, steps, values[:, :, d], f"C{d}", f"fake {key}{name}")
            ax.axhline(target_moments[key][d], color=f"C{d}", ls="--", lw=1, label=f"target {key}")
        ax.set_xlabel("step")
        ax.set_title(f"generated {key} over training" + (" (standard units)" if columns else ""))
        ax.legend(fontsize=7)
    _save(fig, folder / "mean_std.png")

    fig, ax = _subplots(figsize=(6, 3.8))
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
    fig, ax = _subplots(figsize=(6, 3.8))
    ax.hist(x, bins=80, range=(lo, hi), density=True, histtype="stepfilled", alpha=0.6, label="generated")
    density = target.pdf(grid) if target.dim == 1 else None
    if density is not None:
        ax.plot(grid, density, "k", lw=1.5, label="target density")
    else:
        ax.hist(y, bins=80, range=(lo, hi), density=True, histtype="step", color="k", label="real sample")
    ax.set_title(title, fontsize=9)
    if target.columns:  # a data file's column, in its own units
        ax.set_xlabel(target.columns[0])
    ax.legend(fontsize=7)
    _save(fig, folder / "histogram.png")

    p = (np.arange(len(x)) + 0.5) / len(x)
    q_target = target.dist.ppf(p) if target.dist is not None else np.quantile(y, p)
    fig, ax = _subplots(figsize=(4.5, 4.5))
    ax.plot(q_target, np.sort(x), ".", ms=2)
    ax.plot([q_target[0], q_target[-1]], [q_target[0], q_target[-1]], "k--", lw=1)
    ax.set_xlabel("target quantile")
    ax.set_ylabel("generated quantile")
    ax.set_title("QQ plot")
    _save(fig, folder / "qq.png")


def _panels(K: int, width: float, height: float):
    """A near-square grid of at least K small panels. -> (fig, axes (rows, cols))"""
    cols = int(np.ceil(np.sqrt(K)))
    rows = int(np.ceil(K / cols))
    return _subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)


def plot_replicates(run, samples: dict, folder: Path, max_panels: int = 16) -> None:
    """Small multiples: the final histogram of up to max_panels replicates, with the target density.
    samples: {k: (generated (n, dim), real (n, dim))} for k < max_panels."""
    K = min(run.replicates, max_panels)
    fig, axes = _panels(K, 2.2, 1.8)
    reps = run.summary.get("replicates", [])
    real = samples[0][1][:, 0]
    for k, ax in enumerate(axes.flat):
        if k >= K:
            ax.axis("off")
            continue
        x = samples[k][0][:, 0]
        # one range for the target and the sample: a collapsed G shows as a spike, not as a zoomed-in histogram
        lo, hi = np.percentile(np.concatenate([real, x]), [0.5, 99.5])
        ax.hist(x, bins=50, range=(lo, hi), density=True, histtype="stepfilled", alpha=0.6)
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


def _centres(ax, target, dims=(0, 1)) -> None:
    if target.components is not None and target.dim >= 2:
        means = target.to_data(target.components[1])
        ax.plot(means[:, dims[0]], means[:, dims[1]], "r+", ms=7, mew=1, alpha=0.8, label="mode centres")


def _equal_axes(ax, target, adjustable: str) -> None:
    """One unit the same length on both axes, for the built-in targets (ring, grid: the geometry is the point); a
    data file's columns have units of their own (an income against a score would draw a flat line)."""
    if not target.columns:  # the same test as the fit report's (cli.format_fit): columns name a data file's
        ax.set_aspect("equal", adjustable=adjustable)


def _names(target) -> list[str]:
    return list(target.columns) or [f"x{d}" for d in range(target.dim)]


def plot_scatter(fake: np.ndarray, real: np.ndarray, target, folder: Path, title: str, n: int = 2500) -> None:
    """Real and generated samples side by side (dims 0 and 1), the mixture's mode centres marked."""
    names = _names(target)
    both = np.concatenate([fake[:n, :2], real[:n, :2]])
    lo, hi = np.percentile(both, [0.2, 99.8], axis=0)
    pad = 0.08 * (hi - lo)
    fig, axes = _subplots(1, 2, figsize=(10, 5), sharex=True, sharey=True)
    for ax, x, name in zip(axes, (real, fake), ("real", "generated")):
        ax.scatter(x[:n, 0], x[:n, 1], s=2, alpha=0.4, color="k" if name == "real" else "C0", lw=0)
        _centres(ax, target)
        ax.set_title(f"{name} ({min(n, len(x))} samples)", fontsize=9)
        ax.set_xlabel(names[0])
        ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
        ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
        ax.locator_params(axis="x", nbins=5)
        _equal_axes(ax, target, "box")
    axes[0].set_ylabel(names[1])
    if target.components is not None:
        axes[1].legend(fontsize=7, loc="upper right")
    fig.suptitle(title, fontsize=9)
    _save(fig, folder / "scatter.png")


def plot_marginals(fake: np.ndarray, real: np.ndarray, target, folder: Path, max_dims: int = 8) -> None:
    """Each dimension's histogram of generated samples against the real sample's (the exact density in 1-D)."""
    dims = min(target.dim, max_dims)
    names = _names(target)
    cols = min(dims, 4)
    rows = int(np.ceil(dims / cols))
    fig, axes = _subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for d, ax in enumerate(axes.flat):
        if d >= dims:
            ax.axis("off")
            continue
        lo, hi = np.percentile(np.concatenate([fake[:, d], real[:, d]]), [0.1, 99.9])
        ax.hist(fake[:, d], bins=60, range=(lo, hi), density=True, histtype="stepfilled", alpha=0.6, label="generated")
        if target.components is not None:  # a Gaussian mixture's marginal is a 1-D mixture: exact density
            w, mu, sd = target.components
            grid = np.linspace(lo, hi, 600)
            ax.plot(grid, sum(wi * stats.norm.pdf(grid, m[d], s) for wi, m, s in zip(w, mu, sd)), "k", lw=1,
                    label="exact density")
        else:
            ax.hist(real[:, d], bins=60, range=(lo, hi), density=True, histtype="step", color="k", label="real")
        ax.set_title(names[d], fontsize=8)
        ax.tick_params(labelsize=6)
        ax.locator_params(axis="x", nbins=5)  # a data file's units: 125000-wide numbers must not run together
    axes.flat[0].legend(fontsize=6)
    _save(fig, folder / "marginals.png")


def plot_pairs(fake: np.ndarray, real: np.ndarray, target, folder: Path, max_dims: int = 4, n: int = 2000) -> None:
    """Pair plot of the first few dimensions: real (black) and generated (blue) below the diagonal and above."""
    dims = min(target.dim, max_dims)
    names = _names(target)
    fig, axes = _subplots(dims, dims, figsize=(2.4 * dims, 2.4 * dims), squeeze=False)
    lims = np.percentile(np.concatenate([fake[:, :dims], real[:, :dims]]), [0.5, 99.5], axis=0).T  # (dims, 2)
    for i in range(dims):
        for j in range(dims):
            ax = axes[i, j]
            ax.tick_params(labelsize=5)
            if i == j:
                ax.hist(fake[:, i], bins=40, range=lims[i], density=True, histtype="stepfilled", alpha=0.6)
                ax.hist(real[:, i], bins=40, range=lims[i], density=True, histtype="step", color="k")
            else:
                x = real if i > j else fake  # real below the diagonal, generated above
                ax.scatter(x[:n, j], x[:n, i], s=1, alpha=0.3, lw=0, color="k" if i > j else "C0")
                _centres(ax, target, (j, i))
                ax.set_ylim(lims[i])
            ax.set_xlim(lims[j])
            if i == dims - 1:
                ax.set_xlabel(names[j], fontsize=7)
            if j == 0:
                ax.set_ylabel(names[i], fontsize=7)
    fig.suptitle("pair plot: real below the diagonal (black), generated above (blue)", fontsize=9)
    _save(fig, folder / "pairs.png")


def plot_replicates_2d(run, samples: dict, n: int, folder: Path, max_panels: int = 16) -> None:
    """Small multiples: up to max_panels replicates' first n samples (dims 0 and 1), the mode centres marked.
    samples: {k: (generated (>= n, dim), real)} for k < max_panels."""
    K = min(run.replicates, max_panels)
    fig, axes = _panels(K, 2.4, 2.4)
    modes = run.summary.get("modes", {}).get("replicates", [])
    for k, ax in enumerate(axes.flat):
        if k >= K:
            ax.axis("off")
            continue
        x = samples[k][0][:n]
        ax.scatter(x[:, 0], x[:, 1], s=1, alpha=0.3, lw=0)
        _centres(ax, run.target)
        label = f"rep {k}"
        if k < len(modes):
            label += f": {modes[k]['modes']} modes, {modes[k]['high_quality']:.0%} hq"
        ax.set_title(label, fontsize=7)
        ax.tick_params(labelsize=5)
        _equal_axes(ax, run.target, "datalim")
    _save(fig, folder / "replicates.png")


def plot_run(run, draw) -> None:
    """Every plot of a run into its folder (one run at a time: Matplotlib does not promise thread safety, and
    `train --compare` plots from two threads). draw(replicates) -> {k: (generated, real)}: the samples of the
    run's final evaluation, in the data's units (engine.Engine.samples)."""
    with _ONE_AT_A_TIME:
        _plot_run(run, draw)


def _plot_run(run, draw) -> None:
    rows = run.metrics
    moments = {k: np.asarray(v) for k, v in run.summary["target_moments"].items()}
    plot_training(rows, moments, run.folder, run.target.columns)
    k = run.summary["table"]["best"] if run.replicates > 1 else 0
    panels = range(min(run.replicates, 16)) if run.replicates > 1 else ()
    samples = draw(sorted({k, *panels}))
    fake, real = samples[k]
    rep = run.summary["replicates"][k]
    title = f"replicate {k}: {rep['verdict'].split(' (')[0]}"
    if run.target.dim == 1:
        plot_fit(fake, real, run.target, run.folder, title)
        if run.replicates > 1:
            plot_replicates(run, samples, run.folder)
        return
    plot_scatter(fake, real, run.target, run.folder, title)
    plot_marginals(fake, real, run.target, run.folder)
    if run.target.dim > 2:
        plot_pairs(fake, real, run.target, run.folder)
    if run.replicates > 1:
        plot_replicates_2d(run, samples, 2500, run.folder)


def plot_sweep(rows: list[dict], axes: list[str], path: Path) -> None:
    """A sweep's fit against each axis: each trial's median KS and W1 ratios over its seeds, the median over trials
    at each value of the axis (the larger ratio of each trial), and the noise floor (ratio 1). Numeric axes spanning
    4x or more are drawn on a log scale, other values as categories; trials stopped early are drawn hollow."""
    fig, axs = _subplots(1, len(axes), figsize=(4.2 * len(axes), 3.6), squeeze=False)
    stopped = np.array([bool(r.get("stopped_at")) for r in rows])
    worst = np.array([max(r["ks_ratio_median"], r["w1_ratio_median"]) for r in rows])
    for ax, field in zip(axs[0], axes):
        values = [r[field] for r in rows]
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            x = np.asarray(values, float)
            if x.min() > 0 and x.max() >= 4 * x.min():
                ax.set_xscale("log")
            if len(set(values)) <= 8:  # a grid axis: its own values as the ticks
                ax.set_xticks(sorted(set(x)), [f"{v:g}" for v in sorted(set(x))], fontsize=7)
                ax.minorticks_off()
        else:
            names = sorted({str(v) for v in values})
            x = np.array([names.index(str(v)) for v in values], float)
            ax.set_xticks(range(len(names)), names, rotation=30, fontsize=7)
        for stat, marker, color in (("ks", "o", "C0"), ("w1", "s", "C1")):
            y = np.array([r[f"{stat}_ratio_median"] for r in rows])
            for hollow in (False, True):
                if (stopped == hollow).any():
                    ax.scatter(x[stopped == hollow], y[stopped == hollow], marker=marker, s=22, alpha=0.8,
                               facecolors="none" if hollow else color, edgecolors=color,
                               label=f"{stat.upper()} ratio median" + (" (stopped early)" if hollow else ""))
        levels = np.unique(x)
        if len(levels) < len(x):  # several trials per value: the median of their larger ratio
            ax.plot(levels, [np.median(worst[x == v]) for v in levels], "k-", lw=1, label="median over trials")
        ax.axhline(1.0, color="k", ls="--", lw=1, label="noise floor")
        ax.set_yscale("log")
        ax.set_xlabel(field)
        ax.set_ylabel("fit ratio (median over seeds)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)
