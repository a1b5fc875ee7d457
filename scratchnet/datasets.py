"""MNIST and Fashion-MNIST: where they come from, where they are looked for, and Nielsen's split.

Each data set is four IDX files (see `scratchnet.idx`): training images and labels, test images
and labels.  A loader looks for them, in this order, in

1. the folder passed as ``path`` (``--data`` in the examples),
2. the folder named by an environment variable ($SCRATCHNET_DATA, $SCRATCHNET_FASHION_DATA),
3. system folders (Debian's /usr/share/datasets/fashion-mnist for Fashion-MNIST),
4. the per-user cache, ``cache_dir() / "mnist"`` (``"fashion-mnist"``), into which missing files
   are downloaded from public mirrors and checked against the SHA-256s below.

A folder from 1 or 2 must hold all four files: the loader never silently uses another copy.
Everything here is NumPy on the host; the network copies arrays to the device itself.  Every
problem with a file raises `IDXError` (missing ones `DataNotFoundError`) naming the file.
"""
import collections
import os
import types
from pathlib import Path

import numpy as np

from .download import download_idx
from .files import MAX_BYTES
from .idx import DataNotFoundError, IDXError, read_idx

NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS = NAMES
IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10

Dataset = collections.namedtuple("Dataset", "train validation test")
Dataset.__doc__ = "Three (X, y) pairs of NumPy arrays: train, validation and test."

Source = collections.namedtuple("Source", "name env_var folders cache mirrors sha256")
Source.__doc__ = """Where a data set lives.  Looked for in: the loader's ``path`` argument, the
folder in the environment variable ``env_var``, each of ``folders`` (used only if all four files
are there), then ``cache`` (a folder name under `cache_dir()`, or an absolute path), into which
missing files are downloaded from ``mirrors`` (base URLs, tried in order).  ``sha256`` maps each
name in NAMES to the SHA-256 of its *decompressed* IDX content, which still matches when a
mirror serves a re-compressed gzip."""

