"""Tests for scratchnet.data: IDX round trips, every malformed file, search order, download.

Everything runs on small synthetic files in tmp_path, without network: an autouse fixture lets
urllib open file:// URLs only.  The real MNIST (Fashion-MNIST) is checked when SCRATCHNET_DATA
(SCRATCHNET_FASHION_DATA, or Debian's /usr/share/datasets/fashion-mnist) is there.
"""
import gzip
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from scratchnet import data
from scratchnet.data import (DataNotFoundError, IDXError, load_fashion_mnist, load_mnist,
                             parse_idx, read_examples, read_idx, read_images, read_labels,
                             write_idx)

# dtypes IDX can hold, in both byte orders where that means anything
IDX_DTYPES = st.sampled_from(["u1", "i1", "<i2", ">i2", "<i4", ">i4", "<f4", ">f4", "<f8", ">f8"])


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Let urlopen open file:// URLs only, so no test can reach the network."""
    real_urlopen = urllib.request.urlopen

    def urlopen(url, *args, **kwargs):
        if not str(url).startswith("file:"):
            raise urllib.error.URLError(f"network disabled in tests: {url}")
        return real_urlopen(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)


def assert_idx_error(path, call, *args, kind=IDXError):
    """`call` raises `kind` with a one-line message that starts with the path; the message."""
    with pytest.raises(kind) as info:
        call(*args)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert "\n" not in message
    return message


