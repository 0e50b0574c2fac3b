"""`distgan sweep`: configurations times seeds. A spec names a base config, axes (fields to vary: a grid of values,
or distributions for a random search), targets and seeds; each point of the sweep is one trial that trains its
seeds at once as replicates, and the trials run on Ray Tune: a local Ray runtime started by the command, or a
cluster joined with `--address`.

    preset = "seed"                  # the base: a preset, a config file (config = "my.toml"), [set] overrides
    seeds = 4                        # replicates per trial: seeds seed .. seed + seeds - 1
    steps = 1000
    [axes]
    "train.d_lr" = [2e-4, 1e-3]      # a grid: every combination is a trial
    "train.batch_size" = [64, 128]

The sweep folder:
    sweep.toml, sweep.json   the spec as given, and its trials resolved (a rerun with another spec is refused)
    NNN-FIELD=VALUE-.../     one run folder per finished trial, with trial.json, its row of results.csv
    results.csv, best.toml, sweep.png   the rows, the best trial's config, the fit against each axis
    .partial/, .tune/        trials under way (each attempt in a folder of its own) and Ray Tune's own files
A trial trains in .partial/ and is renamed into place when it has finished, so its folder is whole or absent and two
attempts never write one folder: a rerun skips the finished trials and redoes the rest. Everything about the spec
is checked before Ray is imported.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import io
import itertools
import json
import logging
import math
import os
import re
import shutil
import time
import tomllib
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np

from . import config, devices, metrics, presets
from .config import Config, ConfigError
from .data import make_target
from .files import LOCK, Busy, FolderLock, atomic_write, dumps_json, read_json, write_json
from .plots import plot_sweep
from .report import diagnose
from .train import train

KEYS = ("preset", "config", "set", "seeds", "seed", "steps", "targets", "axes", "samples", "search_seed", "asha",
        "plots", "cpus_per_trial", "gpus_per_trial")
DISTRIBUTIONS = ("uniform", "loguniform", "randint", "choice")
OWN = ("train.replicates", "train.seed")  # set by the spec's seeds and seed, not by an axis
FIT = ("ks_ratio_median", "ks_ratio_p90", "w1_ratio_median", "w1_ratio_p90", "within_floor", "collapsed", "diverged")
TRIAL_JSON, PARTIAL, TUNE = "trial.json", ".partial", ".tune"
GPU_SHARE = 0.25  # a trial's share of a GPU by default: its replicates leave a GPU mostly idle (benchmarks/gpu.md)


@dataclass
class Spec:
    """A sweep spec, checked: the base config, the axes in the spec's order, the targets, and how trials run."""

    path: Path
    text: str
    base: Config  # preset, config file, [set], seeds and steps applied
    axes: dict[str, list | tuple]  # field -> a list of values (the grid) or (distribution, arguments)
    targets: list[dict[str, str]]  # each: the target.* fields it sets
    samples: int = 1  # random points, each crossed with the grid and the targets
    search_seed: int = 0
    asha: dict | None = None  # {"grace_steps", "reduction_factor"}: ASHA early stopping on the fit ratio
    plots: bool = True
    cpus_per_trial: float = 1.0
    gpus_per_trial: float | None = None  # None: GPU_SHARE where the cluster has GPUs, else 0
    trials: list[Trial] = dataclasses.field(default_factory=list)  # make_trials(spec): load_spec checks each

    def __repr__(self):
        return f"Spec({str(self.path)!r}, axes={list(self.axes)}, targets={len(self.targets)}, " \
               f"seeds={self.base.train.replicates}, steps={self.base.train.steps})"


@dataclass
class Trial:
    """One point of the sweep: its axis values, its target and the config that trains its seeds."""

    index: int
    name: str  # its folder in the sweep folder
    values: dict[str, Any]  # axis field -> value
    target: str
    cfg: Config

    def __repr__(self):
        return f"Trial({self.name!r}, target={self.target!r}, seeds={self.cfg.train.replicates})"


