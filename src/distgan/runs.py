"""The run folder: config, metrics, summary, checkpoint and plots, every file written atomically.

Layout of a run folder:
    config.toml          the resolved config
    metrics.jsonl        one JSON object per progress line (and the fit at evaluation steps)
    summary.json         the final fit per replicate, noise floors, verdicts and the table over replicates
    checkpoint.safetensors   the last checkpoint: all replicates' weights, optimizer states, EMA, keys, step and
                         non-finite flags ('state/...'), each replicate's best point ('best/...'), and in its
                         metadata the step, the config and the problems seen so far: everything a resume needs
    best.safetensors     each replicate's best state by fit ratio (max of KS and W1 ratios at evaluation steps)
    *.json beside them   the metadata, for people to read (loading never uses it)
    *.png                plots
Checkpoints are safetensors (tensors plus a JSON header) read with safetensors and json alone: loading a run never
executes code (no pickle), and a checkpoint that is truncated, damaged or from another config is refused in one line.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import jax
import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from . import config as config_mod
from .config import Config, ConfigError
from .devices import ONE_SHOT

CHECKPOINT = "checkpoint.safetensors"
BEST = "best.safetensors"
FORMAT = "distgan-checkpoint-2"


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


def free_run_dir(base: Path) -> Path:
    """base, or base-2, base-3, ...: the first that is not an existing, non-empty folder (runs are never overwritten)."""
    out, i = base, 2
    while out.exists() and (not out.is_dir() or any(out.iterdir())):
        out, i = base.with_name(f"{base.name}-{i}"), i + 1
    return out


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


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_checkpoint(folder: Path, tree: dict, meta: dict, name: str = CHECKPOINT) -> None:
    """A pytree of arrays to one safetensors file, written atomically; `meta` (step, config...) goes inside it.

    The safetensors file is the source of truth: its tensors and its metadata are renamed into place together, so a
    kill at any moment leaves the previous checkpoint or the new one, whole. The JSON beside it is a copy of the
    metadata for people to read; loading never uses it.
    """
    folder = Path(folder)
    arrays = flatten(tree)
    meta = {"format": FORMAT, **meta}
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(arrays, tmp, metadata={"format": FORMAT, "meta": json.dumps(meta, default=_to_builtin)})
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, folder / name)
        _fsync_dir(folder)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    write_json(folder / (Path(name).stem + ".json"), {k: v for k, v in meta.items() if k != "config"})


def read_checkpoint(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """The tensors and metadata of a checkpoint file; a one-line ConfigError if it is missing, truncated or foreign."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path.parent}: no checkpoint ({path.name}) in this run folder")
    try:
        with safe_open(str(path), framework="numpy") as f:
            header = f.metadata() or {}
            arrays = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    except (SafetensorError, OSError, ValueError, MemoryError) as e:
        first = (str(e).splitlines() or [type(e).__name__])[0][:120]
        raise ConfigError(f"{path}: unreadable or truncated checkpoint ({first})") from None
    if header.get("format") != FORMAT:
        raise ConfigError(f"{path}: not a distgan checkpoint (format {header.get('format')!r})")
    try:
        meta = json.loads(header.get("meta", ""))
        step = meta["step"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise ConfigError(f"{path}: checkpoint metadata is missing or damaged") from None
    if not isinstance(meta, dict) or not isinstance(step, int):
        raise ConfigError(f"{path}: checkpoint metadata is missing or damaged")
    return arrays, meta


def check_same_config(cfg: Config, text: str, where: str) -> None:
    """Refuse a checkpoint written by another config (train.steps may differ: a run can be extended)."""
    try:
        theirs = config_mod.to_dict(config_mod.loads(text))
    except Exception:
        raise ConfigError(f"{where}: checkpoint holds an unreadable config") from None
    ours = config_mod.to_dict(cfg)
    for section in config_mod.SECTIONS:
        for key, value in ours[section].items():
            if section == "train" and key == "steps":
                continue
            if theirs[section].get(key) != value:
                raise ConfigError(f"{where}: checkpoint belongs to another config ({section}.{key} is "
                                  f"{theirs[section].get(key)!r} there, {value!r} here)")


def load_checkpoint(folder: Path, template: dict, name: str = CHECKPOINT, cfg: Config | None = None
                    ) -> tuple[dict, dict]:
    """Read a checkpoint into `template`'s structure; refuse a missing, truncated or foreign one.

    Tensors the template does not name are ignored (so {'state': ...} reads the states of any checkpoint file).
    """
    path = Path(folder) / name
    arrays, meta = read_checkpoint(path)
    if cfg is not None:
        check_same_config(cfg, meta.get("config", ""), str(path))
    tree = unflatten(template, arrays, str(path))
    if name == CHECKPOINT and not np.all(np.asarray(tree["state"]["step"]) == meta["step"]):
        raise ConfigError(f"{path}: tensors and metadata disagree on the step: the checkpoint is damaged")
    return tree, meta


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
        self.at, self.step = "last", int(np.asarray(states["step"]).reshape(-1)[0])
        self.summary = summary if summary is not None else self._read_summary()
        self._sample = jax.jit(gan.sample, static_argnums=2, compiler_options=ONE_SHOT)

    def __repr__(self):
        return (f"Run({str(self.folder)!r}, target={self.cfg.target.spec!r}, preset={self.cfg.preset!r}, "
                f"replicates={self.replicates}, step={self.step}, at={self.at!r})")

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


def load(folder: str | Path, at: str = "last") -> Run:
    """Read a run folder back: its config, then a checkpoint checked against that config.

    at='last' reads the last checkpoint; at='best' each replicate's best state by fit ratio (best.safetensors).
    """
    from .gan import GAN, init_states
    from .targets import make_target

    if at not in ("last", "best"):
        raise ConfigError(f"--at {at!r}: expected last or best")
    folder = Path(folder)
    cfg = load_config(folder)
    if cfg.target.data:  # a data file: checked against the run's record, or the record alone if the file moved
        from .data import load_run_target

        target = load_run_target(cfg.target, folder)
    else:
        target = make_target(cfg.target)
    gan = GAN(cfg, target)
    template = {"state": jax.eval_shape(init_states, gan, cfg.train.seed, cfg.train.replicates)}
    tree, meta = load_checkpoint(folder, template, CHECKPOINT if at == "last" else BEST, cfg)
    run = Run(folder, cfg, target, gan, jax.tree.map(jax.numpy.asarray, tree["state"]))
    run.at, run.step = at, meta["step"]
    return run
