"""Data files as targets: read CSV, TSV, NPY or Parquet columns, standardise them, hold some rows out, write samples.

    distgan train --data file.csv --columns a,b      # learn columns a and b of file.csv
    distgan sample RUN -o out.csv                    # the same column names, in the data's units

CSV and TSV files have a header line; a value's position is reported as its line in the file (the header is line
1). NPY files hold a plain numeric array (n,) or (n, dim) (columns named x0, x1, ...) or a structured array with
named fields; Parquet files need pyarrow (`pip install distgan[parquet]`). NPY and Parquet positions are 0-based
row indices. Every problem is a ConfigError whose one line names the file and the column, row or line.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import shutil
from collections.abc import Iterable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from .config import ConfigError
from .files import atomic_file, read_json
from .targets import Target, parse

FORMATS = {".csv": "csv", ".tsv": "tsv", ".npy": "npy", ".parquet": "parquet"}
SPLIT_SEED = 0  # the held-out rows are the same in every run of the same file
META = "data.json"  # the run folder's record of the data: path, columns, standardisation, kinds


def file_format(path: Path, field: str = "target.data") -> str:
    """The format of a data file from its extension; `field` names the setting it came from in errors."""
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ConfigError(f"{path}: unknown file type {Path(path).suffix!r}, expected {', '.join(FORMATS)}", field)
    return fmt


def _wanted(path: Path, available: list[str], columns: str) -> list[str] | None:
    """The requested column names in order, or None for 'every numeric column'."""
    if not columns.strip():
        return None
    names = [c.strip() for c in columns.split(",")]
    for c in names:
        if not c:
            raise ConfigError(f"{columns!r}: empty column name", "target.columns")
        if c not in available:
            raise ConfigError(f"{path}: no column {c!r} (columns: {', '.join(available)})")
    if len(set(names)) != len(names):
        raise ConfigError(f"{columns!r}: a column is named twice", "target.columns")
    return names


def _read_text(path: Path, delimiter: str, columns: str) -> tuple[list[str], np.ndarray, list[str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (cannot decode as UTF-8)") from None
    rows = [r for r in csv.reader(io.StringIO(text), delimiter=delimiter)]
    lines = [i + 1 for i, r in enumerate(rows) if any(v.strip() for v in r)]  # 1-based file lines, blank skipped
    rows = [r for r in rows if any(v.strip() for v in r)]
    if not rows:
        raise ConfigError(f"{path}: empty file (expected a header line, then data)")
    header = [h.strip() for h in rows[0]]
    if len(rows) == 1:
        raise ConfigError(f"{path}: no data rows after the header line")
    names = _wanted(path, header, columns)
    if names is None:  # every column whose first value is a number
        names = [h for i, h in enumerate(header) if _parses(rows[1][i] if i < len(rows[1]) else "")]
        if not names:
            raise ConfigError(f"{path}: no numeric column (first data line {lines[1]} has no numbers)")
    idx = [header.index(c) for c in names]
    x = np.empty((len(rows) - 1, len(idx)))
    kinds = ["int"] * len(idx)
    for r, (line, row) in enumerate(zip(lines[1:], rows[1:])):
        if len(row) != len(header):
            raise ConfigError(f"{path}: line {line} has {len(row)} fields, the header has {len(header)}")
        for j, i in enumerate(idx):
            v = row[i].strip()
            try:
                x[r, j] = float(v)
            except ValueError:
                raise ConfigError(f"{path}: line {line}, column {names[j]!r}: not a number: {v!r}") from None
            if kinds[j] == "int" and not _parses(v, int):
                kinds[j] = "float"
    return names, x, kinds


def _parses(v: str, kind=float) -> bool:
    """Whether v reads as a `kind` (float or int)."""
    try:
        kind(v)
        return True
    except ValueError:
        return False


def _read_npy(path: Path, columns: str) -> tuple[list[str], np.ndarray, list[str], bool]:
    try:
        a = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise ConfigError(f"{path}: not a readable .npy file ({str(e).splitlines()[0][:100]})") from None
    structured = a.dtype.names is not None
    if structured:
        available = list(a.dtype.names)
        if a.ndim != 1:
            raise ConfigError(f"{path}: expected a 1-D structured array, got shape {a.shape}")
        names = _wanted(path, available, columns) or [c for c in available if a.dtype[c].kind in "iufb"]
        for c in names:
            if a.dtype[c].kind not in "iufb":
                raise ConfigError(f"{path}: column {c!r} is not numeric (dtype {a.dtype[c]})")
        cols = [a[c] for c in names]
    else:
        if a.dtype.kind not in "iufb":
            raise ConfigError(f"{path}: expected a numeric array, got dtype {a.dtype}")
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2:
            raise ConfigError(f"{path}: expected an array of shape (n,) or (n, dim), got {a.shape}")
        available = [f"x{i}" for i in range(a.shape[1])]
        names = _wanted(path, available, columns) or available
        cols = [a[:, available.index(c)] for c in names]
    if not names:
        raise ConfigError(f"{path}: no numeric column")
    x = np.stack([np.asarray(c, np.float64) for c in cols], 1) if cols[0].size else np.empty((0, len(cols)))
    kinds = ["int" if c.dtype.kind in "iub" else "float" for c in cols]
    return names, x, kinds, structured


def _read_parquet(path: Path, columns: str) -> tuple[list[str], np.ndarray, list[str]]:
    try:
        import pyarrow.parquet as pq  # optional: only for .parquet files
    except ImportError:
        raise ConfigError(f"{path}: reading Parquet needs pyarrow (pip install 'distgan[parquet]')") from None
    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises its own error types for every kind of bad file
        raise ConfigError(f"{path}: not a readable Parquet file ({str(e).splitlines()[0][:100]})") from None
    import pyarrow.types as pt

    available = table.column_names
    names = _wanted(path, available, columns)
    numeric = lambda c: pt.is_integer(table.schema.field(c).type) or pt.is_floating(table.schema.field(c).type)  # noqa: E731
    if names is None:
        names = [c for c in available if numeric(c)]
        if not names:
            raise ConfigError(f"{path}: no numeric column")
    cols, kinds = [], []
    for c in names:
        if not numeric(c):
            raise ConfigError(f"{path}: column {c!r} is not numeric (type {table.schema.field(c).type})")
        col = table.column(c)
        if col.null_count:
            row = int(np.flatnonzero(np.asarray(col.is_null()))[0])
            raise ConfigError(f"{path}: row {row}, column {c!r}: missing value (null)")
        cols.append(col.to_numpy().astype(np.float64))
        kinds.append("int" if pt.is_integer(table.schema.field(c).type) else "float")
    return names, np.stack(cols, 1) if cols else np.empty((0, 0)), kinds


def read_columns(path: str | Path, columns: str = "") -> tuple[list[str], np.ndarray, dict]:
    """Read and check a data file: (column names, values (n, dim) float64, info with format, kinds, sha256)."""
    path = Path(path)
    fmt = file_format(path)
    if not path.exists():
        raise ConfigError(f"{path}: data file not found", "target.data")
    if not path.is_file():
        raise ConfigError(f"{path}: not a file", "target.data")
    if path.stat().st_size == 0:
        raise ConfigError(f"{path}: empty file")
    structured = False
    if fmt in ("csv", "tsv"):
        names, x, kinds = _read_text(path, "," if fmt == "csv" else "\t", columns)
    elif fmt == "npy":
        names, x, kinds, structured = _read_npy(path, columns)
    else:
        names, x, kinds = _read_parquet(path, columns)
    if x.shape[0] == 0:
        raise ConfigError(f"{path}: no data rows")
    bad = ~np.isfinite(x)
    if bad.any():
        r, j = map(int, np.argwhere(bad)[0])
        where = f"line {_line_of(path, r)}" if fmt in ("csv", "tsv") else f"row {r}"
        raise ConfigError(f"{path}: {where}, column {names[j]!r}: {x[r, j]} (NaN and infinity are not data)")
    for j, c in enumerate(names):
        if np.all(x[:, j] == x[0, j]):
            raise ConfigError(f"{path}: column {c!r} is constant ({x[0, j]:g} in every row): nothing to learn")
    info = {"format": fmt, "kinds": kinds, "structured": structured,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    return names, x, info


def _line_of(path: Path, r: int) -> int:
    """The file line of data row r (0-based) in a CSV/TSV file, counting the header and skipping blank lines."""
    seen = -1
    for i, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines()):
        if line.strip():
            seen += 1
            if seen == r + 1:
                return i + 1
    return r + 2


def split(n: int, holdout: float) -> tuple[np.ndarray, np.ndarray]:
    """Fixed random split of n rows: (training rows, held-out rows); holdout 0 holds out nothing."""
    perm = np.random.default_rng(SPLIT_SEED).permutation(n)
    n_out = int(round(holdout * n))
    return np.sort(perm[n_out:]), np.sort(perm[:n_out])


def make_target(tc) -> Target:
    """The target of a TargetConfig: its data file when `data` is set, else the built-in spec."""
    return load_data_target(tc) if tc.data else parse(tc.spec)


def load_data_target(tc) -> Target:
    """The Target of a data file: training rows standardised per column, the held-out rows for metrics."""
    names, x, info = read_columns(tc.data, tc.columns)
    train_idx, held_idx = split(x.shape[0], tc.holdout)
    if len(train_idx) < 2 or (tc.holdout > 0 and len(held_idx) < 2):
        raise ConfigError(f"{tc.data}: {x.shape[0]} rows are too few to hold out {tc.holdout:.0%} "
                          "and train on the rest")
    shift, scale = x[train_idx].mean(0), x[train_idx].std(0)
    if np.any(scale == 0):
        c = names[int(np.argmin(scale))]
        raise ConfigError(f"{tc.data}: column {c!r} is constant in the training rows: nothing to learn")
    z = ((x - shift) / scale).astype(np.float32)
    train, held = z[train_idx], z[held_idx] if tc.holdout > 0 else z[train_idx]
    return make(tc.data, names, shift, scale, train, held, info)


def make(path, names, shift, scale, train: np.ndarray | None, held: np.ndarray | None, info: dict) -> Target:
    """A Target over standardised rows; without rows (a run whose data file has moved) it can only map samples."""
    dim = len(names)
    if train is not None:
        rows = jnp.asarray(train)

        def sample(key, n):  # n training rows drawn with replacement: the real minibatch
            return rows[jax.random.randint(key, (n,), 0, rows.shape[0])]
    else:
        def sample(key, n):
            raise ConfigError(f"{path}: data file not found (training and evaluation need it)", "target.data")
    spec = f"data:{path}[{','.join(names)}]"
    return Target(spec, "data", dim, sample, columns=tuple(names), data=held, train_data=train, info=info,
                  shift=np.asarray(shift, np.float64), scale=np.asarray(scale, np.float64))


def record(target: Target, tc) -> dict:
    """What a run folder keeps of its data: enough to sample in the data's units without the file."""
    return {"path": str(Path(tc.data).resolve()), "columns": list(target.columns), "shift": target.shift.tolist(),
            "scale": target.scale.tolist(), "train_rows": int(target.train_data.shape[0]),
            "holdout_rows": int(target.data.shape[0]), **target.info}