# --- the spec ------------------------------------------------------------------------------------------------

def _fields(table: Any, where: str) -> dict[str, Any]:
    """{"section.field": value} from a table of dotted keys ("train.d_lr" = ...) or of sections ([axes.train])."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table of section.field = value")
    out = {}
    for key, value in table.items():
        if "." not in key and isinstance(value, dict):
            out.update({f"{key}.{name}": v for name, v in value.items()})
        else:
            out[key] = value
    return out


def _coerced(cfg: Config, key: str, value: Any) -> Any:
    """value as the field(s) of an axis hold it (ConfigError naming the field if it cannot). An axis key may name
    several fields, comma-separated ("train.d_lr,train.g_lr"): each value then sets them all."""
    probe = copy.deepcopy(cfg)
    for field in key.split(","):
        config.set_field(probe, field.strip(), value)
    return config.get_field(probe, key.split(",")[0].strip())


def _axis(cfg: Config, key: str, value: Any) -> list | tuple:
    """An axis checked against its field(s): a list of distinct values, or (distribution, arguments)."""
    for field in key.split(","):
        try:
            config.get_field(cfg, field.strip())
        except AttributeError:
            config.set_field(copy.deepcopy(cfg), field.strip(), None)  # raises: unknown config key, naming the keys
    kind = type(config.get_field(cfg, key.split(",")[0].strip()))
    if any(f.strip() in OWN for f in key.split(",")):
        raise ConfigError("set by the spec's seeds and seed, not by an axis", key)
    if isinstance(value, list):
        if not value:
            raise ConfigError("empty list: give at least one value", key)
        values = [_coerced(cfg, key, v) for v in value]
        for i, v in enumerate(values):
            if v in values[:i]:
                raise ConfigError(f"value {v!r} appears twice", key)
        return values
    if not (isinstance(value, dict) and len(value) == 1 and next(iter(value)) in DISTRIBUTIONS):
        raise ConfigError(f"expected a list of values or one distribution ({', '.join(DISTRIBUTIONS)} = [...]), "
                          f"got {value!r}", key)
    dist, args = next(iter(value.items()))
    if dist == "choice":
        if not isinstance(args, list):
            raise ConfigError(f"choice: expected a list of values, got {args!r}", key)
        return dist, _axis(cfg, key, args)
    if not (isinstance(args, list) and len(args) == 2):
        raise ConfigError(f"{dist}: expected [low, high], got {args!r}", key)
    if dist == "randint" and kind is not int or dist != "randint" and kind is not float:
        raise ConfigError(f"{dist} does not fit a field of type {kind.__name__} (use "
                          f"{'randint' if kind is int else 'uniform or loguniform'}, or choice)", key)
    lo, hi = (_coerced(cfg, key, a) for a in args)
    if not lo < hi or dist == "loguniform" and lo <= 0:
        raise ConfigError(f"{dist}: expected low < high{' and low > 0' if dist == 'loguniform' else ''}, got "
                          f"{args!r}", key)
    return dist, [lo, hi]


def _targets(value: Any, where: Path) -> list[dict[str, str]]:
    """The spec's targets: a target spec string, or {data = FILE, columns = "a,b"} (FILE relative to the spec)."""
    out = []
    for t in value if isinstance(value, list) else [value]:
        if isinstance(t, str):
            out.append({"target.spec": t, "target.data": "", "target.columns": ""})
        elif isinstance(t, dict) and isinstance(t.get("data"), str) and set(t) <= {"data", "columns"}:
            out.append({"target.data": str((where.parent / t["data"]).resolve()),
                        "target.columns": str(t.get("columns", ""))})
        else:
            raise ConfigError(f"targets: expected target specs or {{data = FILE, columns = \"a,b\"}}, got {t!r}")
    if not out:
        raise ConfigError("targets: empty list: give at least one target")
    return out


