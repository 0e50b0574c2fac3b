"""A table's column types, detected from its values, and each type's codec: the column's values to the normal scores
that G and D work in, and G's scores back to values of the column's own type.

Types (Column.type):
    continuous  real numbers; its atoms, values that many rows hold exactly (zeros, say), come back exact
    integer     whole numbers with many values (counts, years); they come back rounded
    discrete    a few levels, numbers or text labels; only those levels come back
Each end of a continuous or integer column is bounded (samples never pass the observed min or max: no slack) or
open (an exponential tail past it, carrying the half-row of probability mass past the extreme row).

The codec ('quantile' encoding) is the training rows' empirical CDF F. A row whose value is v becomes a uniform draw
on [F(v-), F(v)], fresh at every draw (dequantisation: Uria et al. 2013, Theis et al. 2016), then the normal score
Phi^-1 of it. Over the training rows every column's scores are then N(0, 1), whatever its type, and a level or an
atom holds an interval as wide as its frequency: the normal-score transform of TabDDPM's preprocessing (Kotelnikov
et al. 2023), with ties spread rather than broken. Back, u = Phi(score) and
    discrete    the level whose interval holds u;
    continuous  the quantile function, linear between knots at the centre of each value's interval (an atom has a
                knot at both ends of its interval, so every u in it gives the atom exactly);
    integer     the same, rounded.
An open end's tail has the scale of the mean gap between the extreme rows (MAX_TAIL_ROWS of them), and stops at 0
for a column without negative values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from .config import ConfigError
from .fast import sort

MAX_LEVELS = 200  # a discrete column, or a text column, has at most this many levels
AUTO_LEVELS = 20  # a numeric column with at most this many values (and at least 5 rows a value) is discrete
ATOM_SHARE = 0.01  # an atom holds at least this share of the rows, and at least ATOM_ROWS rows...
ATOM_ROWS = 5
ATOM_OVER_MEDIAN = 4  # ...and, when detected, four times as many as the column's median value
EDGE_RATIO = 2.0  # an end is open when its extreme gaps are more than this many times the next ones
MAX_TAIL_ROWS = 25
MAX_KNOTS = 2048  # the quantile function keeps at most this many knots (evenly spaced in rank) besides atoms


@dataclass
class Column:
    """One column's type and codec tables. Values are in the data's units; a text column's values are the codes of
    its labels (their places in the file's sorted labels)."""

    name: str
    type: str
    text: bool = False
    levels: list[float] = field(default_factory=list)  # discrete: the levels (a text column's: label codes)
    labels: list[str] = field(default_factory=list)  # a text column: each level's label
    cum: list[float] = field(default_factory=list)  # discrete: F at the levels' edges, (L + 1,) from 0 to 1
    atoms: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)  # each atom's share of the training rows
    low: float | None = None  # the bounded lower end (the observed min), None when open
    high: float | None = None
    min: float = 0.0
    max: float = 0.0
    knots_u: list[float] = field(default_factory=list, repr=False)  # continuous, integer: the quantile function
    knots_x: list[float] = field(default_factory=list, repr=False)
    tail_low: float = 0.0  # an open end's tail scale (0 at a bounded end)
    tail_high: float = 0.0

    def spec(self) -> str:
        """The type as target.types writes it: 'continuous+atoms+low'."""
        ends = "+bounded" if self.low is not None and self.high is not None else \
            "+low" if self.low is not None else "+high" if self.high is not None else ""
        return self.type + ("+atoms" if self.atoms else "") + (ends if self.type != "discrete" else "")

    def describe(self) -> str:
        """In words, for the fit report: 'continuous, atom 0 (67.8 %), bounded below at 0, open above 57.6'."""
        if self.type == "discrete":
            shown = ", ".join(repr(v) for v in self.labels[:6]) if self.text else \
                ", ".join(f"{v:g}" for v in self.levels[:6])
            return f"discrete, {len(self.levels)} {'labels' if self.text else 'levels'} ({shown}" + \
                (", ...)" if len(self.levels) > 6 else ")")
        words = [self.type]
        words += [f"atom {a:g} ({r:.1%})" for a, r in list(zip(self.atoms, self.rates))[:4]]
        if len(self.atoms) > 4:
            words.append(f"{len(self.atoms) - 4} more atoms")
        for end, bound, edge, tail in (("below", self.low, self.min, self.tail_low),
                                       ("above", self.high, self.max, self.tail_high)):
            words.append(f"bounded {end} at {bound:g}" if bound is not None else
                         f"open {end} {edge:g} (tail scale {tail:.3g})")
        return ", ".join(words)

    def to_json(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, d: dict) -> Column:
        return cls(**d)


