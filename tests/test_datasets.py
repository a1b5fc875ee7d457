"""Tests for scratchnet.datasets: MNIST-format files, Nielsen's split, the search order, the
per-user cache, and downloading from mirrors.

Everything runs on small synthetic files in tmp_path, without network (the `offline` fixture):
mirrors are file:// URLs.  The real MNIST (Fashion-MNIST) is checked when SCRATCHNET_DATA
(SCRATCHNET_FASHION_DATA, or Debian's /usr/share/datasets/fashion-mnist) is there.
"""
import gzip
import hashlib
import os

import numpy as np
import pytest

from mnist_files import assert_idx_error, make_mnist, offline, sha256_table  # noqa: F401
from scratchnet import datasets, download
from scratchnet.datasets import (
    FASHION_MNIST,
    MNIST,
    NAMES,
    TEST_IMAGES,
    TEST_LABELS,
    TRAIN_IMAGES,
    TRAIN_LABELS,
    cache_dir,
    load_fashion_mnist,
    load_mnist,
    read_examples,
    read_images,
    read_labels,
)
from scratchnet.idx import DataNotFoundError, write_idx

MNIST_FOLDER = os.environ.get("SCRATCHNET_DATA")  # read before `offline` clears it
FASHION_FOLDER = os.environ.get("SCRATCHNET_FASHION_DATA") or next(
    (str(f) for f in FASHION_MNIST.folders if f.is_dir()), None)

pytestmark = pytest.mark.usefixtures("offline")


def synthetic(tmp_path, **fields):
    """MNIST's Source with nowhere to look but the given fields (cache in tmp_path)."""
    defaults = dict(folders=(), cache=tmp_path / "cache", mirrors=(), sha256={})
    return MNIST._replace(**{**defaults, **fields})


# ---------------------------------------------------------------- MNIST-format files

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
    images = arrays[TRAIN_IMAGES].reshape(12, 784) / 255
    np.testing.assert_allclose(train[0], images[:8], rtol=1e-6)
    np.testing.assert_allclose(validation[0], images[8:], rtol=1e-6)
    np.testing.assert_allclose(test[0], arrays[TEST_IMAGES].reshape(5, 784) / 255, rtol=1e-6)
    assert train[1].tolist() == arrays[TRAIN_LABELS][:8].tolist()
    assert validation[1].tolist() == arrays[TRAIN_LABELS][8:].tolist()
    assert test[1].tolist() == arrays[TEST_LABELS].tolist()
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
    dotted = [name.replace("-idx", ".idx") for name in NAMES]
    make_mnist(tmp_path, n_train=3, n_test=2, names=dotted)
    assert load_mnist(tmp_path, validation_size=1).train[0].shape == (2, 784)


@pytest.mark.parametrize("kwargs, expected", [
    (dict(dtype="int32"), "dtype must be float32 or float64, got 'int32'"),
    (dict(dtype="no such type"), "dtype must be"),
    (dict(validation_size=-1), "validation_size must be an int >= 0, got -1"),
    (dict(validation_size=True), "validation_size must be an int"),
    (dict(validation_size=2.0), "validation_size must be an int"),
])
def test_load_mnist_names_bad_parameters(tmp_path, kwargs, expected):
    make_mnist(tmp_path)
    with pytest.raises(ValueError, match=expected):
        load_mnist(tmp_path, **kwargs)


# ---------------------------------------------------------------- where the files are looked for

def test_explicit_path_comes_before_the_environment(tmp_path, monkeypatch):
    explicit = make_mnist(tmp_path / "explicit", seed=1)
    from_env = make_mnist(tmp_path / "env", seed=2)
    monkeypatch.setenv("SCRATCHNET_DATA", str(tmp_path / "env"))
    source = synthetic(tmp_path)
    labels = load_mnist(tmp_path / "explicit", validation_size=0, source=source).test[1]
    assert labels.tolist() == explicit[TEST_LABELS].tolist()
    labels = load_mnist(validation_size=0, source=source).test[1]
    assert labels.tolist() == from_env[TEST_LABELS].tolist()


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
    monkeypatch.setenv("SCRATCHNET_DATA", str(tmp_path / "explicit" / "t10k-images-idx3-ubyte.gz"))
    message = assert_idx_error(tmp_path / "explicit", load_mnist, kind=DataNotFoundError)
    assert "is not a folder" in message


