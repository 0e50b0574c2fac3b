"""The run folder: its name, its files, its checkpoints, and a finished run read back (`Run`, `load`).

Layout of a run folder:
    config.toml          the resolved config
    data.json            a data file's record: path, columns, standardisation, checksum (data runs only)
    metrics.jsonl        one JSON object per progress line (and the fit at evaluation steps)
    summary.json         the final fit per replicate, noise floors, verdicts and the table over replicates
    checkpoint.safetensors   the last checkpoint: all replicates' weights, optimizer states, EMA, keys, step and
                         non-finite flags ('state/...'), each replicate's best point ('best/...'), and in its
                         metadata the step, the config and the problems seen so far: everything a resume needs
    best.safetensors     each replicate's best state by fit ratio (max of KS and W1 ratios at evaluation steps)
    *.json beside them   the metadata, for people to read (loading never uses it)
    *.png                plots
    .lock                while a process writes the folder: its pid (one writer per folder, `claim`)
Every file is written atomically (distgan.files). Checkpoints are safetensors (tensors plus a JSON header, and a
digest of both): loading a run never executes code (no pickle), and a checkpoint that is truncated, damaged or from
another config is refused in one line.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import jax
import numpy as np

from . import config as config_mod
from .config import Config, ConfigError
from .data import META, load_run_target, make_target, record
from .engine import init_states
from .fast import ONE_SHOT
from .files import (
    LOCK,
    Busy,
    FolderLock,
    WriteError,
    append_jsonl,
    atomic_write,
    dumps_json,
    flatten,
    read_json,
    read_jsonl,
    read_tensors,
    save_tensors,
    unflatten,
    write_error,
    write_json,
)
from .gan import GAN
from .targets import Target

CHECKPOINT = "checkpoint.safetensors"
BEST = "best.safetensors"
FORMAT = "distgan-checkpoint-2"
SAMPLE_CHUNK = 1 << 16  # rows G draws in one call when sampling: 65,536 rows of noise and activations at a time


# --- the folder's name ----------------------------------------------------------------------------------------

def default_name(cfg: Config, target_name: str) -> str:
    """Run folder name from target, preset and seed, e.g. 'gaussian-seed-s0' (plus '-k256' for replicates)."""
    name = f"{target_name}-{cfg.preset}-s{cfg.train.seed}"
    return name + (f"-k{cfg.train.replicates}" if cfg.train.replicates > 1 else "")


def check_out_dir(out: Path, resume: bool = False) -> None:
    """Refuse an output folder whose parent is missing, or one that already holds another run."""
    if not out.parent.is_dir():
        raise ConfigError(f"{out}: parent directory {out.parent} does not exist", "out")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a directory", "out")
    if not resume and _holds_files(out):
        raise Taken(f"{out}: directory exists and is not empty (choose another)", "out")


def _holds_files(out: Path) -> bool:
    """Whether a folder holds anything but a lock file."""
    try:
        return any(p.name != LOCK for p in out.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return False


class Taken(ConfigError):
    """The folder holds another run, or another process writes it: a default name moves on to the next one."""


class Claim:
    """A run folder this process writes alone, until `release` (or the end of a `with` block, which gives the
    folder): other processes that claim it are refused, naming this one's pid. A folder the claim made and that is
    still empty at release (a run refused after its claim) is removed again."""

    def __init__(self, folder: Path, lock: FolderLock, made: bool):
        self.folder, self.lock, self.made = folder, lock, made

    def __repr__(self):
        return f"Claim({str(self.folder)!r}, made={self.made})"

    def __enter__(self) -> Path:
        return self.folder

    def __exit__(self, *exc) -> None:
        self.release()

    def release(self) -> None:
        self.lock.release()
        if self.made:
            with contextlib.suppress(OSError):  # not empty: a run's files, or another claim's lock
                self.folder.rmdir()


def claim(out: Path, resume: bool = False) -> Claim:
    """Make `out` (or take an empty one) and lock it for this process, as one step: of two processes that claim the
    same folder at once, one gets it and the other is refused (Taken). resume: the folder is a run to continue (or,
    for `train --compare`'s second run, one not yet begun).

    The folder's lock (files.FolderLock) is taken before it is checked for files, so that check and the claim cannot
    be split by another process's write; a lock left by a killed process is stale and taken over.
    """
    out = Path(out)
    check_out_dir(out, resume)
    for _ in range(100):  # another claim removed the folder between our mkdir and our lock: make it again
        made = False
        try:
            out.mkdir()
            made = True
        except FileExistsError:
            pass
        except OSError as e:
            if not out.is_dir():
                raise write_error(out, e) from None
        try:
            lock = FolderLock.take(out)
        except FileNotFoundError:
            continue
        except Busy as e:
            raise Taken(str(e)) from None
        if not resume and _holds_files(out):  # another run got there first (and has finished), or it was never empty
            lock.release()
            raise Taken(f"{out}: directory exists and is not empty (choose another)", "out")
        return Claim(out, lock, made)
    raise ConfigError(f"{out}: the folder keeps disappearing (removed by another process?)", "out")


def claim_free(base: Path) -> Claim:
    """base, or base-2, base-3, ...: the first folder that is neither another run nor in use, claimed; runs are never
    overwritten, and many runs started at once get distinct folders."""
    for i in itertools.count(1):
        out = base if i == 1 else base.with_name(f"{base.name}-{i}")
        if out.exists() and (not out.is_dir() or _holds_files(out)):
            continue
        try:
            return claim(out)
        except Taken:
            continue
    raise AssertionError("unreachable")


def run_folder(cfg: Config, target_name: str, out: str | Path | Claim | None, resume: bool = False) -> Claim:
    """out, claimed, or the first free folder under runs/ named after the run (runs/ is made here, so that a second
    run can sit beside it). A Claim already taken (train --compare claims both its folders first) is itself."""
    if isinstance(out, Claim):
        return out
    if out:
        return claim(Path(out), resume)
    Path("runs").mkdir(exist_ok=True)
    return claim_free(Path("runs") / default_name(cfg, target_name))


# --- checkpoints ------------------------------------------------------------------------------------------------

def save_checkpoint(folder: Path, tree: dict, meta: dict, name: str = CHECKPOINT) -> None:
    """A pytree of arrays to one safetensors file, written atomically; `meta` (step, config...) goes inside it.

    The safetensors file is the source of truth: its tensors and its metadata are renamed into place together, so a
    kill at any moment leaves the previous checkpoint or the new one, whole. The JSON beside it is a copy of the
    metadata for people to read.
    """
    meta = {"format": FORMAT, **meta}
    save_tensors(Path(folder) / name, flatten(tree), {"format": FORMAT, "meta": dumps_json(meta)})
    write_json(Path(folder) / (Path(name).stem + ".json"), {k: v for k, v in meta.items() if k != "config"})


def read_checkpoint(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """The tensors and metadata of a checkpoint file; a one-line ConfigError if it is missing, truncated or foreign."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path.parent}: no checkpoint ({path.name}) in this run folder")
    arrays, header = read_tensors(path)
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
    tree = unflatten(template, arrays, f"{path}: checkpoint")
    if name == CHECKPOINT and not np.all(np.asarray(tree["state"]["step"]) == meta["step"]):
        raise ConfigError(f"{path}: tensors and metadata disagree on the step: the checkpoint is damaged")
    return tree, meta


