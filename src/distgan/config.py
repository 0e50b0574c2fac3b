"""Plain dataclass configs: one section per concern, presets are instances, TOML and --set override fields."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import math
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import tomli_w


class ConfigError(ValueError):
    """Bad input (a field, value, file or argument): one line that names it.

    field: the config field (`train.steps`) or argument (`replicate`) the error is about, when there is one; the
    message then starts with it, and the command line words it as the flag the user passed instead.
    """

    def __init__(self, message: str, field: str | None = None):
        super().__init__(f"{field}: {message}" if field else message)
        self.field, self.detail = field, message


@dataclass
class TargetConfig:
    spec: str = "gaussian:mean=4,std=1.25"
    """What to learn: a target spec such as 'gaussian:mean=4,std=1.25' (see `distgan targets`)."""
    data: str = ""
    """A data file (CSV, TSV, NPY, Parquet) to learn instead of `spec`."""
    columns: str = ""
    """Comma-separated columns of `data` to use (empty: every numeric column)."""
    holdout: float = 0.2
    """Fraction of the data file's rows held out as the fresh real sample for metrics."""
    types: str = ""
    """Column types instead of the detected ones: 'col=type,...', type continuous, integer or discrete, with +atoms, +low, +high or +bounded (e.g. 'age=discrete,spend=continuous+atoms+low')."""
    calibrate: bool = True
    """Quantile encoding: decode each column of G's output by its place among draws of G from a fixed noise (G's own CDF), so that its marginal is the training rows'."""
    encoding: str = "quantile"
    """How a data file's columns reach G and D: 'quantile' (normal scores of the training rows' CDF, levels and ties spread over their share) or 'standard' (mean 0, std 1; samples snapped to their type)."""


@dataclass
class ModelConfig:
    noise: str = "uniform"
    """G's input noise: 'uniform' on [0, 1) (the seed's) or 'normal'."""
    noise_dim: int = 1
    """Size of G's noise vector per sample."""
    g_hidden: int = 50
    """Width of G's hidden layers."""
    g_act: str = "elu,sigmoid"
    """G's hidden activations, one per hidden layer (elu, sigmoid, relu, leaky_relu, tanh)."""
    d_hidden: int = 50
    """Width of D's hidden layers."""
    d_act: str = "elu,elu"
    """D's hidden activations, one per hidden layer."""
    d_input: str = "batch"
    """What D judges: 'sample' (each sample), 'batch' (a whole minibatch, the seed's), 'pack' (m samples, PacGAN)."""
    d_features: str = "variances"
    """For d_input='batch': 'raw' values, 'variances' (values and squared deviations, the seed's), 'moments'."""
    pack: int = 2
    """Samples per D input for d_input='pack'."""
    detach_mean: bool = True
    """Stop the gradient through the batch mean of the 'variances' features (the seed does, via .data)."""
    standardize: bool = False
    """G and D work in the target's standard units: G's output is mean + std * net(z), D sees (x - mean) / std."""
    codes: int = 0
    """Discrete latent codes: G also takes a one-hot code c ~ Cat(code_weights) beside its noise (0: none)."""
    code_weights: str = "fixed"
    """The codes' probabilities: 'fixed' (equal) or 'learned' (a softmax over logits trained with G)."""
    code_scale: float = 1.0
    """Each code's initial output scale (its output is loc_c + scale_c * net(z, c), loc_c drawn from N(0, 1))."""
    code_init: str = "normal"
    """Where the codes start: 'normal' (places drawn from N(0, 1) in standard units, equal weights) or 'data' (the k-means centres of a real sample, weighted by their clusters' shares)."""
    code_restarts: int = 1
    """With code_init 'data': k-means runs from different seeds, of which the one whose clusters are tightest places the codes."""
    warp: str = "none"
    """'auto': G and D work on the target's values mapped per dimension (a bounded support's logit or softplus^-1, heavy tails' asinh; distgan.warp), G's samples mapped back; 'none': on the values themselves."""


