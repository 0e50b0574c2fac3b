"""The command line: train, sample, evaluate, bench, sweep, presets, targets. Bad input exits 2 with one line, no traceback."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import tomllib
from pathlib import Path

import jax

from . import config, fast, presets, sweep
from .animate import animate
from .bench import FLOOR_DRAWS, SUITE, bench_fit, bench_suite, format_suite, suite_verdict, verdict
from .config import Config, ConfigError
from .console import format_auto, format_fit, format_table, format_timing, progress_bar
from .data import file_format, make_target, write_samples
from .devices import beside, select
from .files import WriteError, write_json
from .metrics import Evaluator, noise_floor
from .page import REPORT, open_run, real_sample, rebuild
from .report import evaluate_run, last_logs, saved_first_steps
from .runs import load, load_config, run_folder
from .targets import DESCRIPTIONS, TARGETS, example, parse
from .train import Interrupted, train

# config fields and arguments the library names in its errors -> the flag that sets them here
FLAGS = {"preset": "--preset", "target.spec": "--target", "target.data": "--data", "target.columns": "--columns",
         "train.steps": "--steps", "train.seed": "--seed", "train.replicates": "--replicates", "out": "--out",
         "device": "--device", "replicate": "--replicate", "at": "--at", "output": "-o", "n": "-n", "seed": "--seed",
         "address": "--address", "report.tensorboard": "--tensorboard"}
ARGUMENTS = ("out", "device", "replicate", "at", "output", "n", "seed", "address")  # set by flags alone, never by a config field


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse's default prints the usage too)
        raise ConfigError(message)


def _add_training_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", help="start from a preset (see `distgan presets`); default: 'auto', the preset that "
                   "suits the target")
    p.add_argument("--config", help="TOML file overriding the preset's fields ([train] steps = 5000, ...)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                   help="override one field, e.g. --set train.d_lr=1e-3 (repeatable)")
    p.add_argument("--target", help="target spec, e.g. 'mixture:weights=0.3,0.7;means=-2,3;stds=0.5,1'")
    p.add_argument("--data", help="learn the columns of a data file (CSV, TSV, NPY, Parquet)")
    p.add_argument("--columns", help="comma-separated columns of --data")
    p.add_argument("--steps", help="training steps (train.steps)")
    p.add_argument("--seed", help="seed of the first replicate (train.seed)")
    p.add_argument("--replicates", help="independent GANs trained at once (train.replicates)")
    p.add_argument("--out", help="run folder to write (default runs/TARGET-PRESET-sSEED)")
    p.add_argument("--resume", metavar="RUN", help="continue the run folder RUN from its checkpoint, bit-identically; "
                   "its config is used, and only --steps (larger, constant schedule) may change it")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "gpu"), help="where JAX runs (auto: GPU if seen)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--tensorboard", action="store_true", help="also write TensorBoard event files into the run folder "
                   "(report.tensorboard; needs pip install 'distgan[tensorboard]')")


def _bench_flags(p, each: str, seeds: int, evals: int, steps: str) -> None:
    """The flags `bench fit` and `bench suite` share; `each` names what their seeds are per."""
    p.add_argument("--seeds", type=int, default=seeds,
                   help=f"seeds per {each}, trained at once as replicates (default {seeds})")
    p.add_argument("--evals", type=int, default=evals, help="further evaluations of each seed's final generator, "
                   f"pooled beside a perfect generator's score (default {evals}; 0: none)")
    p.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--steps", help=steps)
    p.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                   help=f"override one field for every {each} (repeatable), e.g. --set eval.n_samples=2000")
    p.add_argument("--out", help="keep the run folders under this folder (default: a temporary folder)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "gpu"), help="where JAX runs (auto: GPU if seen)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="distgan", description="Learn low-dimensional distributions with GANs.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("train", help="train GANs and write a run folder")
    _add_training_flags(p)
    p.add_argument("--compare", metavar="PRESET",
                   help="also train PRESET (in a thread beside the main run, once it has compiled) on the same target, steps, seeds and evaluation, and print its verdict too")
    p = sub.add_parser("sample", help="draw from a trained generator into .csv, .tsv, .npy or .parquet")
    p.add_argument("run", help="run folder")
    p.add_argument("-n", type=int, default=10000, help="number of samples (streamed to the file in chunks)")
    p.add_argument("-o", "--output", required=True,
                   help="output file: .csv, .tsv, .npy or .parquet (a data run's columns and value types come back)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed: the same seed gives the same samples")
    p.add_argument("--replicate", type=int, default=0, help="which replicate's generator")
    p.add_argument("--at", choices=("last", "best"), default="last",
                   help="the last checkpoint or each replicate's best point by fit ratio")
    p = sub.add_parser("evaluate", help="recompute and print the fit of a finished run")
    p.add_argument("run", help="run folder")
    p.add_argument("--replicate", type=int, help="report one replicate (default: replicate 0, and the table)")
    p.add_argument("--at", choices=("last", "best"), default="last",
                   help="the last checkpoint or each replicate's best point by fit ratio")
    p = sub.add_parser("report", help="write a run folder's report.html again (a page to open in a browser)")
    p.add_argument("run", help="run folder")
    p.add_argument("-o", "--output", help=f"the page to write (default RUN/{REPORT})")
    p.add_argument("--compare", metavar="RUN2", help="another run folder to show beside it (e.g. train --compare's)")
    p = sub.add_parser("animate", help="draw the run's training frames as a GIF")
    p.add_argument("run", help="run folder")
    p.add_argument("-o", "--output", default="train.gif", help="the GIF to write (default train.gif)")
    p.add_argument("--fps", type=float, default=10.0, help="frames per second (default 10)")
    sub.add_parser("presets", help="list the presets")
    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="bench", required=True, parser_class=_Parser)
    p = bench.add_parser("fit", help="train presets over many seeds; report the fit ratios' distribution over seeds")
    p.add_argument("--presets", default="default,seed", help="comma-separated presets to compare (default: default,seed)")
    p.add_argument("--target", help="target spec (default: each preset's, N(4, 1.25))")
    _bench_flags(p, "preset", seeds=64, evals=32, steps="training steps for every preset (default: the first preset's)")
    p = bench.add_parser("suite", help="train each target's preset (as `train` picks it) on a fixed suite of "
                         "targets, many seeds each; the fit beside a perfect generator's, per target")
    p.add_argument("--targets", default=",".join(SUITE), help=f"comma-separated, of: {', '.join(SUITE)} (default: all)")
    p.add_argument("--preset", default=presets.AUTO,
                   help="the preset to train (default: auto, the preset `train` chooses for each target)")
    p.add_argument("--json", help="also write the rows to this JSON file")
    _bench_flags(p, "target", seeds=16, evals=8, steps="training steps, or 'auto' (default: the preset's)")
    p = sub.add_parser("sweep", help="train every point of a grid or random search, many seeds each, as trials on Ray")
    p.add_argument("spec", help="sweep spec (TOML): base preset or config, [axes], targets, seeds, steps")
    p.add_argument("--out", help="sweep folder (default sweeps/SPEC-NAME); run again on it to finish a stopped sweep")
    p.add_argument("--address", help="run on a Ray cluster ('auto' or HOST:PORT) instead of a local Ray runtime")
    sub.add_parser("targets", help="list the built-in targets and their parameters")
    return parser


def config_from_args(args) -> Config:
    """preset -> config file -> --set -> shortcut flags, each overriding the last; then validated. Without a preset
    (or with 'auto') the preset is chosen from the target (presets.choose)."""
    name = _named_preset(args)
    auto = name in (None, presets.AUTO)
    cfg = _overridden(presets.get("default" if auto else name), args)
    target = None
    if auto:  # a data file starts from the default (presets.choose)
        target = None if cfg.target.data else make_target(cfg.target)
        name = "default" if target is None else presets.choose(target)
    if name in presets.FITTED:  # the preset depends on the target: fitted to it, then overridden as before
        cfg = _overridden(presets.get(name, make_target(cfg.target) if target is None else target), args)
    elif name != cfg.preset:
        cfg = _overridden(presets.get(name), args)
    return config.validate(cfg)


def _named_preset(args) -> str | None:
    """The preset named by --preset, else by the config file, else None."""
    if args.preset is None and args.config:
        try:
            return tomllib.loads(Path(args.config).read_text()).get("preset")
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            return None  # apply_toml reports the file's problem
    return args.preset


def _overridden(cfg: Config, args) -> Config:
    """cfg with the config file, --set and the shortcut flags applied, in that order."""
    if args.config:
        config.apply_toml(cfg, args.config)
    _apply_sets(cfg, args.set)
    shortcuts = {"steps": "train.steps", "seed": "train.seed", "replicates": "train.replicates",
                 "target": "target.spec", "data": "target.data", "columns": "target.columns"}
    for flag, key in shortcuts.items():
        if getattr(args, flag) is not None:
            config.set_field(cfg, key, getattr(args, flag))
    if args.tensorboard:
        cfg.report.tensorboard = True
    return cfg


def _apply_sets(cfg: Config, items: list[str]) -> None:
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            raise ConfigError(f"--set {item!r}: expected SECTION.FIELD=VALUE")
        config.set_field(cfg, key.strip(), value.strip())


def use_compile_cache() -> None:
    """Keep XLA's compiled programs between runs (DISTGAN_XLA_CACHE: a folder, or empty to turn it off).

    The training chunk, the evaluator and the noise floor take seconds to compile on CPU, longer than a short run
    trains: a second run of the same config and K loads them instead.
    """
    folder = os.environ.get("DISTGAN_XLA_CACHE", str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                                                        / "distgan" / "xla"))
    if folder:
        jax.config.update("jax_compilation_cache_dir", folder)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)


def config_for_resume(args) -> Config:
    """The run folder's own config; flags that would change the computation are refused, --steps may extend it."""
    changing = [f"--{f}" for f in ("preset", "config", "target", "data", "columns", "seed", "replicates", "out")
                if getattr(args, f) is not None] + (["--set"] if args.set else [])
    if changing:
        raise ConfigError(f"--resume takes its config from the run folder; {', '.join(changing)} would change the "
                          "run (start a new run instead)")
    cfg = load_config(args.resume)
    if args.tensorboard and not cfg.report.tensorboard:
        raise ConfigError("--tensorboard: the run was started without TensorBoard files; --resume keeps its config")
    if args.steps is not None:
        old = cfg.train.steps
        config.set_field(cfg, "train.steps", args.steps)
        if cfg.train.steps < old:
            raise ConfigError(f"--steps {cfg.train.steps}: the run has {old} steps; --resume can only extend it")
        if cfg.train.steps > old and cfg.train.auto_steps:
            raise ConfigError("--steps: a run with auto steps decides its own length, so it cannot be extended")
        if cfg.train.steps > old and cfg.train.schedule != "constant":
            raise ConfigError(f"--steps: the {cfg.train.schedule} schedule depends on the number of steps, so this "
                              "run cannot be extended")
    return config.validate(cfg)


