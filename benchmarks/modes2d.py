"""The 2-D mode-collapse bar: the ring of 8 and the grid of 25 over many seeds, beside the published numbers.

    PYTHONPATH=src python benchmarks/modes2d.py                     # mixture2d, 10 seeds, ring 15k and grid 25k steps
    PYTHONPATH=src python benchmarks/modes2d.py --seeds 10 --steps 6000 --targets ring --set train.r1=0.01

Each target trains --seeds replicates at once (one vmapped computation), then scores every replicate on 2,500
samples with the VEEGAN / PacGAN protocol (distgan.modes): modes captured, high-quality % (within 3 std of the
nearest mode) and reverse KL of the high-quality samples' mode histogram against the mixture weights.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import distgan
from distgan.config import set_field
from distgan.targets import parse

# (modes, high quality %, reverse KL); None where the paper gives no number. PacGAN: Lin et al., NeurIPS 2018,
# Table 1 (best variant per target); VEEGAN: Srivastava et al., NeurIPS 2017, Table 1.
PUBLISHED = {
    "ring": [("PacGAN2", 7.9, 95.6, 0.07), ("VEEGAN", 8.0, 52.9, None)],
    "grid": [("PacGAN4", 24.8, 93.6, 0.04), ("VEEGAN", 24.6, 40.0, None)],
}
GOAL = {"ring": 0.004, "grid": 0.015}  # reverse KL at most about 3x a perfect sampler's
STEPS = {"ring": 15000, "grid": 25000}  # measured: the grid needs longer to thin the bridges between its modes


def run_target(name: str, args) -> dict:
    cfg = distgan.preset(args.preset, parse(name))  # mixture2d: a code per component of the target
    cfg.target.spec = name
    cfg.train.replicates, cfg.train.seed = args.seeds, args.seed
    cfg.train.steps = args.steps or STEPS.get(name, cfg.train.steps)
    cfg.train.log_every = min(cfg.train.steps, 500)
    cfg.train.eval_every = cfg.train.steps
    for item in args.set:
        key, _, value = item.partition("=")
        set_field(cfg, key, value)
    out = Path(args.out) / f"{name}-{args.preset}-k{args.seeds}-{int(time.time())}"
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    run = distgan.train(cfg, out=out, echo=None, plots=not args.no_plots)
    m = run.summary["modes"]
    m["seconds"], m["folder"], m["steps"] = time.perf_counter() - t0, str(out), cfg.train.steps
    return m


def report(name: str, m: dict) -> list[str]:
    fmt = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731
    lines = [f"{name}: {m['n_modes']} modes, {len(m['replicates'])} seeds x {m['steps']} steps, "
             f"{m['n_samples']} samples each ({m['seconds']:.0f} s, {m['folder']})",
             f"  {'':22s} {'modes':>14s} {'high quality %':>16s} {'reverse KL':>18s}",
             f"  {'distgan mixture2d':22s} {m['modes']['mean']:8.2f} +- {m['modes']['se']:.2f} "
             f"{100 * m['high_quality']['mean']:9.1f} +- {100 * m['high_quality']['se']:.1f} "
             f"{m['reverse_kl']['mean']:10.4f} +- {m['reverse_kl']['se']:.4f}",
             f"  {'perfect sampler':22s} {m['perfect']['modes']:8.2f} {'':7s}{100 * m['perfect']['high_quality']:9.1f}"
             f" {'':7s}{m['perfect']['reverse_kl']:7.4f}"]
    for who, n_modes, hq, kl in PUBLISHED[name]:
        lines.append(f"  {who:22s} {n_modes:8.1f} {'':7s}{hq:9.1f} {'':7s}{fmt(kl, '7.2f'):>7s}")
    worst = min(r["high_quality"] for r in m["replicates"])
    ok = (m["all_modes"] == len(m["replicates"]) and m["high_quality"]["mean"] >= 0.97
          and m["reverse_kl"]["mean"] <= GOAL[name])
    lines.append(f"  every mode in {m['all_modes']}/{len(m['replicates'])} seeds; worst seed {100 * worst:.1f} % high "
                 f"quality; goal (all modes, >= 97 %, KL <= {GOAL[name]}): {'MET' if ok else 'NOT MET'}")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--targets", default="ring,grid", help="comma-separated: ring, grid")
    p.add_argument("--preset", default="mixture2d")
    p.add_argument("--seeds", type=int, default=10, help="replicates (seeds seed .. seed + seeds - 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=0, help="training steps (default: ring 15000, grid 25000)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    p.add_argument("--out", default="runs/bench-modes2d", help="parent folder of the run folders")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--json", help="also write the results to this JSON file")
    args = p.parse_args(argv)
    results = {}
    for name in args.targets.split(","):
        results[name] = run_target(name.strip(), args)
        print("\n".join(report(name.strip(), results[name])), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