# --- detection ---------------------------------------------------------------------------------------------------

def detect(name: str, x: np.ndarray, text: bool, labels: list | None = None,
           override: tuple[str, set[str]] | None = None, where: str = "") -> Column:
    """The column's type from its training values x (n,) (a text column: codes into `labels`), or as overridden."""
    n = len(x)
    values, counts = np.unique(x, return_counts=True)
    if override is None:
        if text or (len(values) <= AUTO_LEVELS and n >= 5 * len(values)):
            kind = "discrete"
        else:
            kind = "integer" if np.all(values == np.round(values)) else "continuous"
        flags = {"auto"}
    else:
        kind, flags = override
        if text and kind != "discrete":
            raise ConfigError(f"{where}column {name!r} holds text labels: it can only be discrete", "target.types")
        if kind == "integer" and not np.all(values == np.round(values)):
            bad = values[values != np.round(values)][0]
            raise ConfigError(f"{where}column {name!r} is not whole numbers (it holds {bad:g})", "target.types")
    if kind == "discrete" and max(len(values), len(labels or ())) > MAX_LEVELS:
        what = "text labels" if text else "values"
        count = len(labels) if text else len(values)
        raise ConfigError(f"{where}column {name!r} has {count} distinct {what}, more than {MAX_LEVELS} levels: "
                          "an identifier or free text? leave it out with --columns", "target.types" if override
                          else None)
    col = Column(name, kind, text=text, min=float(values[0]), max=float(values[-1]))
    cum = np.concatenate([[0.0], np.cumsum(counts)]) / n  # F at the values' edges
    if kind == "discrete":
        col.levels = values.tolist()
        col.labels = [labels[int(v)] for v in values] if text else []
        col.cum = cum.tolist()
        return col
    if "auto" in flags:
        atom = (counts >= max(ATOM_ROWS, ATOM_SHARE * n)) & (counts >= ATOM_OVER_MEDIAN * np.median(counts))
    else:
        atom = (counts >= max(ATOM_ROWS, ATOM_SHARE * n)) if "atoms" in flags else np.zeros(len(values), bool)
    col.atoms, col.rates = values[atom].tolist(), (counts[atom] / n).tolist()
    low, high = _edges(np.sort(x), counts, atom) if "auto" in flags else \
        ("low" in flags or "bounded" in flags, "high" in flags or "bounded" in flags)
    col.low, col.high = (col.min if low else None), (col.max if high else None)
    us, xs = [], []
    for i, v in enumerate(values):  # knots: an atom's at both ends of its interval, others' at the centre
        if atom[i]:
            us += [cum[i], cum[i + 1]]
            xs += [v, v]
        else:
            us.append(0.5 * (cum[i] + cum[i + 1]))
            xs.append(v)
    us, xs = _thin(np.array(us), np.array(xs, float), atom_values=col.atoms)
    col.knots_u, col.knots_x = us.tolist(), xs.tolist()
    k = max(1, min(MAX_TAIL_ROWS, n // 20))
    s = np.sort(x)
    col.tail_low = 0.0 if low else float(s[k] - s[0]) / k
    col.tail_high = 0.0 if high else float(s[-1] - s[-1 - k]) / k
    return col


def _edges(s: np.ndarray, counts: np.ndarray, atom: np.ndarray) -> tuple[bool, bool]:
    """Whether each end is bounded: a pile of rows on the extreme value, a minimum of exactly 0 in a column
    without negative values, or extreme gaps no wider than EDGE_RATIO times the next ones (a hard edge: the
    density does not fall away toward it, as it does in a tail)."""
    n = len(s)
    k = max(2, min(MAX_TAIL_ROWS, n // 20))

    def hard(t):  # t: the sorted values from this end inward, as distances from the extreme
        if n < 2 * k + 1:
            return True
        near, next_ = t[k] - t[0], t[2 * k] - t[k]
        return near <= EDGE_RATIO * next_

    low = counts[0] > 1 or bool(atom[0]) or s[0] == 0 or hard(s - s[0])
    high = counts[-1] > 1 or bool(atom[-1]) or hard((s[-1] - s)[::-1])
    return low, high


def _thin(us: np.ndarray, xs: np.ndarray, atom_values: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """At most MAX_KNOTS knots, evenly spaced in rank, plus every atom's two and both ends."""
    if len(us) <= MAX_KNOTS:
        return us, xs
    keep = np.zeros(len(us), bool)
    keep[np.round(np.linspace(0, len(us) - 1, MAX_KNOTS)).astype(int)] = True
    keep |= np.isin(xs, atom_values)
    return us[keep], xs[keep]


# --- the codec ---------------------------------------------------------------------------------------------------

def intervals(col: Column, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each value's interval [F(v-), F(v)] of the training rows' CDF. x (n,) -> lo (n,), hi (n,)"""
    values, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    cum = np.concatenate([[0.0], np.cumsum(counts)]) / len(x)
    return cum[inverse], cum[inverse + 1]


def scores_sampler(lo: np.ndarray, hi: np.ndarray):
    """The real minibatch in normal scores: n training rows drawn with replacement, each value spread uniformly over
    its CDF interval. lo, hi (rows, dim) -> sample(key, n) -> (n, dim)"""
    lo, width = jnp.asarray(lo, jnp.float32), jnp.asarray(hi - lo, jnp.float32)

    def sample(key, n):
        kr, ku = jax.random.split(key)
        idx = jax.random.randint(kr, (n,), 0, lo.shape[0])
        u = lo[idx] + width[idx] * jax.random.uniform(ku, (n, lo.shape[1]))
        return jax.scipy.special.ndtri(jnp.clip(u, 1e-6, 1 - 1e-6))

    return sample


def calibration_draws(rows: int) -> int:
    """G's draws that calibrate each column (target.calibrate): 16 per training row, a power of 2 from 2^15 to 2^20.
    Their own sampling error, a KS of about 0.87 / sqrt(draws) (1/4 of the rows' own at 16 per row), then adds
    little to what the rows leave unknown."""
    return int(2 ** np.clip(np.ceil(np.log2(16 * max(rows, 1))), 15, 20))


def decoder(cols: list[Column], shift: np.ndarray, scale: np.ndarray):
    """G's normal scores back to each column's type, in standard units ((value - shift) / scale).

    -> decode(z (n, dim), ref (C, dim) or None) -> (n, dim). With ref, G's draws from a fixed noise, each column
    is calibrated (calibration_draws): u is z's place among ref's values (G's own CDF) rather than Phi(z), so the column's marginal is
    the training rows' whatever G's is, and G is left to learn how the columns depend on each other."""
    parts = [_column_decoder(c, float(m), float(s)) for c, m, s in zip(cols, shift, scale)]

    def decode(z, ref=None):
        if ref is None:
            u, v = jax.scipy.special.ndtr(z), jax.scipy.special.ndtr(-z)  # u and 1 - u, each accurate in its tail
        else:
            grid = (jnp.arange(ref.shape[0]) + 0.5) / ref.shape[0]  # (C,) the plotting positions of ref's values
            # fast.sort: NumPy's on a CPU, a host callback (XLA's takes seconds for 2^17 x dim), so callers run
            # this on one device, never in a program split over several (metrics.Evaluator, tables.evaluate)
            u = jax.vmap(jnp.interp, in_axes=(1, 0, None), out_axes=1)(z, sort(ref.T), grid)
            v = 1.0 - u
        return jnp.stack([f(u[:, j], v[:, j]) for j, f in enumerate(parts)], 1)

    return decode


def _column_decoder(c: Column, shift: float, scale: float):
    std = lambda a: (np.asarray(a, np.float64) - shift) / scale  # noqa: E731
    if c.type == "discrete":
        edges = jnp.asarray(np.asarray(c.cum[1:-1]), jnp.float32)  # (L - 1,) inner edges
        levels = jnp.asarray(std(c.levels), jnp.float32)
        return lambda u, v: levels[jnp.searchsorted(edges, u, side="right")]
    ku, kx = np.asarray(c.knots_u), std(c.knots_x)
    ku_j, kx_j = jnp.asarray(ku, jnp.float32), jnp.asarray(kx, jnp.float32)
    t_lo, t_hi = c.tail_low / scale, c.tail_high / scale
    floor0 = std(0.0) if c.min >= 0 else -np.inf  # an open tail stops at 0 in a column without negative values
    lo_u, hi_v = float(ku[0]), float(1 - ku[-1])

    def decode(u, v):
        x = jnp.interp(u, ku_j, kx_j)
        x = jnp.where(u < lo_u, kx[0] - t_lo * jnp.log(lo_u / jnp.maximum(u, 1e-30)), x)
        x = jnp.where(v < hi_v, kx[-1] + t_hi * jnp.log(hi_v / jnp.maximum(v, 1e-30)), x)
        x = jnp.maximum(x, floor0)
        if c.type == "integer":
            x = (jnp.round(x * scale + shift) - shift) / scale
        return x

    return decode


def snapper(cols: list[Column], shift: np.ndarray, scale: np.ndarray):
    """The 'standard' encoding's decoder: G's standard units snapped to each column's type (the nearest level,
    rounding, clipping to a bounded end). -> decode(x (n, dim), ref: unused) -> (n, dim)"""
    parts = []
    for c, m, s in zip(cols, shift, scale):
        std = lambda a, m=m, s=s: jnp.asarray((np.asarray(a, np.float64) - m) / s, jnp.float32)  # noqa: E731
        if c.type == "discrete":
            levels = std(c.levels)
            parts.append(lambda x, levels=levels: levels[jnp.argmin(jnp.abs(x[:, None] - levels[None]), 1)])
            continue
        lo = std(c.low) if c.low is not None else -jnp.inf
        hi = std(c.high) if c.high is not None else jnp.inf
        rnd = (lambda x, m=m, s=s: (jnp.round(x * s + m) - m) / s) if c.type == "integer" else (lambda x: x)
        parts.append(lambda x, lo=lo, hi=hi, rnd=rnd: rnd(jnp.clip(x, lo, hi)))
    return lambda x, ref=None: jnp.stack([f(x[:, j]) for j, f in enumerate(parts)], 1)


def exact(cols: list[Column], x: np.ndarray) -> np.ndarray:
    """Samples in the data's units (n, dim) made exact for their types, in float64: levels (a text column's codes)
    and atoms exactly as in the data, integers whole, bounded ends never passed."""
    x = np.array(x, np.float64)
    for j, c in enumerate(cols):
        if c.type == "discrete":
            levels = np.asarray(c.levels, float)
            x[:, j] = levels[np.abs(x[:, j, None] - levels[None]).argmin(1)]
            continue
        for a in c.atoms:
            x[np.abs(x[:, j] - a) <= 1e-5 * max(abs(a), c.max - c.min), j] = a  # float32 rounding of an exact atom
        x[:, j] = np.clip(x[:, j], c.low if c.low is not None else -np.inf, c.high if c.high is not None else np.inf)
        if c.type == "integer":
            x[:, j] = np.round(x[:, j])
        x[:, j] += 0.0  # no negative zeros
    return x


def level_counts(col: Column, x: np.ndarray) -> tuple[np.ndarray, int]:
    """A discrete column's samples x (n,) in data units (codes for text) counted per level (L,), and how many are at
    no level at all."""
    levels = np.asarray(col.levels, float)
    hit = np.abs(x[:, None] - levels[None]) <= 1e-6 * max(1.0, float(np.abs(levels).max()))
    return hit.sum(0), int((~hit.any(1)).sum())
