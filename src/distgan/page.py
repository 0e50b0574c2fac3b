"""report.html: one self-contained page per run folder, for a person to read (and a learner to enjoy).

    distgan report RUN [-o FILE] [--compare OTHER_RUN]

The page holds the verdict in words with every fit figure beside its noise floor, the animation of G and D over
training (frames.py), the final fit (histogram and QQ plot, or scatter, marginals and pairs), the training curves
(losses, fit ratios against the floor's band, the evaluation sample's mean and std against the band sampling noise
allows), every replicate in a sortable table with the spread plots, the config, a data file's columns, and timing.
`train` rewrites it at each evaluation (the page reloads itself while the run is in progress) and at the end.

Self-contained: the text and tables are HTML, the figures are inline SVG drawn by the inline script page.js from
the JSON inside the page. Nothing is fetched: no font, style sheet, script or image from anywhere else, so the page
opens offline, from a file or an e-mail. Figures carry numbers rounded to 4 digits and frames packed as text
(`pack`), so a 256-replicate run's page stays well under 3 MB.
"""

from __future__ import annotations

import datetime
import functools
import json
import math
import warnings
from html import escape
from pathlib import Path

import jax
import numpy as np

from . import frames, metrics, presets
from .config import Config, describe
from .data import META, load_run_target, make_target
from .fast import ONE_SHOT
from .files import atomic_write, read_json, read_jsonl
from .report import diagnose, verdict
from .runs import load_config
from .targets import Target

REPORT = "report.html"
MAX_FRAMES = 150  # frames on the page, evenly spread over the run (the file keeps them all)
BINS = 48  # the animation's histogram bins across the frame's axis
PAGE_POINTS = 300  # G's samples per 2-D frame on the page
MAX_TABLE = 1024  # replicates in the page's table at most
QUANTILES = 200  # points of the QQ plot
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"  # 64 symbols, 2 per value: 4096 levels
MEANING = {
    "mean": "the generated sample's average; sampling noise alone moves it by about the band shown",
    "std": "the generated sample's spread",
    "skew": "asymmetry: 0 for a symmetric distribution",
    "kurt": "tail weight beyond a Gaussian's (excess kurtosis): 0 for a Gaussian",
    "ks": "Kolmogorov-Smirnov: the largest gap between the generated and the real cumulative distributions",
    "w1": "Wasserstein-1: how far, on average, samples must move to turn the generated distribution into the real one",
    "sw1": "sliced Wasserstein-1: W1 averaged over 128 random directions, a distance between the joint distributions",
    "corr": "the largest gap between the generated and the real correlation matrices",
}
NAMES = {"ks": "KS", "w1": "W1", "sw1": "sliced W1", "corr": "corr. error"}


def rounded(x, digits: int = 4):
    """Numbers (and nested lists and arrays of them) to `digits` significant digits; NaN and inf become None."""
    if isinstance(x, dict):
        return {k: rounded(v, digits) for k, v in x.items()}
    if isinstance(x, np.ndarray) and x.dtype.kind == "f" or isinstance(x, list) and x and all(
            isinstance(v, float) for v in x):
        return _round_array(np.asarray(x, np.float64), digits)
    if isinstance(x, list | tuple | np.ndarray):
        return [rounded(v, digits) for v in x]
    if isinstance(x, bool | str) or x is None:
        return x
    if isinstance(x, int | np.integer):
        return int(x)
    return _round_array(np.asarray([x], np.float64), digits)[0]


def _round_array(a: np.ndarray, digits: int) -> list:
    """An array's numbers rounded to `digits` significant digits, as (nested) lists; NaN and inf as None. Dividing
    by or multiplying with an exact power of ten keeps the shortest decimal form (4.005, not 4.00500000001)."""
    out = a.copy()
    ok = np.isfinite(a) & (np.abs(a) > 1e-300)  # a smaller number's power of ten would overflow: kept as it is
    e = digits - 1 - np.floor(np.log10(np.abs(a, where=ok, out=np.ones_like(a)))).astype(int)
    up, down = ok & (e >= 0), ok & (e < 0)
    out[up] = np.round(a[up] * 10.0 ** e[up]) / 10.0 ** e[up]
    out[down] = np.round(a[down] / 10.0 ** -e[down]) * 10.0 ** -e[down]
    listed = out.tolist()
    if np.all(np.isfinite(a)):
        return listed
    mask = np.isfinite(a).tolist()
    fix = lambda v, m: [fix(u, n) for u, n in zip(v, m)] if isinstance(v, list) else (v if m else None)  # noqa: E731
    return fix(listed, mask)


