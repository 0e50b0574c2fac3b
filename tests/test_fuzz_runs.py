"""`sample` and `evaluate` fuzzed as test_fuzz.py fuzzes `train`: generated argument lists, and run folders with files
missing, cut short or of the wrong type. Each input is accepted or refused with one line `distgan: error: ...` and
exit 2: never a traceback, never a half-written file. Accepted input runs for real up to its costly part: a sample of
more than BIG rows stops after its first chunk, and evaluate once it has read and checked every file, where its
noise floor would be computed."""

import itertools
import json
import shutil
import string
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from distgan import cli, runs
from runhelp import reference

COUNTS: dict[str, dict[str, int]] = {}
FAST = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
BIG = 5000
_ids = itertools.count()


class Stop(Exception):
    """A sample of more than BIG rows passed every check and wrote its first chunk: it would stream on from here."""


@pytest.fixture(scope="module")
def run_dir(request, tmp_path_factory):
    return reference(request, tmp_path_factory)


@pytest.fixture(scope="module")
def root():
    with tempfile.TemporaryDirectory(prefix="distgan-fuzz-runs-") as d:
        yield Path(d)


@pytest.fixture(scope="module", autouse=True)
def cheap():
    """evaluate stops at its noise floor, after reading every file; a sample of more than BIG rows after its first
    chunk."""
    real_chunks = runs.Run.chunks

    def chunks(self, n, *a, **k):
        it = real_chunks(self, n, *a, **k)
        yield next(it)
        if n > BIG:
            raise Stop()
        yield from it

    mp = pytest.MonkeyPatch()
    mp.setattr(cli, "noise_floor", lambda *a, **k: (_ for _ in ()).throw(Stop()))
    mp.setattr(runs.Run, "chunks", chunks)
    yield
    mp.undo()
    for name, c in COUNTS.items():
        print(f"\nfuzz {name}: {sum(c.values())} cases: {c}", file=sys.__stderr__)


def check(name: str, argv: list[str], case: Path, capsys) -> None:
    """Run the CLI on argv: accepted (exit 0, or Stop), or refused with one line and exit 2; no temporary file left in
    the case's folder, and an output written whole or not at all."""
    count = COUNTS.setdefault(name, {"accepted": 0, "refused": 0})
    capsys.readouterr()
    try:
        code = cli.main(argv)
    except Stop:
        code = None
    err = capsys.readouterr().err
    assert not [p for p in case.rglob("*.tmp")], argv
    if code in (0, None):
        count["accepted"] += 1
        if code == 0 and argv[0] == "sample":  # the file is whole: every row there
            args = cli.build_parser().parse_args(argv)
            if args.output.endswith(".npy"):
                assert np.load(args.output).shape == (args.n, 1)
        return
    assert code == 2, (argv, code, err)
    assert err.startswith("distgan: error: ") and err.count("\n") == 1, (argv, err)
    assert "Traceback" not in err
    count["refused"] += 1


# --- argument lists -----------------------------------------------------------------------------------------------
WORDS = ["-n", "-o", "--output", "--seed", "--replicate", "--at", "best", "last", "middle", "0", "1", "-1", "2", "7",
         "1e3", "5000", "5001", "70000", "4294967295", "4294967296", "100000000000000", "1" + "0" * 30, "x", "", "--",
         "-", "-h"]
OUTPUTS = ["x.csv", "x.tsv", "x.npy", "x.parquet", "x.txt", "x", "nodir/x.csv", "", "x.CSV", "sub"]


@FAST
@given(cmd=st.sampled_from(["sample", "evaluate"]), which=st.sampled_from(["run", "missing", "file", "empty", ""]),
       words=st.lists(st.one_of(st.sampled_from(WORDS), st.sampled_from(OUTPUTS).map(lambda o: "@" + o),
                                st.text(max_size=6)), max_size=8))
@example(cmd="sample", which="run", words=["--seed", "1" + "0" * 30])  # found by hand: an OverflowError in PRNGKey
def test_fuzz_sample_and_evaluate_arguments(root, run_dir, capsys, cmd, which, words):
    case = root / f"a{next(_ids)}"
    (case / "sub").mkdir(parents=True)
    (case / "empty").mkdir()
    (case / "file").write_text("not a run\n")
    run = {"run": str(run_dir), "": ""}.get(which, str(case / which))
    argv = [cmd, run, *[str(case / w[1:]) if w.startswith("@") else w for w in words]]
    if cmd == "sample" and not {"-o", "--output"} & set(words):
        argv += ["-o", str(case / "out.npy")]
    if any(w in ("-h", "--help") for w in argv):
        return
    check("sample and evaluate arguments", argv, case, capsys)


