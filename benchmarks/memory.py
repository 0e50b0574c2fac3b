"""The memory check's estimate against what a device really allocates (a script, not a test: it is for the GPU).

    PYTHONPATH=src python3 benchmarks/memory.py --device gpu           # K = 4096, 65536, 262144
    PYTHONPATH=src python3 benchmarks/memory.py --device cpu --K 4096  # the same on a CPU (tests/test_replicates.py
                                                                       # runs this script's worker)

For each K, a fresh process compiles the seed preset's training chunk for K replicates, takes distgan.memory's
estimate from it (what `distgan train` checks against the free memory before it allocates anything), then places
the states and runs one chunk. It reports the growth of the device's peak allocation over that (on a GPU, JAX's
allocator's peak_bytes_in_use; on a CPU, the process's peak resident memory, reset after compiling) and the ratio
measured / estimate.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys


def measure(K: int, device: str, steps: int) -> dict:
    import distgan  # noqa: I001  (first: it keeps XLA's C++ log to errors)
    import jax
    from distgan import devices, memory
    from distgan.engine import init_states, run_chunk
    from distgan.gan import GAN
    from distgan.data import make_target

    devices.select(device)
    cfg = distgan.preset("seed")
    gan = GAN(cfg, make_target(cfg.target))
    split = devices.split_replicates(K)
    parts = devices.parts(split)
    compiled = run_chunk.lower(gan, devices.shapes(jax.eval_shape(init_states, gan, 0, K), split), steps, parts).compile()
    estimate = memory.estimate(compiled, K, 1, 1, 1, parts)["train"]
    dev = jax.devices()[0]
    on_cpu = dev.platform == "cpu"

    def peak() -> int:  # JAX's allocator on an accelerator; the process's peak resident memory on a CPU
        if not on_cpu:
            return dev.memory_stats()["peak_bytes_in_use"]
        line = next(s for s in open("/proc/self/status") if s.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024

    if on_cpu:
        with open("/proc/self/clear_refs", "w") as f:  # the resident peak, reset to now: compiling's is past
            f.write("5")
    before = peak() if on_cpu else dev.memory_stats()["bytes_in_use"]
    states, logs = compiled(devices.place(init_states(gan, 0, K), split))
    jax.block_until_ready((states, logs))
    measured = peak() - before
    return {"K": K, "parts": parts, "device": dev.device_kind, "estimate": estimate, "measured": measured}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="gpu", choices=("cpu", "gpu"))
    p.add_argument("--K", default="4096,65536,262144", help="comma-separated replicate counts, each in a fresh process")
    p.add_argument("--steps", type=int, default=200, help="steps in the chunk (train.log_every)")
    p.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker is not None:
        print(json.dumps(measure(a.worker, a.device, a.steps)))
        return
    print(f"{'K':>8s} {'estimate GiB':>13s} {'measured GiB':>13s} {'ratio':>6s}  device")
    for K in (int(k) for k in a.K.split(",")):
        out = subprocess.run([sys.executable, __file__, "--worker", str(K), "--device", a.device, "--steps", str(a.steps)],
                             capture_output=True, text=True, env={**os.environ})
        if out.returncode:
            print(f"{K:8d} failed: {(out.stderr.strip().splitlines() or ['?'])[-1]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{K:8d} {r['estimate'] / 2**30:13.3f} {r['measured'] / 2**30:13.3f} {r['measured'] / r['estimate']:6.2f}"
              f"  {r['device']}")


if __name__ == "__main__":
    main()
