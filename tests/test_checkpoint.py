"""Safe loading and the best checkpoint: run folders are read with safetensors and JSON alone; a truncated, reshaped
or foreign checkpoint is refused in one line; `--at best` reads each replicate's best point by fit ratio."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

import distgan
from distgan import cli
from distgan.files import read_jsonl
from runhelp import reference

SRC = Path(__file__).resolve().parents[1] / "src"


def test_no_pickle_anywhere_in_src():
    bad = re.compile(r"\bpickle\b|allow_pickle\s*=\s*True|torch\.load|joblib|cloudpickle|dill\b|\beval\(|\bexec\(")
    hits = [f"{p.name}:{i}: {line.strip()}" for p in SRC.rglob("*.py")
            for i, line in enumerate(p.read_text().splitlines(), 1) if bad.search(line) and "no pickle" not in line]
    assert hits == []


@pytest.fixture
def run_dir(request, tmp_path_factory, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(reference(request, tmp_path_factory), out)
    return out


def refused(capsys, argv, *words):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("distgan: error: ") and err.count("\n") == 1, err
    for w in words:
        assert w in err, err


@pytest.mark.parametrize("keep", [0, 7, 100, 0.5, -1])
def test_truncated_checkpoint_is_refused(run_dir, capsys, keep):
    path = run_dir / "checkpoint.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep) if isinstance(keep, float) else keep if keep >= 0 else len(data) - 1])
    refused(capsys, ["evaluate", str(run_dir)], "checkpoint")
    with pytest.raises(distgan.ConfigError):
        distgan.load(run_dir)


def test_wrong_shapes_are_refused(run_dir, capsys):
    path = run_dir / "checkpoint.safetensors"
    with safe_open(str(path), "numpy") as f:
        header = f.metadata()
    header.pop("sha256")  # rewritten without its checksum, as before checksums: the checks behind it
    arrays = load_file(path)
    arrays["state/G/0/w"] = np.zeros((2, 1, 9), np.float32)  # one hidden unit too many
    save_file(arrays, path, metadata=header)
    refused(capsys, ["evaluate", str(run_dir)], "'state/G/0/w' has shape (2, 1, 9)", "another config")


def test_checkpoint_of_another_config_is_refused(run_dir, capsys):
    cfg = (run_dir / "config.toml").read_text()
    (run_dir / "config.toml").write_text(cfg.replace("d_lr = 0.0002", "d_lr = 0.001"))
    refused(capsys, ["sample", str(run_dir), "-o", str(run_dir / "x.csv")], "another config", "train.d_lr")
    (run_dir / "config.toml").write_text(cfg.replace("g_hidden = 8", "g_hidden = 16"))
    refused(capsys, ["evaluate", str(run_dir)], "another config", "model.g_hidden")


@pytest.mark.parametrize("damage", ["metadata", "format", "step", "sidecar"])
def test_damaged_metadata(run_dir, capsys, damage):
    path = run_dir / "checkpoint.safetensors"
    with safe_open(str(path), "numpy") as f:
        header = f.metadata()
    header.pop("sha256")  # rewritten without its checksum, as before checksums: the checks behind it
    arrays = load_file(path)
    meta = json.loads(header["meta"])
    if damage == "sidecar":  # the JSON beside it is for people: loading never reads it
        (run_dir / "checkpoint.json").write_text("{not json")
        assert distgan.load(run_dir).step == meta["step"]
        return
    if damage == "metadata":
        header["meta"] = "{"
    elif damage == "format":
        header["format"] = "something-else"
    else:
        header["meta"] = json.dumps({**meta, "step": meta["step"] - 1})
    save_file(arrays, path, metadata=header)
    refused(capsys, ["evaluate", str(run_dir)], str(path))


def test_best_checkpoint_is_the_best_fit_ratio_per_replicate(run_dir, capsys):
    summary = json.loads((run_dir / "summary.json").read_text())
    floor = {s: np.asarray(summary["floor"][s]["median"]) for s in ("ks", "w1")}
    evals = [r for r in read_jsonl(run_dir / "metrics.jsonl") if "fit" in r]
    scores = np.array([np.maximum((np.asarray(r["fit"]["ks"]) / floor["ks"]).max(-1),
                                  (np.asarray(r["fit"]["w1"]) / floor["w1"]).max(-1)) for r in evals])  # (evals, K)
    steps = [r["step"] for r in evals]
    best = [s["best"] for s in summary["replicates"]]
    for k, b in enumerate(best):
        i = int(np.argmin(scores[:, k]))
        assert b["step"] == steps[i] and b["score"] == pytest.approx(scores[i, k], rel=1e-5)
    run = distgan.load(run_dir, at="best")
    assert run.at == "best"
    np.testing.assert_array_equal(np.asarray(run.states["step"]), [b["step"] for b in best])
    last = distgan.load(run_dir)
    for k, b in enumerate(best):
        same = np.array_equal(run.sample(50, replicate=k), last.sample(50, replicate=k))
        assert same == (b["step"] == last.step)
    assert cli.main(["sample", str(run_dir), "--at", "best", "-n", "10", "-o", str(run_dir / "b.npy")]) == 0
    assert np.load(run_dir / "b.npy").shape == (10, 1)
    assert cli.main(["evaluate", str(run_dir), "--at", "best"]) == 0
    assert "best point" in capsys.readouterr().out
    refused(capsys, ["evaluate", str(run_dir), "--at", "middle"], "--at")