def idx_bytes(code, dims, payload):
    return bytes([0, 0, code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims) + payload


def make_mnist(folder, n_train=12, n_test=5, *, suffix=".gz", seed=0, names=data.NAMES):
    """Write a tiny MNIST-format data set; returns {name: array} as written."""
    rng = np.random.default_rng(seed)
    arrays = {
        data.TRAIN_IMAGES: rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        data.TRAIN_LABELS: rng.integers(0, 10, n_train, dtype=np.uint8),
        data.TEST_IMAGES: rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        data.TEST_LABELS: rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    Path(folder).mkdir(parents=True, exist_ok=True)
    for name, file_name in zip(data.NAMES, names):
        write_idx(Path(folder) / (file_name + suffix), arrays[name])
    return arrays


def sha256_table(arrays):
    return {name: hashlib.sha256(idx_bytes(0x08, a.shape, a.tobytes())).hexdigest()
            for name, a in arrays.items()}


def synthetic(tmp_path, **fields):
    """MNIST's Source with nowhere to look but the given fields (cache in tmp_path)."""
    defaults = dict(folders=(), cache=tmp_path / "cache", mirrors=(), sha256={})
    return data.MNIST._replace(**{**defaults, **fields})


# ---------------------------------------------------------------- round trips and layout

@settings(max_examples=60, deadline=None)
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


def test_read_idx_reads_mnist_magic_numbers(tmp_path):
    (tmp_path / "labels").write_bytes(idx_bytes(0x08, [3], bytes([7, 0, 9])))
    (tmp_path / "images").write_bytes(idx_bytes(0x08, [2, 1, 2], bytes([0, 255, 1, 2])))
    assert read_idx(tmp_path / "labels").tolist() == [7, 0, 9]
    assert read_idx(tmp_path / "images").tolist() == [[[0, 255]], [[1, 2]]]


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
def test_malformed_idx_is_an_error_naming_the_file(tmp_path, content, expected):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(content)
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
    for call in (read_idx, read_labels, read_images):
        assert "no such file" in assert_idx_error(path, call, path, kind=DataNotFoundError)


@settings(max_examples=200, deadline=None)
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


def test_labels_above_9_are_an_error_naming_the_file(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    write_idx(path, np.array([3, 9, 10, 200], dtype=np.uint8))
    message = assert_idx_error(path, read_labels, path)
    assert "2 labels out of range 0..9, the first is 10 at index 2" in message
    labels = read_labels(path, num_classes=201)
    assert labels.dtype == np.int64 and labels.tolist() == [3, 9, 10, 200]


def test_images_and_labels_must_have_their_formats(tmp_path):
    labels, images = tmp_path / "labels", tmp_path / "images"
    write_idx(labels, np.zeros(4, np.uint8))
    write_idx(images, np.zeros((4, 28, 28), np.uint8))
    assert "expected images" in assert_idx_error(labels, read_images, labels)
    assert "expected labels" in assert_idx_error(images, read_labels, images)
    for bad in (np.zeros((4, 28, 27), np.uint8), np.zeros((4, 28, 28), np.float32)):
        write_idx(images, bad)
        assert "expected images" in assert_idx_error(images, read_images, images)


def test_image_and_label_counts_must_agree(tmp_path):
    images, labels = tmp_path / "train-images-idx3-ubyte", tmp_path / "train-labels-idx1-ubyte"
    write_idx(images, np.zeros((5, 28, 28), np.uint8))
    write_idx(labels, np.zeros(4, np.uint8))
    message = assert_idx_error(images, read_examples, images, labels)
    assert f"5 images, but {labels} has 4 labels" in message


# ---------------------------------------------------------------- loading

def test_load_mnist_splits_and_scales_as_nielsen(tmp_path):
    arrays = make_mnist(tmp_path, n_train=12, n_test=5)
    train, validation, test = load_mnist(tmp_path, validation_size=4)
    images = arrays[data.TRAIN_IMAGES].reshape(12, 784) / 255
    np.testing.assert_allclose(train[0], images[:8], rtol=1e-6)
    np.testing.assert_allclose(validation[0], images[8:], rtol=1e-6)
    np.testing.assert_allclose(test[0], arrays[data.TEST_IMAGES].reshape(5, 784) / 255, rtol=1e-6)
    assert train[1].tolist() == arrays[data.TRAIN_LABELS][:8].tolist()
    assert validation[1].tolist() == arrays[data.TRAIN_LABELS][8:].tolist()
    assert test[1].tolist() == arrays[data.TEST_LABELS].tolist()
    for X, y in (train, validation, test):
        assert X.dtype == np.float32 and y.dtype == np.int64
        assert X.min() >= 0 and X.max() <= 1


def test_load_mnist_channel_first_float64_and_empty_validation(tmp_path):
    make_mnist(tmp_path, n_train=6, n_test=3, suffix="")  # uncompressed files
    dataset = load_mnist(tmp_path, flatten=False, dtype="float64", validation_size=0)
    assert dataset.train[0].shape == (6, 1, 28, 28) and dataset.train[0].dtype == np.float64
    assert dataset.validation[0].shape == (0, 1, 28, 28)
    assert dataset.validation[1].shape == (0,) and dataset.validation[1].dtype == np.int64
    assert dataset.test[0].shape == (3, 1, 28, 28)
    assert load_mnist(tmp_path, validation_size=0).validation[0].shape == (0, 784)


def test_load_mnist_accepts_the_dotted_file_names(tmp_path):
    dotted = [name.replace("-idx", ".idx") for name in data.NAMES]
    make_mnist(tmp_path, n_train=3, n_test=2, names=dotted)
    assert load_mnist(tmp_path, validation_size=1).train[0].shape == (2, 784)


@pytest.mark.parametrize("kwargs, expected", [
    (dict(dtype="int32"), "dtype must be float32 or float64, got 'int32'"),
    (dict(dtype="no such type"), "dtype must be"),
    (dict(validation_size=-1), "validation_size must be an int >= 0, got -1"),
    (dict(validation_size=True), "validation_size must be an int"),
    (dict(validation_size=2.0), "validation_size must be an int"),
    (dict(validation_size=13), "validation_size must be at most 12"),
])
def test_load_mnist_names_bad_parameters(tmp_path, kwargs, expected):
    make_mnist(tmp_path)
    with pytest.raises(ValueError, match=expected):
        load_mnist(tmp_path, **kwargs)


def test_explicit_path_comes_before_the_environment(tmp_path, monkeypatch):
    explicit = make_mnist(tmp_path / "explicit", seed=1)
    from_env = make_mnist(tmp_path / "env", seed=2)
    monkeypatch.setenv("SCRATCHNET_DATA", str(tmp_path / "env"))
    source = synthetic(tmp_path)
    labels = load_mnist(tmp_path / "explicit", validation_size=0, source=source).test[1]
    assert labels.tolist() == explicit[data.TEST_LABELS].tolist()
    labels = load_mnist(validation_size=0, source=source).test[1]
    assert labels.tolist() == from_env[data.TEST_LABELS].tolist()


def test_an_incomplete_explicit_folder_is_an_error_not_a_fallback(tmp_path, monkeypatch):
    make_mnist(tmp_path / "env")
    make_mnist(tmp_path / "cache")
    make_mnist(tmp_path / "explicit")
    (tmp_path / "explicit" / "t10k-labels-idx1-ubyte.gz").unlink()
    monkeypatch.setenv("SCRATCHNET_DATA", str(tmp_path / "env"))
    source = synthetic(tmp_path)
    message = assert_idx_error(tmp_path / "explicit", load_mnist, tmp_path / "explicit",
                               kind=DataNotFoundError)
    assert "from the path argument" in message and "lacks t10k-labels-idx1-ubyte" in message
    monkeypatch.setenv("SCRATCHNET_DATA", str(tmp_path / "explicit"))
    message = assert_idx_error(tmp_path / "explicit", load_mnist, kind=DataNotFoundError)
    assert "$SCRATCHNET_DATA" in message
    with pytest.raises(DataNotFoundError):
        load_mnist(source=source)


def test_without_path_or_variable_the_cache_folder_is_used(tmp_path, monkeypatch):
    monkeypatch.delenv("SCRATCHNET_DATA", raising=False)
    arrays = make_mnist(tmp_path / "cache")
    dataset = load_mnist(validation_size=2, download=False, source=synthetic(tmp_path))
    assert dataset.test[1].tolist() == arrays[data.TEST_LABELS].tolist()


def test_fashion_looks_in_system_folders_before_the_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("SCRATCHNET_FASHION_DATA", raising=False)
    system = make_mnist(tmp_path / "system", seed=1)
    make_mnist(tmp_path / "incomplete", seed=2, names=data.NAMES[:3] + ("other",))
    cached = make_mnist(tmp_path / "cache", seed=3)
    source = data.FASHION_MNIST._replace(folders=(tmp_path / "incomplete", tmp_path / "system"),
                                         cache=tmp_path / "cache", mirrors=())
    labels = load_fashion_mnist(validation_size=0, source=source).test[1]
    assert labels.tolist() == system[data.TEST_LABELS].tolist()
    labels = load_fashion_mnist(validation_size=0, source=source._replace(folders=())).test[1]
    assert labels.tolist() == cached[data.TEST_LABELS].tolist()
    monkeypatch.setenv("SCRATCHNET_FASHION_DATA", str(tmp_path / "nowhere"))
    message = assert_idx_error(tmp_path / "nowhere", load_fashion_mnist, kind=DataNotFoundError)
    assert "$SCRATCHNET_FASHION_DATA" in message


# ---------------------------------------------------------------- downloading

@pytest.fixture
def mirrors(tmp_path):
    """Three file:// mirrors: 'good' (right files), 'bad' (other content), 'broken' (bad gzip)."""
    good = make_mnist(tmp_path / "good", seed=1)
    make_mnist(tmp_path / "bad", seed=2)
    (tmp_path / "broken").mkdir()
    for name in data.NAMES:
        (tmp_path / "broken" / (name + ".gz")).write_bytes(b"\x1f\x8b not really gzip")
    urls = {kind: (tmp_path / kind).as_uri() + "/" for kind in ("good", "bad", "broken")}
    return urls, sha256_table(good), good


def test_download_fetches_verifies_and_keeps_the_files(tmp_path, mirrors, monkeypatch):
    monkeypatch.delenv("SCRATCHNET_DATA", raising=False)
    urls, sha256, good = mirrors
    source = synthetic(tmp_path, mirrors=(urls["good"],), sha256=sha256)
    dataset = load_mnist(validation_size=2, source=source)
    assert dataset.test[1].tolist() == good[data.TEST_LABELS].tolist()
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(
        name + ".gz" for name in data.NAMES)  # and no temporary files
    source = source._replace(mirrors=())  # the second time, nothing is fetched
    assert load_mnist(validation_size=2, source=source).test[1].tolist() == dataset.test[1].tolist()


def test_a_bad_checksum_or_gzip_falls_back_to_the_next_mirror(tmp_path, mirrors, monkeypatch):
    monkeypatch.delenv("SCRATCHNET_DATA", raising=False)
    urls, sha256, good = mirrors
    opened = []
    urlopen = urllib.request.urlopen
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, **kw: opened.append(url)
                        or urlopen(url, **kw))
    make_mnist(tmp_path / "cache", names=data.NAMES[:2] + ("x", "y"))  # the training files only
    source = synthetic(tmp_path, mirrors=(urls["broken"], urls["bad"], urls["good"]), sha256=sha256)
    dataset = load_mnist(validation_size=2, source=source)
    assert dataset.test[1].tolist() == good[data.TEST_LABELS].tolist()
    assert [url.rsplit("/", 2)[1] for url in opened] == ["broken", "bad", "good"] * 2


def test_download_without_checksums_checks_structure(tmp_path):
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "thing.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00"))
    with pytest.raises(DataNotFoundError, match="truncated header"):
        data.download_idx("thing", tmp_path / "out", [(tmp_path / "mirror").as_uri() + "/"])
    assert not (tmp_path / "out" / "thing.gz").exists()