def in_thread_beside(fn, *args, **kw):
    """Start fn(*args, **kw) in a thread, its unsplit work on another CPU device than the main thread's
    (devices.beside); returns a function that waits for it and returns its result or raises its exception."""
    box = {}

    def work():
        try:
            with beside():
                box["result"] = fn(*args, **kw)
        except BaseException as e:  # noqa: BLE001  (handed to the caller)
            box["error"] = e

    thread = threading.Thread(target=work, name=getattr(fn, "__name__", "beside"))
    thread.start()

    def join():
        thread.join()
        if "error" in box:
            raise box["error"]
        return box["result"]

    return join


def _finish(compare, stop: list):
    """Wait for the comparison; a Ctrl-C while waiting stops it at its next chunk (it raises Interrupted)."""
    try:
        return compare()
    except KeyboardInterrupt:
        stop.append(signal.SIGINT)
        return compare()


AUTO_FIELDS = ("auto_steps", "auto_every", "auto_draws", "auto_margin", "patience", "min_steps", "auto_cooldown")


def comparison(cfg: Config, name: str) -> Config:
    """Preset `name` on cfg's target, evaluation, steps, seeds and intervals: `train --compare`'s second run."""
    other = presets.get(name)
    other.target, other.eval, other.report = cfg.target, cfg.eval, cfg.report
    for field in ("steps", "seed", "replicates", "log_every", "eval_every", *AUTO_FIELDS):
        setattr(other.train, field, getattr(cfg.train, field))
    return other


