"""The training loop: one plain function, top to bottom. Steps run in jitted chunks of log_every steps."""

from __future__ import annotations

import json
import math
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jax
import numpy as np
from tqdm import tqdm

from . import devices, memory, metrics
from .config import Config, ConfigError, dumps, validate
from .gan import GAN, init_states, run_steps
from .runs import (
    BEST,
    CHECKPOINT,
    Run,
    append_jsonl,
    atomic_write,
    check_out_dir,
    default_name,
    free_run_dir,
    load_checkpoint,
    read_jsonl,
    save_checkpoint,
    write_json,
)
from .targets import make_target

# replicates in the chunk that sizes one replicate when K surely will not fit (memory.probe_needed): compiling for
# K itself can run out of memory on a GPU
PROBE_REPLICATES = 256
NETS = {1: "D", 2: "G"}  # the state's non-finite code -> the net that left the finite numbers
WORDS = {"collapsed": "G collapsed (fake std near 0)", "diverged": "G diverged (fake mean ran away)",
         "saturated": "D saturated (D's output on fakes pinned at 0, G's gradient vanished)",
         "non-finite": "non-finite values (NaN/inf); replicate stopped at its last finite state"}


class Interrupted(Exception):
    """Training stopped by Ctrl-C or SIGTERM after writing a checkpoint; `code` is the exit status, `stopped` says
    where (the message adds how to resume)."""

    def __init__(self, stopped: str, out: Path, code: int):
        super().__init__(f"{stopped}, checkpoint written; continue with `distgan train --resume {out}`")
        self.stopped, self.code = stopped, code


def seed_line(step: int, logs: dict, k: int = 0) -> str:
    """The seed's progress line for replicate k: D's error on real/fake, G's error, (mean, std) of real and fake."""
    def ms(mean, std):
        return "[" + ", ".join(f"{m:.4f}, {s:.4f}" for m, s in zip(mean[k], std[k])) + "]"
    return (f"{step}: D: {logs['d_real'][k]:.4f}/{logs['d_fake'][k]:.4f} G: {logs['g'][k]:.4f} "
            f"(Real: {ms(logs['real_mean'], logs['real_std'])}, Fake: {ms(logs['fake_mean'], logs['fake_std'])})")


def summarize(cfg: Config, result: dict, floor: dict, logs: dict, target_moments: dict,
              nonfinite: np.ndarray | None = None, first_step: list[dict] | None = None,
              best: dict | None = None) -> dict:
    """Per-replicate fit, failures and verdicts, and the table over replicates.

    nonfinite (K, 2): each replicate's guard code and step; first_step: per replicate, the step where each problem
    seen at the last progress line began (checked at every progress line on the training batch); best: each
    replicate's best step and score (max of KS and W1 fit ratios).
    """
    K = cfg.train.replicates
    r = metrics.ratios(result, floor)
    within = metrics.within_floor(result, floor)
    codes = np.zeros((K, 2), int) if nonfinite is None else np.asarray(nonfinite)
    problems = metrics.diagnose(result, logs, target_moments, codes[:, 0])
    first_step = first_step or [{} for _ in range(K)]
    pvalue = metrics.ks_pvalue(result["ks"], cfg.eval.n_samples, cfg.eval.n_samples)
    ks_ratio, w1_ratio = r["ks"].max(-1), r["w1"].max(-1)  # worst dimension
    reps = []
    for k in range(K):
        nf = {"net": NETS[int(codes[k, 0])], "step": int(codes[k, 1])} if codes[k, 0] else None
        details = {p: f"(since step {first_step[k][p]})" for p in problems[k] if p in first_step[k]}
        if nf:
            details["non-finite"] = f"in {nf['net']} at step {nf['step']} (the fit is that of its last finite state)"
        rep = {"replicate": k, "seed": cfg.train.seed + k,
               **{s: result[s][k] for s in ("mean", "std", "skew", "kurt", "ks", "w1")}, "ks_pvalue": pvalue[k],
               "ks_ratio": float(ks_ratio[k]), "w1_ratio": float(w1_ratio[k]), "within_floor": bool(within[k]),
               "problems": problems[k], "first_step": dict(first_step[k]), "nonfinite": nf,
               "verdict": metrics.verdict(result, floor, problems[k], k, details)}
        if best is not None:
            rep["best"] = {"step": int(best["step"][k]), "score": float(best["score"][k])}
        reps.append(rep)
    for s in metrics.JOINT:  # dim > 1: the joint distance and the correlation error, beside their floors
        if s in result:
            for k in range(K):
                reps[k][s], reps[k][f"{s}_ratio"] = float(result[s][k]), float(r[s][k])
    finite = np.isfinite(ks_ratio + w1_ratio)
    score = np.where(finite, np.maximum(ks_ratio, w1_ratio), np.inf)
    count = lambda name: sum(name in p for p in problems)  # noqa: E731
    table = {"replicates": K, "within_floor": int(within.sum()), "collapsed": count("collapsed"),
             "diverged": count("diverged"), "saturated": count("saturated"), "non_finite": count("non-finite"),
             "ks_ratio": {"median": float(np.median(ks_ratio)), "p90": float(np.percentile(ks_ratio, 90))},
             "w1_ratio": {"median": float(np.median(w1_ratio)), "p90": float(np.percentile(w1_ratio, 90))},
             "best": int(np.argmin(score))}
    for s in metrics.JOINT:
        if s in result:
            table[f"{s}_ratio"] = {"median": float(np.median(r[s])), "p90": float(np.percentile(r[s], 90))}
    return {"target": cfg.target.spec, "preset": cfg.preset, "n_samples": cfg.eval.n_samples,
            "target_moments": target_moments, "floor": floor, "table": table, "replicates": reps}