def load_config(folder: Path) -> Config:
    """The resolved config of a run folder, or a one-line error if the folder is missing or not a run."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: run folder not found")
    path = folder / "config.toml"
    if not path.is_file():
        raise ConfigError(f"{folder}: not a distgan run folder (no config.toml file)")
    try:
        return config_mod.validate(config_mod.loads(path.read_text()))
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    except Exception as e:  # TOML errors
        raise ConfigError(f"{path}: unreadable config ({e})") from None


# --- a training run's writes -------------------------------------------------------------------------------------

class Writer:
    """What `train` writes into its run folder: the config (and a data file's record) at the start, metrics rows as
    they come, and checkpoints. Resumed at `step`, metrics rows past that step (written after the checkpoint) are
    dropped, since the run redoes them.

    A disk that refuses a write (full, read-only) leaves every file as it was and raises a WriteError that says which
    checkpoint is whole and how to resume from it."""

    def __init__(self, folder: Path, cfg: Config, target: Target, resumed_at: int | None = None):
        self.folder, self.cfg, self.rows, self.saved = Path(folder), cfg, [], resumed_at or None
        with self.resumable():
            self.folder.mkdir(exist_ok=True)
            atomic_write(self.folder / "config.toml", config_mod.dumps(cfg))
            if target.train_data is not None:  # standardisation and columns, so the run samples if the file moves
                write_json(self.folder / META, record(target, cfg.target))
            metrics = self.folder / "metrics.jsonl"
            if resumed_at is not None and metrics.exists():
                kept = [r for r in read_jsonl(metrics) if r.get("step", 0) <= resumed_at]
                atomic_write(metrics, "".join(dumps_json(r) + "\n" for r in kept))
            elif resumed_at is None:
                metrics.unlink(missing_ok=True)

    @contextlib.contextmanager
    def resumable(self):
        """A block whose WriteError (a full disk, a read-only folder) is raised again with the way on."""
        try:
            yield
        except WriteError as e:
            if self.saved is not None:
                where = f"the last checkpoint (step {self.saved}) is whole"
            else:
                where = "no checkpoint yet"
            how = (f"`distgan train --resume {self.folder}`" if (self.folder / "config.toml").exists() else
                   "start the run again")
            raise WriteError(f"{e}; {where}: make room, then {how}") from None

    def add(self, row: dict, flush: bool) -> None:
        """Queue one metrics row; flush: write the queued rows (always before a checkpoint, so that metrics.jsonl
        reaches the checkpoint's step)."""
        self.rows.append(row)
        if flush:
            with self.resumable():
                append_jsonl(self.folder / "metrics.jsonl", self.rows)
            self.rows = []

    def checkpoint(self, states: dict, best: dict, meta: dict) -> None:
        """The last checkpoint (states and best points) and best.safetensors, each written whole or not at all."""
        meta = {**meta, "config": config_mod.dumps(self.cfg)}
        with self.resumable():
            save_checkpoint(self.folder, best, {**meta, "best_step": best["step"]}, BEST)
            save_checkpoint(self.folder, {"state": states, "best": best}, meta)
        self.saved = meta["step"]


# --- a finished run, read back --------------------------------------------------------------------------------

_SAMPLERS: dict[tuple, object] = {}


def _chunk_sampler(gan: GAN):
    """gan.sample of chunk i as one jitted function: (state, key, i) -> (SAMPLE_CHUNK, dim). A GAN is made from its
    config and target spec alone (a data file's decoder: its contents too), so runs read back with the same ones share
    it and compile it once."""
    key = (config_mod.dumps(gan.cfg), gan.target.spec, gan.target.info.get("sha256"))
    if key not in _SAMPLERS:
        if len(_SAMPLERS) >= 16:
            _SAMPLERS.clear()
        _SAMPLERS[key] = jax.jit(lambda state, k, i: gan.sample(state, jax.random.fold_in(k, i), SAMPLE_CHUNK),
                                 compiler_options=ONE_SHOT)
    return _SAMPLERS[key]


class Run:
    """A trained run: its folder, config, target, GAN and the states of all replicates (leading axis K)."""

    def __init__(self, folder: Path, cfg: Config, target: Target, gan: GAN, states: dict,
                 summary: dict | None = None, at: str = "last"):
        self.folder, self.cfg, self.target, self.gan, self.states = Path(folder), cfg, target, gan, states
        self.at, self.step = at, int(np.asarray(states["step"]).reshape(-1)[0])
        self.summary = summary if summary is not None else self._read_summary()
        self._chunk = _chunk_sampler(gan)

    def __repr__(self):
        return (f"Run({str(self.folder)!r}, target={self.cfg.target.spec!r}, preset={self.cfg.preset!r}, "
                f"replicates={self.replicates}, step={self.step}, at={self.at!r})")

    @property
    def replicates(self) -> int:
        return int(np.asarray(self.states["step"]).shape[0])

    def state(self, replicate: int = 0) -> dict:
        """One replicate's state, as NumPy arrays (indexed on the host: no program compiled per leaf)."""
        if not 0 <= replicate < self.replicates:
            raise ConfigError(f"{replicate} is not one of this run's replicates 0..{self.replicates - 1}",
                              "replicate")
        return jax.tree.map(lambda x: np.asarray(x)[replicate], self.states)

    def sample(self, n: int, seed: int = 0, replicate: int = 0) -> np.ndarray:
        """n draws from replicate's generator, in the target's units; the same seed gives the same draws, and a
        smaller n the first rows of a larger one. -> (n, dim)"""
        x = np.empty((0, self.target.dim), np.float32)
        for start, chunk in enumerate(self.chunks(n, seed, replicate)):
            if start == 0:
                x = np.empty((n, chunk.shape[1]), chunk.dtype)
            x[start * SAMPLE_CHUNK:start * SAMPLE_CHUNK + len(chunk)] = chunk
        return x

    def chunks(self, n: int, seed: int = 0, replicate: int = 0) -> Iterator[np.ndarray]:
        """`sample(n, seed, replicate)` a chunk of at most SAMPLE_CHUNK rows at a time, so that memory stays that of
        one chunk whatever n. Chunk i's noise comes from fold_in(PRNGKey(seed), i). -> (<= SAMPLE_CHUNK, dim) each"""
        if n > SAMPLE_CHUNK << 32:  # fold_in takes a 32-bit chunk index
            raise ConfigError(f"{n}: at most {SAMPLE_CHUNK << 32} samples per seed", "n")
        if not 0 <= seed < 1 << 32:  # PRNGKey keeps 32 bits of a seed (and fails past 64)
            raise ConfigError(f"expected a seed from 0 to {(1 << 32) - 1}, got {seed}", "seed")
        # the replicate's state on the host: the sampler runs on one device (a data file's decoder sorts by a host
        # callback)
        state, key = self.state(replicate), jax.random.PRNGKey(seed)
        for i, start in enumerate(range(0, n, SAMPLE_CHUNK)):
            x = np.asarray(self._chunk(state, key, np.uint32(i)))[:n - start]  # the last chunk: its first rows
            yield self.target.to_data(x)

    @property
    def metrics(self) -> list[dict]:
        """The rows of metrics.jsonl: one per progress line, with 'fit' at evaluation steps."""
        path = self.folder / "metrics.jsonl"
        return read_jsonl(path) if path.exists() else []

    def _read_summary(self) -> dict:
        path = self.folder / "summary.json"
        summary = read_json(path, "summary") if path.exists() else {}
        if not isinstance(summary, dict):
            raise ConfigError(f"{path}: not a run summary (expected a JSON object)")
        return summary


def load(folder: str | Path, at: str = "last") -> Run:
    """Read a run folder back: its config, then a checkpoint checked against that config.

    at='last' reads the last checkpoint; at='best' each replicate's best state by fit ratio (best.safetensors).
    """
    if at not in ("last", "best"):
        raise ConfigError(f"expected last or best, got {at!r}", "at")
    folder = Path(folder)
    cfg = load_config(folder)
    target = load_run_target(cfg.target, folder) if cfg.target.data else make_target(cfg.target)
    gan = GAN(cfg, target)
    template = {"state": jax.eval_shape(init_states, gan, cfg.train.seed, cfg.train.replicates)}
    tree, meta = load_checkpoint(folder, template, CHECKPOINT if at == "last" else BEST, cfg)
    run = Run(folder, cfg, target, gan, jax.tree.map(jax.numpy.asarray, tree["state"]))
    run.at, run.step = at, meta["step"]
    return run
