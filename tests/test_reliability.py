"""Nothing lost at scale: one writer per run folder, checksummed tensor files, sampling that streams, a full disk.

The subprocesses run the real CLI on runhelp's tiny config with its persistent JAX cache; runhelp's reference run
(made once per session, shared with the checkpoint and resume tests) serves the checksum, sampling and injected-error
tests.
"""

import errno
import json
import os
import shutil
import struct
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from safetensors.numpy import save_file

import distgan
from distgan import cli, data, files, runs
from distgan.files import LOCK, FolderLock
from runhelp import FLAGS, STEPS, env, reference

GiB = 1 << 30


def distgan_cmd(*argv: str) -> list[str]:
    return [sys.executable, "-m", "distgan", *argv]


def one_error_line(err: str, *words: str) -> None:
    assert err.startswith("distgan: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for w in words:
        assert w in err, err


def no_leftovers(folder: Path) -> None:
    """No temporary file and no lock left behind."""
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp") or p.name == LOCK]


INJECT = """
import contextlib, errno, sys
from distgan import files
real, seen = files.atomic_file, []

@contextlib.contextmanager
def half_then_full(path):  # half of the file's bytes are written, then the disk refuses the rest
    with real(path) as f:
        class Half:
            def write(self, data):
                f.write(data[:len(data) // 2])
                raise OSError(errno.ENOSPC, "No space left on device")
        yield Half()

def atomic_file(path):  # the run's second checkpoint meets a full disk
    seen.append(path.name)
    second = path.name == "checkpoint.safetensors" and seen.count(path.name) == 2
    return half_then_full(path) if second else real(path)

files.atomic_file = atomic_file
from distgan.cli import entry
sys.argv[0] = "distgan"
entry()
"""


# --- one writer per run folder ------------------------------------------------------------------------------------

def test_two_runs_into_one_folder_one_is_refused_naming_the_lock_and_a_failed_write_keeps_the_last_checkpoint(
        request, tmp_path):
    """Two `train --out X` started together (seeds 1 and 7), each on a disk that refuses the second checkpoint half
    written (INJECT): one is refused at once, naming the other's pid and the lock; the other trains, and stops at its
    second checkpoint in one line, its first checkpoint whole and loadable."""
    out = tmp_path / "run"
    procs = {seed: subprocess.Popen([sys.executable, "-c", INJECT, "train", *FLAGS, "--out", str(out), "--seed",
                                     str(seed), "--steps", str(STEPS), "--quiet", "--no-plots"],
                                    env=env(request), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for seed in (1, 7)}
    errs = {seed: p.communicate(timeout=120)[1] for seed, p in procs.items()}
    (loser,) = [s for s, p in procs.items() if p.returncode == 2]
    (winner,) = [s for s in procs if s != loser]
    one_error_line(errs[loser], f"in use by another distgan process (pid {procs[winner].pid}", str(out / LOCK))
    assert procs[winner].returncode == 1
    one_error_line(errs[winner], f"{out / 'checkpoint.safetensors'}: cannot write (no space left on device)",
                   "the last checkpoint (step 100) is whole", f"distgan train --resume {out}`")
    assert f"seed = {winner}" in (out / "config.toml").read_text()  # the folder is the winner's alone
    assert distgan.load(out).step == 100
    no_leftovers(out)


def test_default_names_started_at_once_are_distinct(tmp_path):
    base, n = tmp_path / "gaussian-seed-s0", 8
    (tmp_path / "gaussian-seed-s0-3").mkdir()  # an empty folder is free; one with a run is not
    (tmp_path / "gaussian-seed-s0-4").mkdir()
    (tmp_path / "gaussian-seed-s0-4" / "config.toml").write_text("")
    gate, claims = threading.Barrier(n), []

    def claim():
        gate.wait()
        claims.append(runs.claim_free(base))

    threads = [threading.Thread(target=claim) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    names = sorted(c.folder.name for c in claims)
    assert len(set(names)) == n and "gaussian-seed-s0-4" not in names and "gaussian-seed-s0-3" in names
    for c in claims:
        c.release()  # no lock left behind (a folder left empty is removed by the claim that made it, if it got it)
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["config.toml"]


HOLD = "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); fcntl.flock(fd, fcntl.LOCK_EX); " \
       "os.write(fd, str(os.getpid()).encode()); print('held', flush=True); time.sleep(60)"


def test_resume_takes_the_lock_and_a_dead_holders_lock_is_stale(tmp_path, capsys):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "config.toml").write_text(distgan.config.dumps(distgan.preset("seed")))
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(folder / LOCK)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        assert cli.main(["train", "--resume", str(folder)]) == 2
        one_error_line(capsys.readouterr().err, f"pid {holder.pid}", str(folder / LOCK))
        with pytest.raises(runs.Taken, match=f"pid {holder.pid}"):
            runs.claim(folder, resume=True)
    finally:
        holder.kill()
        holder.communicate()
    assert (folder / LOCK).read_text() == str(holder.pid)  # killed: its lock file stays, its flock is gone
    with runs.claim(folder, resume=True) as got:
        assert got == folder and (folder / LOCK).read_text().strip() == str(os.getpid())
        with pytest.raises(files.Busy):  # one process, two claims: the second is refused too
            FolderLock.take(folder)
    assert not (folder / LOCK).exists()


# --- checksums ----------------------------------------------------------------------------------------------------

def tensor_span(path: Path, name: str) -> tuple[int, int]:
    """Byte range of a tensor's data in a safetensors file (8-byte header length, JSON header, data)."""
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    start, end = json.loads(raw[8:8 + n])[name]["data_offsets"]
    return 8 + n + start, 8 + n + end


@pytest.fixture(scope="module")
def ref(request, tmp_path_factory):
    """runhelp's reference run (1,200 steps, 2 replicates, checkpoints every 100 steps) and the Run read back."""
    folder = reference(request, tmp_path_factory)
    return folder, distgan.load(folder)


@pytest.fixture
def run_copy(ref, tmp_path):
    shutil.copytree(ref[0], tmp_path / "run")
    return tmp_path / "run"


@pytest.mark.parametrize("name, at", [("checkpoint.safetensors", "last"), ("best.safetensors", "best")])
def test_a_flipped_byte_in_gs_weights_is_refused_naming_the_file(run_copy, tmp_path, capsys, name, at):
    run = run_copy
    path = run / name
    start, end = tensor_span(path, "state/G/0/w")
    raw = bytearray(path.read_bytes())
    raw[(start + end) // 2] ^= 0x04  # one bit of one weight
    path.write_bytes(bytes(raw))
    for argv in (["sample", str(run), "--at", at, "-o", str(tmp_path / "x.csv")], ["evaluate", str(run), "--at", at]):
        assert cli.main(argv) == 2
        one_error_line(capsys.readouterr().err, str(path), "checksum")
    assert not (tmp_path / "x.csv").exists()


def test_tensor_files_without_a_digest_still_load(run_copy):
    run = run_copy
    path = run / "checkpoint.safetensors"
    arrays, meta = files.read_tensors(path)
    assert meta.pop(files.DIGEST) == files.tensor_digest(arrays, meta)
    save_file(arrays, path, metadata=meta)  # as written before digests
    assert distgan.load(run).step == json.loads(meta["meta"])["step"]


# --- sampling that streams ----------------------------------------------------------------------------------------

# `distgan` that writes its /proc/self/status to argv[1] as it exits: VmHWM is the peak resident memory of the
# process's own program (a child's ru_maxrss would also count the pytest worker it was forked from)
PEAK = """
import atexit, sys
from pathlib import Path
status = Path(sys.argv.pop(1))
atexit.register(lambda: status.write_text(Path("/proc/self/status").read_text()))
from distgan.cli import entry
sys.argv[0] = "distgan"
entry()
"""


def test_a_big_sample_streams_in_bounded_memory(ref, request, tmp_path):
    n, out = 10_000_000, tmp_path / "x.npy"
    p = subprocess.run([sys.executable, "-c", PEAK, str(tmp_path / "status"), "sample", str(ref[0]), "-n", str(n),
                        "-o", str(out), "--seed", "5"], env=env(request), capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    (kib,) = [int(line.split()[1]) for line in (tmp_path / "status").read_text().splitlines()
              if line.startswith("VmHWM:")]
    peak = kib << 10  # the whole sample in memory took about 1 GiB
    assert peak < 0.7 * GiB, f"peak resident memory {peak / GiB:.2f} GiB"
    x = np.load(out, mmap_mode="r")
    assert x.shape == (n, 1) and x.dtype == np.float32
    few = ref[1].sample(3 * runs.SAMPLE_CHUNK + 5, seed=5)  # the same seed: the first rows, across chunk boundaries
    np.testing.assert_array_equal(x[:len(few)], few)
    tail = np.asarray(x[-200_000:], np.float64)
    assert abs(tail.mean() - few.mean()) < 5 * few.std() / np.sqrt(len(few)) + 1e-6
    assert tail.std() == pytest.approx(few.std(), rel=0.05, abs=1e-6)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".npy", ".parquet"])
def test_every_format_streams_the_same_draws(ref, tmp_path, suffix):
    folder, run = ref
    n, out = 2 * runs.SAMPLE_CHUNK + 17, tmp_path / f"x{suffix}"
    assert cli.main(["sample", str(folder), "-n", str(n), "-o", str(out), "--seed", "2"]) == 0
    if suffix == ".npy":
        x = np.load(out)
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        assert pq.ParquetFile(out).num_row_groups == 3  # a row group per chunk
        x = pq.read_table(out).column("x").to_numpy()[:, None]
    else:
        x = np.loadtxt(out, delimiter="," if suffix == ".csv" else "\t", skiprows=1, ndmin=2)
    np.testing.assert_array_equal(x, run.sample(n, seed=2))
    no_leftovers(tmp_path)


def test_an_interrupted_sample_leaves_no_file(ref, tmp_path, monkeypatch, capsys):
    folder = ref[0]
    real = runs.Run.chunks

    def chunks(self, *a, **k):
        it = real(self, *a, **k)
        yield next(it)
        raise KeyboardInterrupt

    monkeypatch.setattr(runs.Run, "chunks", chunks)
    out = tmp_path / "x.csv"
    out.write_text("old\n")
    assert cli.main(["sample", str(folder), "-n", str(3 * runs.SAMPLE_CHUNK), "-o", str(out)]) == 130
    assert out.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["x.csv"]


@pytest.mark.parametrize("n, suffix, free", [(10**14, ".csv", None), (10**13, ".npy", None), (10**6, ".npy", 10**6),
                                             (10**6, ".tsv", 10**6), (10**6, ".parquet", 10**6)])
def test_a_sample_that_will_not_fit_is_refused_before_writing(ref, tmp_path, monkeypatch, capsys, n, suffix, free):
    if free is not None:
        monkeypatch.setattr(data.shutil, "disk_usage", lambda p: SimpleNamespace(total=10**12, used=10**12, free=free))
    out = tmp_path / f"x{suffix}"
    assert cli.main(["sample", str(ref[0]), "-n", str(n), "-o", str(out)]) == 2
    one_error_line(capsys.readouterr().err, str(out), f"{n} samples need about", "free")
    assert list(tmp_path.iterdir()) == []


# --- a full disk, a read-only folder ------------------------------------------------------------------------------

@pytest.fixture
def small_disk(ref, tmp_path):
    """A tmpfs too small for the tiny config's second checkpoint beside its first (mounting needs root: skipped
    otherwise). Yields (mount point, remount(options))."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small file system needs root")
    best, last = ((ref[0] / f).stat().st_size for f in ("best.safetensors", "checkpoint.safetensors"))
    size = (best + 3 * last // 2 + (16 << 10)) // 4096 * 4096  # the first checkpoint fits, a second one's copy not
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)], capture_output=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {p.stderr.decode().strip()}")
    try:
        yield mnt, lambda opts: subprocess.run(["mount", "-o", f"remount,{opts}", str(mnt)], check=True)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_disk_keeps_the_last_checkpoint_and_the_run_resumes(small_disk, request, capsys):
    mnt, remount = small_disk
    out, steps = mnt / "run", 300  # the disk fills at the second checkpoint (step 200); the resumed run goes on to 300
    p = subprocess.run(distgan_cmd("train", *FLAGS, "--out", str(out), "--steps", str(steps), "--quiet", "--no-plots"),
                       env=env(request), capture_output=True, text=True)
    assert p.returncode == 1
    one_error_line(p.stderr, "no space left on device", f"distgan train --resume {out}`")
    no_leftovers(out)
    step = distgan.load(out).step  # the last checkpoint: whole, its digest checked
    assert 0 < step < steps and f"step {step}) is whole" in p.stderr

    remount("ro")  # a read-only folder: refused in one line before anything is written
    assert cli.main(["train", "--resume", str(out)]) == 1
    one_error_line(capsys.readouterr().err, "read-only file system")

    remount("rw,size=4m")  # room again: the run goes on from its checkpoint
    p = subprocess.run(distgan_cmd("train", "--resume", str(out), "--quiet", "--no-plots"), env=env(request),
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert f"resumed at step {step}" in p.stdout and distgan.load(out).step == steps
    no_leftovers(out)




@pytest.mark.parametrize("code, words", [(errno.ENOSPC, "no space left on device"),
                                         (errno.EROFS, "read-only file system")])
def test_a_refused_write_leaves_the_old_file(tmp_path, monkeypatch, code, words):
    path = tmp_path / "summary.json"
    files.write_json(path, {"old": 1})

    def refuse(fd, *a, **k):
        os.close(fd)
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(files.os, "fdopen", refuse)
    with pytest.raises(files.WriteError, match=f"{path}: cannot write \\({words}\\)"):
        files.write_json(path, {"new": 2})
    assert json.loads(path.read_text()) == {"old": 1} and os.listdir(tmp_path) == ["summary.json"]
