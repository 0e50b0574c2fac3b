"""Files, the bottom layer: every write is atomic (whole or not at all); JSON, JSON lines, checksummed safetensors,
and the lock that makes a process a folder's one writer.

Nothing here knows about GANs or configs (ConfigError is the one error type for bad input, WriteError the one for a
disk that refuses a write). A kill at any moment leaves the old file or the new one, never half of one: each write
goes to a temporary file in the same folder, is flushed to disk, then renamed over the target; a full disk or a
read-only folder leaves the old file and no temporary one.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import tempfile
from pathlib import Path

import jax
import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save

from .config import ConfigError

# errors of the disk rather than of the program: reported in one line (WriteError), never as a traceback
DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.EFBIG)


class WriteError(Exception):
    """A file could not be written: the disk is full, the folder read-only, ... One line naming the file; what was
    there before is untouched."""


def write_error(path: Path, e: OSError) -> Exception:
    """A disk's refusal (DISK_ERRORS) as a WriteError naming `path`; any other OSError as it is."""
    if e.errno not in DISK_ERRORS:
        return e
    return WriteError(f"{path}: cannot write ({(e.strerror or os.strerror(e.errno)).lower()})")


@contextlib.contextmanager
def atomic_file(path: Path):
    """A binary file object whose contents appear at `path` whole, or not at all: written to a temporary file in the
    same folder, synced, then renamed over `path` when the block ends without an exception. An exception (a kill's
    KeyboardInterrupt, a full disk) removes the temporary file; a disk's refusal is raised as a WriteError."""
    path, tmp = Path(path), None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise write_error(path, e) from None
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write a file whole or not at all: a temporary file in the same folder, fsync, then rename over."""
    with atomic_file(path) as f:
        f.write(data.encode() if isinstance(data, str) else data)


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
    except OSError as e:
        raise ConfigError(f"{path}: unreadable {what} ({e.strerror})") from None


def append_jsonl(path: Path, rows: list[dict]) -> None:
    """Append rows to a JSON-lines file by rewriting it atomically (a kill leaves the old or the new file)."""
    path = Path(path)
    old = path.read_bytes() if path.exists() else b""
    atomic_write(path, old + "".join(dumps_json(r) + "\n" for r in rows).encode())


def read_jsonl(path: Path) -> list[dict]:
    """The JSON objects of a JSON-lines file, one a line; a ConfigError naming the file and line of a bad one."""
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: unreadable ({getattr(e, 'strerror', None) or 'not text'})") from None
    rows = []
    for i, line in enumerate(lines, 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                raise ConfigError(f"{path}: line {i} is not JSON") from None
            if not isinstance(rows[-1], dict):
                raise ConfigError(f"{path}: line {i} is not a JSON object")
    return rows


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


DIGEST = "sha256"  # the metadata key of a tensor file's checksum


def tensor_digest(arrays: dict[str, np.ndarray], metadata: dict[str, str]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, and every metadata entry but the digest itself.

    safetensors checks its header's structure, not the tensor bytes: a byte flipped on disk inside a tensor would
    load as a different weight. Names and entries are taken in sorted order, so the digest depends on content only.
    """
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.asarray(arrays[name])
        h.update(json.dumps([name, a.dtype.str, list(a.shape)]).encode())
        h.update(np.ascontiguousarray(a).reshape(-1).view(np.uint8))
    h.update(json.dumps(sorted((k, v) for k, v in metadata.items() if k != DIGEST)).encode())
    return h.hexdigest()


def save_tensors(path: Path, arrays: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    """Named arrays and string metadata to one safetensors file, atomically (a kill leaves the old file or the new),
    with their digest in the metadata."""
    path = Path(path)
    atomic_write(path, save(arrays, metadata={**metadata, DIGEST: tensor_digest(arrays, metadata)}))
    fsync_dir(path.parent)


def read_tensors(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The arrays and metadata of a safetensors file; a ConfigError if it is missing, truncated or damaged.

    safetensors reads a JSON header and raw tensor bytes: loading executes no code (no pickle). A file with a digest
    (tensor_digest) must match it; files written before digests load unchecked.
    """
    path = Path(path)
    try:
        with safe_open(str(path), framework="numpy") as f:
            metadata = f.metadata() or {}
            arrays = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    except (SafetensorError, OSError, ValueError, MemoryError) as e:
        first = (str(e).splitlines() or [type(e).__name__])[0][:120]
        raise ConfigError(f"{path}: unreadable or truncated ({first})") from None
    if DIGEST in metadata and tensor_digest(arrays, metadata) != metadata[DIGEST]:
        raise ConfigError(f"{path}: checksum mismatch: its contents changed after it was written (a damaged file)")
    return arrays, metadata


# --- one writer per folder ----------------------------------------------------------------------------------------

LOCK = ".lock"  # a folder's lock file: flock'ed by its writer, and holding that process's pid


class Busy(Exception):
    """Another process holds the folder's lock; `pid` is the one its lock file records (None if unreadable)."""

    def __init__(self, path: Path, pid: int | None):
        who = f"pid {pid}" if pid is not None else "pid unknown"
        super().__init__(f"{path.parent}: in use by another distgan process ({who}, lock {path})")
        self.path, self.pid = path, pid


class FolderLock:
    """An exclusive lock on a folder, taken without waiting: flock on folder/.lock, which records the holder's pid.

    The kernel drops a flock when its process ends, however it ends (kill -9 too): a lock file left behind by a
    killed process is stale and the next `take` takes it. `release` removes the file, then lets go of the lock.
    """

    def __init__(self, folder: Path, fd: int):
        self.folder, self.path, self._fd = Path(folder), Path(folder) / LOCK, fd

    def __repr__(self):
        return f"FolderLock({str(self.folder)!r}, pid={os.getpid()}, held={self._fd is not None})"

    @classmethod
    def take(cls, folder: Path) -> FolderLock:
        """The lock of an existing folder; Busy if another process (or another take here) holds it,
        FileNotFoundError if the folder is gone, WriteError if the disk refuses the lock file."""
        path = Path(folder) / LOCK
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except FileNotFoundError:
                raise
            except OSError as e:
                raise write_error(path, e) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = os.pread(fd, 32, 0).decode(errors="replace").strip()
                os.close(fd)
                raise Busy(path, int(pid) if pid.isdigit() else None) from None
            except BaseException:
                os.close(fd)
                raise
            # the holder before us may have released (removed the file) between our open and our flock: then we
            # lock a file no one else can see, and must lock the one at `path` now instead
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:  # a full disk: the lock holds all the same, only its message will lack the pid
            pass
        return cls(folder, fd)

    def release(self) -> None:
        """Remove the lock file, then let go (a read-only or vanished folder keeps a stale file: harmless)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self._fd)
        self._fd = None
