"""What a run's numbers mean: each replicate's fit beside its noise floor, named failures, verdicts in words, the
best point so far, and the summary that summary.json holds.

`evaluate_run` makes a run's summary: `train` calls it at its end, `distgan evaluate` on a finished run.
"""

from __future__ import annotations

import jax
import numpy as np

from . import metrics, modes
from .config import Config, ConfigError
from .gan import GAN
from .targets import Target

NETS = {1: "D", 2: "G"}  # the state's non-finite code -> the net that left the finite numbers
# a problem as it appears during training, and in a verdict
APPEARS = {"collapsed": "G collapsed (fake std near 0)", "diverged": "G diverged (fake mean ran away)",
           "saturated": "D saturated (D's output on fakes pinned at 0, G's gradient vanished)",
           "non-finite": "non-finite values (NaN/inf); replicate stopped at its last finite state"}
FAILED = {"collapsed": "G has collapsed (fake std near 0)", "diverged": "G has diverged (fake mean ran away)",
          "saturated": "D has saturated (G's gradient vanished)", "non-finite": "training produced NaN/inf"}


def diagnose(result: dict[str, np.ndarray], logs: dict[str, np.ndarray], target_moments: dict,
             nonfinite: np.ndarray | None = None) -> list[list[str]]:
    """Named failures per replicate: 'collapsed', 'diverged', 'saturated', 'non-finite'. -> K lists of names.

    result holds the fake mean and std (K, dim), from an evaluation or a training batch; nonfinite (K,) is the
    state's guard flag (non-zero: the replicate went NaN/inf and was stopped at its last finite values).
    """
    std, mean = target_moments["std"], target_moments["mean"]
    K = result["mean"].shape[0]
    finite = np.all(np.isfinite(result["mean"]) & np.isfinite(result["std"]), axis=-1)
    if nonfinite is not None:
        finite &= np.asarray(nonfinite) == 0
    collapsed = np.any(np.isfinite(std) & (result["std"] < 0.05 * std), axis=-1)  # G maps all noise to ~one point
    # (a target without a finite std, e.g. Student-t with df <= 2, cannot say what 'nearly one point' is)
    diverged = np.any(np.abs(result["mean"] - mean) > 5 * std, axis=-1)  # the fake mean runs away
    saturated = np.zeros(K, bool)
    if "d_fake_out" in logs:  # D pinned at "fake" on G's samples and G's gradient vanishing: the seed's collapse
        with np.errstate(invalid="ignore"):
            saturated = (np.asarray(logs["d_fake_out"]) < 1e-3) & (np.asarray(logs["g_grad"]) < 1e-4)
    out = []
    for k in range(K):
        names = []
        if not finite[k]:
            names.append("non-finite")
        else:
            names += [n for n, flag in (("collapsed", collapsed[k]), ("diverged", diverged[k])) if flag]
        if saturated[k]:
            names.append("saturated")
        out.append(names)
    return out


def verdict(result: dict[str, np.ndarray], floor: dict, problems: list[str], k: int = 0,
            details: dict[str, str] | None = None) -> str:
    """One sentence on replicate k's fit, in words; details adds words per problem (e.g. 'in D at step 37')."""
    r = metrics.ratios(result, floor)
    ks, w = float(np.max(r["ks"][k])), float(np.max(r["w1"][k]))
    figures = f"KS {np.max(result['ks'][k]):.4f} = {ks:.2f}x floor, W1 {np.max(result['w1'][k]):.4f} = {w:.2f}x floor"
    if "sw1" in result:
        figures += f", sliced W1 {float(r['sw1'][k]):.2f}x floor, corr error {float(r['corr'][k]):.2f}x floor"
    if problems:
        details = details or {}
        return "FAILED: " + "; ".join(FAILED[p] + (" " + details[p] if p in details else "") for p in problems) + \
            f" ({figures})"
    if metrics.within_floor({s: result[s][k:k + 1] for s in metrics.stats_of(result)}, floor)[0]:
        return f"GOOD: within sampling noise of the target ({figures})"
    return f"NOT YET: distinguishable from the target beyond sampling noise ({figures})"


def fit_score(result: dict, floor: dict) -> np.ndarray:
    """Each replicate's fit as one number, lower is better: max over dims of the KS and W1 ratios (inf if NaN). -> (K,)"""
    r = metrics.ratios(result, floor)
    score = np.maximum(r["ks"].max(-1), r["w1"].max(-1)).astype(np.float64)
    return np.where(np.isfinite(score), score, np.inf)


class Problems:
    """When each replicate's current problems began (problem -> step), checked at every progress line on the
    training batch; NaN/inf at the guard's exact step, and for good."""

    def __init__(self, replicates: int, first_step: list[dict] | None = None):
        self.first_step = first_step or [{} for _ in range(replicates)]

    def update(self, step: int, logs: dict, guard: np.ndarray, target_moments: dict) -> list[str]:
        """Record the problems seen at `step` (guard (K, 2): non-finite code and step); lines naming the new ones."""
        now = diagnose({"mean": logs["fake_mean"], "std": logs["fake_std"]}, logs, target_moments, guard[:, 0])
        lines = []
        for name in APPEARS:
            for k, seen in enumerate(self.first_step):
                if name not in now[k] and name != "non-finite":
                    seen.pop(name, None)
            new = [k for k, seen in enumerate(self.first_step) if name in now[k] and name not in seen]
            for k in new:
                self.first_step[k][name] = int(guard[k, 1]) if name == "non-finite" else step
            if new:
                nets = sorted({NETS[int(guard[k, 0])] for k in new}) if name == "non-finite" else []
                where = f"in {'/'.join(nets)} " if nets else ""
                reps = ", ".join(map(str, new[:10])) + (f" and {len(new) - 10} more" if len(new) > 10 else "")
                lines.append(f"step {step}: {APPEARS[name]} {where}(replicate{'s' * (len(new) > 1)} {reps})")
        return lines