def pack(values: np.ndarray, lo: float, hi: float) -> str:
    """Values in [lo, hi] as 2 symbols each of ALPHABET (4096 levels; page.js's unpack reverses it); values out of
    range are clipped to it, NaN becomes lo."""
    q = np.clip(np.nan_to_num((np.asarray(values, np.float64) - lo) / (hi - lo), nan=0.0, posinf=1.0, neginf=0.0), 0, 1)
    q = np.rint(q * 4095).astype(int).ravel()
    return "".join(ALPHABET[v >> 6] + ALPHABET[v & 63] for v in q)


def pcts(values: np.ndarray) -> dict:
    """values (T, K): the 10th, 50th and 90th percentiles over replicates at each step. -> {'p10', 'p50', 'p90'}"""
    with warnings.catch_warnings():  # a step where every replicate is NaN (all diverged) stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, med, hi = np.nanpercentile(np.asarray(values, np.float64), [10, 50, 90], axis=1)
    return {"p10": rounded(lo), "p50": rounded(med), "p90": rounded(hi)}


def series(values: np.ndarray, k: int) -> dict:
    """A quantity over training, (T, K): replicate k's line, and the spread over replicates when K > 1."""
    values = np.asarray(values, np.float64)
    return {"rep": rounded(values[:, k]), **(pcts(values) if values.shape[1] > 1 else {})}


# --- the run's numbers, as the page draws them ----------------------------------------------------------------

def curves(rows: list[dict], floor: dict, moments: dict, n: int, k: int) -> dict:
    """Training curves: the losses at each chunk; at each evaluation the fit ratios (worst dimension), and the
    evaluation sample's mean and std per dimension with the band sampling noise allows a perfect G (95 %)."""
    out = {"steps": [r["step"] for r in rows]}
    for name in ("d_real", "d_fake", "g"):
        out[name] = series(np.array([r[name] for r in rows]), k)
    out["d"] = series(np.array([r["d_real"] for r in rows]) + np.array([r["d_fake"] for r in rows]), k)
    evals = [r for r in rows if "fit" in r]
    out["eval_steps"] = [r["step"] for r in evals]
    out["ratios"], out["band"] = {}, {}
    if evals:
        fits = {s: np.array([r["fit"][s] for r in evals], np.float64) for s in evals[0]["fit"]}  # (E, K, dim)
        for s in metrics.stats_of(fits):
            ratio = fits[s] / np.asarray(floor[s]["median"])
            out["ratios"][s] = series(ratio.reshape(len(evals), ratio.shape[1], -1).max(-1), k)
        out["within"] = rounded(np.mean([r["within_floor"] for r in evals], axis=1))
        out["mean"] = [series(fits["mean"][:, :, d], k) for d in range(fits["mean"].shape[2])]
        out["std"] = [series(fits["std"][:, :, d], k) for d in range(fits["std"].shape[2])]
    for s in floor:  # the floor's 95th percentile in ratio units: a perfect G scores below it 95 % of the time
        out["band"][s] = rounded(np.max(np.asarray(floor[s]["p95"]) / np.asarray(floor[s]["median"])))
    sd, kurt = np.asarray(moments["std"], np.float64), np.asarray(moments["kurt"], np.float64)
    with np.errstate(invalid="ignore"):  # Var(sample std) ~ sd^2 (kurt + 2) / 4n for large n
        out["noise"] = {"mean": rounded(1.96 * sd / math.sqrt(n)),
                        "std": rounded(1.96 * sd * np.sqrt(np.maximum(kurt + 2, 0) / (4 * n)))}
    out["target"] = {"mean": rounded(moments["mean"]), "std": rounded(moments["std"])}
    return out


