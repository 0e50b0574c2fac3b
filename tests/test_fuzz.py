"""Bad input at scale: generated configs, flag lists, target strings, data files and damaged run folders thrown at
the loaders and the CLI. Every rejection is one line `distgan: error: ...` with exit code 2, never a traceback and
never a partial run folder. Valid input is stopped where the engine would compile its programs, the first costly
step: every check before it has passed, and no compilation is left running behind the next case."""

import importlib
import importlib.util
import itertools
import shutil
import string
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import tomli_w
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import distgan
from distgan import cli, config, metrics, targets
from distgan import engine as engine_mod

COUNTS: dict[str, dict[str, int]] = {}
FAST = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
_ids = itertools.count()


REAL_FLOOR, REAL_RUN_CHUNK, REAL_COMPILE = metrics.noise_floor, engine_mod.run_chunk, engine_mod.Engine.compile


class Stop(Exception):
    """Raised where training would begin: the input was accepted."""


@pytest.fixture(scope="module", autouse=True)
def stop_before_training():
    mp = pytest.MonkeyPatch()
    stop = lambda *a, **k: (_ for _ in ()).throw(Stop())  # noqa: E731
    mp.setattr(metrics, "noise_floor", stop)
    mp.setattr(engine_mod, "run_chunk", type("Unrun", (), {"lower": stop, "__call__": stop})())  # compiled first
    # the engine compiles its initialiser and evaluator in a thread beside the chunk: stopped before it starts, so
    # that an accepted case leaves no compilation running behind the next one
    mp.setattr(engine_mod.Engine, "compile", stop)
    yield
    mp.undo()
    for name, c in COUNTS.items():
        print(f"\nfuzz {name}: {sum(c.values())} cases: {c}", file=sys.__stderr__)


@pytest.fixture(scope="module")
def root():
    with tempfile.TemporaryDirectory(prefix="distgan-fuzz-") as d:
        yield Path(d)


def check(name: str, argv: list[str], out: Path | None, capsys) -> None:
    """Run the CLI on argv: accepted (reaches training or exits 0), or refused with one line and exit 2."""
    count = COUNTS.setdefault(name, {"accepted": 0, "refused": 0})
    capsys.readouterr()
    try:
        code = cli.main(argv)
    except Stop:
        count["accepted"] += 1
        return
    err = capsys.readouterr().err
    if code == 0:
        count["accepted"] += 1
        return
    assert code == 2, (argv, code, err)
    assert err.startswith("distgan: error: ") and err.count("\n") == 1, (argv, err)
    assert "Traceback" not in err
    if out is not None:  # nothing written for a refused run
        assert not out.exists() or not any(out.iterdir()), (argv, list(out.iterdir()))
    count["refused"] += 1


# --- configs ----------------------------------------------------------------------------------------------------
FIELDS = [row[0] for row in config.describe()]
scalars = st.one_of(st.integers(-10**20, 10**20), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                    st.text(max_size=12), st.sampled_from(["uniform", "batch", "lsgan", "elu,relu", "1e3", "-1",
                                                           "gaussian", "", "nan", "inf", "0x10", "1_000"]),
                    st.lists(st.integers(-3, 3), max_size=3), st.dictionaries(st.text(max_size=4), st.integers(),
                                                                               max_size=2))
keys = st.one_of(st.sampled_from(FIELDS), st.text(string.ascii_lowercase + "._", min_size=1, max_size=15))


@st.composite
def toml_configs(draw):
    doc: dict = {}
    for key, value in draw(st.lists(st.tuples(keys, scalars), max_size=6)):
        section, _, field = key.partition(".")
        if field and draw(st.booleans()):
            doc.setdefault(section, {})
            if isinstance(doc[section], dict):
                doc[section][field] = value
        else:
            doc[key] = value
    if draw(st.booleans()):
        doc["preset"] = draw(st.one_of(st.sampled_from(["seed", "default"]), st.text(max_size=6)))
    return doc


