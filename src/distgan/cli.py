"""The command line: train, sample, evaluate, presets, targets. Bad input exits 2 with one line, no traceback."""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import signal
import sys
from pathlib import Path

import numpy as np

from .config import ConfigError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse's default prints the usage too)
        raise ConfigError(message)


def _add_training_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", help="start from a preset (see `distgan presets`); default: 'default'")
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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="distgan", description="Learn low-dimensional distributions with GANs.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("train", help="train GANs and write a run folder")
    _add_training_flags(p)
    p.add_argument("--compare", metavar="PRESET",
                   help="also train PRESET (in a thread beside the main run, once it has compiled) on the same target, steps, seeds and evaluation, and print its verdict too")
    p = sub.add_parser("sample", help="draw from a trained generator into .csv, .tsv, .npy or .parquet")
    p.add_argument("run", help="run folder")
    p.add_argument("-n", type=int, default=10000, help="number of samples")
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
    sub.add_parser("presets", help="list the presets")
    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="bench", required=True, parser_class=_Parser)
    p = bench.add_parser("fit", help="train presets over many seeds; report the fit ratios' distribution over seeds")
    p.add_argument("--presets", default="default,seed", help="comma-separated presets to compare (default: default,seed)")
    p.add_argument("--seeds", type=int, default=64, help="seeds per preset, trained at once as replicates (default 64)")
    p.add_argument("--evals", type=int, default=32, help="further evaluations of each seed's final generator, pooled "
                   "beside a perfect generator's score (default 32; 0: none)")
    p.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--target", help="target spec (default: each preset's, N(4, 1.25))")
    p.add_argument("--steps", help="training steps for every preset (default: the first preset's)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                   help="override one field in every preset (repeatable), e.g. --set eval.n_samples=2000")
    p.add_argument("--out", help="keep the run folders under this folder (default: a temporary folder)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "gpu"), help="where JAX runs (auto: GPU if seen)")
    sub.add_parser("targets", help="list the built-in targets and their parameters")
    return parser


def config_from_args(args) -> Config:  # noqa: F821
    """preset -> config file -> --set -> shortcut flags, each overriding the last; then validated."""
    import tomllib

    from . import config, presets

    name = args.preset
    if name is None and args.config:
        try:
            name = tomllib.loads(Path(args.config).read_text()).get("preset")
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            name = None  # apply_toml below reports the file's problem
    cfg = presets.get(name or "default")
    if args.config:
        config.apply_toml(cfg, args.config)
    for item in args.set:
        key, eq, value = item.partition("=")
        if not eq:
            raise ConfigError(f"--set {item!r}: expected SECTION.FIELD=VALUE")
        config.set_field(cfg, key.strip(), value.strip())
    shortcuts = {"steps": "train.steps", "seed": "train.seed", "replicates": "train.replicates",
                 "target": "target.spec", "data": "target.data", "columns": "target.columns"}
    for flag, key in shortcuts.items():
        if getattr(args, flag) is not None:
            config.set_field(cfg, key, getattr(args, flag))
    return config.validate(cfg)


def format_fit(summary: dict, k: int = 0, columns: tuple[str, ...] = ()) -> list[str]:
    """The fit report of replicate k: moments beside the target's, KS and W1 beside their noise floors.
    columns: a data file's column names, which then label the dimensions (their figures are in standard units)."""
    rep, tm, floor = summary["replicates"][k], summary["target_moments"], summary["floor"]
    lines = [f"fit of replicate {k} (seed {rep['seed']}) on {summary['n_samples']} samples against a fresh real "
             f"sample; noise floor = median over pairs of real samples:"]
    if columns:
        lines.append("  (held-out rows; each column in standard units: its training rows have mean 0, std 1)")
    dims = len(rep["mean"])
    for d in range(dims):
        tag = f"  {columns[d]}: " if columns else f"  dim {d}: " if dims > 1 else "  "
        lines.append(tag + "  ".join(f"{s} {np.asarray(rep[s])[d]:.4f} (target {np.asarray(tm[s])[d]:.4f})"
                                     for s in ("mean", "std", "skew", "kurt")))
        ks, w, fks, fw = (np.asarray(x)[d] for x in (rep["ks"], rep["w1"], floor["ks"]["median"], floor["w1"]["median"]))
        lines.append(tag + f"KS {ks:.4f} (p={np.asarray(rep['ks_pvalue'])[d]:.3g}, floor {fks:.4f}, ratio {ks / fks:.2f})"
                     f"  W1 {w:.4f} (floor {fw:.4f}, ratio {w / fw:.2f})")
    if "sw1" in rep:  # dim > 1: one joint distance and the correlation error
        lines.append(f"  joint: sliced W1 {rep['sw1']:.4f} (floor {floor['sw1']['median']:.4f}, ratio "
                     f"{rep['sw1_ratio']:.2f})  correlation error {rep['corr']:.4f} (floor "
                     f"{floor['corr']['median']:.4f}, ratio {rep['corr_ratio']:.2f})")
    if "modes" in summary:  # mixtures: the VEEGAN / PacGAN protocol
        md = summary["modes"]
        m, p = md["replicates"][k], md["perfect"]
        lines.append(f"  modes: {m['modes']} of {md['n_modes']} captured, {m['high_quality']:.1%} high quality, "
                     f"reverse KL {m['reverse_kl']:.4f} (a perfect sampler: {p['high_quality']:.1%}, "
                     f"{p['reverse_kl']:.4f}; {md['n_samples']} samples)")
    lines.append("verdict: " + rep["verdict"])
    return lines


def format_table(summary: dict) -> list[str]:
    t = summary["table"]
    extra = []
    if "modes" in summary:
        md = summary["modes"]
        extra = [f"  modes captured {md['modes']['mean']:.2f} +- {md['modes']['se']:.2f} of {md['n_modes']} "
                 f"(all in {md['all_modes']} replicates), high quality {md['high_quality']['mean']:.1%} +- "
                 f"{md['high_quality']['se']:.1%}, reverse KL {md['reverse_kl']['mean']:.4f} +- "
                 f"{md['reverse_kl']['se']:.4f}"]
    return [f"over {t['replicates']} replicates: {t['within_floor']} within the noise floor, "
            f"{t['collapsed']} collapsed, {t['diverged']} diverged, {t['saturated']} saturated, "
            f"{t['non_finite']} non-finite",
            f"  KS ratio median {t['ks_ratio']['median']:.2f}, p90 {t['ks_ratio']['p90']:.2f};  "
            f"W1 ratio median {t['w1_ratio']['median']:.2f}, p90 {t['w1_ratio']['p90']:.2f};  "
            f"best replicate {t['best']}"] + extra


def _compile_cache() -> None:
    """Keep XLA's compiled programs between runs (DISTGAN_XLA_CACHE: a folder, or empty to turn it off).

    The training chunk, the evaluator and the noise floor take seconds to compile on CPU, longer than a short run
    trains: a second run of the same config and K loads them instead.
    """
    import jax

    folder = os.environ.get("DISTGAN_XLA_CACHE", str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                                                        / "distgan" / "xla"))
    if folder:
        jax.config.update("jax_compilation_cache_dir", folder)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)


def config_for_resume(args) -> Config:  # noqa: F821
    """The run folder's own config; flags that would change the computation are refused, --steps may extend it."""
    from . import config
    from .runs import load_config

    changing = [f"--{f}" for f in ("preset", "config", "target", "data", "columns", "seed", "replicates", "out")
                if getattr(args, f) is not None] + (["--set"] if args.set else [])
    if changing:
        raise ConfigError(f"--resume takes its config from the run folder; {', '.join(changing)} would change the "
                          "run (start a new run instead)")
    cfg = load_config(args.resume)
    if args.steps is not None:
        old = cfg.train.steps
        config.set_field(cfg, "train.steps", args.steps)
        if cfg.train.steps < old:
            raise ConfigError(f"--steps {cfg.train.steps}: the run has {old} steps; --resume can only extend it")
        if cfg.train.steps > old and cfg.train.schedule != "constant":
            raise ConfigError(f"--steps: the {cfg.train.schedule} schedule depends on the number of steps, so this "
                              "run cannot be extended")
    return config.validate(cfg)


def _beside(fn, *args, **kw):
    """Start fn(*args, **kw) in a thread, its unsplit work on another CPU device than the main thread's
    (devices.beside); returns a function that waits for it and returns its result or raises its exception."""
    import threading

    from .devices import beside

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


def cmd_train(args) -> int:
    cfg = config_for_resume(args) if args.resume else config_from_args(args)
    from .devices import select

    select(args.device)
    _compile_cache()
    from .train import Interrupted, train

    out, other, stop, compare = args.resume or args.out, None, [], []
    if args.compare:  # checked before training: a bad name fails in a second, not after the main run
        from . import presets
        from .runs import check_out_dir
        from .targets import make_target
        from .train import run_folder

        other = presets.get(args.compare)
        other.target, other.eval = cfg.target, cfg.eval
        for name in ("steps", "seed", "replicates", "log_every", "eval_every"):
            setattr(other.train, name, getattr(cfg.train, name))
        out = run_folder(cfg, make_target(cfg.target).name, out)
        other_out = out.parent / f"{out.name}-vs-{args.compare}"
        check_out_dir(other_out, bool(args.resume))

    def start_compare():  # once the main run has passed its checks and compiled: a thread beside it, sharing `stop`
        compare.append(_beside(train, other, other_out, echo=lambda *a: None, progress=False,
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
    tm = s["timing"]
    if run.summary["timing"]["resumed_at"]:
        print(f"resumed at step {run.summary['timing']['resumed_at']}")
    print(f"trained {cfg.train.steps} steps x {run.replicates} replicate(s) in {tm['train_s']:.1f} s "
          f"(+{tm['compile_s']:.1f} s compile): {tm['us_per_step']:.0f} us/step, "
          f"{tm['replicate_steps_per_s']:.3g} replicate-steps/s"
          + (f", split over {tm['devices']} CPU devices" if tm.get("devices", 1) > 1 else ""))
    print(f"run folder: {run.folder}")
    if other is not None:
        print(f"\nfor comparison, preset {args.compare!r} on the same target, {cfg.train.steps} steps and seed(s):")
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
    return 0


BENCH_FLOOR_DRAWS = 1000  # bench fit's W1 floor: a median of 1,000 draws has a standard error of about 1 %
BENCH_CHUNK = 500  # steps per jitted chunk (the results do not depend on it)


def cmd_bench(args) -> int:
    from . import config, presets

    names = [n.strip() for n in args.presets.split(",") if n.strip()]
    if not names:
        raise ConfigError("--presets: expected at least one preset name")
    if args.seeds <= 0:
        raise ConfigError(f"--seeds {args.seeds}: expected a positive number of seeds")
    if args.evals < 0:
        raise ConfigError(f"--evals {args.evals}: expected 0 or more evaluations")
    configs = {}
    for name in names:
        cfg = presets.get(name)
        cfg.eval.floor_draws = BENCH_FLOOR_DRAWS
        for item in args.set:
            key, eq, value = item.partition("=")
            if not eq:
                raise ConfigError(f"--set {item!r}: expected SECTION.FIELD=VALUE")
            config.set_field(cfg, key.strip(), value.strip())
        if args.target is not None:
            config.set_field(cfg, "target.spec", args.target)
        config.set_field(cfg, "train.steps", args.steps if args.steps is not None else
                         (configs[names[0]].train.steps if configs else cfg.train.steps))
        cfg.train.seed, cfg.train.replicates = args.seed, args.seeds
        # one evaluation, at the end; chunks of at most BENCH_CHUNK steps, so that Ctrl-C stops within seconds
        cfg.train.eval_every, cfg.train.log_every = cfg.train.steps, min(cfg.train.steps, BENCH_CHUNK)
        configs[name] = config.validate(cfg)
    if args.out and Path(args.out).exists() and any(Path(args.out).iterdir()):
        raise ConfigError(f"--out {args.out}: directory exists and is not empty (choose another --out)")
    from .devices import select

    select(args.device)
    from .bench import bench_fit, verdict

    first = configs[names[0]]
    print(f"bench fit: {first.target.spec}, seeds {args.seed}..{args.seed + args.seeds - 1}, "
          f"{first.eval.n_samples} samples per evaluation against a fresh real sample; "
          f"ratio = statistic / noise-floor median (KS: Smirnov's law; W1: {first.eval.floor_draws} pairs of real samples)")
    from .train import Interrupted

    try:
        results = bench_fit(configs, args.out, evals=args.evals)
    except Interrupted as e:  # the run folder is resumable under --out; otherwise it was in a temporary folder
        where = str(e) if args.out else e.stopped + " (runs in a temporary folder, removed)"
        print(f"distgan: bench fit: {one_line(where)}", file=sys.stderr)
        return e.code
    for name, r in results.items():
        print(f"{name}: {verdict(r)} (median KS <= 1.1, median W1 <= 1.2, p90 of each <= 1.5, no collapse/divergence)")
    return 0


def cmd_sample(args) -> int:
    from .data import file_format, write_samples

    out = Path(args.output)
    file_format(out, "-o")
    if not out.parent.is_dir():
        raise ConfigError(f"-o {out}: directory {out.parent} does not exist")
    if out.is_dir():
        raise ConfigError(f"-o {out}: is a directory, expected a file name")
    if args.n <= 0:
        raise ConfigError(f"-n {args.n}: expected a positive number of samples")
    from .runs import load

    run = load(args.run, args.at)
    x = run.sample(args.n, seed=args.seed, replicate=args.replicate)
    names = run.target.columns or (("x",) if x.shape[1] == 1 else tuple(f"x{i}" for i in range(x.shape[1])))
    write_samples(out, x, names, run.target.info)
    print(f"wrote {args.n} samples of replicate {args.replicate} ({args.at}) to {out}")
    return 0


def cmd_evaluate(args) -> int:
    from . import metrics
    from .runs import load
    from .train import summarize

    run = load(args.run, args.at)
    k = args.replicate or 0
    run.state(k)  # checks the replicate index
    cfg, target = run.cfg, run.target
    if cfg.target.data and target.train_data is None:
        raise ConfigError(f"--data {cfg.target.data}: evaluate needs the run's data file, which is no longer there: "
                          f"put it back (or copy it there) and run evaluate again")
    step = run.step
    floor = metrics.noise_floor(target, cfg.eval.n_samples, cfg.eval.floor_draws)
    result = metrics.Evaluator(run.gan.sample, target, cfg.eval.n_samples)(run.states, step)
    last = run.metrics[-1] if run.metrics else {}
    logs = {key: np.asarray(last[key]) for key in ("d_fake_out", "g_grad") if key in last}
    guard = np.stack([np.asarray(run.states["nonfinite"]), np.asarray(run.states["nonfinite_step"])], 1)
    saved = run.summary.get("replicates", [])
    first = [r.get("first_step", {}) for r in saved] if len(saved) == run.replicates else None
    summary = summarize(cfg, result, floor, logs, target.moments(), guard, first)
    if target.components is not None:
        from . import modes

        summary["modes"] = modes.evaluate(run.gan.sample, run.states, target)
    at = "the last checkpoint" if args.at == "last" else "each replicate's best point (best.safetensors)"
    what = f"data {cfg.target.data} (columns {', '.join(target.columns)})" if cfg.target.data else cfg.target.spec
    print(f"run {run.folder}: {what}, preset {cfg.preset}, step {step}, {at}")
    for line in format_fit(summary, k, target.columns) + (format_table(summary) if run.replicates > 1
                                                          and args.replicate is None else []):
        print(line)
    return 0


def cmd_presets(args) -> int:
    from .presets import describe

    for name, doc in describe():
        print(f"{name:10s} {doc}")
    return 0


def cmd_targets(args) -> int:
    from .targets import DESCRIPTIONS, TARGETS, example

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


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return {"train": cmd_train, "sample": cmd_sample, "evaluate": cmd_evaluate, "presets": cmd_presets,
                "targets": cmd_targets, "bench": cmd_bench}[args.command](args)
    except ConfigError as e:
        print(f"distgan: error: {one_line(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("distgan: interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    """The `distgan` command and `python -m distgan`: main(), then exit with its status.

    A Ctrl-C that lands while XLA is compiling leaves the compiler's threads running, and the interpreter's normal
    shutdown then crashes (exit 139, a segmentation fault). An interrupted command has nothing left to write (its
    checkpoint, if any, is on disk), so it flushes its output and leaves at once.

    Python's cyclic garbage collector walks every object it tracks on its full passes: about 140,000 after the
    imports and 250,000 after a run, walked a few times during the run and again as the interpreter shuts down.
    Frozen (gc.freeze) after the imports and again at the end, they are no longer walked (0.1 s less in a run's
    collections, 0.35 s less at exit; measured in the README).
    """
    gc.freeze()
    code = main()
    gc.freeze()
    if code in (130, 143):  # Ctrl-C, SIGTERM
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