def film(folder: Path, target: Target, real: np.ndarray | None, rows: list[dict]) -> dict | None:
    """The animation's frames in the data's units, packed (at most MAX_FRAMES, evenly spread, the last one in),
    in 1-D the target's density across the frames' axis (or the real sample's histogram), and at each frame D's
    mean output on the last training batches, real and fake (metrics.jsonl's d_real_out, d_fake_out)."""
    f = frames.in_data_units(folder, target)
    if f is None:
        return None
    T, meta, x, d, lo, hi = len(f["step"]), f["meta"], f["x"], f["d"], f["lo"], f["hi"]  # x (T, n, dim)
    pick = np.unique(np.linspace(0, T - 1, min(T, MAX_FRAMES)).round().astype(int))
    out = {"steps": [int(s) for s in f["step"][pick]], "lo": rounded(lo), "hi": rounded(hi),
           "d_lo": rounded(f["d_lo"]), "d_hi": rounded(f["d_hi"]), "d_output": meta["d_output"],
           "d_input": meta["d_input"], "grid": meta["grid"], "replicate": meta["replicate"], "every": meta["every"],
           "total": T, "d": [pack(d[i], f["d_lo"], f["d_hi"]) for i in pick], "n": int(x.shape[1])}
    by_step, k = {r["step"]: r for r in rows if "d_real_out" in r}, meta["replicate"]
    out["batches"] = [rounded([by_step[s]["d_real_out"][k], by_step[s]["d_fake_out"][k]], 3) if s in by_step else None
                      for s in out["steps"]]
    if target.dim == 1:
        edges = np.linspace(lo[0], hi[0], BINS + 1)
        out["hist"] = [np.histogram(x[i, :, 0], edges)[0].tolist() for i in pick]
        out["out"] = [[int(np.sum(x[i, :, 0] < lo[0])), int(np.sum(x[i, :, 0] > hi[0]))] for i in pick]
        finite = [x[i, :, 0][np.isfinite(x[i, :, 0])] for i in pick]  # a diverged G's samples can overflow
        out["moments"] = [rounded([np.mean(v), np.std(v)]) if len(v) else [None, None] for v in finite]
        grid = np.linspace(lo[0], hi[0], 200)
        density = None if target.columns else target.pdf(grid)
        if density is not None:
            out["target"] = {"x": rounded(grid), "y": rounded(density), "kind": "density"}
        elif real is not None:  # a step curve of the real sample's histogram
            heights = np.histogram(real[:, 0], edges, density=True)[0]
            out["target"] = {"x": rounded(np.repeat(edges, 2)[1:-1]), "y": rounded(np.repeat(heights, 2)), "kind": "real"}
    else:
        m = min(PAGE_POINTS, x.shape[1])
        out["points"] = [pack(x[i, :m, 0], lo[0], hi[0]) + pack(x[i, :m, 1], lo[1], hi[1]) for i in pick]
        out["m"] = m
    out["last"] = x[-1]  # (n, dim): the final view's sample, removed before the page is written
    out["last_step"] = int(f["step"][-1])
    return out


