"""Hostile IDX files and data folders: lying headers, gzip bombs, fuzzing, and the memory bound.

The bound (see scratchnet.idx): reading a file allocates at most the array its header describes
plus ~1 MiB of buffers, and only once that size has been checked against the file and against
max_bytes (1 GiB by default).  Peaks are measured with tracemalloc, which sees NumPy's buffers.
"""
import gzip
import io
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import memory
from mnist_files import assert_idx_error, idx_bytes, make_mnist
from scratchnet import datasets
from scratchnet.datasets import load_mnist
from scratchnet.files import MAX_BYTES
from scratchnet.idx import IDXError, read_idx, read_idx_from, write_idx
from strategies import examples

MiB = 1 << 20
SLACK = 4 * MiB  # buffers, the decompressor's state, tracemalloc's own noise


def peak_while(call):
    """The call's result (or the IDXError it raised) and the peak bytes allocated meanwhile."""
    return memory.peak_while(call, IDXError)


def gzip_bomb(head, mebibytes):
    """`head` gzipped, then `mebibytes` MiB of zeros as further gzip members of ~1 KB each: a
    valid gzip stream that inflates ~1000-fold."""
    return gzip.compress(head, mtime=0) + gzip.compress(bytes(MiB), mtime=0) * mebibytes


# ---------------------------------------------------------------- headers that lie

@pytest.mark.parametrize("max_bytes", [MAX_BYTES, 1 << 60])
def test_a_gzip_claiming_2_to_the_32_images_fails_at_its_header(tmp_path, max_bytes):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip_bomb(idx_bytes(0x08, [2 ** 32 - 1, 28, 28], b""), 64))
    error, peak = peak_while(lambda: read_idx(path, max_bytes=max_bytes))
    assert isinstance(error, IDXError), error
    assert str(error).startswith(f"{path}: truncated: header says 4294967295x28x28")
    assert "more than a gzip of" in str(error)  # even when the cap is raised
    assert peak < SLACK  # the 64 MiB it inflates to are never decompressed


def test_a_gzip_bomb_behind_an_honest_header_is_not_inflated(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip_bomb(idx_bytes(0x08, [10], bytes(10)), 64))
    error, peak = peak_while(lambda: read_idx(path))
    assert isinstance(error, IDXError), error
    assert str(error).startswith(f"{path}: extra bytes after the data: header says 10 = 10 bytes")
    assert peak < SLACK


