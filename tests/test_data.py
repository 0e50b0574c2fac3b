"""Data files as targets: reading, standardising, holding out, the CLI round trip, and every bad input."""

import shutil

import numpy as np
import pytest

from distgan.cli import main
from distgan.config import ConfigError, TargetConfig
from distgan.data import load_data_target, read_columns, split, write_samples

TINY = ["--steps", "20", "--set", "train.log_every=10", "--set", "eval.n_samples=200", "--set", "eval.floor_draws=5",
        "--set", "model.g_hidden=8", "--set", "model.d_hidden=8", "--set", "train.batch_size=20", "--set",
        "report.frames=0", "--quiet", "--no-plots"]


def _table(n=200, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(3, 2, n)
    return a, 0.5 * a + rng.gamma(2, 1, n), rng.integers(0, 10, n)


def _csv(path, n=200, sep=","):
    a, b, c = _table(n)
    lines = [sep.join(["id", "a", "b", "count"])] + [sep.join([f"r{i}", repr(float(a[i])), repr(float(b[i])), str(c[i])])
                                                     for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny run on a CSV file's columns a, b, count (id is text and left out)."""
    d = tmp_path_factory.mktemp("data")
    data = _csv(d / "table.csv")
    assert main(["train", "--data", str(data), "--columns", "a,b,count", "--out", str(d / "run"), *TINY]) == 0
    return d


def test_csv_round_trip_gives_back_the_columns_and_types(trained, capsys):
    out = trained / "samples.csv"
    assert main(["sample", str(trained / "run"), "-n", "50", "-o", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "a,b,count" and len(lines) == 51
    rows = [line.split(",") for line in lines[1:]]
    assert all(r[2].lstrip("-").isdigit() for r in rows)  # an integer column comes back as integers
    x = np.array(rows, dtype=float)
    assert np.all(np.abs(x[:, 0] - 3) < 50)  # data units (mean about 3): mapped back from the standardised scale


@pytest.mark.parametrize("ext", [".tsv", ".npy", ".parquet"])
def test_sample_writes_every_file_type(trained, ext):
    if ext == ".parquet":
        pytest.importorskip("pyarrow")
    out = trained / f"samples{ext}"
    assert main(["sample", str(trained / "run"), "-n", "30", "-o", str(out)]) == 0
    # read back raw (a tiny GAN's samples may be constant, which read_columns refuses as training data)
    if ext == ".tsv":
        lines = out.read_text().splitlines()
        assert lines[0].split("\t") == ["a", "b", "count"] and len(lines) == 31 and lines[1].split("\t")[2].isdigit()
    elif ext == ".npy":
        assert np.load(out).shape == (30, 3)  # a plain array (the data were CSV): no column names in .npy
    else:
        import pyarrow.parquet as pq

        table = pq.read_table(out)
        assert table.column_names == ["a", "b", "count"] and str(table.schema.field("count").type) == "int64"


def test_sample_works_after_the_data_file_moved_and_evaluate_says_why_not(trained, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained / "run", run)
    moved = trained / "table.csv.moved"
    (trained / "table.csv").rename(moved)
    try:
        assert main(["sample", str(run), "-n", "5", "-o", str(tmp_path / "s.csv")]) == 0
        assert (tmp_path / "s.csv").read_text().splitlines()[0] == "a,b,count"
        assert main(["evaluate", str(run)]) == 2
        err = capsys.readouterr().err.strip()
        assert "evaluate needs the run's data file" in err and "table.csv" in err and "\n" not in err
    finally:
        moved.rename(trained / "table.csv")
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0
    out = capsys.readouterr().out.splitlines()  # the data file and its columns by name, in standard units
    assert f"data {trained / 'table.csv'} (columns a, b, count)" in out[0]
    assert "standard units" in out[2]
    assert [line.split(":")[0].strip() for line in out[3:9]] == ["a", "a", "b", "b", "count", "count"]


def test_evaluate_refuses_a_changed_data_file(trained, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained / "run", run)
    original = (trained / "table.csv").read_text()
    try:
        (trained / "table.csv").write_text(original.replace("r0,", "r0,1", 1))
        assert main(["evaluate", str(run)]) == 2
        assert "changed since this run was trained" in capsys.readouterr().err
    finally:
        (trained / "table.csv").write_text(original)


def test_every_format_reads_the_same_numbers(tmp_path):
    a, b, c = _table()
    names_csv, x_csv, _ = read_columns(_csv(tmp_path / "t.csv"), "a,b,count")
    _, x_tsv, info = read_columns(_csv(tmp_path / "t.tsv", sep="\t"), "a,b,count")
    assert info["format"] == "tsv" and np.array_equal(x_csv, x_tsv)
    np.save(tmp_path / "plain.npy", np.stack([a, b], 1))
    names, x, _ = read_columns(tmp_path / "plain.npy")
    assert names == ["x0", "x1"] and np.array_equal(x, x_csv[:, :2])
    rec = np.empty(len(a), dtype=[("a", "f8"), ("b", "f8"), ("count", "i8")])
    rec["a"], rec["b"], rec["count"] = a, b, c
    np.save(tmp_path / "rec.npy", rec)
    names, x, info = read_columns(tmp_path / "rec.npy", "count,a")
    assert names == ["count", "a"] and np.array_equal(x, x_csv[:, [2, 0]]) and info["kinds"] == ["int", "float"]


def test_parquet_reads_and_writes(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    a, b, c = _table()
    pq.write_table(pa.table({"name": [f"r{i}" for i in range(len(a))], "a": a, "b": b, "count": c}),
                   tmp_path / "t.parquet")
    names, x, info = read_columns(tmp_path / "t.parquet")
    assert names == ["a", "b", "count"] and info["kinds"] == ["float", "float", "int"]
    write_samples(tmp_path / "o.parquet", x, tuple(names), info)
    names2, x2, info2 = read_columns(tmp_path / "o.parquet")
    assert names2 == names and info2["kinds"] == info["kinds"] and np.allclose(x2, x)


def test_standardised_training_rows_and_a_fixed_holdout(tmp_path):
    tc = TargetConfig(data=str(_csv(tmp_path / "t.csv", n=1000)), columns="a,b", holdout=0.2)
    t = load_data_target(tc)
    assert t.dim == 2 and t.columns == ("a", "b") and t.data.shape == (200, 2) and t.train_data.shape == (800, 2)
    np.testing.assert_allclose(t.train_data.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(t.train_data.std(0), 1, atol=1e-5)
    a, b, _ = _table(1000)
    train, held = split(1000, 0.2)
    np.testing.assert_allclose(t.to_data(t.data), np.stack([a, b], 1)[held], rtol=1e-5)
    assert set(train).isdisjoint(held) and len(train) + len(held) == 1000
    assert np.array_equal(split(1000, 0.2)[1], held)  # the same split every time


def _bad(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


BAD = [
    ("missing.csv", None, "", "data file not found"),
    ("empty.csv", "", "", "empty file"),
    ("header.csv", "a,b\n", "", "no data rows"),
    ("col.csv", "a,b\n1,2\n3,4\n", "a,c", "no column 'c' (columns: a, b)"),
    ("text.csv", "a,b\n1,2\n3,x4\n5,6\n", "", "line 3, column 'b': not a number: 'x4'"),
    ("nan.csv", "a,b\n1,2\n3,4\n5,nan\n", "", "line 4, column 'b': nan"),
    ("inf.tsv", "a\tb\n1\t2\n\n3\t-inf\n", "", "line 4, column 'b': -inf"),
    ("const.csv", "a,b\n1,2\n1,3\n1,4\n", "", "column 'a' is constant"),
    ("ragged.csv", "a,b\n1,2\n3\n", "", "line 3 has 1 fields, the header has 2"),
    ("data.xlsx", "a\n1\n", "", "unknown file type '.xlsx'"),
]


@pytest.mark.parametrize("name, text, columns, words", BAD)
def test_bad_files_fail_with_one_line_and_write_nothing(tmp_path, capsys, name, text, columns, words):
    path = tmp_path / name if text is None else _bad(tmp_path, name, text)
    argv = ["train", "--data", str(path), "--out", str(tmp_path / "run"), *TINY]
    assert main(argv + (["--columns", columns] if columns else [])) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err and "Traceback" not in err, err
    assert not (tmp_path / "run").exists()


def test_fewer_rows_than_a_batch(tmp_path, capsys):  # fewer than 50 rows: too few (a larger file's batch adapts)
    path = _csv(tmp_path / "small.csv", n=30)
    assert main(["train", "--data", str(path), "--out", str(tmp_path / "run"), *TINY[:-4], "--set",
                 "train.batch_size=50", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--data: " in err and "30 rows, fewer than 50" in err
    assert not (tmp_path / "run").exists()


def test_npy_problems_name_the_row(tmp_path):
    a = np.arange(12.0).reshape(6, 2)
    a[4, 1] = np.nan
    np.save(tmp_path / "x.npy", a)
    with pytest.raises(ConfigError, match=r"row 4, column 'x1': nan"):
        read_columns(tmp_path / "x.npy")
    np.save(tmp_path / "s.npy", np.array(["a", "b"]))
    with pytest.raises(ConfigError, match="expected a numeric array"):
        read_columns(tmp_path / "s.npy")
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(ConfigError, match="not a readable .npy file"):
        read_columns(tmp_path / "junk.npy")


def test_a_bad_target_string_exits_2(tmp_path, capsys):
    assert main(["train", "--target", "ring:modes=x", "--out", str(tmp_path / "run"), *TINY]) == 2
    assert "parameter modes expected numbers" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_sample_refuses_an_unknown_extension(trained, capsys):
    assert main(["sample", str(trained / "run"), "-o", str(trained / "x.json")]) == 2
    assert "unknown file type '.json'" in capsys.readouterr().err
