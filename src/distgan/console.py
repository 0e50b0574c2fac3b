"""What a person reads in the terminal: the seed's progress line, the fit report, the table over replicates, and a
progress bar while training or sampling."""

from __future__ import annotations

import sys

import numpy as np
from tqdm import tqdm


def seed_line(step: int, logs: dict, k: int = 0) -> str:
    """The seed's progress line for replicate k: D's error on real/fake, G's error, (mean, std) of real and fake."""
    def ms(mean, std):
        return "[" + ", ".join(f"{m:.4f}, {s:.4f}" for m, s in zip(mean[k], std[k])) + "]"
    return (f"{step}: D: {logs['d_real'][k]:.4f}/{logs['d_fake'][k]:.4f} G: {logs['g'][k]:.4f} "
            f"(Real: {ms(logs['real_mean'], logs['real_std'])}, Fake: {ms(logs['fake_mean'], logs['fake_std'])})")


def format_fit(summary: dict, k: int = 0, columns: tuple[str, ...] = ()) -> list[str]:
    """The fit report of replicate k: moments beside the target's, KS and W1 beside their noise floors.
    columns: a data file's column names, which then label the dimensions (their figures are in standard units)."""
    rep, tm, floor = summary["replicates"][k], summary["target_moments"], summary["floor"]
    lines = [f"fit of replicate {k} (seed {rep['seed']}) on {summary['n_samples']} samples against a fresh real "
             f"sample; noise floor = median over pairs of real samples:"]
    if columns:
        lines.append("  (held-out rows; each column in standard units: its training rows have mean 0, std 1)")
    dims = len(rep["mean"])
    table = summary.get("table_fit")
    for d in range(dims):
        tag = f"  {columns[d]}: " if columns else f"  dim {d}: " if dims > 1 else "  "
        lines.append(tag + "  ".join(f"{s} {np.asarray(rep[s])[d]:.4f} (target {np.asarray(tm[s])[d]:.4f})"
                                     for s in ("mean", "std", "skew", "kurt")))
        ks, w, fks, fw = (np.asarray(x)[d] for x in (rep["ks"], rep["w1"], floor["ks"]["median"], floor["w1"]["median"]))
        lines.append(tag + f"KS {ks:.4f} (p={np.asarray(rep['ks_pvalue'])[d]:.3g}, floor {fks:.4f}, ratio {ks / fks:.2f})"
                     f"  W1 {w:.4f} (floor {fw:.4f}, ratio {w / fw:.2f})")
        if table:
            lines += [tag + line for line in column_lines(table["replicates"][k]["columns"][d])]
    if "sw1" in rep:  # dim > 1: one joint distance and the correlation error
        lines.append(f"  joint: sliced W1 {rep['sw1']:.4f} (floor {floor['sw1']['median']:.4f}, ratio "
                     f"{rep['sw1_ratio']:.2f})  correlation error {rep['corr']:.4f} (floor "
                     f"{floor['corr']['median']:.4f}, ratio {rep['corr_ratio']:.2f})")
    if table:
        lines += table_lines(table, k, floor)
    if "modes" in summary:  # mixtures: the VEEGAN / PacGAN protocol
        md = summary["modes"]
        m, p = md["replicates"][k], md["perfect"]
        lines.append(f"  modes: {m['modes']} of {md['n_modes']} captured, {m['high_quality']:.1%} high quality, "
                     f"reverse KL {m['reverse_kl']:.4f} (a perfect sampler: {p['high_quality']:.1%}, "
                     f"{p['reverse_kl']:.4f}; {md['n_samples']} samples)")
    lines.append("verdict: " + rep["verdict"])
    return lines


MAX_ATOM_LINES = 4  # more atoms in a column are summed up in one line


def column_lines(col: dict) -> list[str]:
    """A data column's statistic for its type: level frequencies (chi-square) or each atom's rate."""
    if "levels" in col:
        c = col["levels"]
        return [f"levels chi2 {c['chi2']:.2f} (p={c['p']:.3g}, floor {c['floor']:.2f}, ratio {c['ratio']:.2f}), "
                f"{c['outside']} outside the levels"]
    atoms = col.get("atoms", [])
    line = lambda a: f"atom {a['atom']:g}: rate {a['rate']:.2%} (held-out {a['held_rate']:.2%}, noise {a['noise']:.2%})"  # noqa: E731
    if len(atoms) <= MAX_ATOM_LINES:
        return [line(a) for a in atoms]
    z = [abs(a["rate"] - a["held_rate"]) / max(a["noise"], 1e-12) for a in atoms]  # many atoms (an integer column)
    worst = atoms[int(np.argmax(z))]
    return [f"{len(atoms)} atoms, {sum(v <= 2.58 for v in z)} of them within 2.58 noise of the held-out rate; "
            f"farthest: {line(worst)}"]


def table_lines(table: dict, k: int, floor: dict) -> list[str]:
    """A data file's column types, replicate k's memorisation, and whether the held-out rows can judge a fit."""
    m = table["replicates"][k]["memorisation"]
    ratio = "n/a: the held-out rows are themselves copies" if m["ratio"] is None else f"{m['ratio']:.2f}"
    lines = ["  types: " + "; ".join(f"{t['column']} {t['describe']}" for t in table["types"]),
             f"  memorisation: distance to the closest training row {m['fake']:.3f} (held-out rows {m['held']:.3f}), "
             f"ratio {ratio} (about 1: fresh rows; 0: copies); exact copies {m['copies']:.1%} (held-out rows "
             f"{m['held_copies']:.1%})"]
    if not table["judged"]:
        ks, hi = float(np.max(floor["ks"]["median"])), float(np.max(floor["ks"]["p95"]))
        lines.append(f"  only {table['holdout_rows']} held-out rows, too few to judge a fit: two real samples differ "
                     f"by a KS up to {hi:.3f} (95th percentile; median {ks:.3f}), so a ratio near 1 says little")
    return lines