def final_view(view: dict | None, target: Target, real: np.ndarray | None) -> dict | None:
    """The final fit as drawn: 1-D the histogram against the target's density (or the real sample's histogram) and
    the QQ plot; N-D the scatter against real, the marginals and the pairs. From the last frame's G samples."""
    if view is None:
        return None
    x = view.pop("last")
    out = {"step": view.pop("last_step"), "n": int(len(x))}
    if target.dim == 1:
        both = x[:, 0] if real is None else np.concatenate([x[:, 0], real[:, 0]])
        both = both[np.isfinite(both)]
        lo, hi = np.quantile(both, [0.002, 0.998]) if len(both) else (view["lo"][0], view["hi"][0])
        edges = np.linspace(lo, hi, 41)
        out |= {"edges": rounded(edges), "fake": rounded(np.histogram(x[:, 0], edges, density=True)[0])}
        if real is not None:
            out["real"] = rounded(np.histogram(real[:, 0], edges, density=True)[0])
        grid = np.linspace(lo, hi, 200)
        density = None if target.columns else target.pdf(grid)  # a data file has no density: its held-out rows
        if density is not None:
            out["density"] = {"x": rounded(grid), "y": rounded(density)}
        p = (np.arange(QUANTILES) + 0.5) / QUANTILES
        q_real = target.dist.ppf(p) if target.dist is not None else None if real is None else np.quantile(real[:, 0], p)
        if q_real is not None:
            out["qq"] = {"real": rounded(q_real), "fake": rounded(np.quantile(x[:, 0], p))}
    else:
        out |= {"fake": rounded(x[:500], 3), "real": None if real is None else rounded(real[:500], 3)}
        if target.components is not None:
            out["centres"] = rounded(target.to_data(target.components[1]))
    return out


def verdict_now(cfg: Config, row: dict | None, floor: dict, moments: dict, k: int) -> dict | None:
    """The verdict on replicate k at an evaluation row of metrics.jsonl (a run in progress)."""
    if row is None:
        return None
    result = {s: np.asarray(v, np.float64) for s, v in row["fit"].items()}
    logs = {key: np.asarray(row[key]) for key in ("d_fake_out", "g_grad") if key in row}
    problems = diagnose(result, logs, moments)[k]
    return fit_rows(cfg, {s: v[k] for s, v in result.items()}, floor, moments, verdict(result, floor, problems, k))


def fit_rows(cfg: Config, rep: dict, floor: dict, moments: dict, words: str) -> dict:
    """One replicate's fit as the page's table: each figure beside its target or floor, and what it means."""
    n = cfg.eval.n_samples
    rows = []
    dims = len(np.atleast_1d(rep["mean"]))
    for d in range(dims):
        sd = float(np.asarray(moments["std"])[d])
        for s in ("mean", "std", "skew", "kurt"):
            noise = {"mean": 1.96 * sd / math.sqrt(n),
                     "std": 1.96 * sd * math.sqrt(max(float(np.asarray(moments["kurt"])[d]) + 2, 0) / (4 * n))}
            rows.append({"stat": s, "dim": d, "value": float(np.atleast_1d(rep[s])[d]),
                         "target": float(np.asarray(moments[s])[d]), "noise": noise.get(s)})
        for s in metrics.STATS:
            rows.append({"stat": s, "dim": d, "value": float(np.atleast_1d(rep[s])[d]),
                         "median": float(np.asarray(floor[s]["median"])[d]), "p95": float(np.asarray(floor[s]["p95"])[d])})
    for s in metrics.JOINT:
        if s in rep:
            rows.append({"stat": s, "dim": None, "value": float(np.asarray(rep[s]).reshape(-1)[0]),
                         "median": float(np.asarray(floor[s]["median"])), "p95": float(np.asarray(floor[s]["p95"]))})
    return {"words": words, "rows": rows}


