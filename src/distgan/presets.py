"""Presets: named Config instances. `seed` is the post's system number for number; `default` is chosen by measurement."""

from __future__ import annotations

import numpy as np

from . import peaks
from .config import Config, ConfigError

AUTO = "auto"  # the command line's preset when none is named: one of the presets, chosen from the target (choose)
CHOOSE_DRAWS = 20_000


def seed() -> Config:
    """The seed's 'GAN in 50 lines': whole-batch D on values and squared deviations, BCE, Adam 2e-4, 30,000 steps."""
    return Config(preset="seed")  # the dataclass defaults are the seed's configuration


def default() -> Config:
    """distgan's default: per-sample D, leaky-ReLU G on 8-D normal noise and 8 learned codes, batch 256, R1, EMA of G.

    Chosen over many seeds, never one: on the seed's target (benchmarks/default.md), then on a suite of targets with
    several modes, hard edges, heavy tails and 2-D mixtures (benchmarks/suite.md); each has every screen, its
    figures and the command that reproduces it. Each line below says why its field differs from the seed's.
    """
    cfg = Config(preset="default")
    m, t = cfg.model, cfg.train
    m.d_input, m.d_hidden = "sample", 64  # a per-sample D: the seed's whole-batch D lets G run away or collapse
    m.g_act, m.g_hidden = "leaky_relu,leaky_relu", 64  # piecewise-linear kinks bend the noise into tails
    m.noise, m.noise_dim = "normal", 8  # unbounded noise for the tails; 8 dimensions: heavier tails than 1 or 4
    m.codes, m.code_weights = 8, "learned"  # discrete codes, each with its own place, width and learned weight:
    # a continuous map of connected noise cannot make separate modes on its own
    m.standardize = True  # G and D in the target's standard units: one learning rate and R1 weight fit any scale
    m.warp = "auto"  # edges and heavy tails mapped away (logit, softplus^-1, asinh): G keeps a support's edges
    t.batch_size = 256  # each D step sees more of the tails, and G's last steps are less noisy
    t.torch_bce, t.r1 = False, 1.0  # BCE on logits; R1 on real data (Mescheder et al. 2018) keeps D smooth
    t.d_lr, t.g_lr, t.beta1, t.beta2 = 5e-4, 5e-4, 0.5, 0.9
    t.schedule, t.steps = "linear", 6000  # the learning rate decays to 0: the end of training freezes G
    t.ema, t.ema_warmup = 0.999, True  # sample from a moving average of G: it removes G's step-to-step jitter
    return cfg


def mixture1d() -> Config:
    """1-D targets with several modes: the default with a 128-wide D, 4 codes started on the modes, batch 1,024.

    benchmarks/suite.md ("Several modes: D's width and the batch") has its figures on the suite's mixtures.
    """
    cfg = default()
    cfg.preset = "mixture1d"
    cfg.model.d_hidden = 128  # a D wide enough to resolve each narrow mode's shape
    cfg.model.code_init = "data"  # codes start at k-means centres of real draws, weighted by their shares
    cfg.model.codes = 4  # fewer codes than the default's 8: fewer of them share a mode, whose width they must agree on
    cfg.train.batch_size = 1024  # each D step sees every mode's shape in more detail (four times the default's batch)
    return cfg


def mixture2d(target=None) -> Config:
    """2-D mixtures (ring, grid): a code per component pulled to its component's law, per-sample D, 128-wide ReLU nets.

    Each code starts on a k-means cluster of real draws and is pulled towards the real samples nearest it by an
    energy distance (train.code_energy) beside D's loss: D sees where the mass is, the energy distance what each
    mode looks like at scales finer than D resolves. benchmarks/suite.md ("The ring and the grid") and
    benchmarks/modes2d.md have the figures. Fitted to a target: one code per component of its mixture, with equal
    probabilities where the components weigh the same, else learned ones; without a target, the ring's.
    """
    cfg = Config(preset="mixture2d")
    cfg.target.spec = "ring"
    m, t = cfg.model, cfg.train
    m.noise, m.noise_dim, m.d_input = "normal", 2, "sample"
    m.g_hidden, m.g_act = 128, "relu,relu,relu"
    m.d_hidden, m.d_act = 128, "leaky_relu,leaky_relu,leaky_relu"
    m.codes = _components(target)  # a code for each mode: separate modes, no bridges between them
    m.code_init, m.code_restarts = "data", 8  # on the modes from the start: the tightest of 8 k-means runs
    m.code_weights = "fixed" if _equal_weights(target) else "learned"  # components that weigh the same: exact
    t.code_energy = 1.0  # each code's shape, which a D that is smooth at the scale of the modes cannot see
    t.steps, t.batch_size, t.loss, t.torch_bce = 15000, 128, "nonsaturating", False
    t.d_lr = t.g_lr = 1e-3
    t.beta1, t.beta2 = 0.5, 0.99
    t.r1, t.ema, t.schedule = 0.1, 0.999, "cosine"
    cfg.eval.n_samples = 2500
    return cfg


def _components(target) -> int:
    """How many components a built-in mixture has (the codes mixture2d gives it); 8 (the ring's) for any other
    target or none."""
    return len(target.components[0]) if target is not None and target.components is not None else 8


def _equal_weights(target) -> bool:
    """Whether a built-in mixture's components weigh the same (the ring's and the grid's do; no target is the
    ring); False for a target that is no built-in mixture."""
    if target is None:
        return True
    if target.components is None:
        return False
    w = np.asarray(target.components[0], float)
    return bool(np.allclose(w, w[0]))


PRESETS = {"seed": seed, "default": default, "mixture1d": mixture1d, "mixture2d": mixture2d}


FITTED = ("mixture2d",)  # presets whose config depends on the target they train on (get's `target`)


def get(name: str, target=None) -> Config:
    """A fresh Config for a preset name, fitted to `target` (a Target) where the preset depends on it (FITTED), or a
    one-line error listing the presets."""
    if name == AUTO:
        raise ConfigError(f"preset {AUTO!r} is chosen from a target: presets.choose(target) names it", "preset")
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}, expected one of {', '.join(PRESETS)}", "preset")
    return PRESETS[name](target) if name in FITTED and target is not None else PRESETS[name]()


def choose(target) -> str:
    """The preset for a target when none is named ('auto'): mixture1d for a built-in 1-D target whose real sample
    has several modes (distgan.peaks), mixture2d for a built-in 2-D mixture of several components (the ring, the
    grid), else default. A data file's columns reach G as normal scores (the quantile encoding), one mode each, so a
    data file starts from the default."""
    if target.data is not None:
        return "default"
    if target.dim == 2 and target.components is not None and len(target.components[0]) > 1:
        return "mixture2d"
    if target.dim != 1:
        return "default"
    with np.errstate(all="ignore"):  # extreme parameters: draws past float's range are left out by peaks
        x = target.draws(CHOOSE_DRAWS)[:, 0]
    return "mixture1d" if peaks.count_modes(x) > 1 else "default"


def describe() -> list[tuple[str, str]]:
    return [(name, fn.__doc__.strip().splitlines()[0]) for name, fn in PRESETS.items()]