def test_when_every_mirror_fails_the_error_says_where_to_put_the_files(tmp_path, mirrors,
                                                                       monkeypatch):
    monkeypatch.delenv("SCRATCHNET_DATA", raising=False)
    urls, sha256, _ = mirrors
    source = synthetic(tmp_path, sha256=sha256,
                       mirrors=(urls["bad"], urls["broken"], "https://example.invalid/mnist/"))
    cache = tmp_path / "cache"
    message = assert_idx_error(cache, lambda: load_mnist(source=source), kind=DataNotFoundError)
    for needle in [*data.NAMES, f"in {cache}", "set SCRATCHNET_DATA", "SHA-256", "corrupt",
                   "network disabled", "example.invalid"]:
        assert needle in message
    assert not cache.exists() or not any(cache.iterdir())  # nothing half-written


def test_download_false_never_opens_a_url(tmp_path, monkeypatch):
    monkeypatch.delenv("SCRATCHNET_DATA", raising=False)
    monkeypatch.setattr(urllib.request, "urlopen", pytest.fail)
    source = synthetic(tmp_path, mirrors=("file:///nowhere/",))
    message = assert_idx_error(tmp_path / "cache",
                               lambda: load_mnist(download=False, source=source),
                               kind=DataNotFoundError)
    assert "download=False" in message and "set SCRATCHNET_DATA" in message


