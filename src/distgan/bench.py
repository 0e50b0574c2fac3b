"""`distgan bench fit` and `distgan bench suite`: train over many seeds at once and report the fit's distribution.

`bench fit`: presets on one target.

Each preset trains `seeds` replicates (seeds 0 .. seeds-1, vmapped in one computation) on the same target and
budget; each replicate is evaluated on eval.n_samples generated samples against a fresh real sample. The report
gives, per preset, the median / p90 / max over seeds of the KS and W1 fit ratios (statistic / noise-floor median),
the median and p90 of the absolute moment errors, the counts of within-floor, collapsed and diverged seeds,
and the wall time (compile included).

One evaluation per seed leaves the 90th percentile over 64 seeds uncertain by about +-0.1 (it depends on which
real and generated samples were drawn), so each seed's final generator is also evaluated `evals` more times, on
fresh draws, and the pooled ratios are printed beside what a perfect generator scores: pairs of independent real
samples, as many as the pooled evaluations, against the same floor.

`bench suite`: a fixed suite of targets with several modes, hard edges, heavy tails and 2-D mixtures (SUITE), each
from the preset `train` picks for it (presets.choose) or a named one, each target's seeds trained at once, every
final generator evaluated `evals` more times and pooled beside a perfect generator as above, and each target checked
against the suite's bar (`suite_verdict`).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from . import engine, metrics
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
        target = np.asarray(tm[m], float)
        if not np.isfinite(target).all():  # no such moment to compare with (Student-t, df <= 4: no kurtosis)
            out[m + "_err"] = {"median": None, "p90": None}
            continue
        err = np.array([np.max(np.abs(np.asarray(r[m], float) - target)) for r in reps])
        out[m + "_err"] = {"median": float(np.median(err)), "p90": float(np.percentile(err, 90))}
    t = summary["table"]
    out.update({k: t[k] for k in ("replicates", "within_floor", "collapsed", "diverged", "non_finite")})
    return out


FLOOR_DRAWS = 1000  # bench's W1 floor: a median of 1,000 draws has a standard error of about 1 %

def pooled(run, evals: int) -> dict:
    """The worst-dimension KS and W1 ratios of every seed's final G over `evals` fresh evaluation draws, pooled,
    and the same for a perfect generator. -> {"ks_ratio", "w1_ratio", "perfect_ks_ratio", "perfect_w1_ratio"}:
    median and p90 each"""
    cfg, n = run.cfg, run.cfg.eval.n_samples
    floor = metrics.noise_floor(run.target, n, cfg.eval.floor_draws)
    evaluate = engine.evaluator(run.gan, n)
    # evaluation keys past the last step: training evaluated at steps <= cfg.train.steps
    draws = [metrics.ratios(evaluate(run.states, cfg.train.steps + 1 + e), floor) for e in range(evals)]
    perfect = metrics.ratios(metrics.kept_pairs(run.target, n, max(evals * run.replicates, 1000), seed=1), floor)
    out = {}
    for s in ("ks", "w1"):
        for name, x in ((f"{s}_ratio", np.concatenate([d[s].max(-1) for d in draws])),
                        (f"perfect_{s}_ratio", perfect[s].max(-1))):
            out[name] = {"median": float(np.median(x)), "p90": float(np.percentile(x, 90))}
    return out


def bench_one(cfg: Config, folder: Path, evals: int) -> dict:
    """Train one config (its replicates are the seeds) into `folder`; -> fit_table, pooled figures (evals > 0), the
    modes of a 2-D mixture, where auto steps stopped, and the wall time (training and pooled evaluations)."""
    t0 = time.perf_counter()
    run = train(cfg, folder, echo=None, progress=False, plots=False)
    s = run.summary
    row = fit_table(s)
    row.update(spec=cfg.target.spec, steps=s["auto"]["steps"] if "auto" in s else cfg.train.steps,
               batch_size=cfg.train.batch_size, compile_s=s["timing"]["compile_s"])
    if "auto" in s:
        stopped = np.array([r["stopped"] for r in s["auto"]["replicates"]])
        row["auto"] = {"stopped": {"median": float(np.median(stopped)), "min": int(stopped.min()),
                                   "max": int(stopped.max())}, "steps": s["auto"]["steps"]}
    if "modes" in s and run.target.dim > 1:
        m = s["modes"]
        row["modes"] = {"all_modes": m["all_modes"], "n_modes": m["n_modes"], "high_quality": m["high_quality"]["mean"],
                        "worst_high_quality": min(r["high_quality"] for r in m["replicates"]),
                        "reverse_kl": m["reverse_kl"]["mean"], "perfect": m["perfect"]}
    row["wall_s"] = time.perf_counter() - t0  # training, compile included
    if evals:
        row["pooled"], row["evals"] = pooled(run, evals), evals
    row["pooled_s"] = time.perf_counter() - t0 - row["wall_s"]
    return row


def bench_all(configs: dict[str, Config], out: str | Path | None, evals: int, echo, lines) -> dict[str, dict]:
    """Train each named config (its replicates are the seeds) into out/NAME (default: a temporary folder), echoing
    lines(name, row) as each finishes. -> {name: bench_one's row}"""
    rows = {}
    with tempfile.TemporaryDirectory(prefix="distgan-bench-") as tmp:
        root = Path(out) if out else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        for name, cfg in configs.items():
            rows[name] = bench_one(cfg, root / name, evals)
            for line in lines(name, rows[name]) if echo is not None else []:
                echo(line)
    return rows


def bench_fit(configs: dict[str, Config], out: str | Path | None = None, echo=print, evals: int = 32) -> dict[str, dict]:
    """Train each named preset's config and print its fit table. -> {name: bench_one's row}"""
    return bench_all(configs, out, evals, echo, format_fit_table)


def format_fit_table(name: str, r: dict) -> list[str]:
    q = lambda d: f"{d['median']:.2f} / {d['p90']:.2f} / {d['max']:.2f}"  # noqa: E731
    e = lambda d: "undefined" if d["median"] is None else f"{d['median']:.3f} / {d['p90']:.3f}"  # noqa: E731
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


# --- the suite ------------------------------------------------------------------------------------------------

SUITE = {  # short name: target spec (fixed: the suite's figures are comparable only on the same specs)
    "gauss": "gaussian:mean=4,std=1.25",
    "mix2": "mixture:weights=0.35,0.65;means=-2,2;stds=0.5,1",
    "mix3": "mixture:weights=0.2,0.5,0.3;means=-3,0,3;stds=0.3,0.6,0.4",
    "uniform": "uniform:low=0,high=1",
    "beta": "beta:a=0.5,b=0.5",
    "expon": "exponential:rate=1",
    "lognorm": "lognormal:mu=0,sigma=1",
    "t3": "student_t:df=3",
    "ring": "ring:modes=8,radius=1,std=0.01",
    "grid": "grid:side=5,spacing=2,std=0.05",
}
# the suite's bar, against a perfect generator scored the same way: pooled medians within MEDIAN_GAP, p90s within
# P90_GAP, no failed seed; on 2-D mixtures every mode in every seed and high quality at least HIGH_QUALITY
MEDIAN_GAP, P90_GAP, HIGH_QUALITY = 0.15, 0.3, 0.97


def bench_suite(configs: dict[str, Config], out: str | Path | None = None, echo=print, evals: int = 8
                ) -> dict[str, dict]:
    """Train each target's config (suite name -> Config) and print its table row. -> {name: bench_one's row}"""
    return bench_all(configs, out, evals, echo, lambda name, row: format_suite({name: row})[-1:])


def suite_verdict(row: dict) -> list[str]:
    """The clauses of the bar a target's row misses, in words (empty: it meets the bar)."""
    p, miss = row["pooled"], []
    for s in ("ks", "w1"):
        for q, gap in (("median", MEDIAN_GAP), ("p90", P90_GAP)):
            d = p[f"{s}_ratio"][q] - p[f"perfect_{s}_ratio"][q]
            if d > gap:
                miss.append(f"{s.upper()} {q} +{d:.2f}")
    if row["collapsed"] or row["diverged"] or row["non_finite"]:
        miss.append(f"collapsed/diverged/non-finite seeds {row['collapsed']}/{row['diverged']}/{row['non_finite']}")
    if "modes" in row:
        m = row["modes"]
        if m["all_modes"] < row["replicates"]:
            miss.append(f"modes lost in {row['replicates'] - m['all_modes']} seeds")
        if m["high_quality"] < HIGH_QUALITY:
            miss.append(f"high quality {100 * m['high_quality']:.1f} %")
    return miss


def format_suite(rows: dict[str, dict]) -> list[str]:
    """A Markdown table: per target the pooled ratios beside a perfect generator's, failures, modes, steps, wall
    time and the bar."""
    q = lambda d: f"{d['median']:.2f} / {d['p90']:.2f}"  # noqa: E731
    lines = ["| target | KS median / p90 | perfect KS | W1 median / p90 | perfect W1 | collapsed / diverged "
             "| modes: all, high quality (worst seed) | steps | wall s | bar |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        p, miss = r["pooled"], suite_verdict(r)
        modes = ""
        if "modes" in r:
            m = r["modes"]
            modes = (f"{m['all_modes']}/{r['replicates']}, {100 * m['high_quality']:.1f} % "
                     f"({100 * m['worst_high_quality']:.1f})")
        steps = str(r["steps"])
        if "auto" in r:
            a = r["auto"]["stopped"]
            steps = f"auto: stopped {a['median']:.0f} ({a['min']}-{a['max']}), ended {r['steps']}"
        lines.append(f"| {name} | {q(p['ks_ratio'])} | {q(p['perfect_ks_ratio'])} | {q(p['w1_ratio'])} | "
                     f"{q(p['perfect_w1_ratio'])} | {r['collapsed']} / {r['diverged']} | {modes} | {steps} | "
                     f"{r['wall_s'] + r['pooled_s']:.0f} | {'met' if not miss else 'missed: ' + ', '.join(miss)} |")
    return lines
