"""The default preset on a fixed suite of 1-D and 2-D targets, many seeds each, beside a perfect generator.

    PYTHONPATH=src python benchmarks/suite.py                               # the whole suite, 16 seeds, 8 evaluations
    PYTHONPATH=src python benchmarks/suite.py --targets mix2,beta --set model.noise=normal --json out.json

Each target trains --seeds replicates of the preset at once (one vmapped computation, as `distgan bench fit`),
evaluates every final generator --evals more times on fresh samples and pools the worst-dimension KS and W1 ratios
(statistic / noise-floor median), beside a perfect generator (pairs of independent real samples) scored the same
way (distgan.bench.pooled). The bar (issue 18): pooled medians within 0.15 of the perfect generator's, p90s within
0.3, no collapsed or diverged seed; on the ring and grid every mode in every seed and high quality >= 97 %.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import distgan
from distgan import bench
from distgan.config import set_field, validate

SUITE = {  # short name: target spec (fixed: the suite's figures are comparable only on the same specs)
    "gauss": "gaussian:mean=4,std=1.25",
    "mix2": "mixture:weights=0.35,0.65;means=-2,2;stds=0.5,1",
    "mix3": "mixture:weights=0.2,0.5,0.3;means=-3,0,3;stds=0.3,0.6,0.4",
    "uniform": "uniform:low=0,high=1",
    "beta": "beta:a=0.5,b=0.5",
    "expon": "exponential:rate=1",
    "lognorm": "lognormal:mu=0,sigma=1",
    "t3": "student_t:df=3",
    "ring": "ring:modes=8,radius=1,std=0.01",
    "grid": "grid:side=5,spacing=2,std=0.05",
}
FLOOR_DRAWS = 1000  # as `distgan bench fit`: the W1 floor's median to about 1 %
MEDIAN_GAP, P90_GAP, HIGH_QUALITY = 0.15, 0.3, 0.97  # the bar, against a perfect generator scored the same way


def config(args, spec: str):
    cfg = distgan.preset(args.preset)
    cfg.eval.floor_draws = FLOOR_DRAWS
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


def run_target(name: str, args, root: Path) -> dict:
    """Train one target's seeds; -> the fit table, the pooled figures, the modes (mixtures in 2-D) and timings."""
    from distgan.train import train

    cfg = config(args, SUITE[name])
    t0 = time.perf_counter()
    run = train(cfg, root / name, echo=None, progress=False, plots=False)
    train_s = time.perf_counter() - t0
    row = bench.fit_table(run.summary)
    row.update(spec=cfg.target.spec, steps=cfg.train.steps, seeds=cfg.train.replicates, evals=args.evals,
               train_wall_s=train_s, us_per_step=run.summary["timing"]["us_per_step"],
               pooled=bench.pooled(run, args.evals))
    if "modes" in run.summary and run.target.dim > 1:
        m = run.summary["modes"]
        row["modes"] = {"all_modes": m["all_modes"], "n_modes": m["n_modes"],
                        "high_quality": m["high_quality"]["mean"],
                        "worst_high_quality": min(r["high_quality"] for r in m["replicates"]),
                        "reverse_kl": m["reverse_kl"]["mean"], "perfect": m["perfect"]}
    if args.eval_every:  # the fit over training: per evaluation step, the median over seeds of the worst ratio
        from distgan.runs import read_jsonl

        floor = run.summary["floor"]
        curve = []
        for r in read_jsonl(root / name / "metrics.jsonl"):
            if "fit" in r:
                import numpy as np

                ks = np.max(np.asarray(r["fit"]["ks"]) / np.asarray(floor["ks"]["median"]), -1)
                w1 = np.max(np.asarray(r["fit"]["w1"]) / np.asarray(floor["w1"]["median"]), -1)
                curve.append({"step": r["step"], "ks": ks.tolist(), "w1": w1.tolist()})
        row["curve"] = curve
    row["wall_s"] = time.perf_counter() - t0
    return row


def verdict(row: dict) -> tuple[bool, list[str]]:
    """Whether a target meets the bar, and the clauses it misses."""
    p, miss = row["pooled"], []
    for s in ("ks", "w1"):
        for q, gap in (("median", MEDIAN_GAP), ("p90", P90_GAP)):
            d = p[f"{s}_ratio"][q] - p[f"perfect_{s}_ratio"][q]
            if d > gap:
                miss.append(f"{s} {q} +{d:.2f}")
    if row["collapsed"] or row["diverged"] or row["non_finite"]:
        miss.append(f"failed seeds {row['collapsed']}/{row['diverged']}/{row['non_finite']}")
    if "modes" in row:
        m = row["modes"]
        if m["all_modes"] < row["seeds"]:
            miss.append(f"modes lost in {row['seeds'] - m['all_modes']} seeds")
        if m["high_quality"] < HIGH_QUALITY:
            miss.append(f"high quality {100 * m['high_quality']:.1f} %")
    return not miss, miss


def table(rows: dict) -> list[str]:
    q = lambda d: f"{d['median']:.2f} / {d['p90']:.2f}"  # noqa: E731
    lines = ["| target | KS median / p90 | perfect KS | W1 median / p90 | perfect W1 | collapsed / diverged "
             "| modes, high quality | wall s | bar |", "|---|---|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        p = r["pooled"]
        ok, miss = verdict(r)
        modes = ""
        if "modes" in r:
            m = r["modes"]
            modes = f"{m['all_modes']}/{r['seeds']} all, {100 * m['high_quality']:.1f} % (worst {100 * m['worst_high_quality']:.1f})"
        lines.append(f"| {name} | {q(p['ks_ratio'])} | {q(p['perfect_ks_ratio'])} | {q(p['w1_ratio'])} | "
                     f"{q(p['perfect_w1_ratio'])} | {r['collapsed']} / {r['diverged']} | {modes} | {r['wall_s']:.0f} | "
                     f"{'met' if ok else 'missed: ' + ', '.join(miss)} |")
    return lines


def step_cost(args) -> list[str]:
    """Time per step of one replicate at the preset's batch on the Gaussian (as `make run` trains it), for the
    preset with --set and with --against: both compiled, then timed in turns, so a drifting machine slows both."""
    import statistics

    import jax

    from distgan.engine import init_states, run_steps
    from distgan.gan import GAN
    from distgan.targets import parse

    sets = {"new": args.set, "against": args.against}
    chunk, programs, states, times = 500, {}, {}, {k: [] for k in sets}
    for name, items in sets.items():
        a = argparse.Namespace(**{**vars(args), "set": items, "seeds": 1})
        cfg = config(a, SUITE["gauss"])
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
    p.add_argument("--targets", default=",".join(SUITE), help=f"comma-separated, of: {', '.join(SUITE)}")
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
    unknown = [n for n in names if n not in SUITE]
    if unknown:
        p.error(f"unknown target(s) {', '.join(unknown)}; expected of {', '.join(SUITE)}")
    print(f"suite: preset {args.preset} {' '.join(args.set)}, {args.seeds} seeds, {args.evals} pooled evaluations "
          f"per seed", flush=True)
    rows, t0 = {}, time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="distgan-suite-") as tmp:
        for name in names:
            rows[name] = run_target(name, args, Path(tmp))
            print(table({name: rows[name]})[-1], flush=True)
            if args.json:
                Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1))
    print("\n".join(table(rows)))
    met = sum(verdict(r)[0] for r in rows.values())
    print(f"{met}/{len(rows)} targets meet the bar; {time.perf_counter() - t0:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