def test_a_raw_file_is_measured_before_it_is_read(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte"
    with open(path, "wb") as f:
        f.write(idx_bytes(0x08, [3], b"\x01\x02\x03"))
        f.truncate(256 * MiB)  # sparse: costs no disk
    error, peak = peak_while(lambda: read_idx(path))
    assert str(error).startswith(f"{path}: {256 * MiB - 11} extra bytes after the data")
    assert peak < SLACK


def test_a_claim_above_max_bytes_is_refused_before_anything_is_allocated(tmp_path):
    path = tmp_path / "big.gz"
    incompressible = np.random.default_rng(0).bytes(MiB + MiB // 8)  # room for a 1 GiB claim
    path.write_bytes(gzip.compress(idx_bytes(0x08, [MAX_BYTES + 1], incompressible)))
    error, peak = peak_while(lambda: read_idx(path))
    assert isinstance(error, IDXError), error
    assert str(error).startswith(f"{path}: header says {MAX_BYTES + 1} = {MAX_BYTES + 1} bytes")
    assert f"more than the limit max_bytes={MAX_BYTES}; pass a larger max_bytes=" in str(error)
    assert peak < 3 * SLACK
    write_idx(path, np.arange(3 * MiB, dtype=np.uint8))
    assert "max_bytes=2097152" in assert_idx_error(path, lambda: read_idx(path, max_bytes=2 * MiB))
    assert read_idx(path, max_bytes=3 * MiB).shape == (3 * MiB,)  # the cap can be raised


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_a_valid_file_is_read_into_its_array_without_copies(tmp_path, suffix):
    path = tmp_path / ("images" + suffix)
    array = (np.arange(5000 * 28 * 28) % 32749).astype(np.int16).reshape(-1, 28, 28)
    write_idx(path, array.astype(">i2"))  # read back with an in-place byte swap
    back, peak = peak_while(lambda: read_idx(path))
    assert np.array_equal(back, array)
    assert peak < array.nbytes + 2 * MiB  # the array itself, plus buffers


def test_a_labels_file_where_images_belong_is_refused_at_its_header(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    with open(path, "wb") as f:
        f.write(idx_bytes(0x08, [64 * MiB], b""))
        f.truncate(8 + 64 * MiB)  # a valid, sparse, 64 MiB labels file
    error, peak = peak_while(lambda: datasets.read_images(path))
    assert str(error).startswith(f"{path}: expected images: ubyte N x 28 x 28")
    assert peak < SLACK


# ---------------------------------------------------------------- paths that are not plain files

@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_is_refused_not_waited_on(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte"
    os.mkfifo(path)  # opening it for reading would block until someone writes
    assert "not a regular file" in assert_idx_error(path, read_idx, path)


def test_a_file_name_with_a_newline_or_escape_gives_a_one_line_message(tmp_path):
    path = tmp_path / "labels\n\x1b[2Jsurprise.gz"
    path.write_bytes(b"not gzip")
    with pytest.raises(IDXError) as info:
        read_idx(path)
    message = str(info.value)
    assert message.isprintable()  # no newline, no escape sequence
    assert message.startswith(ascii(str(path))) and "corrupt gzip" in message


# ---------------------------------------------------------------- data folders that do not fit

@pytest.mark.parametrize("validation_size", [12, 13, 10000])
def test_a_training_file_not_bigger_than_the_validation_split_names_the_file(tmp_path,
                                                                            validation_size):
    make_mnist(tmp_path, n_train=12, n_test=5)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    message = assert_idx_error(path, lambda: load_mnist(tmp_path, validation_size=validation_size))
    assert (f"12 training images, not more than validation_size={validation_size}: none"
            " would be left to train on; pass a smaller validation_size") in message
    assert len(load_mnist(tmp_path, validation_size=11).train[0]) == 1


@pytest.mark.parametrize("n_train, n_test, empty", [(0, 5, "train"), (12, 0, "t10k")])
def test_an_empty_images_file_is_an_error_naming_it(tmp_path, n_train, n_test, empty):
    make_mnist(tmp_path, n_train=n_train, n_test=n_test)
    path = tmp_path / f"{empty}-images-idx3-ubyte.gz"
    assert "holds no images" in assert_idx_error(path, lambda: load_mnist(tmp_path,
                                                                           validation_size=0))


# ---------------------------------------------------------------- fuzzing

IDX_DTYPES = st.sampled_from(["u1", "i1", ">i2", ">i4", ">f4", ">f8"])
ARRAYS = hnp.arrays(IDX_DTYPES, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5))
DAMAGE = st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), max_size=4)


def damaged(blob, flips, cut, tail):
    """`blob` with bytes XOR-ed at the given fractions of its length, cut to `cut` bytes (None
    keeps it whole), then `tail` appended."""
    blob = bytearray(blob)
    for where, mask in flips:
        blob[int(where * len(blob))] ^= mask
    return bytes(blob[:cut]) + tail


@examples()
@given(array=ARRAYS, layer=st.sampled_from(["raw", "gzip bytes", "content under gzip"]),
       flips=DAMAGE, cut=st.none() | st.integers(0, 64), tail=st.binary(max_size=8))
def test_damaged_files_give_an_idx_error_or_a_bounded_array(array, layer, flips, cut, tail):
    content = idx_bytes({"u1": 8, "i1": 9, ">i2": 11, ">i4": 12, ">f4": 13, ">f8": 14}[
        array.dtype.str.lstrip("|")], array.shape, array.tobytes())
    if layer == "gzip bytes":
        blob = damaged(gzip.compress(content, mtime=0), flips, cut, tail)
    elif layer == "content under gzip":
        blob = gzip.compress(damaged(content, flips, cut, tail), mtime=0)
    else:
        blob = damaged(content, flips, cut, tail)
    try:
        back = read_idx_from(io.BytesIO(blob), "fuzz", compressed=layer != "raw", max_bytes=MiB)
    except IDXError as e:
        assert str(e).startswith("fuzz: ") and "\n" not in str(e)
        return
    assert back.nbytes <= MiB
    if not flips and cut is None and not tail:
        assert back.tobytes() == array.astype(back.dtype).tobytes()


@examples(0.2)
@given(which=st.sampled_from(datasets.NAMES), flips=DAMAGE, cut=st.none() | st.integers(0, 40),
       tail=st.binary(max_size=4), compressed=st.booleans())
def test_a_damaged_data_folder_gives_an_idx_error_naming_a_file(which, flips, cut, tail,
                                                                 compressed):
    with tempfile.TemporaryDirectory() as folder:
        make_mnist(folder, n_train=4, n_test=3, suffix=".gz" if compressed else "")
        path = Path(folder) / (which + (".gz" if compressed else ""))
        path.write_bytes(damaged(path.read_bytes(), flips, cut, tail))
        try:
            load_mnist(folder, validation_size=1)
        except IDXError as e:
            assert str(e).startswith(folder) and "\n" not in str(e)
