"""Presets: named Config instances. `seed` is the post's system number for number; `default` is chosen by measurement."""

from __future__ import annotations

from .config import Config, ConfigError


def seed() -> Config:
    """The seed's 'GAN in 50 lines': whole-batch D on values and squared deviations, BCE, Adam 2e-4, 30,000 steps."""
    return Config(preset="seed")  # the dataclass defaults are the seed's configuration


def default() -> Config:
    """distgan's default: chosen over many seeds to reach the noise floor (see README, 'Choosing the default')."""
    cfg = Config(preset="default")
    return cfg


PRESETS = {"seed": seed, "default": default}


def get(name: str) -> Config:
    """A fresh Config for a preset name, or a one-line error listing the presets."""
    if name not in PRESETS:
        raise ConfigError(f"--preset {name!r}: unknown preset, expected one of {', '.join(PRESETS)}")
    return PRESETS[name]()


def describe() -> list[tuple[str, str]]:
    return [(name, fn.__doc__.strip().splitlines()[0]) for name, fn in PRESETS.items()]