def cmd_train(args) -> int:
    cfg = config_for_resume(args) if args.resume else config_from_args(args)
    if not args.resume and not args.quiet and _named_preset(args) in (None, presets.AUTO) and cfg.preset != "default":
        print(f"preset {cfg.preset}: the target has several modes (--preset default starts from the default)")
    select(args.device)
    use_compile_cache()
    with contextlib.ExitStack() as claims:  # each run releases its folder as it ends; these, if it never starts
        out, other, other_out = args.resume or args.out, None, None
        if args.compare:  # checked before training: a bad name or a taken folder fails in a second
            other = comparison(cfg, args.compare)
            out = run_folder(cfg, make_target(cfg.target).name, out, bool(args.resume))
            claims.callback(out.release)
            other_out = run_folder(other, "", out.folder.parent / f"{out.folder.name}-vs-{args.compare}",
                                   bool(args.resume))
            claims.callback(other_out.release)
        return _train_and_report(args, cfg, out, other, other_out)


def _train_and_report(args, cfg: Config, out, other: Config | None, other_out) -> int:
    """`train`'s runs and report: the main run, and with --compare the other preset's run in a thread beside it."""
    stop, compare = [], []

    def start_compare():  # once the main run has passed its checks and compiled: a thread beside it, sharing `stop`
        compare.append(in_thread_beside(train, other, other_out, echo=None, progress=False,
                                        plots=not args.no_plots, resume=bool(args.resume), stop=stop))

    try:
        run = train(cfg, out, echo=None if args.quiet else print, plots=not args.no_plots,
                    resume=bool(args.resume), stop=stop, on_start=start_compare if other is not None else None)
    except BaseException as e:
        for join in compare:  # the comparison stops at its next chunk (with a checkpoint); wait for it
            stop.append(signal.SIGINT)
            with contextlib.suppress(BaseException):
                join()
        if isinstance(e, Interrupted):
            print(f"distgan: {one_line(str(e))}", file=sys.stderr)
            return e.code
        raise
    s = run.summary
    for line in format_fit(s, 0, run.target.columns) + (format_table(s) if run.replicates > 1 else []):
        print(line)
    for line in format_auto(s) if "auto" in s else []:
        print(line)
    if s["timing"]["resumed_at"]:
        print(f"resumed at step {s['timing']['resumed_at']}")
    print(format_timing(s, s["auto"]["steps"] if "auto" in s else cfg.train.steps))
    print(f"run folder: {run.folder}")
    if other is None and cfg.report.html:
        print(f"report: {run.folder / REPORT}")
    if other is not None:
        steps = f"auto steps (at most {cfg.train.steps})" if cfg.train.auto_steps else f"{cfg.train.steps} steps"
        print(f"\nfor comparison, preset {args.compare!r} on the same target, {steps} and seed(s):")
        try:
            cmp = _finish(compare[0], stop)
        except Interrupted as e:
            print(f"distgan: {args.compare}: {one_line(str(e))}", file=sys.stderr)
            return e.code
        c = cmp.summary
        print(f"  {args.compare}: " + c["replicates"][0]["verdict"])
        print(f"  {cfg.preset}: " + s["replicates"][0]["verdict"])
        if run.replicates > 1:
            for name, summary in ((cfg.preset, s), (args.compare, c)):
                t = summary["table"]
                print(f"  {name} over {t['replicates']} seeds: {t['within_floor']} within the noise floor, "
                      f"KS ratio median {t['ks_ratio']['median']:.2f}, W1 ratio median {t['w1_ratio']['median']:.2f}")
        print(f"  ({args.compare} run folder: {cmp.folder})")
        if cfg.report.html:  # the main run's page, with the comparison beside it
            print(f"report: {rebuild(run.folder, compare=cmp.folder)}")
    return 0