def _number(data: dict, key: str, default, kind: type, low: float, high: float = math.inf):
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or kind is int and not isinstance(value, int) \
            or not low <= value <= high:
        raise ConfigError(f"{key}: expected {'a whole number' if kind is int else 'a number'} in [{low}, {high}], "
                          f"got {value!r}")
    return kind(value)


def load_spec(path: str | Path) -> Spec:
    """Read and check a sweep spec: every key, field, value and target; a one-line ConfigError naming the file."""
    path = Path(path)
    text, data = config.read_toml(path, "sweep spec")
    try:
        return _spec(path, text, data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def _spec(path: Path, text: str, data: dict) -> Spec:
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r}: a sweep spec has {', '.join(KEYS)}")
    name, file = data.get("preset"), data.get("config")
    if file is not None:
        if not isinstance(file, str):
            raise ConfigError(f"config: expected a file name, got {file!r}")
        file = path.parent / file
        if name is None:
            try:
                name = tomllib.loads(file.read_text()).get("preset")
            except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
                pass  # apply_toml below says what is wrong with the file
    if name is not None and not isinstance(name, str):
        raise ConfigError(f"preset: expected a preset name, got {name!r}")
    base = presets.get(name or "default")
    if file is not None:
        config.apply_toml(base, file)
    try:
        for key, value in _fields(data.get("set", {}), "set").items():
            config.set_field(base, key, value)
    except ConfigError as e:
        raise ConfigError(f"set: {e}") from None
    base.train.replicates = _number(data, "seeds", base.train.replicates, int, 1)
    base.train.seed = _number(data, "seed", base.train.seed, int, 0)
    if "steps" in data:  # as --steps sets it
        try:
            config.set_field(base, "train.steps", data["steps"])
        except ConfigError as e:
            raise ConfigError(f"steps: {e.detail}") from None
    try:
        config.validate(base)
    except ConfigError as e:
        raise ConfigError(f"the base config: {e}") from None
    try:
        axes = {key: _axis(base, key, value) for key, value in _fields(data.get("axes", {}), "axes").items()}
    except ConfigError as e:
        raise ConfigError(f"axes: {e}") from None
    targets = _targets(data["targets"], path) if "targets" in data else \
        [{"target.spec": base.target.spec, "target.data": base.target.data, "target.columns": base.target.columns}]
    if "targets" in data and any(f.strip().startswith("target.") and f.strip() != "target.holdout"
                                 for key in axes for f in key.split(",")):
        raise ConfigError("targets: give the targets either as `targets` or as an axis on target.*, not both")
    random = any(isinstance(v, tuple) for v in axes.values())
    if random and "samples" not in data:
        raise ConfigError("samples: a random axis needs the number of random points, samples = N")
    if not random and data.get("samples", 1) != 1:
        raise ConfigError("samples: only a random axis (uniform, loguniform, randint, choice) takes samples")
    asha = data.get("asha", False)
    if asha is not False:
        table = {} if asha is True else asha
        if not isinstance(table, dict) or set(table) - {"grace_steps", "reduction_factor"}:
            raise ConfigError(f"asha: expected true or a table of grace_steps, reduction_factor, got {asha!r}")
        every = base.train.eval_every
        asha = {"grace_steps": _number(table, "grace_steps", every, int, 1),
                "reduction_factor": _number(table, "reduction_factor", 3, float, 1.01)}
        if every >= base.train.steps:
            raise ConfigError(f"asha: stops trials at evaluations, but train.eval_every ({every}) leaves none "
                              f"before the last step ({base.train.steps})")
    plots = data.get("plots", True)
    if not isinstance(plots, bool):
        raise ConfigError(f"plots: expected true or false, got {plots!r}")
    gpus = data.get("gpus_per_trial")
    spec = Spec(path, text, base, axes, targets, samples=_number(data, "samples", 1, int, 1),
                search_seed=_number(data, "search_seed", 0, int, 0), asha=asha or None, plots=plots,
                cpus_per_trial=_number(data, "cpus_per_trial", 1, float, 0.01),
                gpus_per_trial=None if gpus is None else _number(data, "gpus_per_trial", 0, float, 0, 1))
    spec.trials = make_trials(spec)  # every trial's config and target checked here, before anything runs
    return spec


