"""The animation of training as a GIF, drawn with Pillow from the run folder's frames (no ffmpeg, no Matplotlib).

    distgan animate RUN -o train.gif

1-D: G's histogram over the target's density (or the held-out rows' histogram), with D's output drawn over the
same axis against its own scale on the right. 2-D and more: D's output as a heat map over dimensions 0 and 1 (green
where D says real, purple where it says fake, white where it cannot tell) with G's samples over it.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from . import frames
from .config import ConfigError
from .files import atomic_write
from .targets import Target

W, H = 640, 400  # pixels of a frame
LEFT, RIGHT, TOP, BOTTOM = 48, 44, 34, 36  # the plot area's margins
BLUE, BLACK, ORANGE, GREY = (37, 99, 235), (31, 41, 55), (234, 88, 12), (156, 163, 175)
FAKE, MIDDLE, REAL = np.array([118, 75, 162]), np.array([255, 255, 255]), np.array([22, 163, 74])
BINS = 48


def heat(t: np.ndarray) -> np.ndarray:
    """D's output scaled to [0, 1] -> RGB: purple (fake) through white (1/2) to green (real). (...,) -> (..., 3)"""
    t = np.clip(np.nan_to_num(t, nan=0.5), 0, 1)[..., None]
    low, high = FAKE + (MIDDLE - FAKE) * (2 * t), MIDDLE + (REAL - MIDDLE) * (2 * t - 1)
    return np.where(t < 0.5, low, high).astype(np.uint8)


class Canvas:
    """One frame's image and the map from data to pixels (x over [lo, hi], y over [ylo, yhi])."""

    def __init__(self, lo: float, hi: float, ylo: float, yhi: float):
        from PIL import Image, ImageDraw, ImageFont  # optional at import: only to draw a GIF

        self.image = Image.new("RGB", (W, H), "white")
        self.draw = ImageDraw.Draw(self.image)
        self.font = ImageFont.load_default(size=13)
        self.lo, self.hi, self.ylo, self.yhi = lo, hi, ylo, yhi

    def px(self, x, y):
        """Data coordinates -> pixel coordinates (arrays welcome)."""
        u = LEFT + (np.asarray(x, np.float64) - self.lo) / (self.hi - self.lo) * (W - LEFT - RIGHT)
        v = H - BOTTOM - (np.asarray(y, np.float64) - self.ylo) / (self.yhi - self.ylo) * (H - TOP - BOTTOM)
        return u, v

    def text(self, xy, words: str, fill=BLACK, anchor: str = "la") -> None:
        self.draw.text(xy, words, fill=fill, font=self.font, anchor=anchor)

    def frame_axes(self, xlabel: str) -> None:
        d = self.draw
        d.rectangle([LEFT, TOP, W - RIGHT, H - BOTTOM], outline=GREY)
        for v in ticks(self.lo, self.hi):
            u, _ = self.px(v, self.ylo)
            d.line([(u, H - BOTTOM), (u, H - BOTTOM + 4)], fill=GREY)
            self.text((u, H - BOTTOM + 6), f"{v:.4g}", GREY, "ma")
        self.text(((LEFT + W - RIGHT) / 2, H - 14), xlabel, BLACK, "ma")

    def legend(self, items: list[tuple[str, tuple, str]], x: float = LEFT + 100) -> None:
        """Swatches and words in a row along the top: (words, colour, 'box' or 'line' or 'dot')."""
        for words, colour, kind in items:
            if kind == "box":
                self.draw.rectangle([x, 11, x + 14, 21], fill=tuple(int(255 - (255 - c) * 0.35) for c in colour),
                                    outline=colour)
            elif kind == "dot":
                self.draw.ellipse([x + 3, 12, x + 11, 20], fill=colour)
            else:
                self.draw.line([(x, 16), (x + 14, 16)], fill=colour, width=3)
            self.text((x + 19, 9), words, BLACK)
            x += 32 + self.draw.textlength(words, font=self.font)


def ticks(lo: float, hi: float, n: int = 6) -> np.ndarray:
    """Round numbers across [lo, hi]: steps of 1, 2 or 5 times a power of ten, about n of them."""
    raw = (hi - lo) / n
    step = 10 ** np.floor(np.log10(raw))
    step *= next((m for m in (1, 2, 5, 10) if m * step >= raw), 10)
    return np.arange(np.ceil(lo / step) * step, hi + 1e-9 * step, step) + 0.0  # + 0.0: no "-0"