def fit_score(result: dict, floor: dict) -> np.ndarray:
    """Each replicate's fit as one number, lower is better: max over dims of the KS and W1 ratios (inf if NaN). -> (K,)"""
    r = metrics.ratios(result, floor)
    score = np.maximum(r["ks"].max(-1), r["w1"].max(-1)).astype(np.float64)
    return np.where(np.isfinite(score), score, np.inf)


def _round_up(n: int, m: int) -> int:
    return math.ceil(n / m) * m


def run_folder(cfg: Config, target_name: str, out: str | Path | None) -> Path:
    """out, or a free folder under runs/ named after the run (runs/ is made here, so a second run can sit beside it)."""
    if out:
        return Path(out)
    out = free_run_dir(Path("runs") / default_name(cfg, target_name))
    if not out.parent.exists():
        out.parent.mkdir()
    return out


def _prepare(gan: GAN, target, cfg: Config):
    """What training needs besides its chunk, made in a thread while the chunk compiles: the noise floor, the
    target's moments and the initialiser, compiled (called only once K is known to fit)."""
    floor = metrics.noise_floor(target, cfg.eval.n_samples, cfg.eval.floor_draws)
    return floor, target.moments(), init_states.lower(gan, cfg.train.seed, cfg.train.replicates).compile()