BENCH_CHUNK = 500  # steps per compiled chunk (the results do not depend on it)


def _bench_config(preset: str, args, spec: str | None, steps) -> Config:
    """A bench run's config: the preset ('auto': chosen for the target), bench's W1 floor, --set, the target and
    steps, the seeds as replicates."""
    target = parse(spec or presets.get("default" if preset == presets.AUTO else preset).target.spec)
    if preset == presets.AUTO:
        preset = presets.choose(target)
    cfg = presets.get(preset, target)
    cfg.eval.floor_draws = FLOOR_DRAWS
    _apply_sets(cfg, args.set)
    if spec is not None:
        config.set_field(cfg, "target.spec", spec)
    if steps is not None:
        config.set_field(cfg, "train.steps", steps)
    cfg.train.seed, cfg.train.replicates = args.seed, args.seeds
    # one evaluation, at the end (auto steps: at its intervals too); chunks of at most BENCH_CHUNK steps, so that
    # Ctrl-C stops within seconds
    cfg.train.eval_every, cfg.train.log_every = cfg.train.steps, min(cfg.train.steps, BENCH_CHUNK)
    return config.validate(cfg)


def _check_bench_args(args) -> None:
    if args.seeds <= 0:
        raise ConfigError(f"--seeds {args.seeds}: expected a positive number of seeds")
    if args.evals < 0:
        raise ConfigError(f"--evals {args.evals}: expected 0 or more evaluations")
    if args.out and Path(args.out).exists() and any(Path(args.out).iterdir()):
        raise ConfigError(f"--out {args.out}: directory exists and is not empty (choose another --out)")