def replicate_rows(summary: dict) -> list[dict]:
    """Every replicate of a finished run (beyond MAX_TABLE of them, the best and the worst MAX_TABLE / 2 by fit
    score): its seed, verdict, fit ratios, mean and std, problems and best point."""
    reps = summary["replicates"]
    if len(reps) > MAX_TABLE:  # a GPU's 16,384 replicates would make a page of several MB
        order = np.argsort([max(r["ks_ratio"], r["w1_ratio"]) for r in reps])  # NaN sorts last, with the worst
        reps = [reps[i] for i in sorted(np.r_[order[:MAX_TABLE // 2], order[-MAX_TABLE // 2:]])]
    rows = []
    for r in reps:
        row = {"replicate": r["replicate"], "seed": r["seed"], "verdict": r["verdict"].split(":")[0],
               "ks_ratio": r["ks_ratio"], "w1_ratio": r["w1_ratio"]}
        row |= {f"{s}_ratio": r[f"{s}_ratio"] for s in metrics.JOINT if f"{s}_ratio" in r}
        row |= {"mean": np.atleast_1d(r["mean"])[0], "std": np.atleast_1d(r["std"])[0],
                "problems": ", ".join(r["problems"]) or "-", "best_step": r.get("best", {}).get("step"),
                "best_score": r.get("best", {}).get("score")}
        rows.append(rounded(row))
    return rows


_DOCS = functools.cache(describe)  # read from the source once a process: each page write needs it


def config_rows(cfg: Config) -> list[list]:
    """[field, value, the seed's value when it differs, doc] for every config field."""
    seed, rows = presets.seed(), []
    for name, _, doc in _DOCS():
        section, field = name.split(".")
        value, theirs = getattr(getattr(cfg, section), field), getattr(getattr(seed, section), field)
        rows.append([name, value, None if value == theirs else theirs, doc])
    return rows


def run_data(folder: Path, cfg: Config, target: Target, floor: dict, moments: dict, summary: dict | None,
             step: int, real: np.ndarray) -> dict:
    """Everything the page shows of one run, as JSON-ready numbers and strings."""
    rows = read_jsonl(folder / "metrics.jsonl") if (folder / "metrics.jsonl").exists() else []
    k = cfg.report.frame_replicate
    evals = [r for r in rows if "fit" in r]
    if summary is not None:
        fit = fit_rows(cfg, summary["replicates"][k], floor, moments, summary["replicates"][k]["verdict"])
    else:
        fit = verdict_now(cfg, evals[-1] if evals else None, floor, moments, k)
    view = film(folder, target, real, rows)
    final = final_view(view, target, real)  # takes the last frame's full sample out of `view`
    data = {"folder": folder.name, "preset": cfg.preset, "replicates": cfg.train.replicates, "k": k,
            "steps": cfg.train.steps, "step": step, "done": summary is not None, "dim": target.dim,
            "names": list(target.columns) or ([f"x{d}" for d in range(target.dim)] if target.dim > 1 else ["x"]),
            "what": (f"data file {Path(cfg.target.data).name} (columns {', '.join(target.columns)})"
                     if cfg.target.data else f"target {cfg.target.spec}"),
            "loss": cfg.train.loss, "fit": rounded(fit), "curves": curves(rows, floor, moments, cfg.eval.n_samples, k),
            "final": rounded(final), "film": view,
            "replicate_rows": replicate_rows(summary) if summary is not None and cfg.train.replicates > 1 else None,
            "table": rounded(summary["table"]) if summary is not None else None,
            "modes": rounded(summary.get("modes")) if summary is not None else None,
            "timing": rounded(summary.get("timing")) if summary is not None else None,
            "config": rounded(config_rows(cfg)), "data": None}
    if cfg.target.data and (folder / META).exists():
        data["data"] = rounded(read_json(folder / META, "data record"))
    return data


def real_sample(target: Target, n: int) -> np.ndarray | None:
    """A real sample in the data's units for the figures, (n, dim): a data file's held-out rows (None if the file
    has moved), else fresh draws, in NumPy where the target's law is known (no compile while training waits)."""
    if target.columns:
        return None if target.data is None else target.to_data(np.asarray(target.data[:n], np.float64))
    rng = np.random.default_rng(2)
    if target.dist is not None:
        return target.dist.rvs(size=(n, 1), random_state=rng)
    if target.components is not None:  # a Gaussian mixture: (weights (c,), means (c, dim), stds (c,))
        w, mu, sd = target.components
        c = rng.choice(len(w), n, p=np.asarray(w) / np.sum(w))
        return mu[c] + sd[c, None] * rng.standard_normal((n, target.dim))
    draw = jax.jit(target.sample, static_argnums=1, compiler_options=ONE_SHOT)
    return np.asarray(draw(jax.random.PRNGKey(2), n), np.float64)


# --- the page ----------------------------------------------------------------------------------------------------

def json_for_script(obj) -> str:
    """JSON safe inside a <script> element: no '<', '>' or '&' that could close it."""
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render(runs: list[dict]) -> str:
    """The whole page for a run (and the run it is compared with), as one HTML string."""
    here = Path(__file__).parent
    run = runs[0]
    status = (f"finished: {run['step']} steps" if run["done"] else
              f"in progress: step {run['step']} of {run['steps']} (this page reloads itself)")
    title = f"distgan: {run['folder']}"
    words = run["fit"]["words"] if run["fit"] else "no evaluation yet"
    written = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>
{(here / "page.css").read_text()}
</style>
</head>
<body>
<header>
<h1>{escape(title)}</h1>
<p class="sub">preset <b>{escape(run['preset'])}</b> on {escape(run['what'])}, {run['replicates']} replicate(s);
<span id="status" class="{'done' if run['done'] else 'running'}">{escape(status)}</span>; page written {written}</p>
<p id="verdict" class="verdict {escape(words.split(':')[0].replace(' ', '-').lower())}">{escape(words)}</p>
</header>
<main id="main"><noscript>The figures of this page are drawn by its inline script: allow scripts to see them.</noscript></main>
<script type="application/json" id="data">{json_for_script(runs)}</script>
<script>
{(here / "page.js").read_text()}
</script>
</body>
</html>
"""


class Page:
    """report.html of a run being trained: `write` after each evaluation, and at the end with the summary."""

    def __init__(self, folder: Path, cfg: Config, target: Target, floor: dict, moments: dict):
        self.folder, self.cfg, self.target, self.floor, self.moments = Path(folder), cfg, target, floor, moments
        self._real = None

    def __repr__(self):
        return f"Page({str(self.folder / REPORT)!r})"

    def real(self) -> np.ndarray:
        if self._real is None:
            self._real = real_sample(self.target, min(self.cfg.eval.n_samples, 10_000))
        return self._real

    def data(self, step: int, summary: dict | None = None) -> dict:
        return run_data(self.folder, self.cfg, self.target, self.floor, self.moments, summary, step, self.real())

    def write(self, step: int, summary: dict | None = None, compare: dict | None = None, out: Path | None = None
              ) -> Path:
        """Write the page (atomically): in progress at `step`, or finished with `summary`; compare: another run's
        data (page_of(...).data(...)) to show beside this one."""
        path = Path(out) if out else self.folder / REPORT
        atomic_write(path, render([self.data(step, summary)] + ([compare] if compare else [])))
        return path


def open_run(folder: Path) -> tuple[Config, Target]:
    """A run folder's config and target (a data run's from its file, or from its record if the file has moved)."""
    cfg = load_config(folder)
    return cfg, load_run_target(cfg.target, folder) if cfg.target.data else make_target(cfg.target)


def page_of(folder: Path) -> tuple[Page, int, dict | None]:
    """The Page of a finished or stopped run folder, with its step and summary (None if it has not finished)."""
    folder = Path(folder)
    cfg, target = open_run(folder)
    summary = read_json(folder / "summary.json", "summary") if (folder / "summary.json").exists() else None
    rows = read_jsonl(folder / "metrics.jsonl") if (folder / "metrics.jsonl").exists() else []
    step = rows[-1]["step"] if rows else 0
    if summary is not None:
        floor = {s: {q: np.asarray(v) for q, v in f.items()} for s, f in summary["floor"].items()}
        moments = {s: np.asarray(v) for s, v in summary["target_moments"].items()}
    else:
        floor = metrics.noise_floor(target, cfg.eval.n_samples, cfg.eval.floor_draws)
        moments = target.moments()
    return Page(folder, cfg, target, floor, moments), step, summary


def rebuild(folder: Path, out: Path | None = None, compare: Path | None = None) -> Path:
    """`distgan report`: write a run folder's page again (to `out`), with another run beside it (`compare`)."""
    page, step, summary = page_of(folder)
    other = None
    if compare is not None:
        cpage, cstep, csummary = page_of(compare)
        other = cpage.data(cstep, csummary)
    return page.write(step, summary, other, out)