def format_table(summary: dict) -> list[str]:
    """The fit over replicates: counts of within-floor and failed replicates, ratio medians and p90s."""
    t = summary["table"]
    extra = []
    if "modes" in summary:
        md = summary["modes"]
        extra = [f"  modes captured {md['modes']['mean']:.2f} +- {md['modes']['se']:.2f} of {md['n_modes']} "
                 f"(all in {md['all_modes']} replicates), high quality {md['high_quality']['mean']:.1%} +- "
                 f"{md['high_quality']['se']:.1%}, reverse KL {md['reverse_kl']['mean']:.4f} +- "
                 f"{md['reverse_kl']['se']:.4f}"]
    return [f"over {t['replicates']} replicates: {t['within_floor']} within the noise floor, "
            f"{t['collapsed']} collapsed, {t['diverged']} diverged, {t['saturated']} saturated, "
            f"{t['non_finite']} non-finite",
            f"  KS ratio median {t['ks_ratio']['median']:.2f}, p90 {t['ks_ratio']['p90']:.2f};  "
            f"W1 ratio median {t['w1_ratio']['median']:.2f}, p90 {t['w1_ratio']['p90']:.2f};  "
            f"best replicate {t['best']}"] + extra


def format_auto(summary: dict, k: int = 0) -> list[str]:
    """With --steps auto: where replicate k stopped improving, cooled down to and the state it keeps; over replicates,
    the range of the stops and the run's end."""
    a = summary["auto"]
    r = a["replicates"][k]
    lines = [f"auto steps: replicate {k} stopped improving at step {r['stopped']}, cooled down to step {r['ended']}, "
             f"keeps its state at step {r['kept']} (score {r['score']:.2f} averaged over held-out draws, standard "
             f"error {a['se']:.2f})"]
    if len(a["replicates"]) > 1:
        stops = np.array([r["stopped"] for r in a["replicates"]])
        lines.append(f"  over {len(stops)} replicates: stopped at steps {stops.min()}..{stops.max()} (median "
                     f"{np.median(stops):.0f}); the run ended at step {a['steps']}")
    return lines


def format_timing(summary: dict, steps: int) -> str:
    tm = summary["timing"]
    return (f"trained {steps} steps x {len(summary['replicates'])} replicate(s) in {tm['train_s']:.1f} s "
            f"(+{tm['compile_s']:.1f} s compile): {tm['us_per_step']:.0f} us/step, "
            f"{tm['replicate_steps_per_s']:.3g} replicate-steps/s"
            + (f", split over {tm['devices']} CPU devices" if tm.get("devices", 1) > 1 else ""))


def progress_bar(total: int, unit: str) -> tqdm:
    """A bar on stderr when it is a terminal, silent otherwise (`sample`'s rows)."""
    return tqdm(total=total, unit=unit, unit_scale=True, dynamic_ncols=True, leave=False, disable=not sys.stderr.isatty())


class Console:
    """Training's output: lines through `echo` (None: silent), and a progress bar on stderr when it is a terminal
    (progress=None) or when asked (True); with the bar on, lines are written above it."""

    def __init__(self, echo, progress: bool | None, total: int, start: int, replicates: int):
        self.replicates, self.start = replicates, start
        self.bar = tqdm(total=total, initial=start, unit="step", dynamic_ncols=True, leave=False,
                        disable=(not sys.stderr.isatty()) if progress is None else not progress)
        self._echo = None if echo is None else tqdm.write if not self.bar.disable else echo

    def say(self, *lines: str) -> None:
        if self._echo is not None:
            for line in lines:
                self._echo(line)

    def intro(self, t, step: int, out, note: str = "") -> None:
        """The lines before the first step: `note` (a batch cut to the data), the replicates, where a resume starts."""
        self.say(*[note] if note else [])
        if t.replicates > 1:
            self.say(f"training {t.replicates} replicates (seeds {t.seed}..{t.seed + t.replicates - 1}); "
                     "lines show replicate 0")
        if step:
            self.say(f"resuming {out} at step {step} of {t.steps}")

    def update(self, n: int, step: int, train_s: float, within: np.ndarray | None, evaluated: bool) -> None:
        """n more steps done, `train_s` seconds of training so far; `within`: the last evaluation's within-floor."""
        self.bar.update(n)
        rate = (step - self.start) / max(train_s, 1e-9)
        postfix = {"steps/s": f"{rate:.0f}", "rep-steps/s": f"{rate * self.replicates:.3g}"}
        if within is not None:
            postfix["in floor"] = f"{within.mean():.0%}"
        self.bar.set_postfix(postfix, refresh=False)
        if self.bar.disable and evaluated and self.replicates > 1:  # no bar (not a tty): the same figures in words
            self.say(f"step {step}: {postfix['steps/s']} steps/s, {postfix['rep-steps/s']} replicate-steps/s, "
                     f"{postfix['in floor']} of replicates within the noise floor")

    def close(self) -> None:
        self.bar.close()
