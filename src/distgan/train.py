"""The training loop: one plain function, top to bottom. Steps run in jitted chunks of log_every steps."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import jax
import numpy as np
from tqdm import tqdm

from . import memory, metrics
from .config import Config, dumps, validate
from .gan import GAN, init_states, run_steps
from .runs import Run, append_jsonl, atomic_write, check_out_dir, default_name, save_checkpoint, write_json
from .targets import make_target


def seed_line(step: int, logs: dict, k: int = 0) -> str:
    """The seed's progress line for replicate k: D's error on real/fake, G's error, (mean, std) of real and fake."""
    def ms(mean, std):
        return "[" + ", ".join(f"{m:.4f}, {s:.4f}" for m, s in zip(mean[k], std[k])) + "]"
    return (f"{step}: D: {logs['d_real'][k]:.4f}/{logs['d_fake'][k]:.4f} G: {logs['g'][k]:.4f} "
            f"(Real: {ms(logs['real_mean'], logs['real_std'])}, Fake: {ms(logs['fake_mean'], logs['fake_std'])})")


def summarize(cfg: Config, result: dict, floor: dict, logs: dict, target_moments: dict) -> dict:
    """Per-replicate fit, failures and verdicts, and the table over replicates."""
    K = cfg.train.replicates
    r = metrics.ratios(result, floor)
    within = metrics.within_floor(result, floor)
    problems = metrics.diagnose(result, logs, target_moments)
    pvalue = metrics.ks_pvalue(result["ks"], cfg.eval.n_samples, cfg.eval.n_samples)
    ks_ratio, w1_ratio = r["ks"].max(-1), r["w1"].max(-1)  # worst dimension
    reps = [{"replicate": k, "seed": cfg.train.seed + k,
             **{s: result[s][k] for s in ("mean", "std", "skew", "kurt", "ks", "w1")}, "ks_pvalue": pvalue[k],
             "ks_ratio": float(ks_ratio[k]), "w1_ratio": float(w1_ratio[k]), "within_floor": bool(within[k]),
             "problems": problems[k], "verdict": metrics.verdict(result, floor, problems[k], k)} for k in range(K)]
    finite = np.isfinite(ks_ratio + w1_ratio)
    score = np.where(finite, np.maximum(ks_ratio, w1_ratio), np.inf)
    count = lambda name: sum(name in p for p in problems)  # noqa: E731
    table = {"replicates": K, "within_floor": int(within.sum()), "collapsed": count("collapsed"),
             "diverged": count("diverged"), "saturated": count("saturated"), "non_finite": count("non-finite"),
             "ks_ratio": {"median": float(np.median(ks_ratio)), "p90": float(np.percentile(ks_ratio, 90))},
             "w1_ratio": {"median": float(np.median(w1_ratio)), "p90": float(np.percentile(w1_ratio, 90))},
             "best": int(np.argmin(score))}
    return {"target": cfg.target.spec, "preset": cfg.preset, "n_samples": cfg.eval.n_samples,
            "target_moments": target_moments, "floor": floor, "table": table, "replicates": reps}


def train(cfg: Config, out: str | Path | None = None, *, echo=print, progress: bool | None = None,
          plots: bool = True) -> Run:
    """Train cfg.train.replicates GANs of one config and write a run folder; returns the Run.

    echo prints the seed-style lines (pass a no-op to silence); progress shows a bar (None: when stderr is a tty).
    """
    cfg = validate(cfg)
    t = cfg.train
    target = make_target(cfg.target)  # bad targets and data files fail here, before anything is written
    out = Path(out) if out else Path("runs") / default_name(cfg, target.name)
    if not out.parent.exists() and out.parent == Path("runs"):
        out.parent.mkdir()
    check_out_dir(out)
    gan = GAN(cfg, target)
    eval_every = math.ceil(t.eval_every / t.log_every) * t.log_every
    # compile on the states' shapes, check that K fits the device, and only then allocate the states
    chunk = jax.jit(run_steps, static_argnums=(0, 2), donate_argnums=1)
    t0 = time.perf_counter()
    compiled = chunk.lower(gan, jax.eval_shape(init_states, gan, t.seed, t.replicates), min(t.log_every, t.steps)).compile()
    compile_s = time.perf_counter() - t0
    memory.check(compiled, t.replicates, metrics.block_size(t.replicates, cfg.eval.n_samples, gan.dim),
                 cfg.eval.n_samples, gan.dim)
    states = init_states(gan, t.seed, t.replicates)  # every leaf (K, ...)
    floor = metrics.noise_floor(target, cfg.eval.n_samples, cfg.eval.floor_draws)
    target_moments = target.moments()
    evaluate = metrics.evaluator(gan.sample, target, cfg.eval.n_samples)

    out.mkdir(exist_ok=True)
    atomic_write(out / "config.toml", dumps(cfg))
    (out / "metrics.jsonl").unlink(missing_ok=True)
    bar = tqdm(total=t.steps, unit="step", disable=(not sys.stderr.isatty()) if progress is None else not progress,
               dynamic_ncols=True, leave=False)
    say = tqdm.write if not bar.disable else (echo or (lambda line: None))
    if t.replicates > 1:
        say(f"training {t.replicates} replicates (seeds {t.seed}..{t.seed + t.replicates - 1}); lines show replicate 0")
    rows, step, train_s, within = [], 0, 0.0, None
    while step < t.steps:
        n = min(t.log_every, t.steps - step)
        t1 = time.perf_counter()
        states, logs = compiled(states) if n == t.log_every else chunk(gan, states, n)
        logs = jax.device_get(logs)  # waits for the chunk
        train_s += time.perf_counter() - t1
        step += n
        row = {"step": step, **{k: np.asarray(v).tolist() for k, v in logs.items()}}
        if echo is not None:
            say(seed_line(step, logs))
        if step % eval_every == 0 or step == t.steps:
            result = evaluate(states, step)
            within = metrics.within_floor(result, floor)
            row["fit"] = {k: v.tolist() for k, v in result.items()}
            row["within_floor"] = within.tolist()
            append_jsonl(out / "metrics.jsonl", rows + [row])
            rows = []
        else:
            rows.append(row)
        if t.checkpoint_every and step % t.checkpoint_every == 0 and step < t.steps:
            save_checkpoint(out, states, {"step": step, "config": dumps(cfg)})
        bar.update(n)
        postfix = {"steps/s": f"{step / train_s:.0f}", "rep-steps/s": f"{step * t.replicates / train_s:.3g}"}
        if within is not None:
            postfix["in floor"] = f"{within.mean():.0%}"
        bar.set_postfix(postfix, refresh=False)
        if bar.disable and "fit" in row and t.replicates > 1:  # no bar: the same figures in words
            say(f"step {step}: {postfix['steps/s']} steps/s, {postfix['rep-steps/s']} replicate-steps/s, "
                f"{postfix['in floor']} of replicates within the noise floor")
    bar.close()

    save_checkpoint(out, states, {"step": step, "config": dumps(cfg)})
    summary = summarize(cfg, result, floor, logs, target_moments)
    summary["timing"] = {"compile_s": compile_s, "train_s": train_s, "us_per_step": 1e6 * train_s / t.steps,
                         "replicate_steps_per_s": t.steps * t.replicates / train_s}
    write_json(out / "summary.json", summary)
    run = Run(out, cfg, target, gan, states, summary)
    if plots:
        from . import plots as plots_mod  # matplotlib is imported only when plotting

        plots_mod.plot_run(run)
    return run
