"""Your own table, as a user would bring it: the issue-17 bar, measured with default flags (benchmarks/tables.md).

    python3 benchmarks/tables.py data                 # writes the tables below into benchmarks/data/ (git-ignored)
    python3 benchmarks/tables.py bar                  # trains each with `distgan train --data FILE`, scores it
    python3 benchmarks/tables.py bar fair.csv labels.csv --seeds 0,1,2
    DISTGAN=/path/to/src python3 benchmarks/tables.py bar ...   # another checkout's code (the baseline)

The tables: three real ones that statsmodels ships (`pip install statsmodels`; sunspots: 309 yearly rows,
macrodata: 203 quarterly rows, fair: 6,366 survey rows with banded columns and a zero-inflated `affairs`), and
synthetic ones: 50 rows, text labels, 10,000 x 5 (the time bar) and 100,000 x 5.

The bar, per file: `distgan sample RUN -n 400000`, compared with the whole file column by column.
- every numeric column: KS(samples, file) / floor, where the floor is the median KS between the file's two halves
  over 200 random splits, rescaled to the sizes compared: x sqrt((1/m + 1/n) / (1/n1 + 1/n2)) (Smirnov's scale);
  at most 1.5;
- every discrete or text column (at most 20 levels): no value outside the file's levels, and the chi-square test
  of the level counts, samples against file, p >= 0.01;
- a value that holds at least 5 % of a column with more than 20 values (an atom, such as exact zeros): its rate in
  the samples against the file's, |z| <= 2.58 with z = difference / sqrt(p (1 - p) (1/m + 1/n));
- the wall time of `distgan train` (a fresh process, an empty compile cache: compiling included).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import stats

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
SRC = os.environ.get("DISTGAN", str(HERE.parent / "src"))
M = 400_000  # samples drawn from each trained run: their own noise then adds little to the ratios
SPLITS = 200
LEVELS = 20  # a column with at most this many values is judged by its level counts


def _write(path: Path, columns: dict) -> None:
    names = list(columns)
    n = len(columns[names[0]])
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(names)
        for i in range(n):
            w.writerow([_fmt(columns[c][i]) for c in names])


def _fmt(v) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, int | np.integer):
        return str(int(v))
    return f"{float(v):.6g}"


def _synthetic(n: int, seed: int) -> dict:
    """Five columns of every type: bimodal continuous, wide integer, bounded uniform, zero-inflated, text levels."""
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south", "east", "west"], n, p=[0.4, 0.3, 0.2, 0.1])
    shift = np.select([region == "north", region == "south", region == "east"], [0.0, 1.0, 2.0], 3.0)
    mode = rng.random(n) < 0.35
    score = np.where(mode, rng.normal(-2, 0.5, n), rng.normal(1.5, 1.0, n)) + 0.3 * shift
    visits = rng.negative_binomial(5, 0.1, n) + (5 * shift).astype(int)  # about 100 distinct integers
    share = rng.random(n)  # hard edges at 0 and 1
    spend = np.where(rng.random(n) < 0.3, 0.0, np.round(rng.lognormal(3 + 0.2 * shift, 0.8, n), 2))
    return {"score": score, "visits": visits, "share": share, "spend": spend, "region": region}


def write_data() -> None:
    DATA.mkdir(exist_ok=True)
    import statsmodels.api as sm  # only here: the real tables come from statsmodels' datasets

    for name in ("sunspots", "macrodata", "fair"):
        frame = getattr(sm.datasets, name).load_pandas().data
        _write(DATA / f"{name}.csv", {c: frame[c].to_numpy() for c in frame.columns})
    _write(DATA / "small50.csv", {k: v for k, v in _synthetic(50, 1).items() if k != "visits"})
    rng = np.random.default_rng(2)
    n = 3000
    plan = rng.choice(["basic", "plus", "pro"], n, p=[0.6, 0.3, 0.1])
    member = np.where(rng.random(n) < np.select([plan == "basic", plan == "plus"], [0.3, 0.6], 0.9), "yes", "no")
    _write(DATA / "labels.csv", {"plan": plan, "member": member,
                                 "age": np.clip(rng.normal(40, 12, n).round(), 18, 90).astype(int),
                                 "fee": (np.select([plan == "basic", plan == "plus"], [9.99, 19.99], 49.99)
                                         * (1 + 0.1 * rng.random(n))).round(2)})
    _write(DATA / "t10k.csv", _synthetic(10_000, 3))
    _write(DATA / "t100k.csv", _synthetic(100_000, 4))
    for p in sorted(DATA.glob("*.csv")):
        print(f"{p.relative_to(HERE.parent)}: {p.stat().st_size / 1e3:.0f} kB")


def read(path: Path) -> dict[str, np.ndarray]:
    """A CSV file's columns: float arrays where every value is a number, else strings."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    out = {}
    for j, name in enumerate(rows[0]):
        values = [r[j] for r in rows[1:]]
        try:
            out[name] = np.array([float(v) for v in values])
        except ValueError:
            out[name] = np.array(values)
    return out


def ks_floor(x: np.ndarray, m: int, rng) -> float:
    """The median KS between random halves of x, rescaled from halves to samples of m against all n rows."""
    n = len(x)
    n1 = n // 2
    d = [stats.ks_2samp(*np.split(x[rng.permutation(n)], [n1])).statistic for _ in range(SPLITS)]
    return float(np.median(d) * np.sqrt((1 / m + 1 / n) / (1 / n1 + 1 / (n - n1))))


