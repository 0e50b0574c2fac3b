"""Speed of distgan's `seed` preset against the seed script itself, side by side (a script, not a test).

    make bench                                 # installs torch==2.13.0 (CPU) into .venv, then runs this
    python benchmarks/speed.py                 # CPU: seed script vs distgan at K = 1 (1 and 2 cores), K curve
    python benchmarks/speed.py --device gpu    # GPU: replicate-steps/s over K = 1 ... 65,536 (needs a GPU)

Every measurement is a fresh subprocess, run one after another and interleaved over --repeats rounds, so that a
noisy machine slows all of them alike; the table gives medians over the rounds. The seed baseline is
../shared/seed/seed_gan.py (beside the repository, as CI lays it out), run on CPU with one thread
(OMP_NUM_THREADS=1, pinned to one core) in this Python environment, which needs PyTorch CPU 2.13.0 for it; its
FINAL line gives us_per_step. distgan's time per step is measured on warm, compiled chunks of --chunk steps
(a lax.scan, as `distgan train` runs them); compile time is reported apart. On CPU, K > 1 replicates are split
over one XLA device per core as `distgan train` splits them (distgan.devices); "1 CPU device" rows keep them on one.
Each device's share runs the chunk in cache-sized blocks of replicates (distgan.engine.run_steps); the "no blocks"
row runs all of a share at once (DISTGAN_PLAIN=blocks).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED_SCRIPT = ROOT.parent / "shared" / "seed" / "seed_gan.py"
CPU_CURVE = (1, 16, 64, 256, 1024)
GPU_CURVE = (1, 16, 256, 1024, 4096, 16384, 65536)


def worker(K: int, steps: int, chunk: int, device: str, cost: bool = False) -> dict:
    """In this process: compile the seed preset's chunk for K replicates, then time `steps` steps of it.

    The replicates are split over CPU devices as `distgan train` splits them (DISTGAN_CPU_DEVICES sets how many),
    and each device's share runs in cache-sized blocks (unless DISTGAN_PLAIN names `blocks`).
    cost: also XLA's own count of the bytes one step reads and writes and of its floating-point operations, per
    replicate (the compiled step's cost analysis; a scan's is its body's once, so it comes from one vmapped step).
    """
    import distgan  # noqa: I001  (first: it keeps XLA's C++ log to errors; importing JAX first fixes it at warnings)
    import jax
    from distgan import devices
    from distgan.engine import init_states, run_chunk
    from distgan.gan import GAN
    from distgan.data import make_target

    devices.select(device)
    cfg = distgan.preset("seed")
    gan = GAN(cfg, make_target(cfg.target))
    split = devices.split_replicates(K)
    states = devices.place(init_states(gan, 0, K), split)
    t0 = time.perf_counter()
    compiled = run_chunk.lower(gan, states, chunk, devices.parts(split)).compile()
    compile_s = time.perf_counter() - t0
    states, _ = compiled(states)  # warm-up
    jax.block_until_ready(states)
    times = []
    for _ in range(max(1, steps // chunk)):
        t0 = time.perf_counter()
        states, logs = compiled(states)
        jax.block_until_ready(logs)  # the loop waits for each chunk, as train() does
        times.append(time.perf_counter() - t0)
    us = 1e6 * statistics.median(times) / chunk
    out = {"K": K, "compile_s": compile_s, "us_per_step": us, "rep_steps_per_s": K * 1e6 / us,
           "device": str(jax.devices()[0].device_kind), "devices": devices.parts(split)}
    if cost:
        c = jax.jit(jax.vmap(gan.step)).lower(jax.eval_shape(init_states, gan, 0, K)).compile().cost_analysis()
        out |= {"MB_per_rep_step": c["bytes accessed"] / K / 1e6, "MFLOP_per_rep_step": c["flops"] / K / 1e6}
    return out


def run_worker(K, steps, chunk, device, cores=None, cpu_devices=None, blocks=True, cost=False) -> dict:
    cmd = [sys.executable, __file__, "--worker", str(K), "--steps", str(steps), "--chunk", str(chunk),
           "--device", device] + (["--cost"] if cost else [])
    path = os.environ.get("PYTHONPATH")  # kept: a GPU machine may carry packages in on it
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + (os.pathsep + path if path else "")}
    if not blocks:  # the engine's plain version: all of a device's replicates at once (distgan.fast)
        env["DISTGAN_PLAIN"] = ",".join(filter(None, [env.get("DISTGAN_PLAIN", ""), "blocks"]))
    if cpu_devices:
        env["DISTGAN_CPU_DEVICES"] = str(cpu_devices)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env,
                         preexec_fn=(lambda: os.sched_setaffinity(0, cores)) if cores else None)
    if out.returncode:
        sys.exit(f"speed.py: the worker for K={K} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_seed(steps: int, python: str, script: Path) -> dict:
    """The seed script on one thread, one core; its FINAL line's us_per_step."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = subprocess.run([python, str(script), str(steps), "0"], capture_output=True, text=True, env=env,
                         check=True, preexec_fn=lambda: os.sched_setaffinity(0, {0}))
    final = [line for line in out.stdout.splitlines() if line.startswith("FINAL")][-1]
    return {"us_per_step": float(re.search(r"us_per_step=([\d.]+)", final).group(1))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", choices=("cpu", "gpu"))
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds; the table gives medians")
    p.add_argument("--steps", type=int, default=2000, help="timed distgan steps per measurement (K = 1)")
    p.add_argument("--seed-steps", type=int, default=2000, help="steps of the seed script per measurement")
    p.add_argument("--chunk", type=int, default=200, help="steps per compiled chunk (train.log_every)")
    p.add_argument("--curve", default=None, help="comma-separated K values (default: CPU 1..1024, GPU 1..65536)")
    p.add_argument("--seed-script", default=str(SEED_SCRIPT), help="the seed baseline (default ../shared/seed/seed_gan.py)")
    p.add_argument("--torch-python", default=sys.executable, help="the Python that has torch, for the seed script")
    p.add_argument("--json", help="also write every measurement to this file")
    p.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    p.add_argument("--cost", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker is not None:
        print(json.dumps(worker(a.worker, a.steps, a.chunk, a.device, a.cost)))
        return

    curve = tuple(int(k) for k in a.curve.split(",")) if a.curve else (CPU_CURVE if a.device == "cpu" else GPU_CURVE)
    all_cores = os.sched_getaffinity(0)
    # name -> (function giving one measurement); each round runs every entry once, in this order
    plan = {}
    if a.device == "cpu":
        if not Path(a.seed_script).exists():
            sys.exit(f"speed.py: the seed script is not at {a.seed_script} (shared/ must sit beside the repository)")
        plan["seed script (torch, 1 thread)"] = lambda: run_seed(a.seed_steps, a.torch_python, a.seed_script)
        plan["distgan K=1, 1 core"] = lambda: run_worker(1, a.steps, a.chunk, "cpu", {min(all_cores)})
        plan[f"distgan K=1, {len(all_cores)} cores"] = lambda: run_worker(1, a.steps, a.chunk, "cpu")
    for K in curve:
        if a.device == "cpu" and K == 1:
            continue
        steps = max(a.chunk, min(a.steps, a.steps * 16 // K // a.chunk * a.chunk))  # about the same work each
        plan[f"distgan K={K}" + (f", {len(all_cores)} cores" if a.device == "cpu" else "")] = \
            (lambda K=K, steps=steps: run_worker(K, steps, a.chunk, a.device, cost=K == max(curve)))
        if a.device == "cpu" and K == 256 and len(all_cores) > 1:  # what the split over CPU devices buys
            plan["distgan K=256, 1 CPU device"] = (lambda steps=steps: run_worker(256, steps, a.chunk, "cpu", None, 1))
        if a.device == "cpu" and K == 256:  # what running each device's share in cache-sized blocks buys
            plan["distgan K=256, no blocks"] = (lambda steps=steps: run_worker(256, steps, a.chunk, "cpu", blocks=False))
    results = {name: [] for name in plan}
    for r in range(a.repeats):
        for name, fn in plan.items():
            results[name].append(fn())
            m = results[name][-1]
            print(f"  round {r + 1}/{a.repeats}: {name:32s} {m['us_per_step']:10.1f} us/step", file=sys.stderr)

    med = {name: {k: statistics.median(x[k] for x in ms) for k in ms[0] if isinstance(ms[0][k], int | float)}
           for name, ms in results.items()}
    seed_us = med.get("seed script (torch, 1 thread)", {}).get("us_per_step")
    print(f"\nmedians of {a.repeats} interleaved rounds ({a.device}; "
          f"{next((ms[0]['device'] for ms in results.values() if 'device' in ms[0]), '')})")
    print(f"{'run':34s} {'compile s':>9s} {'us/step':>10s} {'steps/s':>9s} {'rep-steps/s':>12s} {'x seed':>8s}")
    for name, m in med.items():
        K = m.get("K", 1)
        ratio = f"{K * seed_us / m['us_per_step']:7.1f}x" if seed_us else ""
        comp = f"{m['compile_s']:9.2f}" if "compile_s" in m else f"{'':9s}"
        print(f"{name:34s} {comp} {m['us_per_step']:10.1f} {1e6 / m['us_per_step']:9.0f} "
              f"{K * 1e6 / m['us_per_step']:12.4g} {ratio:>8s}")
    print("\nx seed: replicate-steps per second over the seed script's steps per second")
    for name, m in med.items():
        if "MB_per_rep_step" in m:  # what the rate means in memory traffic and arithmetic, by XLA's own count
            rate = m["K"] * 1e6 / m["us_per_step"]
            print(f"{name}: one step reads and writes {m['MB_per_rep_step']:.3f} MB and does "
                  f"{m['MFLOP_per_rep_step']:.2f} MFLOP per replicate (XLA's cost analysis), so this rate moves "
                  f"{rate * m['MB_per_rep_step'] / 1e6:.2f} TB/s and computes {rate * m['MFLOP_per_rep_step'] / 1e6:.2f} "
                  f"TFLOP/s")
    if a.json:
        Path(a.json).write_text(json.dumps({"medians": med, "runs": results}, indent=1))


if __name__ == "__main__":
    main()
