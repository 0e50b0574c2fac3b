#!/usr/bin/env bash
# Every GPU check of distgan in one script, for one short session on a lent GPU machine (CI has no GPU):
#
#     bash benchmarks/gpu.sh OUTDIR          # writes OUTDIR/log.txt, OUTDIR/curve.json and two plots
#
# 1. the environment; 2. a smoke run on the GPU (stops here if it fails); 3. the speed curve over K
# (benchmarks/speed.py --device gpu); 4. the memory check's estimate against the GPU allocator's peak
# (benchmarks/memory.py); 5. a K too large for the GPU, which must stop with one line naming the largest K that
# fits; 6. whole `distgan train` runs on the GPU: the seed preset at K = 16,384, the default preset at K = 1,024.
# Each part has a time limit; on an H200 the parts took about 8.5 minutes in all (measured over two runs).
# It runs from the source tree with the machine's own python3 (JAX for CUDA): PYTHONPATH=src. That python lacked
# tomli_w: carry .venv/lib/python3.11/site-packages/tomli_w and run with
# PYTHONPATH=.venv/lib/python3.11/site-packages bash benchmarks/gpu.sh $OUT
set -u
out=${1:?usage: bash benchmarks/gpu.sh OUTDIR}
mkdir -p "$out"
runs=$(mktemp -d)
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
step() { printf '\n### %s  (%s)\n' "$1" "$(date +%T)"; }
{
  step environment
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  $py -c "import jax, optax; print('jax', jax.__version__, 'optax', optax.__version__, jax.devices())"

  step "smoke: the seed preset, 8 replicates, on the GPU"
  timeout 60 $py -m distgan train --device gpu --preset seed --replicates 8 --steps 1000 --no-plots \
    --out "$runs/smoke" || { echo "smoke run failed: stopping"; exit 1; }

  step "speed over K"
  timeout 420 $py benchmarks/speed.py --device gpu --repeats 3 --json "$out/curve.json"  # K = 1 ... 65,536

  step "memory: the estimate against the GPU allocator's peak"
  timeout 90 $py benchmarks/memory.py --device gpu --K 4096,131072

  step "a K too large for the GPU"
  timeout 30 $py -m distgan train --device gpu --preset seed --replicates 100000000 --quiet --no-plots \
    --out "$runs/huge"
  echo "exit status $?; run folder left behind: $(ls -d "$runs/huge" 2>/dev/null || echo none)"

  step "distgan train: the seed preset, K = 16384, 2000 steps"
  timeout 60 $py -m distgan train --device gpu --preset seed --replicates 16384 --steps 2000 --quiet --no-plots \
    --out "$runs/seed"

  step "distgan train: the default preset, K = 1024"
  timeout 60 $py -m distgan train --device gpu --replicates 1024 --quiet --out "$runs/default"
  cp "$runs/default/mean_std.png" "$runs/default/histograms.png" "$out/"
  step done
} 2>&1 | tee "$out/log.txt"
rm -rf "$runs"