def score(data: dict, fake: dict, seed: int = 0) -> list[dict]:
    """The bar's figures per column (see the module's docstring)."""
    rng = np.random.default_rng(seed)
    rows = []
    for name, x in data.items():
        if name not in fake:
            continue
        y, n, m = fake[name], len(x), len(fake[name])
        levels, counts = np.unique(x, return_counts=True)
        row = {"column": name, "levels": len(levels)}
        if x.dtype.kind in "fi":
            y = y.astype(float)
            row["ks_ratio"] = float(stats.ks_2samp(y, x).statistic / ks_floor(x, m, rng))
        if len(levels) <= LEVELS:
            row["outside"] = int(np.sum(~np.isin(y, levels)))
            got = np.array([np.sum(y == v) for v in levels])
            row["chi2_p"] = float(stats.chi2_contingency(np.stack([counts, got])).pvalue) if got.sum() else 0.0
        elif counts.max() >= 0.05 * n:
            v = levels[np.argmax(counts)]
            p, q = counts.max() / n, np.mean(y == v)
            both = (counts.max() + q * m) / (n + m)
            row.update(atom=float(v), atom_rate=float(q), file_rate=float(p),
                       atom_z=float((q - p) / np.sqrt(both * (1 - both) * (1 / m + 1 / n))))
        rows.append(row)
    return rows


def passes(row: dict) -> bool:
    ok = row.get("ks_ratio", 0) <= 1.5 and row.get("outside", 0) == 0 and row.get("chi2_p", 1) >= 0.01
    return ok and abs(row.get("atom_z", 0)) <= 2.58


def run_one(path: Path, seed: int, extra: list[str], workdir: Path) -> dict:
    """Train with default flags (plus `extra`) in a fresh process and an empty compile cache; sample and score."""
    env = {**os.environ, "PYTHONPATH": SRC, "DISTGAN_XLA_CACHE": str(workdir / f"xla-{path.stem}-{seed}")}
    out = workdir / f"{path.stem}-s{seed}"
    t0, cpu0 = time.perf_counter(), _children_cpu()
    p = subprocess.run([sys.executable, "-m", "distgan", "train", "--data", str(path), "--seed", str(seed),
                        "--out", str(out), "--quiet", *extra], env=env, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    if p.returncode:
        return {"file": path.name, "seed": seed, "error": (p.stderr.strip().splitlines() or ["?"])[-1]}
    samples = workdir / f"{path.stem}-s{seed}.csv"
    subprocess.run([sys.executable, "-m", "distgan", "sample", str(out), "-n", str(M), "-o", str(samples)], env=env,
                   check=True, capture_output=True)
    data, fake = read(path), read(samples)
    summary = json.loads((out / "summary.json").read_text())
    memo = summary.get("table_fit", {}).get("replicates", [{}])[0].get("memorisation", {})
    cols = score(data, fake, seed)
    return {"file": path.name, "seed": seed, "rows": len(next(iter(data.values()))), "wall_s": wall, "cpu_s": cpu,
            "train_s": summary["timing"]["train_s"], "compile_s": summary["timing"]["compile_s"],
            "dcr_ratio": memo.get("ratio"), "columns": cols, "pass": all(passes(c) for c in cols)}


def _children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes: a machine shared with other jobs stretches
    wall time, not this; on an idle 2-core machine the wall time is at most this (and at least half of it)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def format_result(r: dict) -> str:
    if "error" in r:
        return f"| {r['file']} | {r['seed']} | error: {r['error']} |"
    worst = max((c.get("ks_ratio", 0) for c in r["columns"]), default=0)
    names = max(r["columns"], key=lambda c: c.get("ks_ratio", 0))["column"]
    p = min((c["chi2_p"] for c in r["columns"] if "chi2_p" in c), default=None)
    z = max((abs(c["atom_z"]) for c in r["columns"] if "atom_z" in c), default=None)
    out = sum(c.get("outside", 0) for c in r["columns"])
    dcr = "-" if r["dcr_ratio"] is None else f"{r['dcr_ratio']:.2f}"
    return (f"| {r['file']} | {r['seed']} | {r['rows']} | {worst:.2f} ({names}) | "
            f"{'-' if p is None else f'{p:.3f}'} | {out} | {'-' if z is None else f'{z:.2f}'} | {dcr} | "
            f"{r['wall_s']:.1f} | {r['cpu_s']:.1f} | {'yes' if r['pass'] else 'no'} |")


HEADER = ("| file | seed | rows | worst KS ratio (column) | min chi2 p | outside levels | max atom abs z | DCR ratio "
          "| train wall s | train CPU s | bar |\n|---|---|---|---|---|---|---|---|---|---|---|")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=("data", "bar"))
    p.add_argument("files", nargs="*", help="files under benchmarks/data (default: every one)")
    p.add_argument("--seeds", default="0", help="comma-separated training seeds")
    p.add_argument("--set", action="append", default=[], help="passed to distgan train (not the bar's defaults)")
    p.add_argument("--no-plots", action="store_true", help="passed to distgan train (for quicker screens)")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    if args.what == "data":
        write_data()
        return
    files = [DATA / f for f in args.files] or sorted(DATA.glob("*.csv"))
    extra = [a for s in args.set for a in ("--set", s)] + (["--no-plots"] if args.no_plots else [])
    results = []
    print(HEADER)
    with tempfile.TemporaryDirectory(prefix="distgan-tables-") as tmp:
        for f in files:
            for seed in (int(s) for s in args.seeds.split(",")):
                r = run_one(f, seed, extra, Path(tmp))
                results.append(r)
                print(format_result(r), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