@dataclass
class TrainConfig:
    steps: int = 30000
    """Training steps (the seed's epochs): d_steps D then g_steps G updates each; with auto_steps, the most."""
    auto_steps: bool = False
    """Stop when the held-out fit stops improving: constant rate, then a linear cooldown ('auto' steps: on, 40,000)."""
    auto_every: int = 1000
    """With auto_steps: steps between the held-out evaluations that decide when to stop (rounded up as eval_every)."""
    auto_draws: int = 4
    """With auto_steps: fresh evaluation draws averaged into each decision's score."""
    auto_margin: float = 2.0
    """With auto_steps: an improvement beats the best score by this many standard errors of the averaged score."""
    patience: int = 3000
    """With auto_steps: steps without an improvement after which the constant learning rate stops."""
    min_steps: int = 3000
    """With auto_steps: the constant learning rate runs at least this many steps."""
    auto_cooldown: float = 1.0
    """With auto_steps: the cooldown's length as a multiple of the steps run at the constant learning rate."""
    batch_size: int = 100
    """Samples per minibatch, real and fake."""
    loss: str = "nonsaturating"
    """Objective: minimax, nonsaturating (the seed's), wgan, hinge, lsgan."""
    torch_bce: bool = True
    """Compute BCE on sigmoid probabilities with logs clamped at -100, as PyTorch's BCELoss (the seed's)."""
    d_lr: float = 2e-4
    """D's Adam learning rate."""
    g_lr: float = 2e-4
    """G's Adam learning rate."""
    beta1: float = 0.9
    """Adam beta1 for both nets."""
    beta2: float = 0.999
    """Adam beta2 for both nets."""
    schedule: str = "constant"
    """Learning-rate schedule over training: constant, linear (to 0), cosine (to 0) or wsd (constant, then linear)."""
    cooldown: int = 1000
    """For schedule 'wsd': the last steps, over which the learning rate falls linearly to 0."""
    code_lr_scale: float = 1.0
    """G's code locations, log-scales and logits (model.codes) learn at this multiple of g_lr."""
    code_energy: float = 0.0
    """Weight of G's per-code energy distance (losses.code_energy_gap): each code's samples against the real samples nearest its place, a pull towards their law at any scale, beside D's; 0 turns it off. Needs model.codes."""
    d_steps: int = 1
    """D updates per step (the 'k' of Goodfellow et al. 2014)."""
    g_steps: int = 1
    """G updates per step."""
    r1: float = 0.0
    """R1 penalty weight gamma on real data (Mescheder et al. 2018); 0 turns it off."""
    gp: float = 0.0
    """Gradient penalty weight lambda on interpolates (Gulrajani et al. 2017); 0 turns it off."""
    ema: float = 0.0
    """Decay of the moving average of G's weights used for sampling; 0 samples the raw G."""
    ema_warmup: bool = False
    """Use decay min(ema, (1 + t) / (k + t)) at step t, so early weights fade fast (k 10: TF's num_updates rule)."""
    ema_warmup_k: float = 10.0
    """The warm-up's k (> 1): smaller k averages over more of training (about the last t / (k - 1) steps)."""
    seed: int = 0
    """Seed of the first replicate; replicate k uses seed + k."""
    replicates: int = 1
    """Independent GANs trained at once (seeds seed .. seed+replicates-1)."""
    log_every: int = 200
    """Steps between progress lines."""
    eval_every: int = 2000
    """Steps between fit evaluations (rounded up to a multiple of log_every)."""
    checkpoint_every: int = 0
    """Steps between checkpoints; 0 writes one at the end only."""


@dataclass
class EvalConfig:
    n_samples: int = 10000
    """Generated samples (and fresh real samples) per fit evaluation."""
    floor_draws: int = 100
    """Pairs of real samples drawn to estimate the noise floor."""


@dataclass
class ReportConfig:
    html: bool = True
    """Write report.html into the run folder: at each evaluation while training, and at the end."""
    frames: int = 100
    """About how many animation frames of G and D to capture over the run, at whole chunks; 0 captures none."""
    frame_replicate: int = 0
    """The replicate whose G and D the animation frames show."""
    tensorboard: bool = False
    """Also write TensorBoard event files into the run folder (needs tensorboardX: pip install 'distgan[tensorboard]')."""


