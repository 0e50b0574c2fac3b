"""The training loop: one plain function, top to bottom. Steps run in compiled chunks of log_every steps."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import signal
import time
from pathlib import Path

from . import metrics, tensorboard
from .auto import stopping
from .config import Config, ConfigError, validate
from .console import Console, seed_line
from .data import make_target
from .engine import Engine
from .files import read_jsonl, write_json
from .gan import GAN
from .plots import plot_run
from .report import Best, Problems, evaluate_run, last_logs, timing
from .runs import CHECKPOINT, Claim, Run, Writer, load_checkpoint, run_folder
from .watch import Watch

SIGNALS = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}


class Interrupted(Exception):
    """Training stopped by Ctrl-C or SIGTERM after writing a checkpoint; `code` is the exit status, `stopped` says
    where (the message adds how to resume)."""

    def __init__(self, stopped: str, out: Path, code: int):
        super().__init__(f"{stopped}, checkpoint written; continue with `distgan train --resume {out}`")
        self.stopped, self.code = stopped, code


@contextlib.contextmanager
def stop_on_signals(stop: list):
    """Ctrl-C and SIGTERM append their number to `stop` instead of raising, so the loop stops between chunks, at a
    whole step, with a checkpoint; the handlers are restored on exit. Outside the main thread: no handlers."""
    handlers = {}
    try:
        for sig in SIGNALS:
            handlers[sig] = signal.signal(sig, lambda signum, frame: stop.append(signum))
    except ValueError:  # not the main thread
        pass
    try:
        yield stop
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def fit_batch(cfg: Config, target) -> tuple[Config, str]:
    """A config whose batch fits the data file's training rows: a batch larger than the rows becomes the rows (a
    multiple of model.pack for packed D inputs), and the line that says so; cfg itself when it already fits."""
    rows, t = (target.train_data.shape[0] if target.train_data is not None else 0), cfg.train
    if not rows or rows >= t.batch_size:
        return cfg, ""
    batch = rows - rows % cfg.model.pack if cfg.model.d_input == "pack" else rows
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(t, batch_size=batch))
    return validate(cfg), (f"batch {batch}: the data file has {rows} training rows, fewer than train.batch_size "
                           f"({t.batch_size})")


def _every(steps: int, log_every: int) -> int:
    """An interval in steps, rounded up to whole chunks: evaluations and checkpoints fall on chunk ends, so a resumed
    run cuts its chunks where the first run did."""
    return math.ceil(steps / log_every) * log_every


def _restore(out: Path, cfg: Config, engine: Engine, states: dict, best: Best):
    """A resumed run's states, best states, problems, step and checkpoint metadata, from out's checkpoint."""
    tree, meta = load_checkpoint(out, {"state": states, "best": best.tree}, CHECKPOINT, cfg)
    if meta["step"] > cfg.train.steps:
        raise ConfigError(f"{cfg.train.steps}: the run's checkpoint is already at step {meta['step']}", "train.steps")
    return (engine.place(tree["state"]), Best(states, tree["best"]), Problems(cfg.train.replicates, meta["first_step"]),
            meta["step"], meta)


def train(cfg: Config, out: str | Path | Claim | None = None, *, echo=print, progress: bool | None = None,
          plots: bool = True, resume: bool = False, stop: list | None = None, on_start=None,
          on_eval=None) -> Run:
    """Train cfg.train.replicates GANs of one config and write a run folder; returns the Run.

    echo prints the seed-style lines (None: quiet); progress shows a bar (None: when stderr is a terminal).
    resume=True continues the run in `out` from its checkpoint (or from step 0 if it has none yet): the result is
    bit-identical to the run left alone. Ctrl-C or SIGTERM writes a checkpoint at the last completed chunk and
    raises Interrupted. stop: a list shared with another thread, which appends a signal number to it to stop this
    run the same way. on_start: called once every check has passed and the program is compiled, just before the
    first step (`train --compare` starts its second run there). on_eval(step, result, floor): called at each
    evaluation, once its metrics row and any checkpoint of that step are on disk (`distgan sweep` reports the fit
    to its scheduler there).
    The run folder is this process's alone while it trains (runs.claim): another process that trains into it, or
    resumes it, is refused naming this one's pid. out may be a Claim already taken, which the run then releases.
    """
    cfg = validate(cfg)
    target = make_target(cfg.target)  # bad targets and data files fail here, before anything is written
    cfg, batch_note = fit_batch(cfg, target)
    t = cfg.train
    tensorboard.require(cfg)  # --tensorboard without tensorboardX: one line on how to install it, nothing written
    with run_folder(cfg, target.name, out, resume) as out:  # this process is the folder's one writer until the end
        gan = GAN(cfg, target)
        engine = Engine(gan, t.replicates, t.seed, min(t.log_every, t.steps), cfg.eval.n_samples)
        watch = Watch(cfg, gan, target, out)  # frames of G and D, report.html, TensorBoard
        floor, target_moments, _ = engine.compile(beside=lambda: (
            metrics.noise_floor(target, cfg.eval.n_samples, cfg.eval.floor_draws), target.moments(),
            watch.compile(engine.shapes)))
        states, problems, step, meta = engine.init(), Problems(t.replicates), 0, {}
        best = Best(states)
        if resume and (out / CHECKPOINT).exists():
            states, best, problems, step, meta = _restore(out, cfg, engine, states, best)
        writer = Writer(out, cfg, target, resumed_at=step if resume else None)
        console = Console(echo, progress, t.steps, step, t.replicates)
        console.intro(t, step, out, batch_note)
        eval_every, checkpoint_every = _every(t.eval_every, t.log_every), _every(t.checkpoint_every, t.log_every)
        rule = stopping(cfg, target, _every(t.auto_every, t.log_every), meta)  # fixed steps, or --steps auto
        result, logs, within, start, train_s = None, {}, None, step, 0.0
        with stop_on_signals([] if stop is None else stop) as stop:
            try:
                if on_start is not None:
                    on_start()
                watch.start(states, step, floor, target_moments)
                while not rule.done(step):
                    n = min(t.log_every - step % t.log_every, t.steps - step)  # chunks end on multiples of log_every
                    t0 = time.perf_counter()
                    states, logs, guard = engine.run(states, n)
                    train_s += time.perf_counter() - t0
                    step += n
                    row = {"step": step, **{k: v.tolist() for k, v in logs.items()}}
                    console.say(seed_line(step, logs), *problems.update(step, logs, guard, target_moments))
                    evaluated = step % eval_every == 0 or step == t.steps or rule.due(step)
                    if evaluated:  # the fit on held-out samples; the rule keeps the best states (and may stop)
                        result = engine.evaluate(states, step)
                        within = metrics.within_floor(result, floor)
                        states, fields, lines = rule.observe(engine, states, step, result, floor, best)
                        row.update(fit={k: v.tolist() for k, v in result.items()}, within_floor=within.tolist(),
                                   **fields)
                        console.say(*lines)
                    halt = bool(stop)  # one reading: a stop that comes after it waits for the next chunk's checkpoint
                    save = (checkpoint_every and step % checkpoint_every == 0) or rule.done(step) or halt
                    writer.add(row, flush=evaluated or save)
                    watch.chunk(writer, states, step, row, evaluated, save)
                    if save:
                        writer.checkpoint(states, best.tree, {"step": step, "first_step": problems.first_step,
                                                              **rule.meta()})
                    if evaluated and on_eval is not None:
                        on_eval(step, result, floor)
                    console.update(n, step, train_s, within, evaluated)
                    if halt and not rule.done(step):
                        name = SIGNALS.get(stop[0], f"signal {stop[0]}")
                        raise Interrupted(f"{name}: stopped at step {step} of {t.steps}", out, 128 + stop[0])
            finally:
                console.close()

        if result is None:  # resumed a finished run whose summary was not written: evaluate its final state again
            result, logs = engine.evaluate(states, step), last_logs(read_jsonl(out / "metrics.jsonl"))
        states, result = rule.kept(engine, best, step, states, result)  # auto steps: the states each replicate keeps
        summary = evaluate_run(cfg, gan, target, states, result, floor, target_moments, logs, problems.first_step,
                               best.tree)
        summary.update(rule.summary(best, step), timing=timing(engine, train_s, start, step, t.replicates))
        with writer.resumable():
            write_json(out / "summary.json", summary)
            watch.finish(step, summary)
            run = Run(out, cfg, target, gan, states, summary, at=rule.at)
            if plots:
                plot_run(run, lambda replicates: engine.samples(states, step, replicates))
        return run
