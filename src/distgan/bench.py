"""`distgan bench fit`: train presets over many seeds at once and report the distribution of their fit over seeds.

Each preset trains `seeds` replicates (seeds 0 .. seeds-1, vmapped in one computation) on the same target and
budget; each replicate is evaluated on eval.n_samples generated samples against a fresh real sample. The report
gives, per preset, the median / p90 / max over seeds of the KS and W1 fit ratios (statistic / noise-floor median),
the median and p90 of the absolute moment errors, the counts of within-floor, collapsed and diverged seeds,
and the wall time (compile included).

One evaluation per seed leaves the 90th percentile over 64 seeds uncertain by about +-0.1 (it depends on which
real and generated samples were drawn), so each seed's final generator is also evaluated `evals` more times, on
fresh draws, and the pooled ratios are printed beside what a perfect generator scores: pairs of independent real
samples, as many as the pooled evaluations, against the same floor.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from . import metrics
from .config import Config
from .train import train

MOMENTS = ("mean", "std", "skew", "kurt")


def fit_table(summary: dict) -> dict:
    """Distribution over replicates of the fit ratios and moment errors (worst dimension), with failure counts."""
    reps, tm = summary["replicates"], summary["target_moments"]
    out = {}
    for s in ("ks_ratio", "w1_ratio"):
        x = np.array([r[s] for r in reps], float)
        out[s] = {"median": float(np.median(x)), "p90": float(np.percentile(x, 90)), "max": float(np.max(x))}
    for m in MOMENTS:
        err = np.array([np.max(np.abs(np.asarray(r[m], float) - np.asarray(tm[m], float))) for r in reps])
        out[m + "_err"] = {"median": float(np.median(err)), "p90": float(np.percentile(err, 90))}
    t = summary["table"]
    out.update({k: t[k] for k in ("replicates", "within_floor", "collapsed", "diverged", "non_finite")})
    return out


def pooled(run, evals: int) -> dict:
    """The worst-dimension KS and W1 ratios of every seed's final G over `evals` fresh evaluation draws, pooled,
    and the same for a perfect generator. -> {"ks_ratio", "w1_ratio", "perfect_ks_ratio", "perfect_w1_ratio"}:
    median and p90 each"""
    cfg, n = run.cfg, run.cfg.eval.n_samples
    floor = metrics.noise_floor(run.target, n, cfg.eval.floor_draws)
    evaluate = metrics.Evaluator(run.gan.sample, run.target, n)
    # evaluation keys past the last step: training evaluated at steps <= cfg.train.steps
    draws = [metrics.ratios(evaluate(run.states, cfg.train.steps + 1 + e), floor) for e in range(evals)]
    perfect = metrics.ratios(metrics.real_pairs(run.target, n, max(evals * run.replicates, 1000), seed=1), floor)
    out = {}
    for s in ("ks", "w1"):
        for name, x in ((f"{s}_ratio", np.concatenate([d[s].max(-1) for d in draws])),
                        (f"perfect_{s}_ratio", perfect[s].max(-1))):
            out[name] = {"median": float(np.median(x)), "p90": float(np.percentile(x, 90))}
    return out


def bench_fit(configs: dict[str, Config], out: str | Path | None = None, echo=print, evals: int = 32) -> dict[str, dict]:
    """Train each named config (its replicates are the seeds) and return {name: fit_table + wall_s (+ pooled)}."""
    results = {}
    with tempfile.TemporaryDirectory(prefix="distgan-bench-") as tmp:
        root = Path(out) if out else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        for name, cfg in configs.items():
            t0 = time.perf_counter()
            run = train(cfg, root / name, echo=lambda *a: None, progress=False, plots=False)
            wall = time.perf_counter() - t0
            row = fit_table(run.summary)
            row.update(wall_s=wall, compile_s=run.summary["timing"]["compile_s"], steps=cfg.train.steps,
                       batch_size=cfg.train.batch_size)
            if evals:
                row["pooled"] = pooled(run, evals)
                row["evals"] = evals
            results[name] = row
            if echo is not None:
                for line in format_fit_table(name, row):
                    echo(line)
    return results


def format_fit_table(name: str, r: dict) -> list[str]:
    q = lambda d: f"{d['median']:.2f} / {d['p90']:.2f} / {d['max']:.2f}"  # noqa: E731
    e = lambda d: f"{d['median']:.3f} / {d['p90']:.3f}"  # noqa: E731
    return [f"{name}: {r['replicates']} seeds, {r['steps']} steps x batch {r['batch_size']}, "
            f"{r['wall_s']:.1f} s wall ({r['compile_s']:.1f} s compile)",
            f"  KS ratio  median / p90 / max  {q(r['ks_ratio'])}",
            f"  W1 ratio  median / p90 / max  {q(r['w1_ratio'])}",
            "  |moment error| median / p90   " + ",  ".join(f"{m} {e(r[m + '_err'])}" for m in MOMENTS),
            f"  within floor {r['within_floor']}/{r['replicates']}, collapsed {r['collapsed']}, "
            f"diverged {r['diverged']}, non-finite {r['non_finite']}"] + (_format_pooled(r) if "pooled" in r else [])


def _format_pooled(r: dict) -> list[str]:
    p = r["pooled"]
    q = lambda d: f"{d['median']:.2f} / {d['p90']:.2f}"  # noqa: E731
    return [f"  pooled over {r['evals']} more evaluations per seed (median / p90): KS {q(p['ks_ratio'])}, "
            f"W1 {q(p['w1_ratio'])}; a perfect generator: KS {q(p['perfect_ks_ratio'])}, W1 {q(p['perfect_w1_ratio'])}"]


def verdict(r: dict) -> str:
    """Whether a preset sits at the floor over seeds: median KS <= 1.1, median W1 <= 1.2, p90 of each <= 1.5, no
    collapsed or diverged seed (one evaluation per seed; docs/metrics.md says how noisy p90s over 64 seeds are)."""
    ok = (r["ks_ratio"]["median"] <= 1.1 and r["w1_ratio"]["median"] <= 1.2 and r["ks_ratio"]["p90"] <= 1.5
          and r["w1_ratio"]["p90"] <= 1.5 and r["collapsed"] == 0 and r["diverged"] == 0 and r["non_finite"] == 0)
    return "at the floor" if ok else "not at the floor"