def test_without_path_or_variable_the_cache_folder_is_used(tmp_path):
    arrays = make_mnist(tmp_path / "cache")
    dataset = load_mnist(validation_size=2, download=False, source=synthetic(tmp_path))
    assert dataset.test[1].tolist() == arrays[TEST_LABELS].tolist()


def test_fashion_looks_in_system_folders_before_the_cache(tmp_path, monkeypatch):
    system = make_mnist(tmp_path / "system", seed=1)
    make_mnist(tmp_path / "incomplete", seed=2, names=NAMES[:3] + ("other",))
    cached = make_mnist(tmp_path / "cache", seed=3)
    source = FASHION_MNIST._replace(folders=(tmp_path / "incomplete", tmp_path / "system"),
                                    cache=tmp_path / "cache", mirrors=())
    labels = load_fashion_mnist(validation_size=0, source=source).test[1]
    assert labels.tolist() == system[TEST_LABELS].tolist()
    labels = load_fashion_mnist(validation_size=0, source=source._replace(folders=())).test[1]
    assert labels.tolist() == cached[TEST_LABELS].tolist()
    (tmp_path / "nowhere").mkdir()
    monkeypatch.setenv("SCRATCHNET_FASHION_DATA", str(tmp_path / "nowhere"))
    message = assert_idx_error(tmp_path / "nowhere", load_fashion_mnist, kind=DataNotFoundError)
    assert "$SCRATCHNET_FASHION_DATA" in message


# ---------------------------------------------------------------- the per-user cache

def test_cache_dir_follows_xdg_and_is_not_created(tmp_path, monkeypatch):
    assert cache_dir() == tmp_path / "xdg-cache" / "scratchnet"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for unset_or_relative in ("", "relative/cache"):  # the XDG spec ignores relative paths
        monkeypatch.setenv("XDG_CACHE_HOME", unset_or_relative)
        assert cache_dir() == tmp_path / "home" / ".cache" / "scratchnet"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == tmp_path / "home" / ".cache" / "scratchnet"
    assert not list(tmp_path.iterdir())  # asking where it is creates nothing


def test_mnist_is_cached_per_user_not_beside_the_package(tmp_path):
    assert MNIST.cache == "mnist" and FASHION_MNIST.cache == "fashion-mnist"
    expected = tmp_path / "xdg-cache" / "scratchnet" / "mnist"
    message = assert_idx_error(expected, lambda: load_mnist(download=False),
                               kind=DataNotFoundError)
    assert f"in {expected}" in message and "set SCRATCHNET_DATA" in message
    assert not (tmp_path / "xdg-cache").exists()  # looking creates nothing
    make_mnist(expected, seed=4)
    assert load_mnist(download=False, validation_size=2).train[0].shape == (10, 784)


def test_downloads_go_into_the_per_user_cache(tmp_path):
    good = make_mnist(tmp_path / "mirror", seed=1)
    source = MNIST._replace(mirrors=((tmp_path / "mirror").as_uri() + "/",),
                            sha256=sha256_table(good))
    assert not (tmp_path / "xdg-cache").exists()
    load_mnist(validation_size=2, source=source)
    cached = tmp_path / "xdg-cache" / "scratchnet" / "mnist"
    assert sorted(p.name for p in cached.iterdir()) == sorted(name + ".gz" for name in NAMES)


# ---------------------------------------------------------------- downloading

@pytest.fixture
def mirrors(tmp_path):
    """Three file:// mirrors: 'good' (right files), 'bad' (other content), 'broken' (bad gzip)."""
    good = make_mnist(tmp_path / "good", seed=1)
    make_mnist(tmp_path / "bad", seed=2)
    (tmp_path / "broken").mkdir()
    for name in NAMES:
        (tmp_path / "broken" / (name + ".gz")).write_bytes(b"\x1f\x8b not really gzip")
    urls = {kind: (tmp_path / kind).as_uri() + "/" for kind in ("good", "bad", "broken")}
    return urls, sha256_table(good), good


