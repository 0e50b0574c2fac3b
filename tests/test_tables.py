"""Tables as users bring them: column types detected and overridden, each type's codec keeps its type, a small file
trains with the defaults, text comes back as text, memorisation is measured, and bad tables fail in one line."""

import contextlib
import io

import jax
import numpy as np
import pytest
from scipy import stats
from scipy.special import ndtri

from distgan import console
from distgan.cli import main
from distgan.columns import decoder, detect, exact, intervals, scores_sampler
from distgan.config import ConfigError, TargetConfig, parse_types
from distgan.data import load_data_target, read_columns, write_samples
from distgan.tables import chi2_levels, memorisation


def _col(x, text=False, labels=None, override=None):
    return detect("c", np.asarray(x, float), text, labels, override)


# --- detection ---------------------------------------------------------------------------------------------------

def test_detected_types_of_small_hand_made_columns():
    rng = np.random.default_rng(0)
    assert _col(rng.normal(size=200)).type == "continuous"
    ties = np.round(rng.normal(size=200), 1)  # rounded: ties everywhere, none of them a point mass
    c = _col(ties)
    assert c.type == "continuous" and c.atoms == []
    zeros = np.where(rng.random(200) < 0.4, 0.0, rng.lognormal(size=200))
    zeros[:5] = -0.0  # negative zeros are zeros: one atom at 0, bounded below there
    c = _col(zeros + 0.0)
    assert c.atoms == [0.0] and abs(c.rates[0] - np.mean(zeros == 0)) < 1e-12 and c.low == 0.0
    assert c.spec() == "continuous+atoms+low"
    floats = rng.integers(0, 300, 200).astype(float)  # integers stored as floats: 1.0, 2.0, ...
    assert _col(floats).type == "integer"
    bands = rng.choice([17.5, 22.0, 27.0], 200)
    c = _col(bands)
    assert c.type == "discrete" and c.levels == [17.5, 22.0, 27.0] and np.isclose(c.cum[-1], 1)
    labels = ["no", "yes"]
    c = _col(rng.integers(0, 2, 200), text=True, labels=labels)
    assert c.type == "discrete" and c.labels == labels and c.text
    u = rng.random(400)  # hard edges at both ends; a normal's ends are tails
    assert _col(u).spec() == "continuous+bounded" and _col(rng.normal(size=400)).spec() == "continuous"


def test_overrides_and_their_errors():
    rng = np.random.default_rng(1)
    assert parse_types("a=discrete, b=continuous+atoms+low") == {"a": ("discrete", set()),
                                                                 "b": ("continuous", {"atoms", "low"})}
    for bad in ("a", "a=float", "a=continuous+wide", "=discrete", "a=discrete,a=integer"):
        with pytest.raises(ConfigError, match="^target.types: "):
            parse_types(bad)
    x = rng.integers(0, 50, 300).astype(float)
    assert _col(x, override=("discrete", set())).levels == np.unique(x).tolist()
    c = _col(x, override=("continuous", {"bounded"}))
    assert c.type == "continuous" and (c.low, c.high) == (x.min(), x.max())
    with pytest.raises(ConfigError, match="not whole numbers"):
        _col(x + 0.5, override=("integer", set()))
    with pytest.raises(ConfigError, match="text labels: it can only be discrete"):
        _col([0, 1] * 50, text=True, labels=["a", "b"], override=("continuous", set()))
    with pytest.raises(ConfigError, match="more than 200 levels"):
        _col(rng.normal(size=300), override=("discrete", set()))


# --- the codec: each type's sampler keeps its type ---------------------------------------------------------------

@pytest.fixture(scope="module")
def codec_table():
    """4,000 training rows of every type (data units), their columns, and their decoder (compiled once)."""
    rng = np.random.default_rng(2)
    n = 4000
    x = np.stack([rng.normal(3, 2, n), rng.integers(0, 500, n).astype(float), rng.choice([1.0, 2.5, 7.0], n, p=[.5, .3, .2]),
                  np.where(rng.random(n) < 0.3, 0.0, rng.exponential(5, n)), rng.random(n)], 1)
    cols = [detect(f"c{j}", x[:, j], False) for j in range(x.shape[1])]
    shift, scale = x.mean(0), x.std(0)
    decode = jax.jit(decoder(cols, shift, scale))
    return x, cols, lambda z: exact(cols, np.asarray(decode(z)) * scale + shift)