def train(cfg: Config, out: str | Path | None = None, *, echo=print, progress: bool | None = None,
          plots: bool = True, resume: bool = False, stop: list | None = None, on_start=None) -> Run:
    """Train cfg.train.replicates GANs of one config and write a run folder; returns the Run.

    echo prints the seed-style lines (pass a no-op to silence); progress shows a bar (None: when stderr is a tty).
    resume=True continues the run in `out` from its checkpoint (or from step 0 if it has none yet): the result is
    bit-identical to the run left alone. Ctrl-C or SIGTERM writes a checkpoint at the last completed chunk and
    raises Interrupted. stop: a list shared with another thread, which appends a signal number to it to stop this
    run the same way (the signal handlers append to it too). on_start: called once every check has passed and
    the program is compiled, just before the first step (`train --compare` starts its second run there).
    """
    cfg = validate(cfg)
    t = cfg.train
    K = t.replicates
    target = make_target(cfg.target)  # bad targets and data files fail here, before anything is written
    if target.train_data is not None and target.train_data.shape[0] < t.batch_size:
        raise ConfigError(f"{cfg.target.data}: {target.train_data.shape[0]} training rows (after holding out "
                          f"{cfg.target.holdout:.0%}) are fewer than a batch (train.batch_size={t.batch_size})")
    out = run_folder(cfg, target.name, out)
    check_out_dir(out, resume)
    gan = GAN(cfg, target)
    # evaluations and checkpoints fall on chunk ends, so a resumed run cuts its chunks where the first run did
    eval_every = _round_up(t.eval_every, t.log_every)
    checkpoint_every = _round_up(t.checkpoint_every, t.log_every)
    # compile on the states' shapes and check that K fits the device before anything of size K is allocated
    chunk = jax.jit(run_steps, static_argnums=(0, 2, 3), donate_argnums=1)
    split = devices.replicate_sharding(K)  # on a CPU: the replicates split over one device per core
    parts = devices.parts(split)
    shapes = devices.shapes(jax.eval_shape(init_states, gan, t.seed, K), split)
    n, block = min(t.log_every, t.steps), metrics.block_size(K, cfg.eval.n_samples, gan.dim)
    if memory.probe_needed(shapes):  # K surely will not fit: size one replicate on a small chunk, and say so
        k0 = min(K, PROBE_REPLICATES)
        small = devices.replicate_sharding(k0)
        probe = chunk.lower(gan, devices.shapes(jax.eval_shape(init_states, gan, t.seed, k0), small), n,
                            devices.parts(small)).compile()
        memory.check(probe, K, block, cfg.eval.n_samples, gan.dim, parts=devices.parts(small), compiled_for=k0)
    evaluate = metrics.Evaluator(gan.sample, target, cfg.eval.n_samples)
    pool = ThreadPoolExecutor(1)  # the rest of the set-up beside the chunk's compile, which leaves cores idle
    try:
        side = pool.submit(devices.here(_prepare), gan, target, cfg)
        warm = pool.submit(devices.here(evaluate.compile), shapes)  # waited for at the first evaluation
        t0 = time.perf_counter()
        compiled = chunk.lower(gan, shapes, n, parts).compile()
        compile_s = time.perf_counter() - t0
        memory.check(compiled, K, block, cfg.eval.n_samples, gan.dim, parts=parts)
        floor, target_moments, init = side.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)

    states = devices.place(init(t.seed), split)  # every leaf (K, ...)
    best = {"state": jax.device_get(states), "score": np.full(K, np.inf), "step": np.full(K, -1)}  # by fit ratio
    first_step = [{} for _ in range(K)]  # per replicate: problem -> first step it was seen
    step = 0
    if resume and (out / CHECKPOINT).exists():
        tree, meta = load_checkpoint(out, {"state": states, "best": best}, CHECKPOINT, cfg)
        states, best = devices.place(tree["state"], split), tree["best"]
        step, first_step = meta["step"], meta["first_step"]
        if step > t.steps:
            raise ConfigError(f"--steps {t.steps}: the run's checkpoint is already at step {step}")

    out.mkdir(exist_ok=True)
    atomic_write(out / "config.toml", dumps(cfg))
    if target.train_data is not None:  # standardisation and columns, so the run samples even if the file moves
        from .data import META, meta

        write_json(out / META, meta(target, cfg.target))
    if resume and (out / "metrics.jsonl").exists():  # rows past the checkpoint are redone
        kept = [r for r in read_jsonl(out / "metrics.jsonl") if r.get("step", 0) <= step]
        atomic_write(out / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in kept))
    else:
        (out / "metrics.jsonl").unlink(missing_ok=True)

    def checkpoint():
        meta = {"step": step, "config": dumps(cfg), "first_step": first_step}
        save_checkpoint(out, best, {**meta, "best_step": best["step"]}, BEST)
        save_checkpoint(out, {"state": states, "best": best}, meta)

    stop = [] if stop is None else stop  # the signal that asked to stop; checked between chunks (whole steps)
    handlers = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            handlers[sig] = signal.signal(sig, lambda signum, frame: stop.append(signum))
    except ValueError:  # not the main thread: no signal handling
        pass
    bar = tqdm(total=t.steps, initial=step, unit="step", dynamic_ncols=True, leave=False,
               disable=(not sys.stderr.isatty()) if progress is None else not progress)
    say = (tqdm.write if not bar.disable else echo) if echo is not None else (lambda line: None)  # echo=None: quiet
    if K > 1 and echo is not None:
        say(f"training {K} replicates (seeds {t.seed}..{t.seed + K - 1}); lines show replicate 0")
    if step and echo is not None:
        say(f"resuming {out} at step {step} of {t.steps}")
    rows, train_s, within, result, logs, start = [], 0.0, None, None, None, step
    try:
        if on_start is not None:  # inside the try: whatever happens, the signal handlers are restored
            on_start()
        while step < t.steps:
            n = min(t.log_every - step % t.log_every, t.steps - step)  # chunks end on multiples of log_every
            t1 = time.perf_counter()
            states, logs = compiled(states) if n == t.log_every else chunk(gan, states, n, parts)
            logs, guard = jax.device_get((logs, (states["nonfinite"], states["nonfinite_step"])))  # waits
            train_s += time.perf_counter() - t1
            step += n
            row = {"step": step, **{k: np.asarray(v).tolist() for k, v in logs.items()}}
            if echo is not None:
                say(seed_line(step, logs))
            # name problems as they appear: on this chunk's last batch, and the guard's exact step for NaN/inf
            now = metrics.diagnose({"mean": logs["fake_mean"], "std": logs["fake_std"]}, logs, target_moments,
                                   guard[0])
            for name in WORDS:  # first_step holds when each current problem began (NaN/inf: for good)
                for k in range(K):
                    if name not in now[k] and name != "non-finite":
                        first_step[k].pop(name, None)
                new = [k for k in range(K) if name in now[k] and name not in first_step[k]]
                for k in new:
                    first_step[k][name] = int(guard[1][k]) if name == "non-finite" else step
                if new and echo is not None:
                    which = f"in {'/'.join(sorted({NETS[int(guard[0][k])] for k in new}))} " if name == "non-finite" \
                        else ""
                    reps = ", ".join(map(str, new[:10])) + (f" and {len(new) - 10} more" if len(new) > 10 else "")
                    say(f"step {step}: {WORDS[name]} {which}(replicate{'s' * (len(new) > 1)} {reps})")
            if step % eval_every == 0 or step == t.steps:
                warm.result()
                result = evaluate(states, step)
                within = metrics.within_floor(result, floor)
                row["fit"] = {k: v.tolist() for k, v in result.items()}
                row["within_floor"] = within.tolist()
                score = fit_score(result, floor)
                better = score < best["score"]
                if better.any():
                    now_state = jax.device_get(states)
                    best["state"] = jax.tree.map(
                        lambda b, s, better=better: np.where(better.reshape((K,) + (1,) * (s.ndim - 1)), s, b), best["state"],
                        now_state)
                    best["score"] = np.where(better, score, best["score"])
                    best["step"] = np.where(better, step, best["step"])
            rows.append(row)
            save_now = (checkpoint_every and step % checkpoint_every == 0) or step == t.steps or stop
            if "fit" in row or save_now:  # metrics.jsonl always reaches the checkpoint's step before it is written
                append_jsonl(out / "metrics.jsonl", rows)
                rows = []
            if save_now:
                checkpoint()
            bar.update(n)
            postfix = {"steps/s": f"{(step - start) / train_s:.0f}",
                       "rep-steps/s": f"{(step - start) * K / train_s:.3g}"}
            if within is not None:
                postfix["in floor"] = f"{within.mean():.0%}"
            bar.set_postfix(postfix, refresh=False)
            if bar.disable and "fit" in row and K > 1:  # no bar (not a tty): the same figures in words
                say(f"step {step}: {postfix['steps/s']} steps/s, {postfix['rep-steps/s']} replicate-steps/s, "
                    f"{postfix['in floor']} of replicates within the noise floor")
            if stop and step < t.steps:
                name = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}.get(stop[0], f"signal {stop[0]}")
                raise Interrupted(f"{name}: stopped at step {step} of {t.steps}", out, 128 + stop[0])
    finally:
        bar.close()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)

    if result is None:  # resumed a finished run whose summary was not written: evaluate its final state again
        warm.result()
        result = evaluate(states, step)
        last = read_jsonl(out / "metrics.jsonl")[-1]
        logs = {k: np.asarray(last[k]) for k in ("d_fake_out", "g_grad") if k in last}
    guard = np.stack([np.asarray(states["nonfinite"]), np.asarray(states["nonfinite_step"])], 1)  # (K, 2)
    summary = summarize(cfg, result, floor, logs, target_moments, guard, first_step, best)
    if target.components is not None:  # mixtures: modes captured, high quality, reverse KL (VEEGAN/PacGAN)
        from . import modes

        summary["modes"] = modes.evaluate(gan.sample, states, target)
    done = max(step - start, 1)
    summary["timing"] = {"compile_s": compile_s, "train_s": train_s, "us_per_step": 1e6 * train_s / done,
                         "replicate_steps_per_s": done * K / max(train_s, 1e-9), "resumed_at": start,
                         "devices": parts, "platform": jax.devices()[0].platform}
    write_json(out / "summary.json", summary)
    run = Run(out, cfg, target, gan, states, summary)
    if plots:
        from . import plots as plots_mod  # matplotlib is imported only when plotting

        plots_mod.plot_run(run)
    return run
