"""Hostile model files: lying sizes, zip bombs, broken headers and metadata, fuzzing, and the
memory bound.

The bound (see scratchnet.modelfile and scratchnet.io): reading a model file allocates at most
the bytes of the arrays it holds plus a few MiB (under 4 MiB for the small files here; ~30 MiB
more for the largest metadata allowed), and only once each size it claims has been checked
against the others, against the file and against max_bytes (1 GiB by default); loading builds
the network first, in under 4x its parameters' bytes, then reads the arrays into it one by one.
Peaks are measured with tracemalloc, which sees NumPy's buffers. Every failure is one
ModelFileError (a ValueError) whose one-line message starts with the file's path.
"""
import functools
import hashlib
import io
import json
import os
import struct
import tempfile
import zipfile
from pathlib import Path

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.lib import format as npy

import memory
import scratchnet as sn
from scratchnet import npz
from scratchnet.files import MAX_BYTES
from scratchnet.io import ModelFileError, load, read
from scratchnet.modelfile import MAX_METADATA_CHARS
from strategies import examples

MiB = 1 << 20
SLACK = 4 * MiB  # buffers, a small file's metadata, tracemalloc's own noise


def peak_while(call):
    """The call's result (or the ModelFileError it raised) and the peak bytes allocated."""
    return memory.peak_while(call, ModelFileError)


def refused(path, *phrases, **kwargs):
    """Load `path`: it must fail with one ModelFileError line naming it and holding `phrases`,
    within SLACK bytes. Returns the message."""
    error, peak = peak_while(lambda: load(path, **kwargs))
    assert isinstance(error, ModelFileError), error
    message = str(error)
    assert message.startswith(f"{path}: ") and message.isprintable(), message
    for phrase in phrases:
        assert phrase in message, message
    assert "allow_pickle" not in message
    assert peak < SLACK, (peak, message)
    return message


# ---------------------------------------------------------------- building files by hand

def npy_bytes(descr, shape, data=b"", fortran_order=False):
    out = io.BytesIO()
    npy.write_array_header_1_0(out, {"descr": descr, "fortran_order": fortran_order,
                                     "shape": shape})
    return out.getvalue() + data


def raw_header(text, data=b"", version=(1, 0)):
    """An .npy whose header is `text`, whatever it says."""
    raw = text.encode("latin1")
    length = struct.pack("<H" if version == (1, 0) else "<I", len(raw))
    return npy.magic(*version) + length + raw + data


def small_model(n_in=4, hidden=5):
    return sn.Network([sn.Dense(n_in, hidden), sn.Sigmoid(), sn.Dense(hidden, 3), sn.Softmax()],
                      loss=sn.CategoricalCrossEntropy(), seed=0)


@functools.lru_cache(maxsize=None)
def small_model_file():
    with tempfile.TemporaryDirectory() as folder:
        sn.save(small_model(), Path(folder) / "m.npz")
        return (Path(folder) / "m.npz").read_bytes()


def contents(network=None):
    """(metadata dict, {key: array}) of a valid model file (of small_model() by default)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.npz"
        if network is None:
            path.write_bytes(small_model_file())    # no save, no fsync, for each fuzz example
        else:
            sn.save(network, path)
        return read(path)


def model_bytes(meta=None, arrays=None, members=None, method=zipfile.ZIP_STORED):
    """A model file's bytes: `meta` and `arrays` (default: a valid small model's), the
    metadata's digests (those 64 characters long) updated to the arrays, then `members`
    ({key: raw .npy bytes}) replacing or adding members as they are."""
    valid_meta, valid_arrays = contents()
    meta = json.loads(json.dumps(valid_meta if meta is None else meta))
    arrays = valid_arrays if arrays is None else arrays
    for key, a in arrays.items():
        entry = meta.get("arrays") if isinstance(meta, dict) else None
        entry = entry.get(key) if isinstance(entry, dict) else None
        if isinstance(entry, dict) and len(str(entry.get("sha256"))) == 64:
            entry["sha256"] = hashlib.sha256(a.tobytes()).hexdigest()
    out, text = io.BytesIO(), json.dumps(meta)
    entries = {"metadata": npy_bytes("<U%d" % max(len(text), 1), (),
                                     text.encode("utf-32-le"))}
    for key, a in arrays.items():
        entries[key] = npy_bytes(a.dtype.str, a.shape, a.tobytes())
    entries.update(members or {})
    with zipfile.ZipFile(out, "w", method) as zf:
        for key, data in entries.items():
            zf.writestr(key + ".npy", data)
    return out.getvalue()


def patch_directory(blob, member, **fields):
    """`blob` with fields of `member`'s central-directory entry replaced."""
    offsets = {"version": (6, "<H"), "flags": (8, "<H"), "method": (10, "<H"),
               "compressed": (20, "<I"), "size": (24, "<I"), "offset": (42, "<I")}
    blob, at = bytearray(blob), -1
    while True:
        at = blob.index(b"PK\x01\x02", at + 1)
        length = struct.unpack_from("<H", blob, at + 28)[0]
        if blob[at + 46:at + 46 + length] == member.encode():
            break
    for name, value in fields.items():
        struct.pack_into(offsets[name][1], blob, at + offsets[name][0], value)
    return bytes(blob)


