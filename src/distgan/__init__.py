"""distgan: learn low-dimensional distributions with GANs, from the seed's "GAN in 50 lines" to many seeds at once.

    import distgan
    cfg = distgan.preset("seed"); cfg.train.steps = 5000
    run = distgan.train(cfg, out="runs/demo")
    x = run.sample(10_000)          # (10000, 1) numpy array
    run.summary["table"]            # fit over replicates
    run = distgan.load("runs/demo") # read a finished run back
"""

import os

# XLA's C++ log level is read once, when JAX loads: keep it to errors unless the user chose one. Otherwise every
# compile of a run split over CPU devices prints GSPMD's deprecation notice (distgan.devices).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from .config import Config, ConfigError, EvalConfig, ModelConfig, TargetConfig, TrainConfig
from .presets import get as preset
from .runs import Run, load
from .train import train

__all__ = ["Config", "ConfigError", "EvalConfig", "ModelConfig", "Run", "TargetConfig", "TrainConfig", "load",
           "preset", "train"]