def one_d(f: dict, i: int, curve: tuple | None, name: str) -> Canvas:
    """Frame i of a 1-D run: G's histogram, the target's curve, D's output on the right-hand scale."""
    lo, hi = float(f["lo"][0]), float(f["hi"][0])
    edges = np.linspace(lo, hi, BINS + 1)
    x = f["x"][i, :, 0]
    heights = np.histogram(x, edges)[0] / (len(x) * (edges[1] - edges[0]))
    top = 1.35 * max(np.nanmax(curve[1]) if curve is not None else 0, np.max(f["last_heights"]), 1e-9)
    c = Canvas(lo, hi, 0.0, top)
    for a, b, hgt in zip(edges[:-1], edges[1:], np.minimum(heights, top)):
        if hgt > 0:
            (u0, v0), (u1, _) = c.px(a, hgt), c.px(b, 0)
            c.draw.rectangle([u0, v0, u1, H - BOTTOM], fill=(191, 208, 250), outline=BLUE)
    if curve is not None:
        u, v = c.px(*curve)
        c.draw.line(list(zip(u, v)), fill=BLACK, width=2)
    d = f["d"][i]
    u, _ = c.px(np.linspace(lo, hi, len(d)), 0)
    v = H - BOTTOM - (d - f["d_lo"]) / (f["d_hi"] - f["d_lo"]) * (H - TOP - BOTTOM)
    if f["meta"]["d_output"] == "probability":  # D = 1/2: it cannot tell
        half = H - BOTTOM - 0.5 * (H - TOP - BOTTOM)
        c.draw.line([(LEFT, half), (W - RIGHT, half)], fill=(250, 200, 170), width=1)
    c.draw.line(list(zip(u, v)), fill=ORANGE, width=3)
    c.frame_axes(name)
    for t in (0.0, 0.5, 1.0):
        c.text((W - RIGHT + 4, H - BOTTOM - t * (H - TOP - BOTTOM)),
               f"{f['d_lo'] + t * (f['d_hi'] - f['d_lo']):.2g}", ORANGE, "lm")
    below, above = int(np.sum(x < lo)), int(np.sum(x > hi))
    if below:
        c.text((LEFT + 4, H - BOTTOM - 16), f"<- {below} left", BLUE)
    if above:
        c.text((W - RIGHT - 4, H - BOTTOM - 16), f"{above} right ->", BLUE, "ra")
    c.text((LEFT, 9), f"step {int(f['step'][i])}", BLACK)
    c.legend([("G's samples", BLUE, "box"), ("target" if curve is None or curve[0].size > 2 * BINS else "held-out rows",
              BLACK, "line"), ("D(x)" if f["meta"]["d_input"] == "sample" else "D, x in a real batch", ORANGE, "line")])
    return c


def two_d(f: dict, i: int, real: np.ndarray | None, names: list[str]) -> Canvas:
    """Frame i of a run of dim >= 2: D's heat map over dims 0 and 1, the real sample in grey, G's samples in blue."""
    from PIL import Image  # optional at import: only to draw a GIF

    lo, hi = f["lo"], f["hi"]
    c = Canvas(float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))
    n = f["meta"]["grid"]
    rgb = heat((f["d"][i].reshape(n, n) - f["d_lo"]) / (f["d_hi"] - f["d_lo"]))[::-1]  # row 0 is the lowest y
    box = (W - LEFT - RIGHT, H - TOP - BOTTOM)
    c.image.paste(Image.fromarray(rgb, "RGB").resize(box, Image.Resampling.BILINEAR), (LEFT, TOP))
    if real is not None:
        for u, v in zip(*c.px(real[:300, 0], real[:300, 1])):
            c.draw.ellipse([u - 1, v - 1, u + 1, v + 1], fill=(120, 120, 120))
    x = f["x"][i]
    for u, v in zip(*c.px(np.clip(x[:, 0], lo[0], hi[0]), np.clip(x[:, 1], lo[1], hi[1]))):
        if np.isfinite(u) and np.isfinite(v):
            c.draw.ellipse([u - 2, v - 2, u + 2, v + 2], fill=BLUE, outline="white")
    c.frame_axes(names[0])
    c.text((LEFT, 9), f"step {int(f['step'][i])}", BLACK)
    c.legend([("G's samples", BLUE, "dot"), ("real", (120, 120, 120), "dot"), ("D says real", tuple(REAL), "box"),
              ("D says fake", tuple(FAKE), "box")])
    return c


def animate(folder: Path, out: Path, target: Target, real: np.ndarray | None, fps: float = 10.0) -> int:
    """Write the run's frames as a GIF to `out` (atomically); returns the number of frames."""
    from PIL import Image  # optional at import: only to draw a GIF

    f = frames.in_data_units(folder, target)
    if f is None:
        raise ConfigError(f"{folder}: no frames to animate (the run was trained with report.frames = 0)")
    names = list(target.columns) or ([f"x{d}" for d in range(target.dim)] if target.dim > 1 else ["x"])
    T = len(f["step"])
    if target.dim == 1:
        lo, hi = float(f["lo"][0]), float(f["hi"][0])
        edges = np.linspace(lo, hi, BINS + 1)
        last = f["x"][-1, :, 0]
        f["last_heights"] = np.histogram(last, edges)[0] / (len(last) * (edges[1] - edges[0]))
        grid = np.linspace(lo, hi, 300)
        density = None if target.columns else target.pdf(grid)
        curve = (grid, density) if density is not None else None
        if curve is None and real is not None:  # the held-out rows' histogram as a step curve
            heights = np.histogram(real[:, 0], edges, density=True)[0]
            curve = (np.repeat(edges, 2)[1:-1], np.repeat(heights, 2))
        images = [one_d(f, i, curve, names[0]).image for i in range(T)]
    else:
        images = [two_d(f, i, real, names).image for i in range(T)]
    images = [im.quantize(colors=128, method=Image.Quantize.MEDIANCUT) for im in images]
    durations = [int(1000 / fps)] * (T - 1) + [2000]  # hold the last frame
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)
    atomic_write(out, buf.getvalue())
    return T