def load_run_target(tc, folder: Path) -> Target:
    """A run's data target: the file when it is still there (checked against the record), else the record alone."""
    record_path = Path(folder) / META
    record = read_json(record_path, "data record") if record_path.exists() else None
    path = Path(tc.data)
    if not path.exists() and record is not None and Path(record["path"]).exists():
        path = Path(record["path"])  # the run was started from another working directory
    if path.exists():
        tc = type(tc)(**{**tc.__dict__, "data": str(path)})
        target = load_data_target(tc)
        if record is not None:
            if target.info["sha256"] != record["sha256"]:
                raise ConfigError(f"{path}: the data file changed since this run was trained "
                                  f"(recorded in {record_path})", "target.data")
            target.shift, target.scale = np.asarray(record["shift"]), np.asarray(record["scale"])
        return target
    if record is None:
        raise ConfigError(f"{tc.data}: data file not found, and the run folder has no {META}", "target.data")
    return make(record["path"], record["columns"], record["shift"], record["scale"], None, None, record)


def sample_columns(x: np.ndarray, info: dict | None) -> list[np.ndarray]:
    """Samples (m, dim) in the data's units as the file's columns, one array each: integer columns rounded back."""
    kinds = (info or {}).get("kinds") or ["float"] * x.shape[1]
    return [np.rint(x[:, j]).astype(np.int64) if k == "int" else x[:, j] for j, k in enumerate(kinds)]