MNIST = Source(
    name="MNIST", env_var="SCRATCHNET_DATA", folders=(), cache="mnist",
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
             "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    # SHA-256s of the official decompressed files (whose gzips have LeCun's published MD5s,
    # f68b3c2d..., d53e105e..., 9fb629c4..., ec29112d...).
    sha256=types.MappingProxyType({
        TRAIN_IMAGES: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        TRAIN_LABELS: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        TEST_IMAGES: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        TEST_LABELS: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"}))

FASHION_MNIST = Source(
    name="Fashion-MNIST", env_var="SCRATCHNET_FASHION_DATA",
    folders=(Path("/usr/share/datasets/fashion-mnist"),),  # Debian package dataset-fashion-mnist
    cache="fashion-mnist",
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    # Zalando publishes only MD5s of its .gz files (8d4fb7e6..., 25c81989..., bef4ecab...,
    # bb300cfd...), which Debian's re-compressed copies do not match.  These SHA-256s of the
    # decompressed files were computed from Debian's dataset-fashion-mnist 0.0~git20200523 and
    # equal those public loaders list beside the official gz MD5s (so do the content MD5s).
    sha256=types.MappingProxyType({
        TRAIN_IMAGES: "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        TRAIN_LABELS: "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        TEST_IMAGES: "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        TEST_LABELS: "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"}))


def cache_dir():
    """The per-user folder where scratchnet keeps what it downloads or makes.

    ``$XDG_CACHE_HOME/scratchnet``, or ``~/.cache/scratchnet`` when that variable is unset or not
    an absolute path (as the XDG spec says).  Subfolders: ``mnist``, ``fashion-mnist``, ``models``.
    Nothing is created here; a folder appears when a file is first written into it.
    """
    base = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(base) if os.path.isabs(base) else Path.home() / ".cache") / "scratchnet"


# ---------------------------------------------------------------- MNIST-format files

def read_images(path, *, max_bytes=MAX_BYTES):
    """Read MNIST-format images: IDX magic 0x00000803, returned as uint8 (N, 28, 28)."""
    return read_idx(path, max_bytes=max_bytes, check_header=_images_header)


def _images_header(dtype, dims):
    if dtype != np.uint8 or len(dims) != 3 or tuple(dims[1:]) != IMAGE_SHAPE:
        return f"expected images: ubyte N x 28 x 28 (magic 0x00000803), got {_kind(dtype, dims)}"
    return None


def read_labels(path, num_classes=NUM_CLASSES, *, max_bytes=MAX_BYTES):
    """Read MNIST-format labels: IDX magic 0x00000801, each in 0..num_classes-1; int64 (N,)."""
    labels = read_idx(path, max_bytes=max_bytes, check_header=_labels_header)
    bad = np.flatnonzero(labels >= num_classes)
    if bad.size:
        raise IDXError.at(path, f"{bad.size} labels out of range 0..{num_classes - 1},"
                                f" the first is {labels[bad[0]]} at index {bad[0]}")
    return labels.astype(np.int64)


def _labels_header(dtype, dims):
    if dtype != np.uint8 or len(dims) != 1:
        return f"expected labels: ubyte, 1-D (magic 0x00000801), got {_kind(dtype, dims)}"
    return None


def _kind(dtype, dims):
    return f"{dtype.name} " + ("x".join(map(str, dims)) or "a scalar")


def read_examples(images_path, labels_path, *, max_bytes=MAX_BYTES):
    """Read an images file and its labels file: (uint8 (N, 28, 28), int64 (N,)), N equal, N > 0."""
    images = read_images(images_path, max_bytes=max_bytes)
    labels = read_labels(labels_path, max_bytes=max_bytes)
    if len(images) != len(labels):
        raise IDXError.at(images_path, f"{len(images)} images, but {labels_path} has"
                                       f" {len(labels)} labels")
    if not len(images):
        raise IDXError.at(images_path, "holds no images")
    return images, labels


# ---------------------------------------------------------------- finding the files

def find_idx(folder, name):
    """The file for `name` in `folder`: NAME.gz, NAME, or the dotted variant
    (train-images.idx3-ubyte), compressed or not; None if there is none."""
    dotted = name.replace("-idx", ".idx")
    for candidate in (name + ".gz", name, dotted + ".gz", dotted):
        if (Path(folder) / candidate).is_file():
            return Path(folder) / candidate
    return None


def locate(source, path=None, *, download=True):
    """Paths of the four files of `source` (a dict keyed by NAMES), found or downloaded.

    Order: `path`, then $source.env_var, then source.folders, then the cache folder
    ``cache_dir() / source.cache`` (downloading the missing files into it).  A folder given by
    `path` or the variable must hold all four files.
    """
    folder, origin = path, "the path argument"
    if path is None:
        folder, origin = os.environ.get(source.env_var) or None, f"${source.env_var}"
    if folder is not None:  # a folder the user named must be complete: never use another copy
        if not Path(folder).is_dir():
            raise DataNotFoundError.at(folder, f"{source.name} folder (from {origin}) is not a"
                                               " folder")
        found = {name: find_idx(folder, name) for name in NAMES}
        missing = [name for name, p in found.items() if p is None]
        if missing:
            raise DataNotFoundError.at(folder, f"{source.name} folder (from {origin}) lacks"
                                               f" {', '.join(missing)} (with or without .gz)")
        return found
    for folder in source.folders:
        found = {name: find_idx(folder, name) for name in NAMES}
        if None not in found.values():
            return found
    cache = cache_dir() / source.cache  # an absolute source.cache replaces cache_dir()
    found = {name: find_idx(cache, name) for name in NAMES}
    for name in [name for name, p in found.items() if p is None]:
        try:
            if not download:
                raise DataNotFoundError.at(cache / name, "not found, and download=False")
            found[name] = download_idx(name, cache, source.mirrors, source.sha256.get(name))
        except DataNotFoundError as e:
            raise DataNotFoundError.at(
                cache, f"{source.name} not found ({e}); put the four files {', '.join(NAMES)}"
                       f" (each may end in .gz) in {cache}, or set {source.env_var} to a folder"
                       " that holds them") from None
    return found


# ---------------------------------------------------------------- loaders

def load_mnist(path=None, *, flatten=True, dtype="float32", validation_size=10000,
               download=True, source=MNIST, max_bytes=MAX_BYTES):
    """MNIST as a Dataset of (X, y) pairs, split as in Nielsen's book.

    train = the first N - validation_size training images, validation = the last
    validation_size of them (Nielsen: 50,000 / 10,000 of N = 60,000), test = the 10,000 t10k
    images.  A training file with no more than validation_size images is an IDXError naming it
    (no training images would be left; the split is never shrunk behind your back).
    X: pixels / 255 in [0, 1], `dtype` float32 or float64, shape (N, 784) if `flatten`
    else (N, 1, 28, 28) (channels first).  y: int64 labels 0..9, shape (N,).
    Files are looked for as `locate` says; `path` is a folder, `source` says where else.
    No file may claim more than `max_bytes` bytes of data (1 GiB by default; MNIST needs 47 MB).
    """
    dtype = _float_dtype(dtype)
    if isinstance(validation_size, bool) or not isinstance(validation_size, (int, np.integer)) \
            or validation_size < 0:
        raise ValueError(f"validation_size must be an int >= 0, got {validation_size!r}")
    files = locate(source, path, download=download)
    train = read_examples(files[TRAIN_IMAGES], files[TRAIN_LABELS], max_bytes=max_bytes)
    test = read_examples(files[TEST_IMAGES], files[TEST_LABELS], max_bytes=max_bytes)
    n = len(train[0]) - validation_size
    if n <= 0:
        raise IDXError.at(files[TRAIN_IMAGES], f"{len(train[0])} training images, not more than"
                                               f" validation_size={validation_size}: none would"
                                               " be left to train on; pass a smaller"
                                               " validation_size")
    (X, y), (X_test, y_test) = [(_scale(images, flatten, dtype), labels)
                                for images, labels in (train, test)]
    return Dataset((X[:n], y[:n]), (X[n:], y[n:]), (X_test, y_test))


def load_fashion_mnist(path=None, *, flatten=True, dtype="float32", validation_size=10000,
                       download=True, source=FASHION_MNIST, max_bytes=MAX_BYTES):
    """Fashion-MNIST (Zalando), with the same formats and split as `load_mnist`.

    Looked for in `path`, $SCRATCHNET_FASHION_DATA, /usr/share/datasets/fashion-mnist (Debian's
    dataset-fashion-mnist), cache_dir()/fashion-mnist, then downloaded from Zalando's mirror.
    Labels: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt,
    7 Sneaker, 8 Bag, 9 Ankle boot.
    """
    return load_mnist(path, flatten=flatten, dtype=dtype, validation_size=validation_size,
                      download=download, source=source, max_bytes=max_bytes)


def _float_dtype(dtype):
    try:
        result = np.dtype(dtype)
    except TypeError:
        result = None
    if result not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    return result


def _scale(images, flatten, dtype):
    """uint8 (N, 28, 28) -> dtype (N, 784) or (N, 1, 28, 28), divided by 255."""
    shape = (len(images), -1) if flatten else (len(images), 1) + IMAGE_SHAPE
    X = images.reshape(shape).astype(dtype)
    X /= 255
    return X
