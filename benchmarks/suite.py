"""Research extras around `distgan bench suite`: the fit over training, and the cost of a step.

    distgan bench suite                                                     # the suite itself: 16 seeds, 8 evaluations
    PYTHONPATH=src python benchmarks/suite.py --targets gauss,mix3 --eval-every 1000 --json out.json
    PYTHONPATH=src python benchmarks/suite.py --cost --set model.codes=8 --against model.codes=0

With --eval-every, each target of distgan.bench.SUITE trains as `bench suite` trains it (distgan.bench.bench_one),
evaluates every --eval-every steps too, and the rows add the curve: per evaluation step, each seed's worst-dimension
KS and W1 ratios. With --cost, one replicate's time per step on the Gaussian, the preset with --set against the
preset with --against, both compiled and timed in turns.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

from distgan import bench, presets
from distgan.config import set_field, validate
from distgan.engine import init_states, run_steps
from distgan.files import read_jsonl
from distgan.gan import GAN
from distgan.targets import parse


def config(args, spec: str):
    cfg = presets.get(args.preset)
    cfg.eval.floor_draws = bench.FLOOR_DRAWS
    for item in args.set:
        key, _, value = item.partition("=")
        set_field(cfg, key.strip(), value.strip())
    cfg.target.spec = spec
    if args.steps:
        cfg.train.steps = args.steps
    cfg.train.seed, cfg.train.replicates = args.seed, args.seeds
    cfg.train.eval_every = args.eval_every or cfg.train.steps
    cfg.train.log_every = min(cfg.train.steps, 500, cfg.train.eval_every)
    return validate(cfg)


def curve(folder: Path, floor: dict) -> list[dict]:
    """Per evaluation step in metrics.jsonl, each seed's worst-dimension KS and W1 ratios."""
    rows = []
    for r in read_jsonl(folder / "metrics.jsonl"):
        if "fit" in r:
            ks = np.max(np.asarray(r["fit"]["ks"]) / np.asarray(floor["ks"]["median"]), -1)
            w1 = np.max(np.asarray(r["fit"]["w1"]) / np.asarray(floor["w1"]["median"]), -1)
            rows.append({"step": r["step"], "ks": ks.tolist(), "w1": w1.tolist()})
    return rows


def step_cost(args) -> list[str]:
    """Time per step of one replicate at the preset's batch on the Gaussian (as `make run` trains it), for the
    preset with --set and with --against: both compiled, then timed in turns, so a drifting machine slows both."""
    sets = {"new": args.set, "against": args.against}
    chunk, programs, states, times = 500, {}, {}, {k: [] for k in sets}
    for name, items in sets.items():
        a = argparse.Namespace(**{**vars(args), "set": items, "seeds": 1})
        cfg = config(a, bench.SUITE["gauss"])
        gan = GAN(cfg, parse(cfg.target.spec))
        programs[name] = jax.jit(run_steps, static_argnums=(0, 2)).lower(gan, init_states(gan, 0, 1), chunk).compile()
        states[name] = init_states(gan, 0, 1)
    for _ in range(args.rounds):
        for name in sets:
            t0 = time.perf_counter()
            states[name], logs = programs[name](states[name])
            jax.block_until_ready(logs)
            times[name].append(1e6 * (time.perf_counter() - t0) / chunk)
    med = {k: statistics.median(v) for k, v in times.items()}
    return [f"us per step, median of {args.rounds} chunks of {chunk} steps in turns (1 replicate, batch "
            f"{cfg.train.batch_size}): new {med['new']:.0f} ({' '.join(args.set) or 'the preset'}), against "
            f"{med['against']:.0f} ({' '.join(args.against) or 'the preset'}); ratio {med['new'] / med['against']:.3f}"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--targets", default=",".join(bench.SUITE), help=f"comma-separated, of: {', '.join(bench.SUITE)}")
    p.add_argument("--preset", default="default")
    p.add_argument("--seeds", type=int, default=16, help="replicates per target (seeds seed .. seed + seeds - 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--evals", type=int, default=8, help="pooled evaluations per seed's final generator")
    p.add_argument("--steps", type=int, default=0, help="training steps (default: the preset's)")
    p.add_argument("--eval-every", type=int, default=0, help="also record the fit every this many steps")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    p.add_argument("--json", help="write the rows to this JSON file")
    p.add_argument("--cost", action="store_true", help="only time a step of the preset (with --set) against "
                   "the preset with --against, on the Gaussian")
    p.add_argument("--against", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    p.add_argument("--rounds", type=int, default=20, help="--cost: timed chunks per config")
    args = p.parse_args(argv)
    if args.cost:
        print("\n".join(step_cost(args)))
        return 0
    names = [n.strip() for n in args.targets.split(",") if n.strip()]
    unknown = [n for n in names if n not in bench.SUITE]
    if unknown:
        p.error(f"unknown target(s) {', '.join(unknown)}; expected of {', '.join(bench.SUITE)}")
    rows, t0 = {}, time.perf_counter()
    print(bench.format_suite({})[0], bench.format_suite({})[1], sep="\n", flush=True)
    with tempfile.TemporaryDirectory(prefix="distgan-suite-") as tmp:
        for name in names:
            cfg = config(args, bench.SUITE[name])
            rows[name] = bench.bench_one(cfg, Path(tmp) / name, args.evals)
            if args.eval_every:
                floor = json.loads((Path(tmp) / name / "summary.json").read_text())["floor"]
                rows[name]["curve"] = curve(Path(tmp) / name, floor)
            print(bench.format_suite({name: rows[name]})[-1], flush=True)
            if args.json:
                Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1))
    met = sum(not bench.suite_verdict(r) for r in rows.values())
    print(f"{met}/{len(rows)} targets meet the bar; {time.perf_counter() - t0:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