# --- damaged run folders ------------------------------------------------------------------------------------------
FILES = ["config.toml", "checkpoint.safetensors", "best.safetensors", "summary.json", "metrics.jsonl",
         "checkpoint.json", "data.json"]
KEYS = ["replicates", "first_step", "step", "d_fake_out", "g_grad", "path", "columns", "shift", "scale", "sha256",
        "kinds", "x"]
scalars = st.none() | st.booleans() | st.integers(-3, 10**20) | st.floats() | st.text(max_size=5)
values = st.one_of(scalars, st.lists(scalars, max_size=3),
                   st.dictionaries(st.sampled_from(KEYS), scalars | st.lists(scalars, max_size=3), max_size=3))
toml_values = st.sampled_from(['"x"', "-1", "0", "1e400", "true", "[1, 2]", "{}", '"', "", "3.5", '"seed"'])


@st.composite
def damage(draw):
    name, kind = draw(st.sampled_from(FILES)), draw(st.sampled_from(["delete", "cut", "replace", "field", "dir"]))
    return name, kind, draw(st.integers(0, 10**6)), draw(values), draw(toml_values)


def apply(case: Path, name: str, kind: str, pos: int, value, toml_value: str) -> None:
    path = case / name
    if path.is_dir():  # made a folder by an earlier damage
        return
    old = path.read_bytes() if path.is_file() else b""
    if kind in ("delete", "dir"):
        path.unlink(missing_ok=True)
        if kind == "dir":
            path.mkdir()
    elif kind == "cut":
        path.write_bytes(old[:pos % (len(old) + 1)])
    elif kind == "replace" or not old:
        path.write_text(json.dumps(value) if name != "config.toml" else f"[train]\nsteps = {toml_value}\n")
    elif name == "config.toml":  # one field's value swapped for another type's
        lines = old.decode().splitlines()
        fields = [i for i, line in enumerate(lines) if " = " in line]
        i = fields[pos % len(fields)]
        lines[i] = lines[i].split(" = ")[0] + " = " + toml_value
        path.write_text("\n".join(lines) + "\n")
    elif name.endswith(".jsonl"):  # a field of one row
        try:
            rows = [json.loads(r) for r in old.decode().splitlines()]
            rows[pos % len(rows)][KEYS[pos % len(KEYS)]] = value
        except (ValueError, TypeError, IndexError, ZeroDivisionError):  # damaged before: a row of its own
            rows = [value]
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif name.endswith(".json"):  # a field of the document or of one replicate's record
        try:
            doc = json.loads(old)
            reps = doc.get("replicates") if pos % 2 else None
            where = reps[pos % len(reps)] if isinstance(reps, list) and reps else doc
            where[KEYS[pos % len(KEYS)]] = value
        except (ValueError, TypeError, AttributeError, KeyError):  # damaged before: replaced whole
            doc = value
        path.write_text(json.dumps(doc))
    else:  # a tensor file: bytes overwritten
        data = bytearray(old)
        data[pos % len(data)] ^= 1 + pos % 255
        path.write_bytes(bytes(data))


@settings(FAST, max_examples=40)  # each loads a run twice
@given(damages=st.lists(damage(), min_size=1, max_size=3), at=st.sampled_from(["last", "best"]))
def test_fuzz_damaged_run_folders_for_sample_and_evaluate(root, run_dir, capsys, damages, at):
    case = root / f"r{next(_ids)}"
    shutil.copytree(run_dir, case / "run")
    for d in damages:
        apply(case / "run", *d)
    check("damaged run folders (sample)", ["sample", str(case / "run"), "-n", "10", "--at", at, "-o",
                                           str(case / "x.npy")], case, capsys)
    check("damaged run folders (evaluate)", ["evaluate", str(case / "run"), "--at", at], case, capsys)


def test_a_run_folder_replaced_by_a_file_is_refused(root, capsys):
    path = root / "not-a-folder"
    path.write_text(string.ascii_letters)
    check("damaged run folders (sample)", ["sample", str(path), "-o", str(root / "x.csv")], root, capsys)
    assert not (root / "x.csv").exists()
