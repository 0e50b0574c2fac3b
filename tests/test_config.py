"""Config: presets, a TOML file and --set override the same fields; bad values raise one line naming the field."""

import dataclasses

import pytest

from distgan import config, presets
from distgan.config import Config, ConfigError


def test_presets_are_fresh_configs_named_after_themselves():
    for name, _doc in presets.describe():
        cfg = presets.get(name)
        assert isinstance(cfg, Config) and cfg.preset == name
        assert config.validate(cfg) is cfg
    a, b = presets.get("seed"), presets.get("seed")
    a.train.steps = 1
    assert b.train.steps == 30000  # a preset is a new instance each time, not shared state


def test_unknown_preset_names_it_and_lists_the_presets():
    with pytest.raises(ConfigError) as e:
        presets.get("nope")
    msg = str(e.value)
    assert "'nope'" in msg and "seed" in msg and "\n" not in msg


def test_toml_and_set_override_the_same_fields(tmp_path):
    path = tmp_path / "my.toml"
    path.write_text('[train]\nsteps = 5000\ng_lr = 0.001\nloss = "hinge"\n[model]\nd_features = "moments"\n'
                    "detach_mean = false\n[eval]\nn_samples = 500\n")
    from_file = presets.get("seed")
    config.apply_toml(from_file, path)
    from_set = presets.get("seed")
    for item in ("train.steps=5000", "train.g_lr=1e-3", "train.loss=hinge", "model.d_features=moments",
                 "model.detach_mean=false", "eval.n_samples=500"):
        key, _, value = item.partition("=")
        config.set_field(from_set, key, value)  # --set values arrive as strings
    assert from_file == from_set
    assert (from_file.train.steps, from_file.train.g_lr, from_file.model.detach_mean) == (5000, 1e-3, False)
    assert from_file.train.d_lr == 2e-4  # fields the file does not name keep the preset's value
    config.validate(from_file)


@pytest.mark.parametrize("key, value, field, words", [
    ("train.d_lr", "-1e-3", "train.d_lr", "positive"),
    ("train.g_lr", "0", "train.g_lr", "positive"),
    ("train.steps", "0", "train.steps", "positive"),
    ("train.batch_size", "0", "train.batch_size", "positive"),
    ("train.beta1", "1.0", "train.beta1", "[0, 1)"),
    ("train.seed", "-1", "train.seed", ">= 0"),
    ("eval.n_samples", "-5", "eval.n_samples", "positive"),
    ("model.d_input", "both", "model.d_input", "sample, batch, pack"),
    ("model.g_act", "elu,swish", "model.g_act", "elu"),
    ("target.holdout", "1.5", "target.holdout", "[0, 1)"),
    ("train.ema_warmup_k", "1", "train.ema_warmup_k", "> 1"),
    ("train.code_energy", "1", "train.code_energy", "needs codes"),  # the seed's G has no codes
    ("train.code_energy", "-1", "train.code_energy", ">= 0"),
])
def test_out_of_range_values_fail_validation_naming_the_field(key, value, field, words):
    cfg = presets.get("seed")
    config.set_field(cfg, key, value)  # the type is right: the range check is validate's job
    with pytest.raises(ConfigError) as e:
        config.validate(cfg)
    msg = str(e.value)
    assert msg.startswith(field) and words in msg and "\n" not in msg


@pytest.mark.parametrize("key, value, words", [
    ("train.steps", "abc", "expected an integer"),
    ("train.steps", "1.5", "expected an integer"),
    ("train.steps", True, "expected an integer"),
    ("train.d_lr", "fast", "expected a number"),
    ("model.detach_mean", "maybe", "expected true or false"),
    ("target.spec", 3, "expected a string"),
    ("train.d_lr", "inf", "expected a finite number"),
    ("train.r1", "nan", "expected a finite number"),
])
def test_wrong_type_names_the_field(key, value, words):
    with pytest.raises(ConfigError) as e:
        config.set_field(presets.get("seed"), key, value)
    msg = str(e.value)
    assert msg.startswith(key) and words in msg and "\n" not in msg


@pytest.mark.parametrize("key", ["train.stepz", "training.steps", "steps", "model."])
def test_unknown_key_names_it(key):
    with pytest.raises(ConfigError) as e:
        config.set_field(presets.get("seed"), key, "1")
    msg = str(e.value)
    assert f"unknown config key {key!r}" in msg and "\n" not in msg


def test_toml_errors_name_the_file_or_key(tmp_path):
    bad_key = tmp_path / "k.toml"
    bad_key.write_text("[train]\nstepz = 3\n")
    bad_type = tmp_path / "t.toml"
    bad_type.write_text('[train]\nsteps = "many"\n')
    bad_section = tmp_path / "s.toml"
    bad_section.write_text("steps = 3\n")
    broken = tmp_path / "b.toml"
    broken.write_text("[train\n")
    cases = [(bad_key, "'train.stepz'"), (bad_type, "train.steps"), (bad_section, "'steps'"),
             (broken, str(broken)), (tmp_path / "missing.toml", "not found")]
    for path, words in cases:
        with pytest.raises(ConfigError) as e:
            config.apply_toml(presets.get("seed"), path)
        assert words in str(e.value) and "\n" not in str(e.value), path


def test_integers_accept_toml_floats_and_underscores_but_not_fractions():
    cfg = presets.get("seed")
    config.set_field(cfg, "train.steps", "30_000")
    assert cfg.train.steps == 30000
    config.set_field(cfg, "train.steps", 2e3)
    assert cfg.train.steps == 2000 and isinstance(cfg.train.steps, int)
    config.set_field(cfg, "train.d_lr", 1)  # an int where a float goes is fine
    assert cfg.train.d_lr == 1.0 and isinstance(cfg.train.d_lr, float)


def test_round_trip_dumps_loads():
    cfg = presets.get("seed")
    for item in ("train.steps=1234", "train.g_lr=3e-4", "model.d_features=moments", "model.detach_mean=false",
                 "target.spec=mixture:means=-2,3;stds=0.5,1", "eval.floor_draws=7"):
        key, _, value = item.partition("=")
        config.set_field(cfg, key, value)
    text = config.dumps(cfg)
    back = config.loads(text)
    assert back == cfg and config.dumps(back) == text
    assert dataclasses.asdict(back)["train"]["g_lr"] == 3e-4


def test_describe_documents_every_field():
    rows = config.describe()
    names = {name for name, _, _ in rows}
    for section in config.SECTIONS:
        for f in dataclasses.fields(getattr(Config(), section)):
            assert f"{section}.{f.name}" in names
    assert all(doc for _, _, doc in rows)