def write(tmp_path, blob, name="m.npz"):
    path = tmp_path / name
    path.write_bytes(blob)
    return path


# ---------------------------------------------------------------- sizes that lie

@pytest.mark.parametrize("max_bytes", [MAX_BYTES, 1 << 60])
def test_a_tiny_file_whose_header_claims_1e11_elements_fails_at_its_header(tmp_path, max_bytes):
    meta, arrays = contents()
    meta["arrays"]["layers.0.W"]["shape"] = [10 ** 11]
    W = npy_bytes("<f4", (10 ** 11,), arrays["layers.0.W"].tobytes())
    path = write(tmp_path, model_bytes(meta, members={"layers.0.W": W}))
    assert path.stat().st_size < 8000
    refused(path, "layers.0.W: its .npy header says 100000000000 float32 = 400000000000 bytes,"
                  " its zip member holds 80", max_bytes=max_bytes)


def test_a_9_mb_file_whose_member_inflates_to_2_gib_is_refused_unread(tmp_path):
    # A header and a zip entry that agree on 2 GiB of float32, deflated 230-fold (deflate can
    # do 1032): the claim is refused before a byte is inflated or the array allocated.
    meta, arrays = contents()
    meta["arrays"]["layers.0.W"]["shape"] = [1 << 29]
    header = npy_bytes("<f4", (1 << 29,))
    noise = numpy.random.default_rng(0).bytes(9 * MiB)     # deflate cannot shrink it
    blob = model_bytes(meta, members={"layers.0.W": header + noise},
                       method=zipfile.ZIP_DEFLATED)
    path = write(tmp_path, patch_directory(blob, "layers.0.W.npy", size=len(header) + (2 << 30)))
    assert 9 * MiB < path.stat().st_size < 10 * MiB
    refused(path, "its arrays claim 21474", "more than the limit max_bytes=1073741824; "
                  "pass a larger max_bytes=")