def test_download_fetches_verifies_and_keeps_the_files(tmp_path, mirrors):
    urls, sha256, good = mirrors
    source = synthetic(tmp_path, mirrors=(urls["good"],), sha256=sha256)
    dataset = load_mnist(validation_size=2, source=source)
    assert dataset.test[1].tolist() == good[TEST_LABELS].tolist()
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(
        name + ".gz" for name in NAMES)  # and no temporary files
    source = source._replace(mirrors=())  # the second time, nothing is fetched
    assert load_mnist(validation_size=2, source=source).test[1].tolist() == dataset.test[1].tolist()


def test_a_bad_checksum_or_gzip_falls_back_to_the_next_mirror(tmp_path, mirrors, monkeypatch):
    urls, sha256, good = mirrors
    opened = []
    fetch = download.fetch
    monkeypatch.setattr(download, "fetch", lambda url, *a, **kw: opened.append(url)
                        or fetch(url, *a, **kw))
    make_mnist(tmp_path / "cache", names=NAMES[:2] + ("x", "y"))  # the training files only
    source = synthetic(tmp_path, mirrors=(urls["broken"], urls["bad"], urls["good"]), sha256=sha256)
    dataset = load_mnist(validation_size=2, source=source)
    assert dataset.test[1].tolist() == good[TEST_LABELS].tolist()
    assert [url.rsplit("/", 2)[1] for url in opened] == ["broken", "bad", "good"] * 2


def test_download_without_checksums_checks_structure(tmp_path):
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "thing.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00"))
    with pytest.raises(DataNotFoundError, match="truncated header"):
        download.download_idx("thing", tmp_path / "out", [(tmp_path / "mirror").as_uri() + "/"])
    assert not (tmp_path / "out").exists()


def test_when_every_mirror_fails_the_error_says_where_to_put_the_files(tmp_path, mirrors):
    urls, sha256, _ = mirrors
    source = synthetic(tmp_path, sha256=sha256,
                       mirrors=(urls["bad"], urls["broken"], "https://example.invalid/mnist/"))
    cache = tmp_path / "cache"
    message = assert_idx_error(cache, lambda: load_mnist(source=source), kind=DataNotFoundError)
    for needle in [*NAMES, f"in {cache}", "set SCRATCHNET_DATA", "SHA-256", "corrupt",
                   "network disabled", "example.invalid"]:
        assert needle in message
    assert not cache.exists()  # nothing half-written


def test_download_false_never_opens_a_url(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "fetch", pytest.fail)
    source = synthetic(tmp_path, mirrors=("file:///nowhere/",))
    message = assert_idx_error(tmp_path / "cache",
                               lambda: load_mnist(download=False, source=source),
                               kind=DataNotFoundError)
    assert "download=False" in message and "set SCRATCHNET_DATA" in message


# ---------------------------------------------------------------- the real data sets

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
    for name in NAMES:
        raw = datasets.find_idx(MNIST_FOLDER, name).read_bytes()
        raw = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        assert hashlib.sha256(raw).hexdigest() == MNIST.sha256[name]


def test_real_fashion_mnist():
    if not FASHION_FOLDER:
        pytest.skip("set SCRATCHNET_FASHION_DATA, or install Debian's dataset-fashion-mnist")
    for name in NAMES:
        raw = gzip.decompress(datasets.find_idx(FASHION_FOLDER, name).read_bytes())
        assert hashlib.sha256(raw).hexdigest() == FASHION_MNIST.sha256[name]
    train, validation, test = load_fashion_mnist(FASHION_FOLDER, flatten=False)
    assert [X.shape[0] for X, _ in (train, validation, test)] == [50000, 10000, 10000]
    assert train[0].shape[1:] == (1, 28, 28)
    assert np.bincount(np.concatenate([train[1], validation[1]])).tolist() == [6000] * 10
    assert np.bincount(test[1]).tolist() == [1000] * 10