def test_each_type_comes_back_as_itself(codec_table):
    """Decoding the normal scores of an even grid of u in (0, 1) gives the training rows' distribution, each column
    of its own type: integers whole, only the observed levels at their frequencies, atoms exact at their rate,
    bounded columns inside their bounds (every frequency to within the grid's 1/4000)."""
    x, cols, decode = codec_table
    assert [c.spec() for c in cols] == ["continuous", "integer+bounded", "discrete", "continuous+atoms+low",
                                        "continuous+bounded"]
    u = (np.arange(len(x)) + 0.5) / len(x)
    y = decode(np.repeat(ndtri(u)[:, None], x.shape[1], 1).astype(np.float32))
    assert np.all(y[:, 1] == np.round(y[:, 1])) and y[:, 1].min() >= x[:, 1].min() and y[:, 1].max() <= x[:, 1].max()
    assert set(np.unique(y[:, 2])) == {1.0, 2.5, 7.0}
    for v in (1.0, 2.5, 7.0):
        assert abs(np.mean(y[:, 2] == v) - np.mean(x[:, 2] == v)) <= 1 / len(x)
    assert abs(np.mean(y[:, 3] == 0) - cols[3].rates[0]) <= 1 / len(x) and y[:, 3].min() == 0
    assert np.mean((y[:, 3] > 0) & (y[:, 3] < 0.01)) < 0.005  # the atom is exact, not smeared above 0
    assert y[:, 4].min() >= x[:, 4].min() and y[:, 4].max() <= x[:, 4].max()
    for j in (0, 3, 4):  # the quantile function of the rows: KS to them of a row or two's share at most
        assert stats.ks_2samp(y[:, j], x[:, j]).statistic <= 2.5 / len(x), j
    # integers: rounding moves at most half of each value's mass to a neighbour, so at most its largest count
    assert stats.ks_2samp(y[:, 1], x[:, 1]).statistic <= np.unique(x[:, 1], return_counts=True)[1].max() / len(x)


def test_real_scores_are_standard_normal_and_decode_back_to_the_rows(codec_table):
    """The real minibatch: each value spread over its CDF interval, then Phi^-1: N(0, 1) per column; decoding the
    rows' own spread scores gives each row's level and atom back."""
    x, cols, decode = codec_table
    lo, hi = (np.stack(a, 1) for a in zip(*(intervals(c, x[:, j]) for j, c in enumerate(cols))))
    assert np.all(lo < hi) and np.isclose(hi[:, 2].max(), 1)
    z = np.asarray(jax.jit(scores_sampler(lo, hi), static_argnums=1)(jax.random.PRNGKey(1), len(x)))
    for j in range(x.shape[1]):
        assert stats.kstest(z[:, j], "norm").pvalue > 0.001, j
    u = lo + (hi - lo) * np.random.default_rng(3).random(lo.shape)
    y = decode(ndtri(np.clip(u, 1e-6, 1 - 1e-6)).astype(np.float32))
    assert np.array_equal(y[:, 2], x[:, 2]) and np.array_equal(y[:, 3] == 0, x[:, 3] == 0)


# --- memorisation and the level test -----------------------------------------------------------------------------

def test_memorisation_ratio_is_near_1_for_fresh_rows_and_0_for_copies():
    rng = np.random.default_rng(4)
    train, held, fresh = (rng.normal(size=(n, 3)) for n in (2000, 500, 2000))
    m = memorisation(train, fresh, held)
    assert 0.9 < m["ratio"] < 1.1 and m["copies"] == 0
    copies = memorisation(train, train[rng.integers(0, 2000, 2000)], held)
    assert copies["ratio"] == 0 and copies["copies"] == 1
    near = memorisation(train, train + 0.01 * rng.normal(size=train.shape), held)  # jittered copies
    assert near["ratio"] < 0.2


def test_chi2_of_level_counts_against_scipy():
    c = _col(np.repeat([1.0, 2.0, 3.0], 100))
    fake, held = np.repeat([1.0, 2.0, 3.0, 9.0], [300, 350, 340, 10]), np.repeat([1.0, 2.0, 3.0], [90, 110, 100])
    r = chi2_levels(c, fake, held)
    ref = stats.chi2_contingency([[300, 350, 340, 10], [90, 110, 100, 0]], correction=False)
    assert r["outside"] == 10 and np.isclose(r["chi2"], ref.statistic) and np.isclose(r["p"], ref.pvalue)
    assert r["dof"] == 3 and np.isclose(r["floor"], stats.chi2(3).median())


# --- files: a small table trains with the defaults, text comes back as text ---------------------------------------

QUICK = ["--steps", "100", "--set", "train.log_every=50", "--set", "eval.n_samples=500", "--set", "eval.floor_draws=5",
         "--set", "report.frames=0", "--quiet", "--no-plots"]