def _text(cols: list[np.ndarray], sep: str) -> bytes:
    """Rows of a CSV/TSV file: floats as their shortest repr, integers as integers."""
    cells = [map(repr, c.tolist()) if c.dtype.kind == "f" else map(str, c.tolist()) for c in cols]
    return "".join(sep.join(row) + "\n" for row in zip(*cells)).encode()


class _Npy:
    """An .npy file written a chunk at a time: its header, which needs the row count, first."""

    def __init__(self, f, columns, n: int, structured: bool):
        self.f, self.columns, self.n, self.structured, self.dtype = f, columns, n, structured, None

    def _array(self, cols):
        if not self.structured:
            return np.stack(cols, 1)
        a = np.empty(len(cols[0]), dtype=[(c, col.dtype) for c, col in zip(self.columns, cols)])
        for c, col in zip(self.columns, cols):
            a[c] = col
        return a

    def add(self, cols) -> None:
        a = self._array(cols)
        if self.dtype is None:
            self.dtype = a.dtype
            np.lib.format.write_array_header_1_0(self.f, {"descr": np.lib.format.dtype_to_descr(a.dtype),
                                                          "fortran_order": False, "shape": (self.n, *a.shape[1:])})
        self.f.write(np.ascontiguousarray(a, self.dtype).tobytes())

    def close(self) -> None:
        pass