class Best:
    """Each replicate's best state so far by fit_score, with its score and step, kept in host memory.

    `tree` is what checkpoints hold under 'best/': {'state', 'score' (K,), 'step' (K,), -1 before any evaluation}.
    """

    def __init__(self, states: dict, tree: dict | None = None):
        K = jax.tree.leaves(states)[0].shape[0]
        self.tree = tree or {"state": jax.device_get(states), "score": np.full(K, np.inf), "step": np.full(K, -1)}

    def update(self, states: dict, score: np.ndarray, step: int) -> None:
        better = score < self.tree["score"]
        if not better.any():
            return
        pick = lambda b, s: np.where(better.reshape((-1,) + (1,) * (s.ndim - 1)), s, b)  # noqa: E731
        self.tree = {"state": jax.tree.map(pick, self.tree["state"], jax.device_get(states)),
                     "score": np.where(better, score, self.tree["score"]),
                     "step": np.where(better, step, self.tree["step"])}


def summarize(cfg: Config, result: dict, floor: dict, logs: dict, target_moments: dict,
              nonfinite: np.ndarray | None = None, first_step: list[dict] | None = None,
              best: dict | None = None) -> dict:
    """Per-replicate fit, failures and verdicts, and the table over replicates.

    nonfinite (K, 2): each replicate's guard code and step; first_step: per replicate, the step where each problem
    seen at the last progress line began; best: Best.tree, each replicate's best step and score.
    """
    K = cfg.train.replicates
    r = metrics.ratios(result, floor)
    within = metrics.within_floor(result, floor)
    codes = np.zeros((K, 2), int) if nonfinite is None else np.asarray(nonfinite)
    problems = diagnose(result, logs, target_moments, codes[:, 0])
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
               "verdict": verdict(result, floor, problems[k], k, details)}
        if best is not None:
            rep["best"] = {"step": int(best["step"][k]), "score": float(best["score"][k])}
        reps.append(rep)
    for s in metrics.JOINT:  # dim > 1: the joint distance and the correlation error, beside their floors
        if s in result:
            for k in range(K):
                reps[k][s], reps[k][f"{s}_ratio"] = float(result[s][k]), float(r[s][k])
    score = np.where(np.isfinite(ks_ratio + w1_ratio), np.maximum(ks_ratio, w1_ratio), np.inf)
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


def last_logs(rows: list[dict], replicates: int | None = None, where: str = "metrics.jsonl") -> dict[str, np.ndarray]:
    """The logs that name failures (D's output on fakes, G's gradient norm) from the last metrics row, each (K,);
    a ConfigError naming `where` if they are not K numbers each (a damaged file)."""
    last = rows[-1] if rows else {}
    logs = {}
    for key in ("d_fake_out", "g_grad"):
        if key in last:
            try:
                logs[key] = np.asarray(last[key], np.float64)
            except (TypeError, ValueError):
                logs[key] = np.zeros(0)
            if logs[key].ndim != 1 or (replicates is not None and len(logs[key]) != replicates):
                raise ConfigError(f"{where}: the last row's {key} is not one number per replicate")
    if len(logs) == 1:
        raise ConfigError(f"{where}: the last row has {next(iter(logs))} without its partner")
    return logs


def saved_first_steps(summary: dict, replicates: int, where: str = "summary.json") -> list[dict] | None:
    """Each replicate's problems and the step each began ({problem: step}), as a summary saved them; None if it has
    no replicates' records; a ConfigError naming `where` if they are malformed."""
    saved = summary.get("replicates")
    if saved is None:
        return None
    if not isinstance(saved, list) or not all(isinstance(r, dict) for r in saved):
        raise ConfigError(f"{where}: 'replicates' is not a list of records")
    if len(saved) != replicates:
        return None
    first = [r.get("first_step", {}) for r in saved]
    if not all(isinstance(f, dict) and all(type(v) is int for v in f.values()) for f in first):
        raise ConfigError(f"{where}: a replicate's 'first_step' is not {{problem: step}}")
    return first


def evaluate_run(cfg: Config, gan: GAN, target: Target, states: dict, result: dict, floor: dict,
                 target_moments: dict, logs: dict, first_step: list[dict] | None = None,
                 best: dict | None = None) -> dict:
    """The summary of a run's states, given their fit `result` (metrics.Evaluator's at their step): fit beside the
    floor, named failures, verdicts, the table over replicates and, for mixtures, the modes captured."""
    guard = np.stack([np.asarray(states["nonfinite"]), np.asarray(states["nonfinite_step"])], 1)  # (K, 2)
    summary = summarize(cfg, result, floor, logs, target_moments, guard, first_step, best)
    if target.components is not None:  # mixtures: modes captured, high quality, reverse KL (VEEGAN/PacGAN)
        summary["modes"] = modes.evaluate(gan.sample, states, target)
    return summary