def _table(path, n, seed=0):
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south", "east, west"], n)  # a label with the separator in it
    amount = np.where(rng.random(n) < 0.3, 0.0, np.round(rng.lognormal(2, 1, n), 2))
    lines = ["id,region,amount,visits"] + [f"r{i},\"{region[i]}\",{amount[i]},{rng.integers(0, 400)}"
                                           for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A 60-row file trained with the default preset and batch (a few steps); its report as printed."""
    d = tmp_path_factory.mktemp("small")
    data = _table(d / "small.csv", 60)
    with contextlib.redirect_stdout(io.StringIO()) as out:
        code = main(["train", "--data", str(data), "--out", str(d / "run"), *QUICK])
    return d, code, out.getvalue()


def test_a_60_row_file_trains_with_the_default_batch_and_its_report_names_types_and_memorisation(small_run):
    """One test for the one run (xdist would otherwise train it again on a second worker): the file's columns come
    back as their types, the batch adapts to the training rows, and the printed report names the detected types,
    the memorisation and the too few held-out rows."""
    d, code, report = small_run
    assert code == 0
    assert "types: region discrete, 3 labels ('east, west', 'north', 'south'); amount continuous, atom 0" in report
    assert "region: levels chi2 " in report and "amount: atom 0: rate " in report and "memorisation: " in report
    assert "only 12 held-out rows, too few to judge a fit" in report
    names, x, info = read_columns(d / "small.csv")
    assert names == ["region", "amount", "visits"] and info["kinds"] == ["text", "float", "int"]  # id: all different
    out = d / "s.csv"
    assert main(["sample", str(d / "run"), "-n", "300", "-o", str(out)]) == 0
    back_names, y, back = read_columns(out)
    assert back_names == names and set(back["labels"]["region"]) <= {"north", "south", "east, west"}
    assert np.all(y[:, 2] == np.round(y[:, 2])) and y[:, 1].min() >= 0
    t = load_data_target(TargetConfig(data=str(d / "small.csv")))
    assert t.train_data.shape[0] == 48 and t.data.shape[0] == 12
    text = (d / "run" / "config.toml").read_text()
    assert "batch_size = 48" in text  # the batch adapted to the 48 training rows


@pytest.mark.parametrize("ext", [".csv", ".tsv", ".npy", ".parquet"])
def test_streamed_samples_keep_text_labels_and_integers_in_every_chunk(tmp_path, ext):
    """write_samples given chunks (as `sample` streams them): text as its labels, with the separator quoted, and
    the same label width in every chunk of an .npy; integers as integers."""
    info = {"kinds": ["text", "int", "float"], "labels": {"region": ["e", "east, west", "north"]}}
    rng = np.random.default_rng(0)
    x = np.stack([rng.integers(0, 3, 300), rng.integers(0, 50, 300), rng.normal(size=300)], 1).astype(np.float32)
    out = tmp_path / f"s{ext}"
    write_samples(out, (x[i:i + 128] for i in range(0, 300, 128)), ("region", "n", "v"), info, n=300)
    if ext == ".npy":
        a = np.load(out)
        assert list(a["region"]) == [info["labels"]["region"][int(c)] for c in x[:, 0]] and a["n"].dtype.kind == "i"
        return
    names, y, back = read_columns(out)
    assert names == ["region", "n", "v"] and back["kinds"][:2] == ["text", "int"]
    assert [back["labels"]["region"][int(c)] for c in y[:, 0]] == [info["labels"]["region"][int(c)] for c in x[:, 0]]
    assert np.array_equal(y[:, 1], x[:, 1]) and np.allclose(y[:, 2], x[:, 2])


BAD = [
    ("few.csv", "a,b\n" + "".join(f"{i},{i % 7}\n" for i in range(49)), "49 rows, fewer than 50"),
    ("names.csv", "a,name\n" + "".join(f"{i},n{i % 3000}\n" for i in range(6000)),
     "column 'name' has 3000 distinct text labels, more than 200 levels"),
    ("one.csv", "a,b\n" + "".join(f"{i},x\n" for i in range(60)), "column 'b' is constant ('x' in every row)"),
    ("blank.csv", "a,b\n" + "".join(f"{i},{'' if i == 7 else 'x' if i % 2 else 'y'}\n" for i in range(60)),
     "line 9, column 'b': empty value"),
]


@pytest.mark.parametrize("name, text, words", BAD)
def test_bad_tables_fail_in_one_line_and_write_nothing(tmp_path, capsys, name, text, words):
    (tmp_path / name).write_text(text)
    assert main(["train", "--data", str(tmp_path / name), "--out", str(tmp_path / "run"), *QUICK]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err and err.startswith("distgan: error: "), err
    assert not (tmp_path / "run").exists()


def test_a_bad_type_override_names_the_field(tmp_path, capsys):
    data = _table(tmp_path / "t.csv", 60)
    for value, words in (("region=integer", "text labels: it can only be discrete"),
                         ("nosuch=discrete", "no column 'nosuch'"), ("amount=wide", "expected 'column=type'")):
        assert main(["train", "--data", str(data), "--set", f"target.types={value}", "--out", str(tmp_path / "r"),
                     *QUICK]) == 2
        err = capsys.readouterr().err
        assert "target.types: " in err and words in err, err
    assert not (tmp_path / "r").exists()


def test_a_column_of_many_atoms_is_summed_up_in_one_line():
    atoms = [{"atom": float(v), "rate": 0.02, "held_rate": 0.02, "noise": 0.004} for v in range(10)]
    atoms[3]["rate"] = 0.035  # z = 3.75: the one outside
    lines = console.column_lines({"atoms": atoms})
    assert lines == ["10 atoms, 9 of them within 2.58 noise of the held-out rate; farthest: atom 3: rate 3.50% "
                     "(held-out 2.00%, noise 0.40%)"]
    assert len(console.column_lines({"atoms": atoms[:4]})) == 4
