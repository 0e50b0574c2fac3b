"""The run folder: config, metrics, summary, checkpoint and plots, every file written atomically.

Layout of a run folder:
    config.toml          the resolved config
    metrics.jsonl        one JSON object per progress line (and the fit at evaluation steps)
    summary.json         the final fit per replicate, noise floors, verdicts and the table over replicates
    checkpoint.safetensors + checkpoint.json   all replicates' weights, optimizer states, keys and step
    *.png                plots
Checkpoints hold arrays in safetensors and metadata in JSON: loading a run never executes code (no pickle).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import jax
import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from . import config as config_mod
from .config import Config, ConfigError

CHECKPOINT = "checkpoint.safetensors"
FORMAT = "distgan-checkpoint-1"


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write a file whole or not at all: a temporary file in the same folder, fsync, then rename over."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def append_jsonl(path: Path, rows: list[dict]) -> None:
    """Append rows to a JSON-lines file by rewriting it atomically (a kill leaves the old or the new file)."""
    old = path.read_bytes() if path.exists() else b""
    atomic_write(path, old + "".join(json.dumps(r) + "\n" for r in rows).encode())


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def write_json(path: Path, obj) -> None:
    atomic_write(path, json.dumps(obj, indent=1, default=_to_builtin))


def _to_builtin(x):
    if isinstance(x, np.ndarray | np.generic):
        return x.tolist()
    raise TypeError(type(x))


def default_name(cfg: Config, target_name: str) -> str:
    """Run folder name from target, preset and seed, e.g. 'gaussian-seed-s0' (plus '-k256' for replicates)."""
    name = f"{target_name}-{cfg.preset}-s{cfg.train.seed}"
    return name + (f"-k{cfg.train.replicates}" if cfg.train.replicates > 1 else "")


def check_out_dir(out: Path, resume: bool = False) -> None:
    """Refuse an output folder whose parent is missing, or one that already holds another run."""
    if not out.parent.is_dir():
        raise ConfigError(f"--out {out}: parent directory {out.parent} does not exist")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a directory")
    if not resume and out.is_dir() and any(out.iterdir()):
        raise ConfigError(f"--out {out}: directory exists and is not empty (choose another --out)")


# --- checkpoints ------------------------------------------------------------------------------------------------

def _name(path) -> str:
    parts = []
    for p in path:
        parts.append(str(getattr(p, "key", getattr(p, "idx", getattr(p, "name", p)))))
    return "/".join(parts)


def flatten(tree) -> dict[str, np.ndarray]:
    """A pytree as {'G/0/w': array, ...}, the names made from its dict keys, indices and fields."""
    return {_name(path): np.asarray(leaf) for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


def unflatten(template, arrays: dict[str, np.ndarray], where: str):
    """Fill `template`'s structure from `arrays`, checking that every name is there with its shape and dtype."""
    paths, treedef = jax.tree_util.tree_flatten_with_path(template)
    leaves = []
    for path, leaf in paths:
        name = _name(path)
        if name not in arrays:
            raise ConfigError(f"{where}: checkpoint has no tensor {name!r}: it belongs to another config")
        a = arrays[name]
        if a.shape != tuple(leaf.shape) or a.dtype != np.dtype(leaf.dtype):
            raise ConfigError(f"{where}: tensor {name!r} has shape {a.shape} {a.dtype}, this config needs "
                              f"{tuple(leaf.shape)} {np.dtype(leaf.dtype)}: it belongs to another config")
        leaves.append(a)
    return jax.tree_util.tree_unflatten(treedef, leaves)


