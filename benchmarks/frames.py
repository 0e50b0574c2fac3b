"""What taking the animation's frames costs training (a script, not a test): time per step with a frame after every
chunk of steps against none, as `distgan train` runs its chunks.

    python benchmarks/frames.py                          # the seed and default presets, K = 1 and 256, on CPU
    python benchmarks/frames.py --presets seed --K 1 --rounds 20

For each (preset, K), one fresh process compiles the chunk of --chunk steps (train.log_every) and the frame, then
alternates blocks of --block chunks without and with a frame after each chunk (distgan.frames.Recorder.capture, a
frame every chunk: the most often `report.frames` takes them), --rounds times. Under the same load the two halves
of a round pair up: the table gives the medians over rounds of the time per step each way, and of their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def worker(preset: str, K: int, chunk: int, block: int, rounds: int) -> dict:
    import distgan  # noqa: I001  (first: it keeps XLA's C++ log to errors)
    from distgan import devices
    from distgan.data import make_target
    from distgan.engine import Engine
    from distgan.frames import Recorder
    from distgan.gan import GAN

    devices.select("cpu")
    cfg = distgan.preset(preset)
    cfg.train.replicates, cfg.train.log_every, cfg.report.frames = K, chunk, 10**9  # a frame every chunk
    gan = GAN(cfg, make_target(cfg.target))
    engine = Engine(gan, K, 0, chunk, 1000)
    film = Recorder(cfg, gan, Path(tempfile.mkdtemp()))
    engine.compile(beside=lambda: film.compile(engine.shapes))
    states, step = engine.init(), 0
    for _ in range(3):  # warm-up
        states, _, _ = engine.run(states, chunk)
    off, on = [], []
    for _ in range(rounds):
        for capture, times in ((False, off), (True, on)):
            t0 = time.perf_counter()
            for _ in range(block):
                states, _, _ = engine.run(states, chunk)
                step += chunk
                if capture:
                    film.capture(states, step)
            times.append((time.perf_counter() - t0) / (block * chunk))
    ratio = [b / a for a, b in zip(off, on)]
    return {"preset": preset, "K": K, "off_us": 1e6 * statistics.median(off), "on_us": 1e6 * statistics.median(on),
            "ratio": statistics.median(ratio), "ratio_min": min(ratio), "ratio_max": max(ratio),
            "frames": len(film.steps), "devices": engine.parts}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", default="seed,default")
    p.add_argument("--K", default="1,256", help="comma-separated replicate counts")
    p.add_argument("--chunk", type=int, default=200, help="steps per compiled chunk (train.log_every)")
    p.add_argument("--block", type=int, default=5, help="chunks per half-round")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker[0], int(a.worker[1]), a.chunk, a.block, a.rounds)))
        return
    print(f"{'preset':8s} {'K':>5s} {'frames off us/step':>19s} {'on us/step':>11s} {'on / off':>9s} {'(min, max)':>14s}")
    for preset in a.presets.split(","):
        for K in (int(k) for k in a.K.split(",")):
            rounds = a.rounds if K < 64 else max(3, a.rounds // 3)
            cmd = [sys.executable, __file__, "--worker", preset, str(K), "--chunk", str(a.chunk),
                   "--block", str(a.block if K < 64 else 1), "--rounds", str(rounds)]
            env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
            out = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if out.returncode:
                sys.exit(f"frames.py: the worker for {preset} K={K} failed:\n{out.stderr[-3000:]}")
            m = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{preset:8s} {K:5d} {m['off_us']:19.1f} {m['on_us']:11.1f} {m['ratio']:9.3f} "
                  f"({m['ratio_min']:.3f}, {m['ratio_max']:.3f})", flush=True)


if __name__ == "__main__":
    main()
