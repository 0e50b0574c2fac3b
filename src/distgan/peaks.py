"""How many modes a 1-D sample has: the peaks of its smoothed histogram that stand apart from each other.

A peak counts when the density falls to at most DIP of its height on the way to every higher peak (the valley
between two modes), and its height is at least HEIGHT of the highest peak (a bump in a sparse tail is not a mode).
The histogram is smoothed by a Gaussian kernel of Silverman's bandwidth, which is wide enough to flatten sampling
noise in a sample of thousands and narrow enough to keep modes a few standard deviations of their own apart.
"""

from __future__ import annotations

import numpy as np

BINS = 512
DIP = 0.5
HEIGHT = 0.05


def smoothed_density(x: np.ndarray, bins: int = BINS) -> np.ndarray:
    """The histogram of x over its central 99.8 % (in `bins` equal bins), smoothed by a Gaussian kernel of
    Silverman's rule-of-thumb bandwidth. -> (bins,), in counts per bin"""
    x = np.asarray(x, np.float64)
    x = x[np.isfinite(x)]
    if x.size < 2:
        return np.ones(1)
    lo, hi = np.quantile(x, [0.001, 0.999])
    if not (hi > lo and np.isfinite(hi - lo)):  # (nearly) one value, or a range past float's
        return np.ones(1)
    counts, edges = np.histogram(x, bins, (lo, hi))
    q1, q3 = np.quantile(x, [0.25, 0.75])
    spread = min(x.std(), (q3 - q1) / 1.349) or x.std()
    h = 0.9 * spread * len(x) ** -0.2 / (edges[1] - edges[0])  # the bandwidth, in bins
    t = np.arange(-int(4 * h) - 1, int(4 * h) + 2)
    kernel = np.exp(-0.5 * (t / max(h, 1e-9)) ** 2)
    return np.convolve(counts, kernel / kernel.sum(), mode="same")


def count_modes(x: np.ndarray, dip: float = DIP, height: float = HEIGHT) -> int:
    """The number of modes of a 1-D sample (see the module's docstring)."""
    with np.errstate(all="ignore"):  # a sample of extreme values: its histogram is what it is
        return modes_of(smoothed_density(x), dip, height)


def modes_of(d: np.ndarray, dip: float = DIP, height: float = HEIGHT) -> int:
    """The number of modes of a density on an even grid (at least 1: a flat density has one)."""
    d = np.asarray(d, np.float64)
    if len(d) < 3:
        return 1
    up, down = np.diff(d) > 0, np.diff(d) < 0
    # the tops: strictly above the left neighbour and not below the right one, or a rising edge
    tops = np.flatnonzero(np.concatenate([[down[0]], up[:-1] & ~down[1:], [up[-1]]]))
    modes = 0
    for i in tops:
        if d[i] < height * d.max():
            continue
        higher = tops[d[tops] > d[i]]
        # the lowest density between this top and the nearest higher top on each side that has one
        sides = higher[higher < i][-1:].tolist() + higher[higher > i][:1].tolist()
        if all(d[min(i, j):max(i, j) + 1].min() <= dip * d[i] for j in sides):
            modes += 1
    return max(modes, 1)