def cmd_bench(args) -> int:
    if args.bench == "suite":
        return cmd_bench_suite(args)
    names = [n.strip() for n in args.presets.split(",") if n.strip()]
    if not names:
        raise ConfigError("--presets: expected at least one preset name")
    _check_bench_args(args)
    configs = {}
    for name in names:
        steps = args.steps if args.steps is not None else configs[names[0]].train.steps if configs else None
        configs[name] = _bench_config(name, args, args.target, steps)
    select(args.device)
    first = configs[names[0]]
    print(f"bench fit: {first.target.spec}, seeds {args.seed}..{args.seed + args.seeds - 1}, "
          f"{first.eval.n_samples} samples per evaluation against a fresh real sample; "
          f"ratio = statistic / noise-floor median (KS: Smirnov's law; W1: {first.eval.floor_draws} pairs of real samples)")
    try:
        results = bench_fit(configs, args.out, evals=args.evals)
    except Interrupted as e:  # the run folder is resumable under --out; otherwise it was in a temporary folder
        where = str(e) if args.out else e.stopped + " (runs in a temporary folder, removed)"
        print(f"distgan: bench fit: {one_line(where)}", file=sys.stderr)
        return e.code
    for name, r in results.items():
        print(f"{name}: {verdict(r)} (median KS <= 1.1, median W1 <= 1.2, p90 of each <= 1.5, no collapse/divergence)")
    return 0


