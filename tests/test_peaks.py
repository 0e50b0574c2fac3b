"""Counting a 1-D sample's modes (distgan.peaks) against the same count on the exact density, and the preset that
`train` starts from when none is named (presets.choose)."""

import numpy as np
import pytest

from distgan import peaks, presets
from distgan.bench import SUITE
from distgan.config import ConfigError
from distgan.targets import parse

SPECS = [*(SUITE[k] for k in ("gauss", "mix2", "mix3", "uniform", "beta", "expon", "lognorm", "t3")),
         "mixture:weights=0.9,0.1;means=0,4;stds=1,0.5",  # a small mode beside a large one
         "mixture:weights=0.5,0.5;means=-1,1;stds=0.7,0.7",  # two bumps too close for a dip: one mode
         "laplace", "gamma:shape=2", "beta:a=2,b=5", "student_t:df=1"]


def exact_modes(target) -> int:
    """peaks.modes_of on the exact density, on the grid the sample's histogram uses (its central 99.8 %)."""
    lo, hi = np.quantile(target.draws(1_000_000, seed=99)[:, 0], [0.001, 0.999])
    return peaks.modes_of(target.pdf(np.linspace(lo, hi, peaks.BINS)))


@pytest.mark.parametrize("spec", SPECS)
def test_a_sample_has_the_modes_of_its_exact_density(spec):
    target = parse(spec)
    expected = exact_modes(target)
    assert [peaks.count_modes(target.draws(presets.CHOOSE_DRAWS, seed=s)[:, 0]) for s in range(5)] == [expected] * 5


def test_modes_of_counts_tops_that_stand_apart():
    x = np.linspace(-6, 6, 601)
    bump = lambda m, s, w=1.0: w * np.exp(-0.5 * ((x - m) / s) ** 2)  # noqa: E731
    assert peaks.modes_of(bump(0, 1)) == 1
    assert peaks.modes_of(bump(-3, 0.5) + bump(3, 0.5)) == 2
    assert peaks.modes_of(bump(-3, 0.5) + bump(0, 0.5) + bump(3, 0.5, 0.2)) == 3
    assert peaks.modes_of(bump(-3, 0.5) + bump(3, 0.5, 0.01)) == 1  # below HEIGHT of the highest: a tail's bump
    assert peaks.modes_of(bump(-0.6, 1) + bump(0.6, 1)) == 1  # no dip to half of either top
    assert peaks.modes_of(np.ones(50)) == peaks.modes_of(np.exp(-x)) == 1  # flat; a peak at the grid's edge


def test_the_preset_chosen_for_each_target():
    chosen = {name: presets.choose(parse(spec)) for name, spec in SUITE.items()}
    several = {"mix2", "mix3", "beta"}  # beta(0.5, 0.5): a U, its two modes at the edges
    assert chosen == {name: "mixture1d" if name in several else "mixture2d" if name in ("ring", "grid") else "default"
                      for name in SUITE}
    assert presets.choose(parse("moons")) == presets.choose(parse("spiral")) == "default"  # 2-D, no components


@pytest.mark.parametrize("argv, preset, batch, codes", [
    (["--target", SUITE["mix3"]], "mixture1d", 1024, 4),  # no preset named: chosen from the target
    (["--target", SUITE["mix3"], "--preset", "auto", "--set", "train.batch_size=512"], "mixture1d", 512, 4),
    (["--target", SUITE["mix3"], "--preset", "default"], "default", 256, 8),  # a preset named is kept
    (["--target", SUITE["t3"]], "default", 256, 8),
    (["--target", "grid"], "mixture2d", 128, 25),  # mixture2d: a code per component of the target
    (["--target", "ring:modes=5", "--preset", "mixture2d"], "mixture2d", 128, 5),
    (["--target", "grid", "--set", "model.codes=30"], "mixture2d", 128, 30),  # --set applies on the fitted preset
    ([], "default", 256, 8),  # the default's own target, the seed's Gaussian
])
def test_train_starts_from_the_preset_chosen_for_its_target_and_applies_the_flags_on_it(argv, preset, batch, codes):
    from distgan import cli
    cfg = cli.config_from_args(cli.build_parser().parse_args(["train", *argv]))
    assert (cfg.preset, cfg.train.batch_size, cfg.model.codes) == (preset, batch, codes)


def test_bench_fits_mixture2d_to_each_target():
    from distgan import cli
    args = cli.build_parser().parse_args(["bench", "suite"])
    assert cli._bench_config("auto", args, "grid", None).model.codes == 25
    assert cli._bench_config("mixture2d", args, None, None).model.codes == 8  # the preset's own target, the ring


def test_a_config_file_s_preset_is_kept(tmp_path):
    from distgan import cli
    (tmp_path / "c.toml").write_text('preset = "default"\n[target]\nspec = "mixture:means=-3,3;stds=0.3,0.3"\n')
    cfg = cli.config_from_args(cli.build_parser().parse_args(["train", "--config", str(tmp_path / "c.toml")]))
    assert cfg.preset == "default" and cfg.target.spec.startswith("mixture")


def test_auto_is_no_config_of_its_own():
    with pytest.raises(ConfigError, match=r"presets.choose\(target\)"):
        presets.get("auto")