@FAST
@given(doc=toml_configs(), raw=st.one_of(st.none(), st.binary(max_size=60), st.text(max_size=60)))
def test_fuzz_config_files(root, capsys, doc, raw):
    case = root / f"c{next(_ids)}"
    case.mkdir()
    path = case / "cfg.toml"
    if raw is None:
        try:
            path.write_text(tomli_w.dumps(doc))
        except (TypeError, ValueError):  # not expressible in TOML
            path.write_text(str(doc))
    else:
        path.write_bytes(raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass"))
    check("config files", ["train", "--config", str(path), "--out", str(case / "run"), "--quiet"], case / "run", capsys)


# --- CLI flag lists ---------------------------------------------------------------------------------------------
FLAG_WORDS = ["--preset", "--config", "--set", "--target", "--data", "--columns", "--steps", "--seed",
              "--replicates", "--out", "--device", "--quiet", "--no-plots", "--resume", "-n", "-o", "--output",
              "--replicate", "--at", "best", "last", "cpu", "seed", "default", "train.steps=5", "model.noise=normal",
              "train.d_lr=x", "gaussian", "ring:modes=3", "0", "-1", "1e9", "3", "x", "", "=", "--", "-"]
COMMANDS = ["train", "sample", "evaluate", "presets", "targets", "bogus", ""]


@FAST
@given(cmd=st.sampled_from(COMMANDS), words=st.lists(st.one_of(st.sampled_from(FLAG_WORDS), st.text(max_size=8)),
                                                      max_size=8))
def test_fuzz_flag_lists(root, capsys, cmd, words):
    case = root / f"f{next(_ids)}"
    case.mkdir()
    out = case / "run"
    argv = [cmd, *[str(out) if w == "--out" else w for w in words]]
    if cmd == "train" and "--out" not in words and "--resume" not in words:
        argv += ["--out", str(out)]
    if any(w in ("-h", "--help") for w in argv):
        return
    check("flag lists", argv, out, capsys)


# --- target strings ---------------------------------------------------------------------------------------------
NAMES = list(targets.TARGETS)
PARAMS = sorted({p for _, d, _, _ in targets.TARGETS.values() for p in d})
numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.integers(-10**12, 10**12).map(str),
                    st.sampled_from(["", "1e400", "-0", "nan", "inf", "1,2", "0.5,0.5", "1e-320", "3;", "a"]))


@st.composite
def target_specs(draw):
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=30))
    name = draw(st.one_of(st.sampled_from(NAMES), st.text(max_size=6)))
    parts = [f"{draw(st.sampled_from(PARAMS + ['x', '']))}{draw(st.sampled_from(['=', '', '==']))}{draw(numbers)}"
             for _ in range(draw(st.integers(0, 4)))]
    return name + (draw(st.sampled_from([":", "", "::"])) if parts else "") + draw(st.sampled_from([",", ";"])).join(parts)


@FAST
@given(spec=target_specs())
@example(spec="ring:modes=1e12")  # escapes found by hand: a 7 TiB allocation, a 10^14-mode grid
@example(spec="grid:side=1e7")
@example(spec="ring:modes=2.5")
def test_fuzz_target_strings(root, capsys, spec):
    count = COUNTS.setdefault("target strings (parse)", {"accepted": 0, "refused": 0})
    try:
        t = targets.parse(spec)
    except distgan.ConfigError as e:
        assert "\n" not in str(e)
        count["refused"] += 1
    else:
        assert t.dim >= 1
        count["accepted"] += 1
    case = root / f"t{next(_ids)}"
    case.mkdir()
    check("target strings (CLI)", ["train", "--target", spec, "--out", str(case / "run")], case / "run", capsys)


# --- data files -------------------------------------------------------------------------------------------------
HAVE_DATA = importlib.util.find_spec("distgan.data") is not None
cells = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.integers().map(str),
                  st.text(alphabet=string.printable, max_size=5), st.just(""))