def cmd_bench_suite(args) -> int:
    names = [n.strip() for n in args.targets.split(",") if n.strip()]
    unknown = [n for n in names if n not in SUITE]
    if not names or unknown:
        raise ConfigError(f"--targets: expected names of {', '.join(SUITE)}, got {', '.join(unknown) or 'none'}")
    _check_bench_args(args)
    configs = {name: _bench_config(args.preset, args, SUITE[name], args.steps) for name in names}
    select(args.device)
    first = configs[names[0]]
    steps = f"auto steps (at most {first.train.steps})" if first.train.auto_steps else f"{first.train.steps} steps"
    chosen = ", ".join(f"{n} {c.preset}" for n, c in configs.items()) if args.preset == presets.AUTO else ""
    print(f"bench suite: preset {args.preset}{f' ({chosen})' if chosen else ''}"
          f"{''.join(' --set ' + s for s in args.set)}, {steps}, seeds "
          f"{args.seed}..{args.seed + args.seeds - 1} per target, {args.evals} pooled evaluations per seed of "
          f"{first.eval.n_samples} samples against fresh real ones, beside a perfect generator (pairs of real samples)")
    print("\n".join(format_suite({})))
    try:
        rows = bench_suite(configs, args.out, evals=args.evals)
    except Interrupted as e:
        where = str(e) if args.out else e.stopped + " (runs in a temporary folder, removed)"
        print(f"distgan: bench suite: {one_line(where)}", file=sys.stderr)
        return e.code
    met = [name for name, r in rows.items() if not suite_verdict(r)]
    print(f"{len(met)}/{len(rows)} targets meet the bar (pooled medians within 0.15 of a perfect generator's, p90s "
          f"within 0.3, no failed seed; 2-D: every mode in every seed, high quality >= 97 %)"
          + (f": {', '.join(met)}" if met else ""))
    if args.json:
        write_json(Path(args.json), {"argv": sys.argv[1:], "rows": rows})
    return 0


def cmd_sweep(args) -> int:
    select("cpu")  # this process only schedules: a GPU is left whole to the trials
    spec = sweep.load_spec(args.spec)
    out = Path(args.out) if args.out else Path("sweeps") / Path(args.spec).stem
    if not args.out:
        out.parent.mkdir(exist_ok=True)
    use_compile_cache()  # the trials share it
    rows, failures = sweep.run(spec, out, args.address)
    print(f"{len(rows)} of {len(spec.trials)} trials finished; ranked by the larger of the median KS "
          "and W1 ratios over seeds (1 = sampling noise):")
    for line in sweep.format_results(spec, rows):
        print("  " + line)
    print(f"sweep folder: {out} (results.csv, best.toml{', sweep.png' if spec.plots and spec.axes else ''})")
    if failures:
        print(f"distgan: {len(spec.trials) - len(rows)} trial(s) unfinished ({'; '.join(failures)[:300]}); run the "
              "same command again to finish them", file=sys.stderr)
        return 1
    if len(rows) < len(spec.trials):  # Ctrl-C: Tune stops the trials under way
        print(f"distgan: stopped with {len(spec.trials) - len(rows)} trial(s) unfinished; run the same command again "
              "to finish them", file=sys.stderr)
        return 130
    return 0


def cmd_sample(args) -> int:
    out = Path(args.output)
    file_format(out, "output")
    if not out.parent.is_dir():
        raise ConfigError(f"{out}: directory {out.parent} does not exist", "output")
    if out.is_dir():
        raise ConfigError(f"{out}: is a directory, expected a file name", "output")
    if args.n <= 0:
        raise ConfigError(f"-n {args.n}: expected a positive number of samples")
    run = load(args.run, args.at)
    run.state(args.replicate)  # checks the replicate index
    names = run.target.columns or (("x",) if run.target.dim == 1 else tuple(f"x{i}" for i in range(run.target.dim)))
    with progress_bar(args.n, "sample") as bar:  # on a terminal
        write_samples(out, run.chunks(args.n, seed=args.seed, replicate=args.replicate), names, run.target.info,
                      n=args.n, on_rows=bar.update)
    print(f"wrote {args.n} samples of replicate {args.replicate} ({args.at}) to {out}")
    return 0


def cmd_evaluate(args) -> int:
    run = load(args.run, args.at)
    k = args.replicate or 0
    run.state(k)  # checks the replicate index
    cfg, target = run.cfg, run.target
    if cfg.target.data and target.train_data is None:
        raise ConfigError(f"{cfg.target.data}: evaluate needs the run's data file, which is no longer there: "
                          f"put it back (or copy it there) and run evaluate again", "target.data")
    first = saved_first_steps(run.summary, run.replicates, str(run.folder / "summary.json"))  # checked before the
    logs = last_logs(run.metrics, run.replicates, str(run.folder / "metrics.jsonl"))  # costly part: a damaged file
    floor = noise_floor(target, cfg.eval.n_samples, cfg.eval.floor_draws)  # fails in a second
    result = Evaluator(run.gan.sample, target, cfg.eval.n_samples)(run.states, run.step)
    summary = evaluate_run(cfg, run.gan, target, run.states, result, floor, target.moments(), logs, first)
    at = "the last checkpoint" if args.at == "last" else "each replicate's best point (best.safetensors)"
    what = f"data {cfg.target.data} (columns {', '.join(target.columns)})" if cfg.target.data else cfg.target.spec
    print(f"run {run.folder}: {what}, preset {cfg.preset}, step {run.step}, {at}")
    for line in format_fit(summary, k, target.columns) + (format_table(summary) if run.replicates > 1
                                                          and args.replicate is None else []):
        print(line)
    return 0


