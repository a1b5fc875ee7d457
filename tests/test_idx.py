"""Tests for scratchnet.idx: round trips, the byte layout, every malformed file, atomic writes.

Hostile files (lying headers, gzip bombs, fuzzing, memory bounds) are in test_hostile_idx.py.
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

from mnist_files import assert_idx_error, idx_bytes
from scratchnet.idx import (
    DataNotFoundError,
    IDXError,
    parse_idx,
    read_idx,
    read_idx_from,
    write_idx,
)
from strategies import examples

# dtypes IDX can hold, in both byte orders where that means anything
IDX_DTYPES = st.sampled_from(["u1", "i1", "<i2", ">i2", "<i4", ">i4", "<f4", ">f4", "<f8", ">f8"])


# ---------------------------------------------------------------- round trips and layout

@examples(0.5)
@given(array=hnp.arrays(IDX_DTYPES, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0,
                                                      max_side=4)),
       suffix=st.sampled_from(["", ".gz"]))
def test_write_then_read_gives_the_same_array(array, suffix):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("a.idx" + suffix)
        write_idx(path, array)
        back = read_idx(path)
    assert back.shape == array.shape
    assert back.dtype == array.dtype.newbyteorder("=")
    assert back.tobytes() == array.astype(back.dtype).tobytes()  # bit for bit, NaNs included
    assert back.flags.writeable


def test_write_idx_lays_out_bytes_as_the_format_says(tmp_path):
    write_idx(tmp_path / "u8", np.array([[1, 2, 3], [4, 5, 6]], dtype=np.uint8))
    assert (tmp_path / "u8").read_bytes() == bytes.fromhex("00000802 00000002 00000003"
                                                           "010203040506")
    write_idx(tmp_path / "i16", np.array([-2, 258], dtype="<i2"))
    assert (tmp_path / "i16").read_bytes() == bytes.fromhex("00000B01 00000002 FFFE 0102")
    write_idx(tmp_path / "f64.gz", np.array([1.5]))
    packed = (tmp_path / "f64.gz").read_bytes()
    assert packed[:2] == b"\x1f\x8b"
    assert gzip.decompress(packed) == bytes.fromhex("00000E01 00000001 3FF8000000000000")
    write_idx(tmp_path / "again.gz", np.array([1.5]))
    assert (tmp_path / "again.gz").read_bytes() == packed  # no time stamp, no temporary's name


def test_read_idx_reads_mnist_magic_numbers(tmp_path):
    (tmp_path / "labels").write_bytes(idx_bytes(0x08, [3], bytes([7, 0, 9])))
    (tmp_path / "images").write_bytes(idx_bytes(0x08, [2, 1, 2], bytes([0, 255, 1, 2])))
    assert read_idx(tmp_path / "labels").tolist() == [7, 0, 9]
    assert read_idx(tmp_path / "images").tolist() == [[[0, 255]], [[1, 2]]]


def test_read_idx_from_reads_from_the_streams_position():
    blob = b"junk" + idx_bytes(0x0B, [2], bytes.fromhex("FFFE 0102"))
    f = io.BytesIO(blob)
    f.seek(4)
    assert read_idx_from(f, "blob").tolist() == [-2, 258]
    f = io.BytesIO(b"junk" + gzip.compress(blob[4:]))
    f.seek(4)
    assert read_idx_from(f, "blob", compressed=True).tolist() == [-2, 258]


def test_check_header_refuses_before_reading_the_data(tmp_path):
    path = tmp_path / "x"
    write_idx(path, np.zeros((2, 3), np.uint8))
    seen = []

    def check(dtype, dims):
        seen.append((dtype, dims))
        return "not what I wanted"

    message = assert_idx_error(path, lambda: read_idx(path, check_header=check))
    assert message == f"{path}: not what I wanted"
    assert seen == [(np.dtype(">u1"), [2, 3])]
    assert read_idx(path, check_header=lambda dtype, dims: None).shape == (2, 3)


def test_write_idx_refuses_dtypes_idx_cannot_hold(tmp_path):
    for array in (np.zeros(3, np.int64), np.zeros(3, bool), np.zeros(3, np.uint16)):
        with pytest.raises(ValueError, match="array: dtype"):
            write_idx(tmp_path / "x", array)
    assert not list(tmp_path.iterdir())


def test_write_idx_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "x.idx.gz"
    write_idx(path, np.arange(4, dtype=np.uint8))
    before = path.read_bytes()

    def crash(src, dst):
        raise OSError("simulated crash")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        write_idx(path, np.arange(9, dtype=np.int32))
    assert path.read_bytes() == before  # the old file is whole
    assert [p.name for p in tmp_path.iterdir()] == ["x.idx.gz"]  # and no temporary is left
    monkeypatch.undo()
    write_idx(path, np.arange(9, dtype=np.int32))  # overwriting works
    assert read_idx(path).tolist() == list(range(9))


# ---------------------------------------------------------------- malformed files

@pytest.mark.parametrize("content, expected", [
    (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "not an IDX file: magic starts 0x0100"),
    (b"\x00\x07\x08\x01\x00\x00\x00\x01\x05", "not an IDX file"),
    (gzip.compress(idx_bytes(0x08, [1], b"\x05")), "looks gzip-compressed"),
    (b"\x00\x00\x07\x01\x00\x00\x00\x01\x05", "unknown IDX type code 0x07"),
    (b"\x00\x00", "truncated header: 2 bytes"),
    (b"", "truncated header: 0 bytes"),
    (bytes.fromhex("00000803 0000EA60 0000001C"), "truncated header: 3 dimensions need 16"),
    (idx_bytes(0x08, [3, 2, 2], b"12345"),
     "truncated: header says 3x2x2 = 12 bytes of data, file has 5"),
    (idx_bytes(0x0C, [2], b"\x00" * 9), "1 extra bytes after the data: header says 2 = 8 bytes"),
    (idx_bytes(0x08, [60000, 28, 28], b"\x00" * 1000),
     "truncated: header says 60000x28x28 = 47040000 bytes of data, file has 1000"),
    (idx_bytes(0x08, [1] * 100, b"\x00"), "cannot make an array"),
])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_malformed_idx_is_an_error_naming_the_file(tmp_path, content, expected, suffix):
    path = tmp_path / ("train-images-idx3-ubyte" + suffix)
    path.write_bytes(gzip.compress(content) if suffix else content)
    if suffix:  # how much a gzip holds is known only once decompressed (and never counted)
        expected = expected.split(", file has")[0].removeprefix("1 ")
    assert expected in assert_idx_error(path, read_idx, path)


@pytest.mark.parametrize("damage", ["not gzip", "cut short", "flipped byte"])
def test_corrupt_gzip_is_an_error_naming_the_file(tmp_path, damage):
    packed = gzip.compress(idx_bytes(0x08, [500], bytes(range(250)) * 2))
    packed = {"not gzip": b"plain text, not gzip",
              "cut short": packed[:len(packed) // 2],
              "flipped byte": packed[:-6] + bytes([packed[-6] ^ 0xFF]) + packed[-5:]}[damage]
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(packed)
    assert "corrupt gzip" in assert_idx_error(path, read_idx, path)


def test_missing_file_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "nowhere" / "train-labels-idx1-ubyte.gz"
    assert "no such file" in assert_idx_error(path, read_idx, path, kind=DataNotFoundError)
    assert "not a regular file" in assert_idx_error(tmp_path, read_idx, tmp_path)  # a folder


@examples()
@given(st.binary(max_size=64))
def test_any_bytes_give_an_array_or_an_idx_error(blob):
    try:
        parse_idx(blob, "blob")
    except IDXError as e:
        assert str(e).startswith("blob: ")


def test_every_cut_of_a_good_file_is_an_idx_error():
    good = idx_bytes(0x0B, [2, 3], bytes(range(12)))
    assert parse_idx(good).tolist() == [[1, 515, 1029], [1543, 2057, 2571]]
    for n in range(len(good)):
        with pytest.raises(IDXError):
            parse_idx(good[:n])
