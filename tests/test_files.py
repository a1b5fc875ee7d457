"""Atomic writes, and the temporaries a killed writer leaves behind."""
import os
import signal
import subprocess
import sys

import pytest

import scratchnet as sn
from scratchnet import files
from scratchnet.files import atomic_write

# A writer that has written part of its temporary, says so, and waits to be killed.
SLOW_WRITER = """
import sys, time
from scratchnet.files import atomic_write
def write(f):
    f.write(b"half a model")
    f.flush()
    print("writing", flush=True)
    time.sleep(600)
atomic_write(sys.argv[1], write)
"""


def small_net():
    return sn.Network([sn.Dense(2, 2), sn.Softmax()], loss=sn.CategoricalCrossEntropy())


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="no kill -9 here")
def test_the_next_save_removes_the_temporary_of_a_killed_one(tmp_path):
    path = tmp_path / "m.npz"
    writer = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(path)],
                              stdout=subprocess.PIPE)
    try:
        assert writer.stdout.readline() == b"writing\n"
        [tmp] = os.listdir(tmp_path)
        assert tmp.startswith(".m.npz.") and tmp.endswith(".tmp")
    finally:
        writer.kill()           # SIGKILL: no cleanup of its own
        writer.wait()
        writer.stdout.close()
    assert os.listdir(tmp_path) == [tmp] and not path.exists()
    sn.save(small_net(), path)
    assert os.listdir(tmp_path) == ["m.npz"]
    assert sn.load(path).n_params == 6


def test_a_live_writers_temporary_is_left_alone(tmp_path):
    path = tmp_path / "out"
    seen = []

    def outer(f):
        f.write(b"outer")
        f.flush()
        seen.extend(os.listdir(tmp_path))
        atomic_write(path, lambda g: g.write(b"inner"))  # a concurrent write to the same path
        seen.extend(os.listdir(tmp_path))
    atomic_write(path, outer)
    [live] = seen[:1]
    assert live in seen[1:]                 # the inner write did not take it for abandoned
    assert path.read_bytes() == b"outer" and os.listdir(tmp_path) == ["out"]


def test_only_abandoned_temporaries_of_that_exact_name_are_removed(tmp_path):
    path = tmp_path / "m.npz"
    outside = tmp_path / "keep" / "target"
    outside.parent.mkdir()
    outside.write_bytes(b"not ours")
    stale = [".m.npz.0123abcd.tmp", ".m.npz.ffffffff.tmp"]
    others = [".m.npz.0123ABCD.tmp", ".m.npz.0123abc.tmp", ".m.npz.0123abcde.tmp",
              ".other.npz.0123abcd.tmp", "m.npz.0123abcd.tmp", ".m.npz.0123abcd.tmp.bak",
              ".m.npzz.0123abcd.tmp", "..m.npz.0123abcd.tmp"]
    for name in stale + others:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / ".m.npz.00000000.tmp").mkdir()                       # a folder
    (tmp_path / ".m.npz.11111111.tmp").symlink_to(outside)           # a link
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / ".m.npz.22222222.tmp")                  # opening it must not hang
    atomic_write(path, lambda f: f.write(b"new"))
    left = set(os.listdir(tmp_path))
    assert not left & set(stale)
    assert set(others) | {"m.npz", "keep", ".m.npz.00000000.tmp", ".m.npz.11111111.tmp"} <= left
    assert outside.read_bytes() == b"not ours"


def test_a_writer_whose_new_temporary_was_taken_for_abandoned_starts_over(tmp_path, monkeypatch):
    # The instant between creating a temporary and locking it: a cleaner may delete it then.
    real_lock, calls = files._lock, []

    def cleaner_strikes_first(fd, tmp):
        calls.append(tmp)
        if len(calls) == 1:
            os.unlink(tmp)
        return real_lock(fd, tmp)
    monkeypatch.setattr(files, "_lock", cleaner_strikes_first)
    atomic_write(tmp_path / "out", lambda f: f.write(b"data"))
    assert len(calls) == 2 and calls[0] != calls[1]
    assert (tmp_path / "out").read_bytes() == b"data" and os.listdir(tmp_path) == ["out"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "out"
    path.write_bytes(b"old")

    def fail(f):
        f.write(b"partial")
        raise RuntimeError("disk full")
    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(path, fail)
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["out"]