def cmd_report(args) -> int:
    out = Path(args.output) if args.output else None
    if out is not None and (not out.parent.is_dir() or out.is_dir()):
        raise ConfigError(f"{out}: expected a file in an existing folder", "output")
    print(f"wrote {rebuild(Path(args.run), out, Path(args.compare) if args.compare else None)}")
    return 0


def cmd_animate(args) -> int:
    out = Path(args.output)
    if out.suffix.lower() != ".gif" or not out.parent.is_dir() or out.is_dir():
        raise ConfigError(f"{out}: expected a .gif file in an existing folder", "output")
    if not 0 < args.fps <= 100:
        raise ConfigError(f"--fps {args.fps}: expected a number of frames per second in (0, 100]")
    _, target = open_run(Path(args.run))
    n = animate(Path(args.run), out, target, real_sample(target, 1000), args.fps)
    print(f"wrote {n} frames to {out}")
    return 0


def cmd_presets(args) -> int:
    print(f"{presets.AUTO:10s} what `train` starts from when no preset is named: mixture1d for a built-in 1-D target "
          "with several modes, mixture2d for the ring and the grid, else default")
    for name, doc in presets.describe():
        print(f"{name:10s} {doc}")
    return 0


def cmd_targets(args) -> int:
    print("spec syntax: name or name:key=value,key=value; a list value is comma-separated, then ';' separates "
          "parameters")
    for name in TARGETS:
        print(f"{name:12s} {DESCRIPTIONS[name]}\n{'':12s} e.g. {example(name)}")
    print(f"{'data':12s} a data file instead: --data FILE.csv --columns a,b (CSV, TSV, NPY, Parquet)")
    return 0


_BREAKS = {ord(c): repr(c)[1:-1] for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"}


def one_line(message: str) -> str:
    """The message with any line breaks (from a file name, a value, a flag) written as escapes."""
    return message.translate(_BREAKS)


def worded(e: ConfigError, argv: list[str]) -> str:
    """The error in the command line's words: a field or argument the user set with a flag is named by that flag."""
    flag = FLAGS.get(e.field or "")
    if flag is None or not (e.field in ARGUMENTS or any(a == flag or a.startswith(flag + "=") for a in argv)):
        return str(e)
    return f"{flag}: {e.detail}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser().parse_args(argv)
        return {"train": cmd_train, "sample": cmd_sample, "evaluate": cmd_evaluate, "presets": cmd_presets,
                "targets": cmd_targets, "bench": cmd_bench, "sweep": cmd_sweep, "report": cmd_report,
                "animate": cmd_animate}[args.command](args)
    except ConfigError as e:
        print(f"distgan: error: {one_line(worded(e, argv))}", file=sys.stderr)
        return 2
    except WriteError as e:  # a full disk, a read-only folder: what was written before is whole
        print(f"distgan: error: {one_line(str(e))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("distgan: interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    """The `distgan` command and `python -m distgan`: main(), then exit with its status.

    A Ctrl-C that lands while XLA is compiling leaves the compiler's threads running, and the interpreter's normal
    shutdown then crashes (exit 139, a segmentation fault). An interrupted command has nothing left to write (its
    checkpoint, if any, is on disk), so it flushes its output and leaves at once.
    """
    fast.freeze_imports()
    code = main()
    fast.freeze_imports()
    if code in (130, 143):  # Ctrl-C, SIGTERM
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
