"""The training loop: one plain function, top to bottom. Steps run in compiled chunks of log_every steps."""

from __future__ import annotations

import contextlib
import math
import signal
import time
from pathlib import Path

import jax

from . import metrics, tensorboard
from .config import Config, ConfigError, validate
from .console import Console, seed_line
from .data import make_target
from .engine import Engine
from .files import read_jsonl, write_json
from .frames import Recorder
from .gan import GAN
from .page import Page
from .plots import plot_run
from .report import Best, Problems, evaluate_run, fit_score, last_logs
from .runs import CHECKPOINT, Claim, Run, Writer, load_checkpoint, run_folder

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


def _every(steps: int, log_every: int) -> int:
    """An interval in steps, rounded up to whole chunks: evaluations and checkpoints fall on chunk ends, so a resumed
    run cuts its chunks where the first run did."""
    return math.ceil(steps / log_every) * log_every


def _target(cfg: Config):
    """The config's target; a ConfigError for a bad spec, a bad data file, or fewer training rows than a batch."""
    target, t = make_target(cfg.target), cfg.train
    if target.train_data is not None and target.train_data.shape[0] < t.batch_size:
        raise ConfigError(f"{cfg.target.data}: {target.train_data.shape[0]} training rows (after holding out "
                          f"{cfg.target.holdout:.0%}) are fewer than a batch ({t.batch_size})", "train.batch_size")
    return target


def train(cfg: Config, out: str | Path | Claim | None = None, *, echo=print, progress: bool | None = None,
          plots: bool = True, resume: bool = False, stop: list | None = None, on_start=None) -> Run:
    """Train cfg.train.replicates GANs of one config and write a run folder; returns the Run.

    echo prints the seed-style lines (None: quiet); progress shows a bar (None: when stderr is a terminal).
    resume=True continues the run in `out` from its checkpoint (or from step 0 if it has none yet): the result is
    bit-identical to the run left alone. Ctrl-C or SIGTERM writes a checkpoint at the last completed chunk and
    raises Interrupted. stop: a list shared with another thread, which appends a signal number to it to stop this
    run the same way. on_start: called once every check has passed and the program is compiled, just before the
    first step (`train --compare` starts its second run there).
    The run folder is this process's alone while it trains (runs.claim): another process that trains into it, or
    resumes it, is refused naming this one's pid. out may be a Claim already taken, which the run then releases.
    """
    cfg, t = validate(cfg), cfg.train
    target = _target(cfg)  # bad targets and data files fail here, before anything is written
    tensorboard.require(cfg)  # --tensorboard without tensorboardX: one line on how to install it, nothing written
    with run_folder(cfg, target.name, out, resume) as out:  # this process is the folder's one writer until the end
        gan = GAN(cfg, target)
        engine = Engine(gan, t.replicates, t.seed, min(t.log_every, t.steps), cfg.eval.n_samples)
        film = Recorder(cfg, gan, out)  # the animation's frames of G and D (frames.py)
        floor, target_moments, _ = engine.compile(beside=lambda: (
            metrics.noise_floor(target, cfg.eval.n_samples, cfg.eval.floor_draws), target.moments(),
            film.compile(engine.shapes)))
        states, problems, step = engine.init(), Problems(t.replicates), 0
        best = Best(states)
        if resume and (out / CHECKPOINT).exists():
            tree, meta = load_checkpoint(out, {"state": states, "best": best.tree}, CHECKPOINT, cfg)
            states, best, step = engine.place(tree["state"]), Best(states, tree["best"]), meta["step"]
            problems = Problems(t.replicates, meta["first_step"])
            film.resume(step)
            if step > t.steps:
                raise ConfigError(f"{t.steps}: the run's checkpoint is already at step {step}", "train.steps")
        writer = Writer(out, cfg, target, resumed_at=step if resume else None)
        console = Console(echo, progress, t.steps, step, t.replicates)
        page = Page(out, cfg, target, floor, target_moments) if cfg.report.html else None  # report.html (page.py)
        board = tensorboard.Board(out, cfg, floor, step) if cfg.report.tensorboard else None
        if t.replicates > 1:
            console.say(f"training {t.replicates} replicates (seeds {t.seed}..{t.seed + t.replicates - 1}); "
                        "lines show replicate 0")
        if step:
            console.say(f"resuming {out} at step {step} of {t.steps}")
        eval_every, checkpoint_every = _every(t.eval_every, t.log_every), _every(t.checkpoint_every, t.log_every)
        result, logs, within, start, train_s = None, {}, None, step, 0.0
        with stop_on_signals([] if stop is None else stop) as stop:
            try:
                if on_start is not None:
                    on_start()
                film.capture(states, step)  # G and D before the first step
                while step < t.steps:
                    n = min(t.log_every - step % t.log_every, t.steps - step)  # chunks end on multiples of log_every
                    t0 = time.perf_counter()
                    states, logs, guard = engine.run(states, n)
                    train_s += time.perf_counter() - t0
                    step += n
                    row = {"step": step, **{k: v.tolist() for k, v in logs.items()}}
                    console.say(seed_line(step, logs))
                    for line in problems.update(step, logs, guard, target_moments):
                        console.say(line)
                    evaluated = step % eval_every == 0 or step == t.steps
                    if evaluated:
                        result = engine.evaluate(states, step)
                        within = metrics.within_floor(result, floor)
                        best.update(states, fit_score(result, floor), step)
                        row.update(fit={k: v.tolist() for k, v in result.items()}, within_floor=within.tolist())
                    save = (checkpoint_every and step % checkpoint_every == 0) or step == t.steps or bool(stop)
                    writer.add(row, flush=evaluated or save)
                    with writer.resumable():  # frames before the checkpoint, so that their file reaches its step
                        film.capture(states, step, flush=evaluated or save)
                        if evaluated and page:
                            page.write(step)
                    if board:
                        board.add(row, film.latest(step))
                    if save:
                        writer.checkpoint(states, best.tree, {"step": step, "first_step": problems.first_step})
                    console.update(n, step, train_s, within, evaluated)
                    if stop and step < t.steps:
                        name = SIGNALS.get(stop[0], f"signal {stop[0]}")
                        raise Interrupted(f"{name}: stopped at step {step} of {t.steps}", out, 128 + stop[0])
            finally:
                console.close()

        if result is None:  # resumed a finished run whose summary was not written: evaluate its final state again
            result, logs = engine.evaluate(states, step), last_logs(read_jsonl(out / "metrics.jsonl"))
        summary = evaluate_run(cfg, gan, target, states, result, floor, target_moments, logs, problems.first_step,
                               best.tree)
        summary["timing"] = {"compile_s": engine.compile_s, "train_s": train_s, "resumed_at": start,
                             "us_per_step": 1e6 * train_s / max(step - start, 1),
                             "replicate_steps_per_s": (step - start) * t.replicates / max(train_s, 1e-9),
                             "devices": engine.parts, "platform": jax.devices()[0].platform}
        with writer.resumable():
            write_json(out / "summary.json", summary)
            if board:
                board.close(summary)
            if page:
                page.write(step, summary)
            run = Run(out, cfg, target, gan, states, summary)
            if plots:
                plot_run(run)
        return run