# --- the trials ----------------------------------------------------------------------------------------------

def _draw(rng: np.random.Generator, dist: str, args: list) -> Any:
    """One random value; floats keep 4 significant digits, so a folder name, the table and the run all agree."""
    if dist == "choice":
        return args[int(rng.integers(len(args)))]
    if dist == "randint":
        return int(rng.integers(args[0], args[1] + 1))
    x = rng.uniform(*args) if dist == "uniform" else math.exp(rng.uniform(math.log(args[0]), math.log(args[1])))
    return float(f"{x:.4g}")


def _label(target: dict[str, str]) -> str:
    if target.get("target.data"):
        columns = target.get("target.columns")
        return Path(target["target.data"]).name + (f"[{columns}]" if columns else "")
    return target["target.spec"]


def _short(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value).lower() if isinstance(value, bool) else str(value)


def _field_names(key: str) -> str:
    """An axis by its fields' own names: 'train.d_lr,train.g_lr' -> 'd_lr,g_lr'."""
    return ",".join(f.strip().split(".")[-1] for f in key.split(","))


def _name(index: int, width: int, values: dict, target: str | None) -> str:
    """A trial's folder: its index and its values, e.g. '003-d_lr=0.001-batch_size=128' (safe characters only)."""
    parts = [f"{index:0{width}d}"] + [f"{_field_names(f)}={_short(v)}" for f, v in values.items()]
    name = "-".join(parts + ([target] if target else []))
    return re.sub(r"[^A-Za-z0-9._=+,-]", "_", name)[:120]


def make_trials(spec: Spec) -> list[Trial]:
    """The sweep's trials, in order: targets x the grid's combinations x the random points (drawn from
    search_seed, the same points for every grid point and target). Each config is checked (a one-line error)."""
    grid = {f: v for f, v in spec.axes.items() if isinstance(v, list)}
    rng = np.random.default_rng(spec.search_seed)
    draws = [{f: _draw(rng, *v) for f, v in spec.axes.items() if isinstance(v, tuple)} for _ in range(spec.samples)]
    points = [dict(zip(grid, combo)) for combo in itertools.product(*grid.values())]
    n = len(spec.targets) * len(points) * len(draws)
    width, trials, checked = max(3, len(str(n - 1))), [], set()
    for target in spec.targets:
        label = _label(target)
        for point in points:
            for draw in draws:
                values = {f: {**point, **draw}[f] for f in spec.axes}
                cfg = copy.deepcopy(spec.base)
                name = _name(len(trials), width, values, label.split(":")[0] if len(spec.targets) > 1 else None)
                try:
                    for key, value in {**target, **values}.items():
                        for field in key.split(","):
                            config.set_field(cfg, field.strip(), value)
                    config.validate(cfg)
                    key = (cfg.target.spec, cfg.target.data, cfg.target.columns, cfg.target.holdout)
                    if key not in checked:  # a bad target spec or data file fails here, once per target
                        make_target(cfg.target)
                        checked.add(key)
                except ConfigError as e:
                    raise ConfigError(f"trial {name}: {e}") from None
                if spec.asha and not cfg.train.checkpoint_every:  # a trial stopped at an evaluation keeps its state
                    cfg.train.checkpoint_every = cfg.train.eval_every
                trials.append(Trial(len(trials), name, values, label, cfg))
    return trials


# --- the sweep folder --------------------------------------------------------------------------------------------

def _record(spec: Spec) -> dict:
    """What a rerun must find unchanged in sweep.json: every trial's name, values and resolved config, and ASHA."""
    return {"asha": spec.asha, "trials": [{"name": t.name, "values": t.values, "target": t.target,
                                           "config": config.to_dict(t.cfg)} for t in spec.trials]}


