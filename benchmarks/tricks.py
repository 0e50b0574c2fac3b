"""What each speed trick of distgan.fast saves: every trick against its plain version, side by side.

    PYTHONPATH=src python benchmarks/tricks.py                 # every trick, 5 interleaved rounds
    PYTHONPATH=src python benchmarks/tricks.py --tricks elu,blocks --rounds 3

Each measurement is a fresh process, with the trick on or named in DISTGAN_PLAIN (its plain version); on and off
alternate round by round, so that a machine's drift slows both alike. The table gives the median of each and the
median of the per-round ratios plain / trick (above 1: the trick pays).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# trick -> what it is measured on: (worker kind, arguments); the figure each worker reports is in `FIGURE`
PLAN = {
    "elu": [("step", "seed", 1), ("step", "seed", 16)],
    "sigmoid": [("step", "seed", 1), ("step", "seed", 16)],
    "materialize": [("step", "seed", 1), ("step", "default", 1), ("step", "default", 16), ("chunk", "seed", 1),
                    ("chunk", "default", 1)],
    "blocks": [("step", "seed", 256)],
    "sort": [("evaluate", "gaussian", 16), ("evaluate", "ring", 4)],
    "one_shot": [("compile", "default", 1)],
    "gc_freeze": [("cli", "presets", 0)],
    "threefry": [("compile", "default", 1), ("evaluate", "gaussian", 16), ("evaluate", "gaussian", 1)],
}
FIGURE = {"step": "us_per_step", "evaluate": "s_per_evaluation", "compile": "compile_s", "chunk": "compile_s",
          "cli": "wall_s"}


def worker(kind: str, name: str, K: int) -> dict:
    """One measurement in this process (DISTGAN_PLAIN already set by the caller)."""
    if kind == "cli":
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "distgan", name], check=True, capture_output=True)
        return {"wall_s": time.perf_counter() - t0}
    import jax

    import distgan
    from distgan import devices, metrics
    from distgan.data import make_target
    from distgan.engine import Engine, init_states, run_steps
    from distgan.gan import GAN

    devices.select("cpu")
    cfg = distgan.preset(name if kind in ("step", "compile", "chunk") else "default")
    if kind == "evaluate":
        cfg.target.spec = name
    cfg.train.replicates = K
    gan = GAN(cfg, make_target(cfg.target))
    if kind == "compile":  # the programs run a few times a run (at O1): initialiser, evaluator, noise floor
        engine = Engine(gan, K, 0, 200, cfg.eval.n_samples)
        t0 = time.perf_counter()
        init_states.lower(gan, 0, K).compile()
        engine.evaluator.compile(engine.shapes)
        metrics.noise_floor(gan.target, cfg.eval.n_samples, cfg.eval.floor_draws)
        return {"compile_s": time.perf_counter() - t0}
    states = devices.place(init_states(gan, 0, K), devices.split_replicates(K))
    if kind == "evaluate":
        evaluator = metrics.Evaluator(gan.sample, gan.target, cfg.eval.n_samples)
        evaluator(states, 0)  # compiles
        times = []
        for step in range(1, 8):
            t0 = time.perf_counter()
            evaluator(states, step)
            times.append(time.perf_counter() - t0)
        return {"s_per_evaluation": statistics.median(times)}
    parts = devices.parts(devices.split_replicates(K))
    t0 = time.perf_counter()
    chunk = jax.jit(run_steps, static_argnums=(0, 2, 3), donate_argnums=1).lower(gan, states, 200, parts).compile()
    if kind == "chunk":  # the training chunk's compile (O2), as train compiles it
        return {"compile_s": time.perf_counter() - t0}
    states, _ = chunk(states)
    times = []
    for _ in range(8 if K < 64 else 3):
        t0 = time.perf_counter()
        states, logs = chunk(states)
        jax.block_until_ready(logs)
        times.append(time.perf_counter() - t0)
    return {"us_per_step": 1e6 * statistics.median(times) / 200}


def measure(kind: str, name: str, K: int, plain: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "DISTGAN_PLAIN": plain, "DISTGAN_XLA_CACHE": ""}
    out = subprocess.run([sys.executable, __file__, "--worker", kind, name, str(K)], capture_output=True, text=True,
                         env=env)
    if out.returncode:
        sys.exit(f"tricks.py: the worker failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])[FIGURE[kind]]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tricks", default=",".join(PLAN), help="comma-separated tricks (default: all)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds of trick and plain")
    p.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker[0], a.worker[1], int(a.worker[2]))))
        return
    rows = []
    for trick in a.tricks.split(","):
        for kind, name, K in PLAN[trick]:
            on, off = [], []
            for r in range(a.rounds):
                on.append(measure(kind, name, K, ""))
                off.append(measure(kind, name, K, trick))
                print(f"  {trick} {kind} {name} K={K} round {r + 1}: {on[-1]:.4g} vs plain {off[-1]:.4g}",
                      file=sys.stderr)
            ratio = statistics.median(b / t for t, b in zip(on, off))
            rows.append((trick, f"{kind} {name}" + (f" K={K}" if K else ""), FIGURE[kind], statistics.median(on),
                         statistics.median(off), ratio))
    print(f"\nmedians of {a.rounds} interleaved rounds; ratio = plain / trick, per round, median")
    print("| trick | measured on | figure | trick | plain | ratio |\n|---|---|---|---|---|---|")
    for trick, what, figure, t, b, ratio in rows:
        print(f"| {trick} | {what} | {figure} | {t:.4g} | {b:.4g} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
