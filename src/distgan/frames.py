"""Frames of training for the animation: one replicate's G samples and D's output on a grid, every few chunks.

A frame holds G's samples from one fixed draw of noise and codes (the same in every frame, so the animation shows
G's map moving, not fresh noise) and D's output on a fixed grid across the target's range: 1-D, N_1D samples and
GRID_1D points; 2-D and more, N_ND samples of every dimension and a GRID_2D x GRID_2D grid over dimensions 0 and 1
(the other dimensions at the target's median). Both are float16: a few KB a frame.

D's output at x: for a per-sample D, D(x) itself. A D that judges a whole batch (the seed's) or a pack of samples
has no output for one sample, so there it is D's output on a fixed real batch with x put in place of one real
sample, averaged over POSITIONS places in the batch: how much x alone moves D towards "fake". The page shows it as
a probability of "real" for the BCE losses (minimax, nonsaturating), else as D's raw score.

The frames live in the run folder's frames.safetensors (tensors and a JSON header: no pickle), rewritten whole at
each evaluation and checkpoint. A resumed run drops the frames past its checkpoint and captures the rest from the
same states with the same noise: its frames are bit-identical to those of the run left alone.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from .config import Config, ConfigError
from .fast import ONE_SHOT
from .files import read_tensors, save_tensors
from .gan import GAN
from .targets import Target

FRAMES = "frames.safetensors"
FORMAT = "distgan-frames-1"
N_1D, GRID_1D = 1000, 64  # G's samples and D's grid points per 1-D frame
N_ND, GRID_2D = 500, 32  # per frame for dim >= 2: samples of every dimension, D on a GRID_2D^2 grid over dims 0, 1
POSITIONS = 4  # places in the real batch where x stands in, for a D that judges batches or packs
NOISE_SEED, REAL_SEED, RANGE_SEED = 20240601, 20240602, 20240603  # fixed draws: the same in every frame and run
RANGE_N = 4000  # target samples that set the grid's range
PROBABILITY = ("minimax", "nonsaturating")  # losses whose D output is a logit: shown as sigmoid(logit)

def interval(cfg: Config) -> int:
    """Steps between frames: about steps / report.frames, rounded up to whole chunks (frames fall on chunk ends)."""
    t = cfg.train
    return math.ceil(math.ceil(t.steps / cfg.report.frames) / t.log_every) * t.log_every

def fixed_draws(gan: GAN) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The draws every frame shares, in one program: G's key (its noise and codes), RANGE_N target samples for the
    grid's range (axes), and a real batch for a D that judges batches. -> (2,) uint32, (RANGE_N, dim), (B, dim)"""
    sample = gan.target.sample
    return (jax.random.PRNGKey(NOISE_SEED), sample(jax.random.PRNGKey(RANGE_SEED), RANGE_N),
            sample(jax.random.PRNGKey(REAL_SEED), gan.cfg.train.batch_size))


def axes(gan: GAN, x: np.ndarray) -> dict:
    """The frame's grid from target samples x (n, dim) in G's units: per plotted dimension its [lo, hi], and the
    other dimensions' centre.

    lo and hi are the target's 0.2 % and 99.8 % quantiles widened by 30 % of their span on each side, so G's
    samples are on the axis before they reach the target too. -> {'lo': (d,), 'hi': (d,), 'centre': (dim,)}
    """
    x = np.asarray(x, np.float64)
    q_lo, q_hi = np.quantile(x, [0.002, 0.998], axis=0)
    span = np.where(q_hi > q_lo, q_hi - q_lo, 1.0)
    d = min(gan.dim, 2)
    return {"lo": (q_lo - 0.3 * span)[:d], "hi": (q_hi + 0.3 * span)[:d], "centre": np.median(x, 0)}

def grid(gan: GAN, box: dict) -> np.ndarray:
    """The points where D is drawn, in G's units: (GRID_1D, 1), or (GRID_2D^2, dim) row by row over dims 0, 1."""
    if gan.dim == 1:
        return np.linspace(box["lo"][0], box["hi"][0], GRID_1D)[:, None]
    gx, gy = (np.linspace(box["lo"][i], box["hi"][i], GRID_2D) for i in (0, 1))
    pts = np.tile(box["centre"], (GRID_2D * GRID_2D, 1))
    pts[:, 0], pts[:, 1] = np.tile(gx, GRID_2D), np.repeat(gy, GRID_2D)  # x varies fastest: row j is y = gy[j]
    return pts