def _difference(old: dict, new: dict) -> str:
    """Where two sweep records first differ, in words."""
    if old.get("asha") != new["asha"]:
        return f"asha is {old.get('asha')} there, {new['asha']} here"
    a, b = old.get("trials", []), new["trials"]
    if len(a) != len(b):
        return f"it has {len(a)} trials, this spec makes {len(b)}"
    for i, (x, y) in enumerate(zip(a, b)):
        pairs = [(k, x["values"].get(k), v) for k, v in y["values"].items()] + [("target", x["target"], y["target"])]
        pairs += [(f"{section}.{k}", x["config"].get(section, {}).get(k), v)
                  for section, fields in y["config"].items() if isinstance(fields, dict) for k, v in fields.items()]
        for key, theirs, ours in pairs + [("its name", x["name"], y["name"])]:
            if theirs != ours:
                return f"trial {i}: {key} is {theirs!r} there, {ours!r} here"
    return "its record differs"


def prepare(spec: Spec, out: Path):
    """Claim the sweep folder: new, or the same sweep's (another spec's is refused in one line). Clears what killed
    attempts left in .partial/ and .tune/. Returns the folder's lock (files.FolderLock), held until released."""
    if out.exists() and not (out / "sweep.json").exists() and (
            not out.is_dir() or {p.name for p in out.iterdir()} - {LOCK}):
        raise ConfigError(f"{out}: exists and is not a sweep folder (no sweep.json): choose another --out", "out")
    if not out.parent.is_dir():
        raise ConfigError(f"{out}: parent directory {out.parent} does not exist", "out")
    out.mkdir(exist_ok=True)
    try:
        lock = FolderLock.take(out)  # another sweep on this folder is refused naming its pid
    except Busy as e:
        raise ConfigError(str(e), "out") from None
    record, saved = json.loads(dumps_json(_record(spec))), out / "sweep.json"  # as it reads back from JSON
    if saved.exists():
        old = read_json(saved, "sweep record")
        if old != record:
            lock.release()
            raise ConfigError(f"{out}: holds a sweep made from another spec ({_difference(old, record)}); "
                              f"rerun it with its own spec ({out / 'sweep.toml'}) or choose another --out", "out")
    else:
        atomic_write(out / "sweep.toml", spec.text)
        write_json(saved, record)
    for folder in (PARTIAL, TUNE):
        shutil.rmtree(out / folder, ignore_errors=True)
    (out / PARTIAL).mkdir(exist_ok=True)
    return lock


def finish(partial: Path, final: Path, row: dict) -> bool:
    """Write the trial's row into its folder and rename it into place; False if another attempt got there first
    (its folder stays, this one is removed)."""
    write_json(partial / TRIAL_JSON, row)
    try:
        os.rename(partial, final)  # refused when final exists and is not empty
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)
        return False
    return True


def done(out: Path, trials: list[Trial]) -> list[dict]:
    """The rows of the finished trials, in trial order."""
    return [read_json(out / t.name / TRIAL_JSON, "trial record") for t in trials
            if (out / t.name / TRIAL_JSON).exists()]


# --- results ----------------------------------------------------------------------------------------------------

def columns(spec: Spec) -> list[str]:
    return [*spec.axes, "target", *FIT, "seconds", "stopped_at", "trial"]


def fit(row: dict) -> float:
    """A trial's place in the ranking: the larger of its median KS and W1 ratios over seeds (1: sampling noise)."""
    return max(row["ks_ratio_median"], row["w1_ratio_median"])


def table_row(summary: dict) -> dict:
    """A finished run's fit over its seeds, from summary.json's table."""
    t = summary["table"]
    return {"ks_ratio_median": t["ks_ratio"]["median"], "ks_ratio_p90": t["ks_ratio"]["p90"],
            "w1_ratio_median": t["w1_ratio"]["median"], "w1_ratio_p90": t["w1_ratio"]["p90"],
            **{k: t[k] for k in ("within_floor", "collapsed", "diverged")}}