def save_checkpoint(folder: Path, states: dict, meta: dict, name: str = CHECKPOINT) -> None:
    """All replicates' states to safetensors (tensors) and a JSON sidecar (step, config text, format)."""
    arrays = flatten(states)
    meta = {"format": FORMAT, **meta}
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(arrays, tmp, metadata={"format": FORMAT})
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        # the sidecar is written first: a kill between the two leaves a sidecar that names a step the tensors
        # may not have; load_checkpoint checks the step stored in both and refuses a mismatch
        write_json(folder / (Path(name).stem + ".json"), meta)
        os.replace(tmp, folder / name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(folder: Path, template: dict, name: str = CHECKPOINT) -> tuple[dict, dict]:
    """Read a checkpoint into `template`'s structure; refuse a missing, truncated or foreign one."""
    path, sidecar = folder / name, folder / (Path(name).stem + ".json")
    if not path.exists() or not sidecar.exists():
        raise ConfigError(f"{folder}: no checkpoint ({name} and its .json) in this run folder")
    try:
        meta = json.loads(sidecar.read_text())
        arrays = load_file(str(path))
    except (json.JSONDecodeError, SafetensorError, OSError, ValueError) as e:
        raise ConfigError(f"{path}: unreadable or truncated checkpoint ({str(e).splitlines()[0][:120]})") from None
    if meta.get("format") != FORMAT:
        raise ConfigError(f"{sidecar}: not a distgan checkpoint (format {meta.get('format')!r})")
    if "step" in arrays and int(np.asarray(arrays["step"]).reshape(-1)[0]) != meta.get("step"):
        raise ConfigError(f"{path}: tensors and {sidecar.name} disagree on the step: the checkpoint is incomplete")
    return unflatten(template, arrays, str(path)), meta


def load_config(folder: Path) -> Config:
    """The resolved config of a run folder, or a one-line error if the folder is missing or not a run."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: run folder not found")
    path = folder / "config.toml"
    if not path.exists():
        raise ConfigError(f"{folder}: not a distgan run folder (no config.toml)")
    try:
        return config_mod.validate(config_mod.loads(path.read_text()))
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    except Exception as e:  # TOML errors
        raise ConfigError(f"{path}: unreadable config ({e})") from None


# --- a finished run, read back --------------------------------------------------------------------------------

class Run:
    """A trained run: its folder, config, target, GAN and the states of all replicates (leading axis K)."""

    def __init__(self, folder: Path, cfg: Config, target, gan, states: dict, summary: dict | None = None):
        self.folder, self.cfg, self.target, self.gan, self.states = Path(folder), cfg, target, gan, states
        self.summary = summary if summary is not None else self._read_summary()
        self._sample = jax.jit(gan.sample, static_argnums=2)

    def __repr__(self):
        return (f"Run({str(self.folder)!r}, target={self.cfg.target.spec!r}, preset={self.cfg.preset!r}, "
                f"replicates={self.replicates}, step={int(np.asarray(self.states['step'])[0])})")

    @property
    def replicates(self) -> int:
        return int(np.asarray(self.states["step"]).shape[0])

    def state(self, replicate: int = 0) -> dict:
        if not 0 <= replicate < self.replicates:
            raise ConfigError(f"--replicate {replicate}: this run has replicates 0..{self.replicates - 1}")
        return jax.tree.map(lambda x: x[replicate], self.states)

    def sample(self, n: int, seed: int = 0, replicate: int = 0) -> np.ndarray:
        """n draws from replicate's generator, in the target's units; the same seed gives the same draws. -> (n, dim)"""
        x = np.asarray(self._sample(self.state(replicate), jax.random.PRNGKey(seed), n))
        return self.target.to_data(x)

    @property
    def metrics(self) -> list[dict]:
        """The rows of metrics.jsonl: one per progress line, with 'fit' at evaluation steps."""
        path = self.folder / "metrics.jsonl"
        return read_jsonl(path) if path.exists() else []

    def _read_summary(self) -> dict:
        path = self.folder / "summary.json"
        try:
            return json.loads(path.read_text()) if path.exists() else {}
        except json.JSONDecodeError:
            raise ConfigError(f"{path}: unreadable summary (not JSON)") from None


def load(folder: str | Path) -> Run:
    """Read a run folder back: its config, then its checkpoint checked against that config."""
    from .gan import GAN, init_states
    from .targets import make_target

    folder = Path(folder)
    cfg = load_config(folder)
    if cfg.target.data:  # a data file: checked against the run's record, or the record alone if the file moved
        from .data import load_run_target

        target = load_run_target(cfg.target, folder)
    else:
        target = make_target(cfg.target)
    gan = GAN(cfg, target)
    template = jax.eval_shape(lambda: init_states(gan, cfg.train.seed, cfg.train.replicates))
    states, _ = load_checkpoint(folder, template)
    return Run(folder, cfg, target, gan, jax.tree.map(jax.numpy.asarray, states))
