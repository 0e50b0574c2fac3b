"""`--steps auto`: train as long as the fit improves, then cool down, and keep the best state.

Every train.auto_every steps the loop (distgan.train) scores each replicate on held-out draws and `decide`s:

1. The score is the fit's score (report.fit_score: the larger of the KS and W1 ratios, worst dimension) averaged over
   train.auto_draws fresh evaluation draws. Its standard error comes from the noise floor's own pairs of real
   samples (metrics.score_noise, the score's sd for a perfect generator) over sqrt(auto_draws).
2. Improvement: a score below the best so far by more than auto_margin standard errors; a draw that is merely lucky
   does not count. The learning rate stays constant until patience steps pass without one, and never stops before
   min_steps; a cooldown must fit in train.steps, so the constant phase stops early enough for it.
3. Cooldown: the learning rates fall linearly to 0 over auto_cooldown times the constant phase's steps (the
   Gaussian needs a decay about as long as its training: benchmarks/suite.md). The decision lives in the state
   (`cool_from`, `cool_steps`; GAN.lr_scale), so a checkpoint holds it and a resumed run repeats it to the bit.
4. Keep: the latest evaluated state whose score is within auto_margin standard errors of the lowest seen, so a state
   wins over a later one only when it is better beyond the evaluation's noise.

Each replicate decides for itself: replicate k then computes what a lone run with seed s + k computes (as every
other part of a run does), and targets or seeds that need longer get it. A replicate that has finished its cooldown
stays frozen (learning rate 0) until the last one finishes; the run stops there.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from . import metrics
from .config import Config, TrainConfig
from .report import Best, fit_score


@dataclass
class Decision:
    """Each replicate's stopping state, (K,) arrays kept on the host (a checkpoint's metadata holds them).

    record: the score of the last improvement; improved: its step; low: the lowest score seen; stopped: the step
    the constant learning rate stopped (-1: still running); cool: the cooldown's steps (0 before it starts).
    """

    record: np.ndarray
    improved: np.ndarray
    low: np.ndarray
    stopped: np.ndarray
    cool: np.ndarray

    @classmethod
    def fresh(cls, replicates: int) -> Decision:
        inf, zero = np.full(replicates, np.inf), np.zeros(replicates, np.int64)
        return cls(inf, zero.copy(), inf.copy(), np.full(replicates, -1, np.int64), zero.copy())

    @classmethod
    def from_meta(cls, meta: dict) -> Decision:
        return cls(**{k: np.asarray(v, np.float64 if k in ("record", "low") else np.int64) for k, v in meta.items()})

    def meta(self) -> dict:
        """JSON-ready lists (an inf score is written as Infinity, which json reads back)."""
        return {k: v.tolist() for k, v in asdict(self).items()}

    def ended(self, step: int) -> np.ndarray:
        """Which replicates have finished their cooldown by `step`. -> (K,) bool"""
        return (self.stopped >= 0) & (step >= self.stopped + self.cool)


def cooldown(step: int, t: TrainConfig, every: int) -> int:
    """The cooldown after a constant phase of `step` steps: auto_cooldown times it, in whole evaluation intervals,
    and no further than train.steps."""
    return min(max(every, math.ceil(t.auto_cooldown * step / every) * every), t.steps - step)


def decide(d: Decision, score: np.ndarray, step: int, t: TrainConfig, se: float, every: int
           ) -> tuple[Decision, np.ndarray]:
    """The decision after an evaluation at `step` of replicates scored `score` (K,) (lower is better; inf: non-finite),
    with the score's standard error `se`. -> the new Decision, and which replicates' states to keep as their best
    (K,) bool. Replicates that had already ended before `step` are left alone."""
    active = ~((d.stopped >= 0) & (step > d.stopped + d.cool))
    margin = t.auto_margin * se
    running = active & (d.stopped < 0)
    better = running & (score < d.record - margin)
    record, improved = np.where(better, score, d.record), np.where(better, step, d.improved)
    patience_out = (step >= t.min_steps) & (step - improved >= t.patience)
    no_room = step + cooldown(step, t, every) >= t.steps  # the cooldown must fit in the budget
    broken = ~np.isfinite(score)  # non-finite: the guard has frozen it; nothing to wait for
    stop = running & (patience_out | no_room | broken)
    stopped = np.where(stop, step, d.stopped)
    cool = np.where(stop, np.where(broken, 0, cooldown(step, t, every)), d.cool)
    low = np.where(active, np.minimum(d.low, score), d.low)
    keep = active & np.isfinite(score) & (score <= low + margin)
    return Decision(record, improved, low, stopped, cool), keep


class FixedSteps:
    """The loop's side of a fixed train.steps: it ends there, and each evaluation's fit picks the best state."""

    at = "last"  # a finished run samples its last state

    def __init__(self, t: TrainConfig):
        self.t = t

    def due(self, step: int) -> bool:
        return False

    def done(self, step: int) -> bool:
        return step >= self.t.steps

    def observe(self, engine, states: dict, step: int, result: dict, floor: dict, best: Best
                ) -> tuple[dict, dict, list[str]]:
        best.update(states, fit_score(result, floor), step)
        return states, {}, []

    def meta(self) -> dict:
        return {}

    def kept(self, engine, best: Best, step: int, states: dict, result: dict) -> tuple[dict, dict]:
        return states, result

    def summary(self, best: Best, step: int) -> dict:
        return {}


def stopping(cfg: Config, target, every: int, meta: dict) -> FixedSteps | AutoSteps:
    """The run's stopping rule: AutoSteps with train.auto_steps (resumed from a checkpoint's `meta`), else
    FixedSteps."""
    if not cfg.train.auto_steps:
        return FixedSteps(cfg.train)
    return AutoSteps(cfg, target, cfg.train.replicates, every, meta.get("auto"))


class AutoSteps:
    """The loop's side of `--steps auto`: the decisions of K replicates, the held-out scoring, and the state kept."""

    at = "best"  # a finished run samples the state each replicate keeps

    def __init__(self, cfg: Config, target, replicates: int, every: int, meta: dict | None = None):
        self.t, self.every = cfg.train, every
        noise = metrics.score_noise(target, cfg.eval.n_samples, cfg.eval.floor_draws)
        self.se = noise / math.sqrt(self.t.auto_draws)
        self.decision = Decision.from_meta(meta) if meta else Decision.fresh(replicates)

    def __repr__(self):
        return f"AutoSteps(every={self.every}, se={self.se:.3f}, stopped={self.decision.stopped.tolist()})"

    def due(self, step: int) -> bool:
        return step % self.every == 0

    def done(self, step: int) -> bool:
        """Every replicate has finished its cooldown (or the budget is spent)."""
        return bool(self.decision.ended(step).all()) or step >= self.t.steps

    def score(self, engine, states: dict, step: int, first: dict, floor: dict) -> np.ndarray:
        """Each replicate's score averaged over auto_draws evaluations: `first` (the step's own) and fresh draws."""
        draws = [first] + [engine.evaluate(states, step, draw=j) for j in range(1, self.t.auto_draws)]
        return np.mean([fit_score(r, floor) for r in draws], axis=0)

    def observe(self, engine, states: dict, step: int, first: dict, floor: dict, best: Best
                ) -> tuple[dict, dict, list[str]]:
        """At an evaluation that is due: score, decide, keep the best states, and write the cooldowns into the states.
        -> (states, fields for the metrics row, lines naming the replicates that stopped improving)"""
        if not self.due(step):
            return states, {}, []
        score = self.score(engine, states, step, first, floor)
        before = self.decision.stopped.copy()
        self.decision, keep = decide(self.decision, score, step, self.t, self.se, self.every)
        best.take(states, keep, score, step)
        d = self.decision
        states = {**states, "cool_from": engine.place(d.stopped.astype(np.int32)),
                  "cool_steps": engine.place(np.maximum(d.cool, 1).astype(np.int32))}
        new = np.flatnonzero(before != d.stopped)
        lines = [f"step {step}: replicate {k} stopped improving (score {score[k]:.2f}, best {d.record[k]:.2f} at step "
                 f"{d.improved[k]}); cooling down to step {step + d.cool[k]}" for k in new[:10]]
        if len(new) > 10:
            lines.append(f"step {step}: and {len(new) - 10} more replicates stopped improving")
        return states, {"auto_score": score.tolist(), "auto_stopped": d.stopped.tolist()}, lines

    def meta(self) -> dict:
        """For a checkpoint's metadata: the decisions, which a resumed run continues from."""
        return {"auto": self.decision.meta()}

    def kept(self, engine, best: Best, step: int, states: dict, result: dict) -> tuple[dict, dict]:
        """The states each replicate keeps, placed, and their fit on a fresh draw (not one they were chosen on)."""
        states = engine.place(best.tree["state"])
        return states, engine.evaluate(states, step, draw=self.t.auto_draws)

    def summary(self, best: Best, step: int) -> dict:
        """For summary.json: where each replicate stopped, cooled down to, and the step of the state it keeps."""
        d = self.decision
        return {"auto": {"steps": step, "se": self.se, "replicates": [
            {"stopped": int(s), "ended": int(s + c) if s >= 0 else step, "kept": int(k), "score": float(v)}
            for s, c, k, v in zip(d.stopped, d.cool, best.tree["step"], best.tree["score"])]}}