def fit_row(result: dict, floor: dict, target_moments: dict) -> dict:
    """The same figures from one evaluation's result, as a trial reports them at each evaluation."""
    r = metrics.ratios(result, floor)
    ks, w1 = r["ks"].max(-1), r["w1"].max(-1)  # worst dimension, (K,)
    problems = diagnose(result, {}, target_moments)
    return {"ks_ratio_median": float(np.median(ks)), "ks_ratio_p90": float(np.percentile(ks, 90)),
            "w1_ratio_median": float(np.median(w1)), "w1_ratio_p90": float(np.percentile(w1, 90)),
            "within_floor": int(metrics.within_floor(result, floor).sum()),
            "collapsed": sum("collapsed" in p for p in problems), "diverged": sum("diverged" in p for p in problems)}


def write_results(spec: Spec, out: Path) -> list[dict]:
    """results.csv from the finished trials' rows (one per trial, in trial order), best.toml and sweep.png."""
    rows = done(out, spec.trials)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, columns(spec), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({**r, "stopped_at": r.get("stopped_at") or ""} for r in rows)
    atomic_write(out / "results.csv", buf.getvalue())
    finished = [r for r in rows if not r.get("stopped_at")]
    if finished:
        best = min(finished, key=fit)
        cfg = next(t.cfg for t in spec.trials if t.name == best["trial"])
        atomic_write(out / "best.toml", f"# the best trial of {out}: {best['trial']}, KS ratio median "
                                        f"{best['ks_ratio_median']:.2f}, W1 ratio median {best['w1_ratio_median']:.2f}"
                                        f"\n# distgan train --config best.toml (--replicates 1 for one seed)\n"
                                        + config.dumps(cfg))
    if spec.plots and rows and spec.axes:
        plot_sweep(rows, list(spec.axes), out / "sweep.png")
    return rows


def rank(row: dict) -> tuple:
    """The trials that ran to the end first, by fit; then those ASHA stopped, whose figures are of an earlier step."""
    return bool(row.get("stopped_at")), fit(row)


def format_results(spec: Spec, rows: list[dict]) -> list[str]:
    """The ranked table, best first (rank): finished trials by fit, then those ASHA stopped."""
    axes = [_field_names(f) for f in spec.axes]
    several = len(spec.targets) > 1
    head = ["rank", *axes, *(["target"] if several else []), "KS med/p90", "W1 med/p90", "within", "coll", "div",
            "seconds", "stopped"]
    lines = []
    for i, r in enumerate(sorted(rows, key=rank)):
        lines.append([str(i + 1), *(_short(r[f]) for f in spec.axes), *([r["target"]] if several else []),
                      f"{r['ks_ratio_median']:.2f}/{r['ks_ratio_p90']:.2f}",
                      f"{r['w1_ratio_median']:.2f}/{r['w1_ratio_p90']:.2f}",
                      f"{r['within_floor']}/{spec.base.train.replicates}", str(r["collapsed"]), str(r["diverged"]),
                      f"{r['seconds']:.1f}", str(r.get("stopped_at") or "")])
    widths = [max(len(x) for x in col) for col in zip(head, *lines)]
    return ["  ".join(x.rjust(w) for x, w in zip(row, widths)).rstrip() for row in [head, *lines]]


# --- a trial, in a Ray worker ------------------------------------------------------------------------------------