class _Text:
    def __init__(self, f, columns, sep: str):
        self.f, self.sep = f, sep
        f.write((sep.join(columns) + "\n").encode())

    def add(self, cols) -> None:
        self.f.write(_text(cols, self.sep))

    def close(self) -> None:
        pass


class _Parquet:
    """A Parquet file written a row group per chunk."""

    def __init__(self, f, columns):
        import pyarrow.parquet as pq  # optional, checked by _pyarrow

        self.f, self.columns, self.pq, self.writer = f, columns, pq, None

    def add(self, cols) -> None:
        import pyarrow as pa

        table = pa.table(dict(zip(self.columns, cols)))
        if self.writer is None:  # no dictionary pages for floats: sampled values hardly repeat
            self.writer = self.pq.ParquetWriter(self.f, table.schema, use_dictionary=[
                c for c, col in zip(self.columns, cols) if col.dtype.kind != "f"])
        self.writer.write_table(table)

    def close(self) -> None:
        self.writer.close()


def _pyarrow(path: Path) -> None:
    try:
        import pyarrow  # noqa: F401  (optional: only for .parquet files)
    except ImportError:
        raise ConfigError(f"{path}: writing Parquet needs pyarrow (pip install 'distgan[parquet]')", "output") from None


def _size(s: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if s < 1000 or unit == "PB":
            return f"{s:.0f} {unit}" if unit == "bytes" else f"{s:.1f} {unit}"
        s /= 1000
    return ""


def estimated_size(fmt: str, cols: list[np.ndarray], n: int) -> int:
    """Bytes a file of n rows like `cols` takes: exact for NPY, from the first rows' text for CSV and TSV, their raw
    size for Parquet (written without dictionaries for floats, which sampled values hardly compress)."""
    if fmt in ("csv", "tsv"):
        head = [c[:1000] for c in cols]
        return len(_text(head, ",")) * n // max(len(head[0]), 1)
    return 128 + n * sum(c.dtype.itemsize for c in cols)


def check_free_space(path: Path, need: int, what: str) -> None:
    """Refuse, in one line, a file that will not fit on its disk."""
    free = shutil.disk_usage(path.parent).free
    if need > free:
        raise ConfigError(f"{path}: {what} need about {_size(need)}, and its disk has {_size(free)} free", "output")


def write_samples(path: str | Path, x: np.ndarray | Iterable[np.ndarray], columns: tuple[str, ...],
                  info: dict | None = None, n: int | None = None, on_rows=None) -> None:
    """Write samples (n, dim) in the data's units; the file type follows the extension, ints are rounded back.

    x: an array, or chunks of rows (n rows in all) written one at a time, so memory stays that of one chunk. The
    file is written under a temporary name and renamed at the end: an interruption leaves no half file. Its disk's
    free space is checked (from the first chunk) before anything is written. on_rows(m): called after each chunk.
    """
    path = Path(path)
    fmt = file_format(path, "output")
    if fmt == "parquet":
        _pyarrow(path)
    chunks = iter([x] if isinstance(x, np.ndarray) else x)
    n = x.shape[0] if isinstance(x, np.ndarray) else n
    first = sample_columns(next(chunks), info)  # the columns' types and text width: the file's size
    check_free_space(path, estimated_size(fmt, first, n), f"{n} samples")
    rows = 0
    with atomic_file(path) as f:
        out = (_Text(f, columns, "," if fmt == "csv" else "\t") if fmt in ("csv", "tsv") else
               _Npy(f, columns, n, bool((info or {}).get("structured"))) if fmt == "npy" else _Parquet(f, columns))
        for cols in itertools.chain([first], (sample_columns(c, info) for c in chunks)):
            out.add(cols)
            rows += len(cols[0])
            if on_rows is not None:
                on_rows(len(cols[0]))
        out.close()
        if rows != n:  # NPY's header promised n rows
            raise ValueError(f"write_samples: {rows} rows given, {n} announced")
