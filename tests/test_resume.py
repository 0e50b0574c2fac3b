"""Exact resume: a run stopped (SIGTERM, kill -9 at random moments) and resumed ends bit-identical to the run left alone."""

import json
import random
import shutil
import signal
import time
from pathlib import Path

import pytest

import distgan
from distgan import cli
from distgan.config import dumps
from distgan.files import read_jsonl
from runhelp import STEPS, env, folder_is_whole, reference, same_run, start


def wait_for_write(out: Path, p, timeout=60.0) -> None:
    """Until the run (re)writes metrics.jsonl, i.e. training is under way."""
    mark = lambda: (out / "metrics.jsonl").stat().st_mtime_ns if (out / "metrics.jsonl").exists() else 0  # noqa: E731
    before, t0 = mark(), time.monotonic()
    while p.poll() is None and mark() == before and time.monotonic() - t0 < timeout:
        time.sleep(0.005)


def test_sigterm_then_resume_is_bit_identical(request, tmp_path_factory, tmp_path):
    alone, out = reference(request, tmp_path_factory), tmp_path / "cut"
    p = start(out, env=env(request))
    wait_for_write(out, p)
    time.sleep(0.1)
    p.send_signal(signal.SIGTERM)
    assert p.wait() == 128 + signal.SIGTERM
    err = Path(str(out) + ".err").read_text().strip().splitlines()
    assert len(err) == 1 and "SIGTERM: stopped at step" in err[0] and "--resume" in err[0]
    rows = read_jsonl(out / "metrics.jsonl")
    step = rows[-1]["step"]
    assert 0 < step < STEPS
    with open(out / "metrics.jsonl", "a") as f:  # as if killed after writing rows past the checkpoint
        f.write(json.dumps({**rows[-1], "step": step + 50}) + "\n")
    p = start(out, "--resume", str(out), env=env(request))
    assert p.wait() == 0
    same_run(alone, out)


# the kill test's run: long enough that a kill at a random moment after a write lands before the run ends (the tiny
# config trains 1,000 steps in about 0.1 s, and writes metrics every 50 steps and a checkpoint every 100)
KILL_STEPS = 6000


def test_kill9_at_random_moments_then_resume(request, tmp_path_factory, tmp_path):
    alone, out = reference(request, tmp_path_factory, KILL_STEPS), tmp_path / "killed"
    rng = random.Random(0)
    kills = 0
    for attempt in range(10):
        fresh = not (out / "config.toml").exists()  # killed before the folder was made: start it again
        p = start(out, env=env(request), steps=KILL_STEPS) if fresh else \
            start(out, "--resume", str(out), env=env(request), steps=KILL_STEPS)
        if attempt == 0:  # while starting up, before or while the folder is made
            time.sleep(rng.uniform(0.5, 1.5))
        elif kills < 3:  # a random moment after training writes metrics or a checkpoint
            wait_for_write(out, p)
            time.sleep(rng.uniform(0.0, 0.2))
        else:
            break
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            kills += 1
        p.wait()
        if out.exists():
            folder_is_whole(out)
        if p.returncode == 0:
            break
    assert p.wait() == 0, Path(str(out) + ".err").read_text()
    assert kills >= 2
    same_run(alone, out)


@pytest.mark.parametrize("flags, words", [
    (["--seed", "3"], "--seed would change the run"),
    (["--set", "train.d_lr=1"], "--set would change the run"),
    (["--steps", "10"], "can only extend it"),
])
def test_resume_refuses_flags_that_change_the_run(tmp_path, capsys, flags, words):
    (tmp_path / "config.toml").write_text(dumps(distgan.preset("seed")))
    assert cli.main(["train", "--resume", str(tmp_path), *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err


def test_resume_with_more_steps_extends_a_finished_run(request, tmp_path_factory, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(reference(request, tmp_path_factory), out)
    # in this process (nothing here is about the process): the reference's programs load from the session's cache
    code = cli.main(["train", "--resume", str(out), "--steps", str(STEPS + 75), "--quiet", "--no-plots"])
    assert code == 0, capsys.readouterr().err
    rows = read_jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in rows[-3:]] == [STEPS, STEPS + 50, STEPS + 75]
    assert distgan.load(out).step == STEPS + 75 and f"steps = {STEPS + 75}" in (out / "config.toml").read_text()