def run_trial(params: dict, trials: list[Trial], out: str, plots: bool, asha: bool, cpus: float, gpus: float,
              cache: str) -> None:
    """Train one trial's seeds into a folder of its own under .partial/, then rename it into place.

    With ASHA the fit is reported at each evaluation before the last; Tune stops a trial there by ending its report
    (SystemExit), once the evaluation's checkpoint is on disk, and the driver puts its folder into place.
    """
    from ray import tune

    trial, out = trials[params["trial"]], Path(out)
    os.environ["DISTGAN_CPU_DEVICES"] = str(max(1, int(cpus)))  # a CPU device per core the trial holds
    if gpus:  # several trials share a GPU: each takes its share of the memory instead of JAX's 75 %
        os.environ["XLA_PYTHON_CLIENT_MEM_FRACTION"] = f"{0.9 * gpus:.3f}"
    devices.select("auto")
    if cache:
        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    partial = out / PARTIAL / f"{trial.name}.{uuid.uuid4().hex[:8]}"
    t0, steps = time.perf_counter(), trial.cfg.train.steps
    moments = make_target(trial.cfg.target).moments() if asha else None  # to name collapsed and diverged seeds

    def on_eval(step, result, floor):
        if asha and step < steps:
            row = fit_row(result, floor, moments)
            tune.report({"step": step, "fit": fit(row), "row": row, "partial": str(partial),
                         "seconds": time.perf_counter() - t0})

    run = train(trial.cfg, partial, echo=None, progress=False, plots=plots, on_eval=on_eval)
    row = {**trial.values, "target": trial.target, **table_row(run.summary), "seconds": time.perf_counter() - t0,
           "stopped_at": None, "trial": trial.name}
    finish(partial, out / trial.name, row)
    tune.report({"step": steps, "fit": fit(row), "row": row})


# --- the sweep, on Ray --------------------------------------------------------------------------------------------

def connect(address: str | None) -> bool:
    """Join the Ray cluster at `address`, or start a local Ray runtime on this machine's cores; True if this call
    started or joined it (and so must shut it down). A runtime already started in this process is used as it is."""
    try:
        import ray
        from ray import tune  # noqa: F401  (ray without its Tune extra fails here)
    except ImportError:
        raise ConfigError("distgan sweep runs on Ray, which is not installed: pip install 'distgan[sweep]'") from None
    if ray.is_initialized():
        return False
    quiet = {"log_to_driver": False, "logging_level": "error", "configure_logging": True}
    with warnings.catch_warnings():  # JAX warns of any fork; Ray's fork is subprocess's, an exec straight after
        warnings.filterwarnings("ignore", r"os\.fork\(\) was called", RuntimeWarning)
        try:
            if address:
                ray.init(address=address, **quiet)
            else:  # a small object store: trials pass configs and rows only
                cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
                ray.init(num_cpus=cores, include_dashboard=False, object_store_memory=100 << 20, **quiet)
        except Exception as e:  # noqa: BLE001  (Ray raises plain Exceptions: no cluster there, a start that timed out)
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            if address:
                raise ConfigError(f"cannot join the Ray cluster at {address}: {first}", "address") from None
            raise ConfigError(f"Ray did not start: {first}") from None
    return True