@dataclass
class Config:
    preset: str = "default"
    """Name of the preset this config started from."""
    target: TargetConfig = field(default_factory=TargetConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    report: ReportConfig = field(default_factory=ReportConfig)


SECTIONS = ("target", "model", "train", "eval", "report")
CHOICES = {
    "target.encoding": ("quantile", "standard"),
    "model.noise": ("uniform", "normal"),
    "model.d_input": ("sample", "batch", "pack"),
    "model.d_features": ("raw", "variances", "moments"),
    "model.code_weights": ("fixed", "learned"),
    "model.warp": ("none", "auto"),
    "model.code_init": ("normal", "data"),
    "train.loss": ("minimax", "nonsaturating", "wgan", "hinge", "lsgan"),
    "train.schedule": ("constant", "linear", "cosine", "wsd"),
}
ACTIVATIONS = ("elu", "sigmoid", "relu", "leaky_relu", "tanh")
POSITIVE = ("model.noise_dim", "model.code_scale", "model.code_restarts", "model.g_hidden", "model.d_hidden",
            "model.pack", "train.steps", "train.batch_size", "train.d_lr", "train.g_lr", "train.code_lr_scale",
            "train.d_steps", "train.g_steps", "train.replicates", "train.log_every", "train.eval_every",
            "eval.n_samples", "eval.floor_draws", "train.auto_every", "train.auto_draws", "train.auto_cooldown")
NON_NEGATIVE = ("model.codes", "train.code_energy", "train.cooldown", "train.r1", "train.gp", "train.seed",
                "train.checkpoint_every", "train.auto_margin", "train.patience", "train.min_steps", "report.frames")
UNIT = ("train.beta1", "train.beta2", "train.ema")  # in [0, 1)
# `train.steps = "auto"` (TOML, --set, --steps auto): auto_steps on, with this budget (benchmarks/suite.md: the
# 25-mode grid needed 25,000 steps under mixture2d; the cooldown is about as long as the constant phase)
AUTO_STEPS = 40000
TYPES = ("continuous", "integer", "discrete")  # a data file's column types (distgan.columns)
TYPE_FLAGS = ("atoms", "low", "high", "bounded")  # bounded: low and high


def _coerce(name: str, value: Any, kind: type) -> Any:
    """Convert a TOML or CLI value to the field's type, or raise a one-line ConfigError."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"expected true or false, got {value!r}", name)
    if kind is int:
        if isinstance(value, bool):
            raise ConfigError(f"expected an integer, got {value!r}", name)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        try:
            return int(str(value).replace("_", ""))
        except ValueError:
            try:
                f = float(str(value))
            except ValueError:
                f = None
            if f is not None and f.is_integer() and abs(f) < 2**62:
                return int(f)
            raise ConfigError(f"expected an integer, got {value!r}", name) from None
    if kind is float:
        if isinstance(value, bool):
            raise ConfigError(f"expected a number, got {value!r}", name)
        try:
            f = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"expected a number, got {value!r}", name) from None
        if not math.isfinite(f):  # inf passed the range checks (inf > 0) and crashed training later
            raise ConfigError(f"expected a finite number, got {value!r}", name)
        return f
    if not isinstance(value, str):
        raise ConfigError(f"expected a string, got {value!r}", name)
    return value


def _field_types(section: Any) -> dict[str, type]:
    return {f.name: {"int": int, "float": float, "bool": bool, "str": str}[f.type] for f in fields(section)}


def set_field(cfg: Config, dotted: str, value: Any) -> None:
    """Set `section.field` from a string or TOML value, checking the name and the type."""
    section_name, _, name = dotted.partition(".")
    if section_name not in SECTIONS or not name:
        raise ConfigError(f"unknown config key {dotted!r}: expected section.field with section in {', '.join(SECTIONS)}")
    section = getattr(cfg, section_name)
    types = _field_types(section)
    if name not in types:
        raise ConfigError(f"unknown config key {dotted!r}: {section_name} has {', '.join(types)}")
    if dotted == "train.steps" and isinstance(value, str) and value.strip().lower() == "auto":
        section.auto_steps, section.steps = True, AUTO_STEPS
        return
    setattr(section, name, _coerce(dotted, value, types[name]))


def read_toml(path: Path, what: str) -> tuple[str, dict]:
    """A TOML file's text and contents; a one-line ConfigError naming the file (`what` it is) if it cannot be read
    or parsed."""
    try:
        text = path.read_text()
        return text, tomllib.loads(text)
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the {what} ({e.strerror})") from None


def apply_toml(cfg: Config, path: str | Path) -> None:
    """Override `cfg` with the fields of a TOML file."""
    path = Path(path)
    _, data = read_toml(path, "config file")
    for key, value in data.items():
        if key == "preset":
            continue  # the preset is chosen before the file is applied
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: unknown top-level key {key!r}: expected sections {', '.join(SECTIONS)}")
        for name, v in value.items():
            set_field(cfg, f"{key}.{name}", v)


def parse_types(spec: str) -> dict[str, tuple[str, set[str]]]:
    """target.types 'col=type+flag,...' -> {col: (type, flags)}; a ConfigError naming target.types if malformed."""
    out = {}
    for item in (s.strip() for s in spec.split(",") if s.strip()):
        name, eq, value = item.rpartition("=")
        words = [w.strip() for w in value.split("+")]
        if not eq or not name.strip() or words[0] not in TYPES or any(w not in TYPE_FLAGS for w in words[1:]):
            raise ConfigError(f"expected 'column=type' items with type {', '.join(TYPES)} and optional "
                              f"+{', +'.join(TYPE_FLAGS)}, got {item!r}", "target.types")
        if name.strip() in out:
            raise ConfigError(f"column {name.strip()!r} is given twice", "target.types")
        out[name.strip()] = (words[0], set(words[1:]))
    return out


def validate(cfg: Config) -> Config:
    """Check every value's range and choice; raise ConfigError naming the first bad field."""
    for dotted, options in CHOICES.items():
        value = get_field(cfg, dotted)
        if value not in options:
            raise ConfigError(f"expected one of {', '.join(options)}, got {value!r}", dotted)
    for dotted in POSITIVE:
        if not get_field(cfg, dotted) > 0:
            raise ConfigError(f"expected a positive value, got {get_field(cfg, dotted)!r}", dotted)
    for dotted in NON_NEGATIVE:
        if not get_field(cfg, dotted) >= 0:
            raise ConfigError(f"expected a value >= 0, got {get_field(cfg, dotted)!r}", dotted)
    for dotted in UNIT:
        if not 0 <= get_field(cfg, dotted) < 1:
            raise ConfigError(f"expected a value in [0, 1), got {get_field(cfg, dotted)!r}", dotted)
    if not 0 <= cfg.target.holdout < 1:
        raise ConfigError(f"expected a value in [0, 1), got {cfg.target.holdout!r}", "target.holdout")
    if not cfg.train.ema_warmup_k > 1:
        raise ConfigError(f"expected a value > 1, got {cfg.train.ema_warmup_k!r}", "train.ema_warmup_k")
    for dotted in ("model.g_act", "model.d_act"):
        acts = [a.strip() for a in get_field(cfg, dotted).split(",")]
        bad = [a for a in acts if a not in ACTIVATIONS]
        if not acts or bad:
            raise ConfigError(f"expected a comma-separated list of {', '.join(ACTIVATIONS)}, got {get_field(cfg, dotted)!r}", dotted)
    parse_types(cfg.target.types)
    m = cfg.model
    if m.d_input == "pack" and cfg.train.batch_size % m.pack:
        raise ConfigError(f"batch_size {cfg.train.batch_size} is not a multiple of pack {m.pack}", "model.pack")
    if cfg.train.code_energy > 0 and not m.codes:
        raise ConfigError("the per-code energy distance needs codes (model.codes > 0)", "train.code_energy")
    if cfg.train.batch_size < 2 and m.d_input == "batch" and m.d_features != "raw":
        raise ConfigError("the batch features need at least 2 samples", "train.batch_size")
    if not 0 <= cfg.report.frame_replicate < cfg.train.replicates:
        raise ConfigError(f"expected a replicate 0..{cfg.train.replicates - 1}, got {cfg.report.frame_replicate!r}",
                          "report.frame_replicate")
    if cfg.train.steps > 10**9:
        raise ConfigError(f"expected at most 1e9, got {cfg.train.steps}", "train.steps")
    return cfg


def get_field(cfg: Config, dotted: str) -> Any:
    section, _, name = dotted.partition(".")
    return getattr(getattr(cfg, section), name)


def to_dict(cfg: Config) -> dict:
    return dataclasses.asdict(cfg)


def from_dict(data: dict) -> Config:
    """Rebuild a Config from `to_dict` output (a run folder's config.toml)."""
    cfg = Config(preset=str(data.get("preset", "default")))
    for section in SECTIONS:
        for name, v in data.get(section, {}).items():
            set_field(cfg, f"{section}.{name}", v)
    return cfg


def dumps(cfg: Config) -> str:
    return tomli_w.dumps(to_dict(cfg))


def loads(text: str) -> Config:
    return from_dict(tomllib.loads(text))


def describe() -> list[tuple[str, Any, str]]:
    """(section.field, default, doc) for every field, read from the dataclass docstrings."""
    rows = []
    for section, cls in zip(SECTIONS, (TargetConfig, ModelConfig, TrainConfig, EvalConfig, ReportConfig)):
        tree = ast.parse(inspect.getsource(cls))
        body = tree.body[0].body
        docs = {}
        for a, b in zip(body, body[1:]):
            if isinstance(a, ast.AnnAssign) and isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant):
                docs[a.target.id] = b.value.value
        default = cls()
        rows += [(f"{section}.{f.name}", getattr(default, f.name), docs.get(f.name, "")) for f in fields(cls)]
    return rows
