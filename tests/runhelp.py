"""Shared by the reliability tests: a tiny config as CLI flags, and training subprocesses that share the session's
compilation cache (conftest), so that a subprocess loads the programs another process compiled."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

import distgan
from distgan.files import read_jsonl, read_tensors

SRC = str(Path(__file__).resolve().parents[1] / "src")
FLAGS = ["--preset", "seed", "--set", "model.g_hidden=8", "--set", "model.d_hidden=8", "--set", "eval.n_samples=300",
         "--set", "eval.floor_draws=8", "--set", "train.log_every=50", "--set", "train.eval_every=150",
         "--set", "train.checkpoint_every=100", "--set", "train.ema=0.9", "--replicates", "2"]
STEPS = 1200
_REFERENCE: dict = {}


def env(request) -> dict:
    """The environment of a `distgan` subprocess: this source tree, and the session's compilation cache (conftest)."""
    request.getfixturevalue("compilation_cache")
    return {**os.environ, "PYTHONPATH": SRC}


def start(out: Path, *extra: str, env: dict, steps: int = STEPS) -> subprocess.Popen:
    """`distgan train` on the tiny config in a subprocess; its stderr goes to out + '.err'."""
    resume = "--resume" in extra
    cmd = [sys.executable, "-m", "distgan", "train", *([] if resume else [*FLAGS, "--out", str(out)]),
           "--steps", str(steps), "--quiet", "--no-plots", *extra]
    with open(str(out) + ".err", "ab") as err:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)


def reference(request, tmp_path_factory, steps: int = STEPS) -> Path:
    """The tiny config's run of `steps` steps left alone (made once per session and number of steps)."""
    if steps not in _REFERENCE:
        out = tmp_path_factory.mktemp("reference") / "alone"
        p = start(out, env=env(request), steps=steps)
        assert p.wait() == 0, Path(str(out) + ".err").read_text()
        _REFERENCE[steps] = out
    return _REFERENCE[steps]


def same_run(a: Path, b: Path) -> None:
    """The same weights (last and best), the same metrics.jsonl rows, the same summary (timing aside), the same
    animation frames."""
    assert (a / "metrics.jsonl").read_bytes() == (b / "metrics.jsonl").read_bytes()
    for name in ("checkpoint.safetensors", "best.safetensors"):
        x, y = load_file(a / name), load_file(b / name)
        assert x.keys() == y.keys()
        for k in x:
            np.testing.assert_array_equal(x[k], y[k], err_msg=f"{name}: {k}")
    sa, sb = (json.loads((f / "summary.json").read_text()) for f in (a, b))
    sa.pop("timing"), sb.pop("timing")
    assert sa == sb
    (fa, ma), (fb, mb) = (read_tensors(f / "frames.safetensors") for f in (a, b))  # the animation's
    assert ma == mb and fa.keys() == fb.keys() and all(fa[k].tobytes() == fb[k].tobytes() for k in fa)


def folder_is_whole(out: Path) -> None:
    """Every file parses, and the run loads from its last complete checkpoint."""
    for f in out.iterdir():
        if f.suffix == ".json":
            json.loads(f.read_text())
        elif f.suffix == ".jsonl":
            read_jsonl(f)
    if (out / "checkpoint.safetensors").exists():
        run = distgan.load(out)
        rows = read_jsonl(out / "metrics.jsonl")
        assert rows and rows[-1]["step"] >= run.step  # metrics reach the checkpoint's step before it is written
