"""Files, the bottom layer: every write is atomic (whole or not at all); JSON, JSON lines and safetensors.

Nothing here knows about GANs or configs (ConfigError is the one error type for bad input). A kill at any moment
leaves the old file or the new one, never half of one: each write goes to a temporary file in the same folder, is
flushed to disk, then renamed over the target.
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

from .config import ConfigError


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


def fsync_dir(folder: Path) -> None:
    """Make a rename inside `folder` durable (best effort: some file systems refuse to sync a folder)."""
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


def _to_builtin(x):
    if isinstance(x, np.ndarray | np.generic):
        return x.tolist()
    raise TypeError(type(x))


def dumps_json(obj, **kw) -> str:
    """JSON text of obj; NumPy arrays and scalars become lists and numbers."""
    return json.dumps(obj, default=_to_builtin, **kw)


def write_json(path: Path, obj) -> None:
    atomic_write(path, dumps_json(obj, indent=1))


def read_json(path: Path, what: str = "file"):
    """The JSON in `path`, or a ConfigError naming the file."""
    try:
        return json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ConfigError(f"{path}: unreadable {what} (not JSON)") from None


def append_jsonl(path: Path, rows: list[dict]) -> None:
    """Append rows to a JSON-lines file by rewriting it atomically (a kill leaves the old or the new file)."""
    path = Path(path)
    old = path.read_bytes() if path.exists() else b""
    atomic_write(path, old + "".join(dumps_json(r) + "\n" for r in rows).encode())


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


# --- tensors ------------------------------------------------------------------------------------------------------

def _name(path) -> str:
    return "/".join(str(getattr(p, "key", getattr(p, "idx", getattr(p, "name", p)))) for p in path)


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
            raise ConfigError(f"{where}: has no tensor {name!r}: it belongs to another config")
        a = arrays[name]
        if a.shape != tuple(leaf.shape) or a.dtype != np.dtype(leaf.dtype):
            raise ConfigError(f"{where}: tensor {name!r} has shape {a.shape} {a.dtype}, this config needs "
                            f"{tuple(leaf.shape)} {np.dtype(leaf.dtype)}: it belongs to another config")
        leaves.append(a)
    return jax.tree_util.tree_unflatten(treedef, leaves)


def save_tensors(path: Path, arrays: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    """Named arrays and string metadata to one safetensors file, atomically: a kill leaves the old file or the new."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(arrays, tmp, metadata=metadata)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_tensors(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The arrays and metadata of a safetensors file; a ConfigError if it is missing, truncated or damaged.

    safetensors reads a JSON header and raw tensor bytes: loading executes no code (no pickle).
    """
    path = Path(path)
    try:
        with safe_open(str(path), framework="numpy") as f:
            metadata = f.metadata() or {}
            arrays = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    except (SafetensorError, OSError, ValueError, MemoryError) as e:
        first = (str(e).splitlines() or [type(e).__name__])[0][:120]
        raise ConfigError(f"{path}: unreadable or truncated ({first})") from None
    return arrays, metadata