def test_a_deflate_bomb_is_refused_however_its_sizes_lie(tmp_path):
    zeros = numpy.zeros((64 * MiB // 4 // 4, 4), numpy.float32)     # 64 MiB, deflates to 64 KB
    meta, arrays = contents()
    meta["arrays"]["layers.0.W"]["shape"] = list(zeros.shape)
    bomb = model_bytes(meta, {**arrays, "layers.0.W": zeros}, method=zipfile.ZIP_DEFLATED)
    assert len(bomb) < 100_000
    # Honest sizes: the 64 MiB are more than max_bytes allows; no byte is inflated.
    refused(write(tmp_path, bomb), "more than the limit max_bytes=16777216",
            max_bytes=16 * MiB)
    # A size beyond what deflate can unpack from so few bytes.
    refused(write(tmp_path, patch_directory(bomb, "layers.0.W.npy", size=(1 << 32) - 1)),
            "zip member 'layers.0.W.npy' claims to unpack", "a zip bomb?")
    # A small size, and a header to match: reading stops there and the CRC-32 disagrees.
    header = npy_bytes("<f4", (5, 4))
    bomb = model_bytes(members={"layers.0.W": header + zeros.tobytes()},
                       method=zipfile.ZIP_DEFLATED)
    refused(write(tmp_path, patch_directory(bomb, "layers.0.W.npy", size=len(header) + 80)),
            "layers.0.W: unreadable zip member (corrupted?): Bad CRC-32")


@pytest.mark.parametrize("config, shape", [
    ({"n_in": 784, "n_out": 10 ** 8}, None),                    # the arrays stay (10, 784)
    ({"n_in": 784, "n_out": 10 ** 8}, [10 ** 8, 784]),          # the metadata says so too
    ({"n_in": 10 ** 30, "n_out": 10}, [10, 10 ** 30]),
])
def test_metadata_claiming_dense_784_by_10_to_the_8_is_refused_before_building(
        tmp_path, config, shape):
    meta, arrays = contents(small_model(n_in=784, hidden=10))
    meta["layers"][0]["config"].update(config)
    if shape:
        meta["arrays"]["layers.0.W"]["shape"] = shape
    message = refused(write(tmp_path, model_bytes(meta, arrays)), "layers.0.W")
    assert ("(100000000, 784)" in message) if shape is None else ("header says" in message)


@pytest.mark.parametrize("layers, key", [
    ([sn.Conv2D(1, 2, 3), sn.Flatten(), sn.Dense(8, 3), sn.Softmax()], ("Conv2D", "out_channels")),
    ([sn.Dense(4, 3), sn.BatchNorm(3), sn.Softmax()], ("BatchNorm", "n_features")),
])
def test_any_layer_whose_config_claims_more_than_its_arrays_is_refused(tmp_path, layers, key):
    meta, arrays = contents(sn.Network(layers, loss=sn.CategoricalCrossEntropy()))
    [spec] = [s for s in meta["layers"] if s["type"] == key[0]]
    spec["config"][key[1]] = 10 ** 9
    refused(write(tmp_path, model_bytes(meta, arrays)), "owns layers.", "the file holds shape")


def test_a_zip_directory_of_40000_entries_is_refused_unparsed(tmp_path):
    blob = zipfile_with_entries(40_000)
    error, peak = peak_while(lambda: load(write(tmp_path, blob)))
    assert isinstance(error, ModelFileError) and "corrupt zip" in str(error), error
    assert peak < SLACK


def test_more_members_than_a_model_has_are_refused(tmp_path):
    refused(write(tmp_path, zipfile_with_entries(5000)), "5000 zip members, more than 4097")


def zipfile_with_entries(n):
    """A zip whose directory lists `n` empty members (one entry copied n times)."""
    one = io.BytesIO()
    with zipfile.ZipFile(one, "w") as zf:
        zf.writestr("a.npy", b"")
    data = one.getvalue()
    start = data.index(b"PK\x01\x02")
    end = data.index(b"PK\x05\x06")
    entry = data[start:end]
    directory = entry * n
    eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, min(n, 0xFFFF), min(n, 0xFFFF),
                       len(directory), start, 0)
    return data[:start] + directory + eocd


# ---------------------------------------------------------------- zip features

@pytest.mark.parametrize("fields, phrase", [
    ({"flags": 0x1}, "zip member 'layers.0.W.npy' is encrypted"),
    ({"flags": 0x41}, "is encrypted"),
    ({"method": 99}, "uses compression method 99"),
    ({"method": 12}, "uses compression method 12"),   # bzip2: not what a model file uses
    ({"version": 99}, "uses a zip feature this reader does not: zip file version 9.9"),
    ({"compressed": 100}, "claims to unpack 100 bytes into 208"),
    ({"compressed": 1 << 30, "size": 1 << 30}, "past the end of the"),
    ({"offset": 1 << 31}, "past the end of the"),
    ({"offset": 3}, "layers.0.W: unreadable zip member (corrupted?): Bad magic number"),
])
def test_zip_entries_this_reader_does_not_read_are_refused(tmp_path, fields, phrase):
    refused(write(tmp_path, patch_directory(model_bytes(), "layers.0.W.npy", **fields)), phrase)


def test_a_zip_of_other_things_is_not_a_model(tmp_path):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("readme.txt", "hello")
    refused(write(tmp_path, out.getvalue()), "unexpected zip member 'readme.txt'")
    numpy.savez(tmp_path / "plain.npz", x=numpy.zeros(3))
    refused(tmp_path / "plain.npz", "not a scratchnet model file: no metadata.npy")


# ---------------------------------------------------------------- broken .npy headers

@pytest.mark.parametrize("member, phrase", [
    (b"", "layers.0.W: not a .npy array"),
    (b"PK\x03\x04 not an array at all", "not a .npy array"),
    (npy.magic(3, 0) + b"\x10\x00\x00\x00{}", ".npy format version (3, 0)"),
    (npy.magic(1, 0) + b"\xff\xff", "a 65535-byte .npy header, more than 4096"),
    (npy.magic(2, 0) + b"\xff\xff\xff\xff", "a 4294967295-byte .npy header"),
    (npy.magic(1, 0) + b"\x40\x00{'descr'", "unreadable zip member"),
    (raw_header("[1, 2]"), "broken .npy header: Header is not a dictionary"),
    (raw_header("{'descr': '<f4', 'fortran_order': False, 'shape': (5, 4), '''"),
     "broken .npy header"),                                # numpy: tokenize.TokenError
    (raw_header("(" * 300), "broken .npy header"),
    (raw_header("{'descr': [('a',)], 'fortran_order': False, 'shape': (5, 4)}"),
     "broken .npy header"),
    (raw_header("{'descr': '<f4', 'fortran_order': False, 'shape': (" + "9" * 4000 + ",)}"),
     "layers.0.W: its .npy header says 9999"),
    (npy_bytes("|O", (1,), b"\x80\x04N."), "layers.0.W holds object values"),
    (npy_bytes("<f4", (4, 5), bytes(80), fortran_order=True), "Fortran order"),
    (npy_bytes("<f4", (-5, -4), bytes(80)), "bad shape (-5, -4)"),
    (npy_bytes("<f4", (1,) * 20, bytes(4)), "bad shape"),
    (npy_bytes("<i4", (5, 4), bytes(80)), "layers.0.W holds int32 values, the metadata says"),
    (npy_bytes("<f8", (5, 4), bytes(160)), "holds float64 values, the metadata says float32"),
    (npy_bytes("<f4", (4, 5), bytes(80)), "header says shape (4, 5), the metadata (5, 4)"),
    (npy_bytes("<f4", (5, 4), bytes(79)), "header says 5x4 float32 = 80 bytes, its zip member "
                                          "holds 79"),
    (npy_bytes("<f4", (5, 4), bytes(81)), "its zip member holds 81"),
    (npy_bytes("<f4", (5, 4), numpy.full(20, numpy.nan, numpy.float32).tobytes()),
     "does not match its checksum"),
])
def test_broken_npy_headers_are_refused(tmp_path, member, phrase):
    refused(write(tmp_path, model_bytes(members={"layers.0.W": member})), phrase)


@pytest.mark.parametrize("value", [numpy.nan, numpy.inf, -numpy.inf])
def test_non_finite_weights_are_refused_on_load(tmp_path, value):
    meta, arrays = contents()
    arrays["layers.2.W"][1, 2] = value      # model_bytes makes the digest match
    refused(write(tmp_path, model_bytes(meta, arrays)), "layers.2.W holds NaN or infinite")


# ---------------------------------------------------------------- metadata that is wrong

def change(**changes):
    def apply(meta):
        for path, value in changes.items():
            *parents, last = path.split("__")
            target = meta
            for p in parents:
                target = target[int(p)] if isinstance(target, list) else target[p]
            last = int(last) if isinstance(target, list) else last
            if value is DELETE:
                del target[last]
            else:
                target[last] = value
        return meta
    return apply


DELETE = object()
LAYER0 = "layers__0__config"

BAD_METADATA = [
    (change(dtype=DELETE), "metadata lacks dtype"),
    (change(dtype=3), "dtype must be one of ('float32', 'float64'), got 3"),
    (change(dtype="float16"), "dtype must be one of"),
    (change(dtype=None), "dtype must be one of"),
    (change(format="zip"), "not a scratchnet model file"),
    (change(format=DELETE), "not a scratchnet model file"),
    (change(version=True), "model format version True"),
    (change(version="1"), "model format version '1'"),
    (change(version=DELETE), "model format version None"),
    (change(arrays=[]), "arrays must be"),
    (change(arrays={}), "arrays do not match the metadata's"),
    (change(**{"arrays__layers.0.W": DELETE}), "arrays do not match"),
    (change(**{"arrays__layers.0.W__shape": [5, True]}), "arrays must be"),
    (change(**{"arrays__layers.0.W__shape": [5, -4]}), "arrays must be"),
    (change(**{"arrays__layers.0.W__shape": [5, 4.0]}), "arrays must be"),
    (change(**{"arrays__layers.0.W__shape": "5x4"}), "arrays must be"),
    (change(**{"arrays__layers.0.W__sha256": "xyz"}), "arrays must be"),
    (change(**{"arrays__layers.0.W": [5, 4]}), "arrays must be"),
    (change(layers=DELETE), "metadata lacks layers"),
    (change(layers={"0": {}}), "layers must be a list"),
    (change(layers__0=["Dense", {}]), "layers must be a list"),
    (change(layers__0__config=[4, 5]), "layers must be a list of {\"type\": str"),
    (change(layers__0__config=DELETE), "layers must be a list"),
    (change(layers__0__type=5), "layers must be a list"),
    (change(layers__0__type="Evil"), "layer 0: unknown layer type 'Evil'"),
    (change(layers__0__type="__class__"), "layer 0: unknown layer type"),
    (change(**{f"{LAYER0}__bogus": 1}), "unexpected keyword argument 'bogus'"),
    (change(**{f"{LAYER0}__n_in": "4"}), "layer 0: cannot build a Dense"),
    (change(**{f"{LAYER0}__n_in": 4.0}), "layer 0: cannot build a Dense"),
    (change(**{f"{LAYER0}__n_in": True}), "layer 0: cannot build a Dense"),
    (change(**{f"{LAYER0}__n_in": DELETE}), "layer 0: cannot build a Dense"),
    (change(**{f"{LAYER0}__init": "bogus"}), "cannot rebuild the architecture: init must be"),
    (change(**{f"{LAYER0}__init": [1]}), "cannot rebuild the architecture"),
    (change(layers__1__config={"x": 1}), "layer 1: cannot build a Sigmoid"),
    (change(layers=[]), "arrays that no layer owns"),
    (change(loss="Evil"), "unknown cost or regularizer 'Evil'"),
    (change(loss=5), "loss must be a string"),
    (change(loss=DELETE), "metadata lacks loss"),
    (change(regularizer={"type": "L3", "lmbda": 1}), "unknown cost or regularizer 'L3'"),
    (change(regularizer={"type": "L2", "lmbda": -1}), "regularizer must be null or"),
    (change(regularizer={"type": "L2", "lmbda": "x"}), "regularizer must be"),
    (change(regularizer={"type": "L2", "lmbda": 10 ** 400}), "regularizer must be"),
    (change(regularizer={"type": "L2"}), "regularizer must be"),
    (change(regularizer=[]), "regularizer must be"),
    (change(regularizer=DELETE), "metadata lacks regularizer"),
    (change(info=[1, 2]), "info must be an object"),
    (lambda meta: [meta], "not a scratchnet model file"),
    (lambda meta: "text", "not a scratchnet model file"),
]


@pytest.mark.parametrize("mutate, phrase", BAD_METADATA)
def test_metadata_of_wrong_structure_or_types_is_refused(tmp_path, mutate, phrase):
    meta, arrays = contents()
    refused(write(tmp_path, model_bytes(mutate(meta), arrays)), phrase)


@pytest.mark.parametrize("text, phrase", [
    ('{"format": NaN}', "unreadable metadata (not JSON): NaN is not a number"),
    ('{"format": 1e999}', "unreadable metadata (not JSON): number '1e999' out of range"),
    ("[" * 100_000 + "]" * 100_000, "unreadable metadata (not JSON)"),
    ("{not json", "unreadable metadata (not JSON)"),
    ("", "unreadable metadata (not JSON)"),
])
def test_metadata_that_is_not_json_is_refused(tmp_path, text, phrase):
    member = npy_bytes("<U%d" % max(len(text), 1), (), text.encode("utf-32-le").ljust(4, b"\0"))
    refused(write(tmp_path, model_bytes(members={"metadata": member})), phrase)


@pytest.mark.parametrize("member, phrase", [
    (npy_bytes("<U4", (), b"\xff\xff\xff\xff" * 4), "unreadable metadata"),   # not a code point
    (npy_bytes("<f4", (), bytes(4)), "metadata must be a 0-d unicode array"),
    (npy_bytes("<U1", (2,), bytes(8)), "metadata must be a 0-d unicode array"),
    (npy_bytes("<U%d" % (1 << 28), ()), "metadata: its .npy header says () <U268435456 = "
                                        "1073741824 bytes, its zip member holds 0"),
    (npy_bytes("<U10", (), bytes(8)), "metadata: its .npy header says () <U10 = 40 bytes"),
])
def test_metadata_that_is_not_text_is_refused(tmp_path, member, phrase):
    refused(write(tmp_path, model_bytes(members={"metadata": member})), phrase)


# ---------------------------------------------------------------- things that are not model files

def test_a_text_file_is_refused_without_numpys_pickle_advice(tmp_path):
    path = write(tmp_path, b"This is my model, honest.\n" * 10, "model.npz")
    refused(path, "not a readable .npz (truncated or corrupted?): File is not a zip file")


@pytest.mark.parametrize("blob", [b"", b"PK\x05\x06", b"PK\x03\x04" + bytes(100)])
def test_empty_and_stub_files_are_refused(tmp_path, blob):
    refused(write(tmp_path, blob), "not a readable .npz")


def test_a_directory_is_refused_as_a_directory(tmp_path):
    (tmp_path / "model.npz").mkdir()
    refused(tmp_path / "model.npz", "is a directory, not a model file")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_is_refused_not_waited_on(tmp_path):
    os.mkfifo(tmp_path / "model.npz")
    refused(tmp_path / "model.npz", "not a regular file")


def test_an_unreadable_file_names_the_problem(tmp_path, monkeypatch):
    path = write(tmp_path, model_bytes())

    def no_permission(*args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(npz.os, "open", no_permission)
    refused(path, "cannot read: Permission denied")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root reads files whatever their permissions")
def test_a_file_without_read_permission_names_the_problem(tmp_path):
    path = write(tmp_path, model_bytes())
    path.chmod(0)
    refused(path, "cannot read: Permission denied")


def test_a_file_name_with_a_newline_or_escape_gives_a_one_line_message(tmp_path):
    path = write(tmp_path, b"hello", "model\n\x1b[2Jsurprise.npz")
    with pytest.raises(ModelFileError) as info:
        load(path)
    assert str(info.value).startswith(ascii(str(path)) + ": not a readable .npz")
    assert str(info.value).isprintable()


# ---------------------------------------------------------------- the memory bound

@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_a_valid_file_costs_its_arrays_to_read_and_under_4x_to_load(tmp_path, method):
    network = sn.Network([sn.Dense(1000, 1000), sn.ReLU(), sn.Dense(1000, 10), sn.Softmax()],
                         loss=sn.CategoricalCrossEntropy())
    nbytes = sum(a.nbytes for a in network.parameters().values())      # float32
    path = write(tmp_path, model_bytes(*contents(network), method=method))
    (meta, arrays), peak = peak_while(lambda: read(path))
    assert sum(a.nbytes for a in arrays.values()) == nbytes
    assert peak < nbytes + SLACK
    del arrays
    loaded, peak = peak_while(lambda: load(path))
    assert loaded.n_params == network.n_params
    assert peak < 4 * nbytes + SLACK
    del loaded
    loaded, peak = peak_while(lambda: load(path, dtype="float64"))      # a network twice as big
    assert loaded.dtype == numpy.float64 and peak < 4 * (2 * nbytes) + SLACK


def test_the_largest_metadata_is_bounded_and_a_larger_one_refused_unread(tmp_path):
    n = MAX_METADATA_CHARS
    text = "[" + ",".join(["{}"] * (n // 3 - 1)) + "]"     # the most Python objects per char
    assert len(text) <= n
    member = npy_bytes("<U%d" % len(text), (), text.encode("utf-32-le"))
    error, peak = peak_while(lambda: load(write(tmp_path, model_bytes(members={
        "metadata": member}))))
    assert "not a scratchnet model file" in str(error) and peak < 40 * MiB
    text = " " * (n + 1)
    member = npy_bytes("<U%d" % len(text), (), text.encode("utf-32-le"))
    refused(write(tmp_path, model_bytes(members={"metadata": member})),
            f"metadata must be a 0-d unicode array of at most {n} characters")


# ---------------------------------------------------------------- fuzzing

VALID = model_bytes()
# Where the structure is: zip records and .npy magic strings; mutations start near them or anywhere.
ANCHORS = sorted({0, len(VALID)} | {i for sig in (b"PK\x01\x02", b"PK\x03\x04", b"PK\x05\x06",
                                                  b"\x93NUMPY")
                                    for i in range(len(VALID)) if VALID.startswith(sig, i)})
INTERESTING = [b"\x00", b"\xff", b"\x7f\xff\xff\xff", b"\xff\xff\xff\xff", b"\x00\x00\x00\x80",
               b"\x01\x00", b"(", b"'", b"9999999999", b"\\", b"\x00\x00\x00\x00"]


@st.composite
def damage(draw):
    """(where, kind, bytes): a byte flip, an overwrite with an interesting value, an insertion,
    a deletion or a truncation, near a zip or .npy header or anywhere."""
    anchor = draw(st.sampled_from(ANCHORS) | st.integers(0, len(VALID)))
    where = min(len(VALID), anchor + draw(st.integers(0, 48)))
    kind = draw(st.sampled_from(["flip", "overwrite", "insert", "delete", "truncate"]))
    payload = draw(st.sampled_from(INTERESTING) | st.binary(min_size=1, max_size=8))
    return where, kind, payload


def damaged(blob, damages):
    blob = bytearray(blob)
    for where, kind, payload in damages:
        where = min(where, len(blob))
        if kind == "flip" and where < len(blob):
            blob[where] ^= payload[0] or 1
        elif kind == "overwrite":
            blob[where:where + len(payload)] = payload
        elif kind == "insert":
            blob[where:where] = payload
        elif kind == "delete":
            del blob[where:where + len(payload)]
        elif kind == "truncate":
            del blob[where:]
    return bytes(blob)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def load_or_refuse(path):
    """Load `path`: a network, or one ModelFileError line naming it, within SLACK bytes."""
    result, peak = peak_while(lambda: load(path))
    if isinstance(result, ModelFileError):
        assert str(result).startswith(f"{path}: ") and str(result).isprintable(), result
    else:
        assert isinstance(result, sn.Network)
    assert peak < SLACK, (peak, result)


@examples()
@given(damages=st.lists(damage(), min_size=1, max_size=4))
def test_damaged_files_give_a_model_file_error_or_a_network(folder, damages):
    load_or_refuse(write(folder, damaged(VALID, damages), "fuzz.npz"))


def _containers(inner):
    return st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8)
                    | st.floats(allow_nan=False, allow_infinity=False), _containers, max_leaves=8)


@st.composite
def edited_metadata(draw):
    """A valid model's metadata with a few values (anywhere in it) replaced, deleted or added."""
    meta = contents()[0]
    for _ in range(draw(st.integers(1, 3))):
        target = meta
        while True:     # walk down to a random place
            keys = list(target) if isinstance(target, dict) else list(range(len(target)))
            key = draw(st.sampled_from(keys)) if keys else None
            if key is None or not isinstance(target[key], (dict, list)) or draw(st.booleans()):
                break
            target = target[key]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if key is None or action == "add":
            new_key = draw(st.text(max_size=8)) if isinstance(target, dict) else None
            if new_key is not None:
                target[new_key] = draw(JSON)
            else:
                target.append(draw(JSON))
        elif action == "delete":
            del target[key]
        else:
            target[key] = draw(JSON | st.integers(-2, 10 ** 9) | st.sampled_from(
                ["Dense", "Conv2D", "BatchNorm", "L2", "float64", "NLL", "he"]))
    return meta


@examples()
@given(meta=edited_metadata())
def test_edited_metadata_gives_a_model_file_error_or_a_network(folder, meta):
    load_or_refuse(write(folder, model_bytes(meta), "edited.npz"))