def d_on_grid(gan: GAN, D, points: jax.Array, real: jax.Array) -> jax.Array:
    """D's output at each point (P, dim): D(x) for a per-sample D; else x in place of one sample of the real batch
    (B, dim), averaged over POSITIONS places. In probability for the BCE losses, else D's raw score. -> (P,)"""
    m = gan.cfg.model
    show = jax.nn.sigmoid if gan.cfg.train.loss in PROBABILITY else (lambda v: v)
    if m.d_input == "sample":
        return show(gan.D(D, points))
    B = real.shape[0]
    out = []
    for i in (j * B // POSITIONS for j in range(POSITIONS)):  # x in place of real sample i: (P, B, dim) batches
        batches = jnp.where((jnp.arange(B) == i)[None, :, None], points[:, None, :], real[None])
        out.append(show(jax.vmap(gan.D, in_axes=(None, 0))(D, batches))[:, i // m.pack if m.d_input == "pack" else 0])
    return jnp.mean(jnp.stack(out), 0)

def capture_one(gan: GAN, state: dict, key: jax.Array, points: jax.Array, real: jax.Array):
    """One replicate's frame: n G samples of the fixed key (its noise, and its codes when G has them), drawn as
    evaluation draws them (gan.sample), and D on the grid, as float16. -> (n, dim), (P,)"""
    n = N_1D if gan.dim == 1 else N_ND
    samples = gan.sample(state, key, n)
    return samples.astype(jnp.float16), d_on_grid(gan, state["D"], points, real).astype(jnp.float16)


@lru_cache(maxsize=8)
def _compiled(gan: GAN, i: int, shapes: tuple, device) -> tuple:
    """The capture of replicate i of states of these shapes (leaves, treedef), on `device` (None: where the states
    are), and the fixed draws: compiled once per process for equal GANs (GAN.__eq__), shapes and device."""
    fn = jax.jit(lambda states, key, points, real: capture_one(
        gan, jax.tree.map(lambda x: x[i], states), key, points, real), compiler_options=ONE_SHOT)
    P = GRID_1D if gan.dim == 1 else GRID_2D ** 2
    where = None if device is None else jax.sharding.SingleDeviceSharding(device)
    fixed = [jax.ShapeDtypeStruct((2,), jnp.uint32, sharding=where)] + [
        jax.ShapeDtypeStruct(shape, jnp.float32, sharding=where) for shape in
        ((P, gan.dim), (gan.cfg.train.batch_size, gan.dim))]
    leaves, treedef = shapes
    return (fn.lower(jax.tree.unflatten(treedef, leaves), *fixed).compile(),
            jax.jit(lambda: fixed_draws(gan), compiler_options=ONE_SHOT).lower().compile())


class Recorder:
    """The frames of one run: captured every `every` steps (and at step 0 and the last step), kept in memory and
    written to frames.safetensors at each flush. report.frames = 0: a recorder that captures nothing."""

    def __init__(self, cfg: Config, gan: GAN, folder: Path):
        self.cfg, self.gan, self.folder = cfg, gan, Path(folder)
        self.on = cfg.report.frames > 0
        self.every, self.replicate = interval(cfg) if self.on else 0, cfg.report.frame_replicate
        self.steps, self.samples, self.d = [], [], []
        self._fn, self._fixed_fn, self.device, self.fixed, self.box = None, None, None, None, None

    def __repr__(self):
        return f"Recorder(every={self.every}, replicate={self.replicate}, frames={len(self.steps)})"

    def compile(self, shapes: dict) -> None:
        """Compile the capture for states of these shapes (engine.shapes), without running anything: `train` does
        it in the thread beside the training chunk's compile. The fixed draws are made at the first capture.

        Replicates split over devices: the capture reads the share of the device that holds the replicate and runs
        there alone, so it never waits on the other devices (which a `train --compare` beside it may keep busy).
        """
        if not self.on:
            return
        gan, k = self.gan, self.replicate
        leaf, start = jax.tree.leaves(shapes)[0], 0
        if leaf.sharding is not None:  # replicate k's share: its device, and k's place in it
            for device, index in leaf.sharding.devices_indices_map(leaf.shape).items():
                first, stop, _ = index[0].indices(leaf.shape[0])
                if first <= k < stop:
                    self.device, start = device, first
            one = jax.sharding.SingleDeviceSharding(self.device)
            shapes = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.sharding.shard_shape(x.shape), x.dtype,
                                                                 sharding=one), shapes)
        leaves, treedef = jax.tree.flatten(shapes)
        self._fn, self._fixed_fn = _compiled(gan, k - start, (tuple(leaves), treedef), self.device)

    def _draw(self) -> None:
        """The fixed draws of every frame: G's key, D's grid across the target's range, a real batch (one compiled
        program, compiled beside the training chunk: no op-by-op compiles when training starts)."""
        key, x, real = self._fixed_fn()
        self.box = axes(self.gan, x)
        points = grid(self.gan, self.box).astype(np.float32)  # (P, dim)
        self.fixed = jax.device_put((key, points, real), self.device)

    def _share(self, states: dict) -> dict:
        """The states of the device that holds the replicate (all of them when the replicates are not split)."""
        if self.device is None:
            return states
        return jax.tree.map(lambda x: next(s.data for s in x.addressable_shards if s.device == self.device), states)

    def resume(self, step: int) -> None:
        """Continue the frames of a run resumed at `step`: those up to it, at the interval they were taken at."""
        path = self.folder / FRAMES
        if not self.on or not path.exists():
            return
        arrays, meta = read(path)
        keep = arrays["step"] <= step
        self.every = meta["every"]
        self.steps = [int(s) for s in arrays["step"][keep]]
        self.samples, self.d = list(arrays["samples"][keep]), list(arrays["d"][keep])

    def capture(self, states: dict, step: int, flush: bool = False) -> None:
        """Take a frame of `states` if `step` is due (step 0, every `every` steps, the last step); flush: write the
        frames so far (at evaluations and checkpoints, so the file reaches the checkpoint's step)."""
        due = self.on and (step % self.every == 0 or step == self.cfg.train.steps)
        if due and (not self.steps or step > self.steps[-1]):
            if self.fixed is None:
                self._draw()
            samples, d = jax.device_get(self._fn(self._share(states), *self.fixed))
            self.steps.append(step)
            self.samples.append(samples)
            self.d.append(d)
        if flush and self.steps:
            self.write()

    def latest(self, step: int) -> np.ndarray | None:
        """G's samples of the frame taken at `step`, in the data's units (n, dim), or None."""
        if not self.steps or self.steps[-1] != step:
            return None
        return self.gan.target.to_data(self.samples[-1].astype(np.float64))

    def write(self) -> None:
        if self.box is None:  # resumed, and flushed before its first new frame: the box of the same fixed draws
            self._draw()
        meta = {"format": FORMAT, "every": self.every, "replicate": self.replicate, "dim": self.gan.dim,
                "lo": self.box["lo"].tolist(), "hi": self.box["hi"].tolist(), "centre": self.box["centre"].tolist(),
                "grid": GRID_1D if self.gan.dim == 1 else GRID_2D, "d_input": self.cfg.model.d_input,
                "d_output": "probability" if self.cfg.train.loss in PROBABILITY else "score"}
        arrays = {"step": np.asarray(self.steps, np.int64), "samples": np.stack(self.samples),
                  "d": np.stack(self.d)}
        save_tensors(self.folder / FRAMES, arrays, {"format": FORMAT, "meta": json.dumps(meta)})

def read(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """A frames file's arrays (step (T,), samples (T, n, dim), d (T, P)) and its header; a one-line error if it is
    damaged or not a frames file."""
    arrays, header = read_tensors(path)
    if header.get("format") != FORMAT or not {"step", "samples", "d"} <= arrays.keys():
        raise ConfigError(f"{path}: not a distgan frames file")
    return arrays, json.loads(header["meta"])

def load(folder: Path) -> tuple[dict[str, np.ndarray], dict] | None:
    """The frames of a run folder, or None if it has none."""
    path = Path(folder) / FRAMES
    return read(path) if path.exists() else None


def in_data_units(folder: Path, target: Target) -> dict | None:
    """A run folder's frames as drawn: steps (T,), G's samples in the data's units (T, n, dim), D's output (T, P)
    and its range, the axes' lo and hi in the data's units (d,), and the header; None if the run has no frames."""
    got = load(folder)
    if got is None:
        return None
    arrays, meta = got
    d = len(meta["lo"])
    scale = np.broadcast_to(target.scale, (target.dim,))[:d]
    shift = np.broadcast_to(target.shift, (target.dim,))[:d]
    out = arrays["d"].astype(np.float64)
    seen = out[np.isfinite(out)]
    if meta["d_output"] == "probability":
        d_lo, d_hi = 0.0, 1.0
    elif len(seen):  # a raw score: the range it took over the run (a diverged D's inf left out)
        d_lo, d_hi = float(seen.min()), float(seen.max())
        d_hi = d_hi if d_hi > d_lo else d_lo + 1.0
    else:
        d_lo, d_hi = 0.0, 1.0
    return {"step": arrays["step"], "x": target.to_data(arrays["samples"].astype(np.float64)), "d": out,
            "d_lo": d_lo, "d_hi": d_hi, "lo": np.asarray(meta["lo"]) * scale + shift,
            "hi": np.asarray(meta["hi"]) * scale + shift, "meta": meta}