# ---------------------------------------------------------------- the real data sets

MNIST_FOLDER = os.environ.get("SCRATCHNET_DATA")
FASHION_FOLDER = os.environ.get("SCRATCHNET_FASHION_DATA") or next(
    (str(f) for f in data.FASHION_MNIST.folders if f.is_dir()), None)


@pytest.fixture(scope="module")
def mnist():
    if not MNIST_FOLDER:
        pytest.skip("set SCRATCHNET_DATA to a folder with the MNIST files")
    return load_mnist(MNIST_FOLDER)


def test_real_mnist_has_nielsens_split(mnist):
    train, validation, test = mnist
    assert [X.shape for X, _ in mnist] == [(50000, 784), (10000, 784), (10000, 784)]
    assert all(X.dtype == np.float32 and y.dtype == np.int64 for X, y in mnist)
    assert all(X.min() == 0 and X.max() == 1 for X, _ in mnist)
    counts = np.bincount(np.concatenate([train[1], validation[1]]), minlength=10)
    assert counts.tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert train[1][:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert validation[1][-10:].tolist() == [9, 2, 9, 5, 1, 8, 3, 5, 6, 8]
    assert np.bincount(test[1], minlength=10).sum() == 10000
    mean = (train[0].sum(dtype=np.float64) + validation[0].sum(dtype=np.float64)) / (60000 * 784)
    assert abs(mean - 0.1306605) < 1e-6


def test_real_mnist_matches_the_checksums_in_the_code():
    if not MNIST_FOLDER:
        pytest.skip("set SCRATCHNET_DATA to a folder with the MNIST files")
    for name in data.NAMES:
        raw = data.find_idx(MNIST_FOLDER, name).read_bytes()
        raw = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        assert hashlib.sha256(raw).hexdigest() == data.MNIST.sha256[name]


def test_real_fashion_mnist():
    if not FASHION_FOLDER:
        pytest.skip("set SCRATCHNET_FASHION_DATA, or install Debian's dataset-fashion-mnist")
    for name in data.NAMES:
        raw = gzip.decompress(data.find_idx(FASHION_FOLDER, name).read_bytes())
        assert hashlib.sha256(raw).hexdigest() == data.FASHION_MNIST.sha256[name]
    train, validation, test = load_fashion_mnist(FASHION_FOLDER, flatten=False)
    assert [X.shape[0] for X, _ in (train, validation, test)] == [50000, 10000, 10000]
    assert train[0].shape[1:] == (1, 28, 28)
    assert np.bincount(np.concatenate([train[1], validation[1]])).tolist() == [6000] * 10
    assert np.bincount(test[1]).tolist() == [1000] * 10
