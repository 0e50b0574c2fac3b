"""TensorBoard event files in the run folder (`--tensorboard`, report.tensorboard), written with tensorboardX.

    tensorboard --logdir runs/          # every run folder is a run in TensorBoard

Scalars at every chunk: the losses (loss/d_real, loss/d_fake, loss/g); at every evaluation: the fit ratios
(fit/ks_ratio, fit/w1_ratio: the worst dimension's statistic over its noise floor's median), the share of
replicates within the floor (fit/within_floor) and the evaluation sample's mean and std (eval/mean, eval/std, per
dimension). One replicate: its values; K replicates: their median and 10th and 90th percentiles (tags ending
/median, /p10, /p90). Histograms of the animation's G samples (G/samples) whenever a frame is taken, and at the
end the config as hparams beside the final fit ratios. tensorboardX needs neither TensorFlow nor PyTorch; it is an
optional extra: pip install 'distgan[tensorboard]'.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import metrics
from .config import Config, ConfigError, to_dict

INSTALL = "pip install 'distgan[tensorboard]'"
LOSSES = ("d_real", "d_fake", "g")


def require(cfg: Config) -> None:
    """A one-line ConfigError saying how to install tensorboardX, if the config asks for TensorBoard files and it is
    missing."""
    if not cfg.report.tensorboard:
        return
    try:
        import tensorboardX  # noqa: F401  (optional: only for --tensorboard)
    except ImportError:
        raise ConfigError(f"writing TensorBoard files needs tensorboardX: {INSTALL}", "report.tensorboard") from None


def spread(values: np.ndarray) -> dict[str, float]:
    """One replicate's value as it is; K replicates' median and 10th and 90th percentiles. values (K,) -> tag: value"""
    values = np.asarray(values, np.float64)
    if values.size == 1:
        return {"": float(values[0])}
    lo, med, hi = np.percentile(values, [10, 50, 90])
    return {"/median": float(med), "/p10": float(lo), "/p90": float(hi)}


class Board:
    """A tensorboardX writer for one run folder; resumed at `step`, events past it (from the stopped run) are
    dropped by TensorBoard (purge_step)."""

    def __init__(self, folder: Path, cfg: Config, floor: dict, step: int = 0):
        from tensorboardX import SummaryWriter  # optional: only for --tensorboard

        self.cfg, self.floor = cfg, floor
        self.writer = SummaryWriter(str(folder), purge_step=step + 1 if step else None, flush_secs=30)
        if not step:
            self.writer.add_text("config", "\n".join(f"    {line}" for line in
                                                     _flat_toml(cfg).splitlines()), 0)

    def __repr__(self):
        return f"Board({self.writer.logdir!r})"

    def _scalars(self, name: str, values, step: int) -> None:
        for suffix, v in spread(values).items():
            self.writer.add_scalar(name + suffix, v, step)

    def add(self, row: dict, samples: np.ndarray | None = None) -> None:
        """A metrics row (metrics.jsonl's) and, when a frame was taken, its G samples (n, dim) in G's units."""
        step = row["step"]
        for name in LOSSES:
            self._scalars(f"loss/{name}", row[name], step)
        if "fit" in row:
            fit = {k: np.asarray(v) for k, v in row["fit"].items()}
            for s, r in metrics.ratios(fit, self.floor).items():  # (K, dim) or (K,): the worst dimension's
                self._scalars(f"fit/{s}_ratio", r.reshape(len(r), -1).max(1), step)
            self.writer.add_scalar("fit/within_floor", float(np.mean(row["within_floor"])), step)
            for d in range(fit["mean"].shape[1]):
                tag = f"/dim{d}" if fit["mean"].shape[1] > 1 else ""
                self._scalars(f"eval/mean{tag}", fit["mean"][:, d], step)
                self._scalars(f"eval/std{tag}", fit["std"][:, d], step)
        if samples is not None:
            for d in range(samples.shape[1]):
                tag, x = f"/dim{d}" if samples.shape[1] > 1 else "", samples[:, d]
                if np.isfinite(x).any():  # a diverged G's overflowed samples are left out
                    self.writer.add_histogram(f"G/samples{tag}", x[np.isfinite(x)], step)
        self.writer.flush()

    def close(self, summary: dict) -> None:
        """The config as hparams beside the final fit ratios (median over replicates), then close the files."""
        from tensorboardX.summary import hparams  # optional: only for --tensorboard

        t = summary["table"]
        metric = {"hparam/ks_ratio": t["ks_ratio"]["median"], "hparam/w1_ratio": t["w1_ratio"]["median"],
                  "hparam/within_floor": t["within_floor"] / t["replicates"]}
        for summ in hparams(hparams_of(self.cfg), metric):
            self.writer.file_writer.add_summary(summ)
        for k, v in metric.items():
            self.writer.add_scalar(k, v, 0)
        self.writer.close()


def hparams_of(cfg: Config) -> dict[str, bool | str | float | int]:
    """Every config field as 'section.field': value (TensorBoard's hparams take scalars and strings)."""
    d = to_dict(cfg)
    out = {"preset": d.pop("preset")}
    for section, fields in d.items():
        out.update({f"{section}.{k}": v for k, v in fields.items()})
    return out


def _flat_toml(cfg: Config) -> str:
    return "\n".join(f"{k} = {v!r}" for k, v in hparams_of(cfg).items())