def run_on_ray(spec: Spec, todo: list[Trial], out: Path, address: str | None = None, echo=print) -> list[str]:
    """Run the trials `todo` as Ray Tune trials; each finished one is in place, and results.csv rewritten, as it
    ends. Returns one line per failed trial."""
    started = connect(address)
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    points = spec.trials
    failures, count = [], [len(points) - len(todo)]
    try:
        resources = ray.cluster_resources()
        gpus = spec.gpus_per_trial if spec.gpus_per_trial is not None else GPU_SHARE if resources.get("GPU") else 0
        for kind, want in (("CPU", spec.cpus_per_trial), ("GPU", gpus)):
            if want > resources.get(kind, 0):
                raise ConfigError(f"{spec.path}: a trial asks for {want:g} {kind}s but the Ray cluster has "
                                  f"{resources.get(kind, 0):g}")
        where = f"Ray at {address}" if address else "a local Ray runtime"
        echo(f"sweep {spec.path}: {len(todo)} of {len(points)} trials to run, {spec.base.train.replicates} seeds each, "
             f"on {where} ({resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs; per trial "
             f"{spec.cpus_per_trial:g} CPU{f', {gpus:g} GPU' if gpus else ''})")

        class Record(tune.Callback):
            """The driver's side: a trial stopped by ASHA is put into place from its last report; each trial's end
            is announced and rewrites results.csv."""

            def on_trial_complete(self, iteration, trials, trial, **info):
                t = points[trial.config["trial"]]
                last = trial.last_result or {}
                if not (out / t.name / TRIAL_JSON).exists() and "partial" in last:
                    row = {**t.values, "target": t.target, **last["row"], "seconds": last["seconds"],
                           "stopped_at": last["step"], "trial": t.name}
                    finish(Path(last["partial"]), out / t.name, row)
                if (out / t.name / TRIAL_JSON).exists():
                    row = read_json(out / t.name / TRIAL_JSON)
                    count[0] += 1
                    stopped = f", stopped by ASHA at step {row['stopped_at']}" if row.get("stopped_at") else ""
                    echo(f"[{count[0]}/{len(points)}] {t.name}: KS {row['ks_ratio_median']:.2f}/"
                         f"{row['ks_ratio_p90']:.2f}, W1 {row['w1_ratio_median']:.2f}/{row['w1_ratio_p90']:.2f} "
                         f"(median/p90), {row['within_floor']}/{t.cfg.train.replicates} within the floor, "
                         f"{row['seconds']:.1f} s{stopped}")
                    write_results(spec, out)

            def on_trial_error(self, iteration, trials, trial, **info):
                t = points[trial.config["trial"]]
                text = Path(trial.error_file).read_text() if getattr(trial, "error_file", None) else ""
                errors = [x for x in text.splitlines() if re.match(r"[\w.]+(Error|Exception): ", x)]
                failures.append(f"trial {t.name} failed: {errors[-1] if errors else 'see ' + str(out / TUNE)}")
                echo(failures[-1])

        scheduler = None
        if spec.asha:
            scheduler = ASHAScheduler(time_attr="step", metric="fit", mode="min",
                                      max_t=max(t.cfg.train.steps for t in points),
                                      grace_period=spec.asha["grace_steps"],
                                      reduction_factor=spec.asha["reduction_factor"])
        os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # the run folders are the record
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # Tune's own reporter, which verbose=0 silences
        trainable = tune.with_resources(
            tune.with_parameters(run_trial, trials=points, out=str(out), plots=spec.plots, asha=bool(spec.asha),
                                 cpus=spec.cpus_per_trial, gpus=gpus, cache=jax.config.jax_compilation_cache_dir or ""),
            {"cpu": spec.cpus_per_trial, "gpu": gpus})
        tuner = tune.Tuner(
            trainable, param_space={"trial": tune.grid_search([t.index for t in todo])},
            tune_config=tune.TuneConfig(scheduler=scheduler, reuse_actors=True),
            run_config=tune.RunConfig(name="tune", storage_path=str(out / TUNE), verbose=0, callbacks=[Record()],
                                      failure_config=tune.FailureConfig(max_failures=0)))
        tune_log = logging.getLogger("ray.tune")  # its tracebacks of failed trials: the lines above say it in one
        level = tune_log.level
        tune_log.setLevel(logging.CRITICAL)
        try:
            tuner.fit()
        except Exception as e:  # noqa: BLE001  (Tune gives up on the sweep: e.g. the node ran out of memory)
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            failures.append(f"Ray Tune stopped the sweep: {first}")
            echo(failures[-1])
        finally:
            tune_log.setLevel(level)
    finally:
        if started:
            ray.shutdown()
    return failures


def run(spec: Spec, out: str | Path, address: str | None = None, echo=print) -> tuple[list[dict], list[str]]:
    """Run a sweep into `out`, or continue it there: (every finished trial's row, a line per failed trial)."""
    out = Path(out).resolve()
    lock = prepare(spec, out)
    try:
        todo = [t for t in spec.trials if not (out / t.name / TRIAL_JSON).exists()]
        if len(todo) < len(spec.trials):
            echo(f"{out}: {len(spec.trials) - len(todo)} of {len(spec.trials)} trials already finished, skipped")
        failures = run_on_ray(spec, todo, out, address, echo) if todo else []
        return write_results(spec, out), failures
    finally:
        lock.release()
