"""Presets: named Config instances. `seed` is the post's system number for number; `default` is chosen by measurement."""

from __future__ import annotations

from .config import Config, ConfigError


def seed() -> Config:
    """The seed's 'GAN in 50 lines': whole-batch D on values and squared deviations, BCE, Adam 2e-4, 30,000 steps."""
    return Config(preset="seed")  # the dataclass defaults are the seed's configuration


def default() -> Config:
    """distgan's default: per-sample D, leaky-ReLU G on 4-D uniform noise, R1, EMA of G, LR decayed to 0; 6,000 steps.

    Chosen by measurement over seeds on the seed's target N(4, 1.25) with uniform noise, each run evaluated on
    10,000 samples against a fresh real sample (see README, 'Choosing the default', for the table and commands).
    Over 64 seeds (`distgan bench fit`): KS fit ratio median 1.18, p90 1.63; W1 median 1.31, p90 1.69; 55 of 64
    within the noise floor's 95th percentile, none collapsed or diverged. The seed preset on the same 6,000 steps:
    KS median 14.7, W1 median 17.5, 0 of 64 within the floor, 4 collapsed. This is short of the issue's bar
    (median KS <= 1.1, W1 <= 1.2, p90 <= 1.5): the tails stay a little light (|excess kurtosis error| median 0.09).
    What differs from the seed, and why:

    - d_input 'sample' (a standard per-sample D) with d_hidden 64: the whole-batch D lets G run away or collapse.
    - g_act 'leaky_relu,leaky_relu', g_hidden 64: piecewise-linear kinks bend uniform noise into tails; the
      seed's sigmoid and ELU layers stay nearly linear in z (kurtosis stuck near the uniform's -1.2).
    - noise_dim 4 (still uniform noise): 1 and 2 dims left the tails too light at this budget.
    - standardize: G and D work in the target's standard units, so one learning rate and R1 weight fit any
      location and scale (without it G spends thousands of Adam steps just moving its output to mean 4).
    - loss nonsaturating with torch_bce off (plain softplus BCE), r1 1.0 (Mescheder et al. 2018).
    - d_lr = g_lr = 1e-3, beta1 0.5, beta2 0.9, schedule 'linear' (to 0): the end of training freezes G.
    - ema 0.999 with ema_warmup: sampling uses the moving average of G's weights, which removes most of G's
      step-to-step jitter; the warm-up keeps the initial weights out of the average on short runs.
    - steps 6000 at batch_size 100 (the seed's batch): the screens gained little from 10,000 steps.
    """
    cfg = Config(preset="default")
    m, t = cfg.model, cfg.train
    m.d_input, m.d_hidden = "sample", 64
    m.g_act, m.g_hidden = "leaky_relu,leaky_relu", 64
    m.noise_dim, m.standardize = 4, True
    t.steps, t.torch_bce, t.r1 = 6000, False, 1.0
    t.d_lr, t.g_lr, t.beta1, t.beta2, t.schedule = 1e-3, 1e-3, 0.5, 0.9, "linear"
    t.ema, t.ema_warmup = 0.999, True
    return cfg


PRESETS = {"seed": seed, "default": default}


def get(name: str) -> Config:
    """A fresh Config for a preset name, or a one-line error listing the presets."""
    if name not in PRESETS:
        raise ConfigError(f"--preset {name!r}: unknown preset, expected one of {', '.join(PRESETS)}")
    return PRESETS[name]()


def describe() -> list[tuple[str, str]]:
    return [(name, fn.__doc__.strip().splitlines()[0]) for name, fn in PRESETS.items()]