@st.composite
def data_files(draw):
    suffix = draw(st.sampled_from([".csv", ".tsv", ".npy", ".parquet", ".txt", ""]))
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return suffix, draw(st.binary(max_size=200))
    if kind == 1 and suffix == ".npy":
        import io

        buf = io.BytesIO()
        shape = draw(st.lists(st.integers(0, 5), max_size=3))
        dtype = draw(st.sampled_from(["f4", "f8", "i4", "U3", "O", "c8", "bool"]))
        arr = np.zeros(shape, dtype=dtype)
        np.save(buf, arr, allow_pickle=dtype == "O")
        return suffix, buf.getvalue()
    sep = "\t" if suffix == ".tsv" else ","
    if kind == 3:  # mostly clean numbers, enough rows to be accepted now and then
        n, d = draw(st.integers(0, 120)), draw(st.integers(1, 3))
        x = draw(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=n * d, max_size=n * d))
        lines = [sep.join(f"c{j}" for j in range(d))] + [sep.join(repr(v) for v in x[i * d:(i + 1) * d])
                                                         for i in range(n)]
        return suffix, "\n".join(lines).encode()
    header = sep.join(draw(st.lists(st.text(alphabet=string.ascii_letters + " ,\"", max_size=4), min_size=1,
                                    max_size=3)))
    rows = [sep.join(draw(st.lists(cells, min_size=0, max_size=3))) for _ in range(draw(st.integers(0, 30)))]
    return suffix, "\n".join([header, *rows]).encode()


@pytest.mark.skipif(not HAVE_DATA, reason="distgan.data (data files) is not there yet")
@FAST
@given(f=data_files(), columns=st.one_of(st.none(), st.text(max_size=6)))
def test_fuzz_data_files(root, capsys, f, columns):
    suffix, data = f
    case = root / f"d{next(_ids)}"
    case.mkdir()
    path = case / f"data{suffix}"
    path.write_bytes(data)
    argv = ["train", "--data", str(path), "--out", str(case / "run"), "--set", "train.batch_size=8"] + (["--columns", columns] if columns else [])
    check("data files", argv, case / "run", capsys)


# --- damaged run folders ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def finished_run(root, stop_before_training):
    """A finished 50-step run with its checkpoints (trained for real: the floor and the step are put back for it)."""
    from runhelp import FLAGS

    cfg = cli.config_from_args(cli.build_parser().parse_args(["train", *FLAGS, "--steps", "50"]))
    mp = pytest.MonkeyPatch()
    mp.setattr(metrics, "noise_floor", REAL_FLOOR)
    mp.setattr(engine_mod, "run_chunk", REAL_RUN_CHUNK)
    mp.setattr(engine_mod.Engine, "compile", REAL_COMPILE)
    try:
        distgan.train(cfg, root / "finished", echo=None, plots=False)
    finally:
        mp.undo()
    return root / "finished"


@FAST
@given(where=st.sampled_from(["checkpoint.safetensors", "best.safetensors", "config.toml"]),
       cut=st.integers(0, 10**6), flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4))
def test_fuzz_damaged_run_folders(root, finished_run, where, cut, flips):
    case = root / f"r{next(_ids)}"
    shutil.copytree(finished_run, case)
    path = case / where
    data = bytearray(path.read_bytes())
    for pos, byte in flips:
        data[pos % len(data)] = byte
    path.write_bytes(bytes(data[:cut] if cut < len(data) else data))
    count = COUNTS.setdefault("damaged run folders", {"accepted": 0, "refused": 0})
    try:
        run = distgan.load(case, at="best" if where == "best.safetensors" else "last")
    except distgan.ConfigError as e:
        assert "\n" not in str(e)
        count["refused"] += 1
    else:
        assert run.replicates == 2
        count["accepted"] += 1
