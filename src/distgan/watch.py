"""What a person watches while a run trains, fed by the training loop: the animation's frames of G and D
(frames.Recorder), report.html (page.Page) and TensorBoard's event files (tensorboard.Board)."""

from __future__ import annotations

from pathlib import Path

from . import tensorboard
from .config import Config
from .frames import Recorder
from .gan import GAN
from .page import Page
from .runs import Writer
from .targets import Target


class Watch:
    """The run folder's views of training. compile() runs beside the engine's compile; start() after any resume,
    just before the first step; chunk() after each chunk's metrics row; finish() with the summary."""

    def __init__(self, cfg: Config, gan: GAN, target: Target, out: Path):
        self.cfg, self.target, self.out = cfg, target, out
        self.film = Recorder(cfg, gan, out)
        self.page: Page | None = None
        self.board: tensorboard.Board | None = None

    def __repr__(self):
        return f"Watch({self.film!r}, page={self.page is not None}, tensorboard={self.board is not None})"

    def compile(self, shapes: dict) -> None:
        self.film.compile(shapes)

    def start(self, states: dict, step: int, floor: dict, target_moments: dict) -> None:
        """Open the page and the event files; capture G and D as they are at `step` (a resumed run's frames file
        is cut back to its checkpoint's step first)."""
        if step:
            self.film.resume(step)
        if self.cfg.report.html:
            self.page = Page(self.out, self.cfg, self.target, floor, target_moments)
        if self.cfg.report.tensorboard:
            self.board = tensorboard.Board(self.out, self.cfg, floor, step)
        self.film.capture(states, step)

    def chunk(self, writer: Writer, states: dict, step: int, row: dict, evaluated: bool, save: bool) -> None:
        """After a chunk's row: its frame, the page at evaluations, the event files. Frames are written before the
        checkpoint, so that their file reaches the checkpoint's step."""
        with writer.resumable():
            self.film.capture(states, step, flush=evaluated or save)
            if evaluated and self.page is not None:
                self.page.write(step)
        if self.board is not None:
            self.board.add(row, self.film.latest(step))

    def finish(self, step: int, summary: dict) -> None:
        if self.board is not None:
            self.board.close(summary)
        if self.page is not None:
            self.page.write(step, summary)
