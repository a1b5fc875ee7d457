"""MNIST and Fashion-MNIST from IDX files: read, validate, write, find and download.

The IDX format (LeCun's MNIST page) is a header followed by the data, all big-endian:

    bytes 0-1   zero
    byte  2     type code: 0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int, 0x0D float, 0x0E double
    byte  3     number of dimensions, ndim
    ndim x 4    each dimension as an unsigned 32-bit integer
    the rest    prod(dims) items of that type, last dimension varying fastest (C order)

So MNIST labels start with magic 0x00000801 (1-D ubyte) and images with 0x00000803 (3-D ubyte,
N x 28 x 28).  Files may be gzip-compressed; a name ending in ``.gz`` says so.

Everything here is NumPy on the host; the network copies arrays to the device itself.  Every
problem with a file raises `IDXError` with a one-line message that starts with the file's path.
"""
import collections
import gzip
import hashlib
import http.client
import math
import os
import types
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from .files import atomic_write

NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS = NAMES
IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10

# IDX type code -> big-endian NumPy dtype.
IDX_TYPES = types.MappingProxyType({0x08: ">u1", 0x09: ">i1", 0x0B: ">i2",
                                    0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"})
_CODE_OF = {np.dtype(t).str[1:]: code for code, t in IDX_TYPES.items()}  # "u1" -> 0x08, ...

Dataset = collections.namedtuple("Dataset", "train validation test")
Dataset.__doc__ = "Three (X, y) pairs of NumPy arrays: train, validation and test."

Source = collections.namedtuple("Source", "name env_var folders cache mirrors sha256")
Source.__doc__ = """Where a data set lives.  Looked for in: the loader's ``path`` argument, the
folder in the environment variable ``env_var``, each of ``folders`` (used only if all four files
are there), then ``cache``, into which missing files are downloaded from ``mirrors`` (base URLs,
tried in order).  ``sha256`` maps each name in NAMES to the SHA-256 of its *decompressed* IDX
content, which still matches when a mirror serves a re-compressed gzip."""

_PROJECT_DATA = Path(__file__).resolve().parent.parent / "data"

MNIST = Source(
    name="MNIST", env_var="SCRATCHNET_DATA", folders=(), cache=_PROJECT_DATA / "mnist",
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
             "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    # From shared/mnist/SOURCE.md; the .gz files have the official MD5s (f68b3c2d..., etc.).
    sha256=types.MappingProxyType({
        TRAIN_IMAGES: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        TRAIN_LABELS: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        TEST_IMAGES: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        TEST_LABELS: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"}))

FASHION_MNIST = Source(
    name="Fashion-MNIST", env_var="SCRATCHNET_FASHION_DATA",
    folders=(Path("/usr/share/datasets/fashion-mnist"),),  # Debian package dataset-fashion-mnist
    cache=_PROJECT_DATA / "fashion-mnist",
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


class IDXError(ValueError):
    """A data file is missing, unreadable or malformed; the message is one line, 'PATH: problem'."""


class DataNotFoundError(IDXError):
    """A data file or folder is not where it was looked for (nor could a loader download it)."""


def _error(path, problem, kind=IDXError):
    return kind(f"{path}: " + " ".join(str(problem).split()))  # one line, whatever `problem` holds


# ---------------------------------------------------------------- IDX files

def read_idx(path):
    """Read an IDX file (gzip-compressed if the name ends in .gz) into an array.

    Returns a native-byte-order array of the header's shape and type, e.g. uint8 (60000, 28, 28)
    for MNIST training images.  Raises IDXError for a missing or unreadable file, a corrupt gzip,
    a bad magic number, a short header, or data that is shorter or longer than the header says.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise _error(path, "no such file", DataNotFoundError) from None
    except OSError as e:
        raise _error(path, f"cannot read: {e.strerror or e}") from None
    if path.name.endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:  # bad header, bad CRC, cut short, bad deflate
            raise _error(path, f"corrupt gzip: {e}") from None
    return parse_idx(raw, path)


def parse_idx(data, where="<bytes>"):
    """Parse the bytes of an (uncompressed) IDX file; `where` names them in error messages."""
    if len(data) < 4:
        raise _error(where, f"truncated header: {len(data)} bytes, an IDX header has at least 4")
    if data[0] or data[1]:
        hint = " (it looks gzip-compressed; name it .gz)" if data[:2] == b"\x1f\x8b" else ""
        raise _error(where, f"not an IDX file: magic starts 0x{data[:2].hex()}, expected 0x0000"
                            + hint)
    code, ndim = data[2], data[3]
    if code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02X} {np.dtype(t).name}" for c, t in IDX_TYPES.items())
        raise _error(where, f"unknown IDX type code 0x{code:02X} (known: {known})")
    start = 4 + 4 * ndim
    if len(data) < start:
        raise _error(where, f"truncated header: {ndim} dimensions need {start} header bytes,"
                            f" file has {len(data)}")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    dtype = np.dtype(IDX_TYPES[code])
    want = dtype.itemsize * math.prod(dims)  # Python ints: a hostile header cannot overflow this
    have = len(data) - start
    if have != want:
        problem = "truncated" if have < want else f"{have - want} extra bytes after the data"
        raise _error(where, f"{problem}: header says {_shape_text(dims)} = {want} bytes of data,"
                            f" file has {have}")
    try:
        array = np.frombuffer(data, dtype, offset=start).reshape(dims)
    except ValueError as e:  # more dimensions than NumPy supports
        raise _error(where, f"cannot make an array of shape {_shape_text(dims)}: {e}") from None
    return array.astype(dtype.newbyteorder("="))  # a writable copy in native byte order


def write_idx(path, array):
    """Write `array` as an IDX file, gzip-compressed if `path` ends in .gz, atomically.

    The dtype must be one IDX can hold: uint8, int8, int16, int32, float32 or float64.  The bytes
    go to a temporary file in the same folder, which then replaces `path`; a crash leaves either
    the old file or the new one, never half of one.
    """
    array = np.asarray(array)
    code = _CODE_OF.get(array.dtype.str[1:])
    if code is None:
        raise ValueError(f"array: dtype {array.dtype} has no IDX type code;"
                         " use uint8, int8, int16, int32, float32 or float64")
    if array.ndim > 255 or any(n >= 2 ** 32 for n in array.shape):
        raise ValueError(f"array: shape {array.shape} does not fit an IDX header")
    header = bytes([0, 0, code, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    data = header + np.ascontiguousarray(array, dtype=IDX_TYPES[code]).tobytes()
    path = Path(path)
    payload = gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data
    atomic_write(path, lambda f: f.write(payload))


def _shape_text(dims):
    return "x".join(map(str, dims)) or "a scalar"


# ---------------------------------------------------------------- MNIST-format files

def read_images(path):
    """Read MNIST-format images: IDX magic 0x00000803, returned as uint8 (N, 28, 28)."""
    images = read_idx(path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise _error(path, f"expected images: ubyte N x 28 x 28 (magic 0x00000803),"
                           f" got {images.dtype} {_shape_text(images.shape)}")
    return images


def read_labels(path, num_classes=NUM_CLASSES):
    """Read MNIST-format labels: IDX magic 0x00000801, each in 0..num_classes-1; int64 (N,)."""
    labels = read_idx(path)
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise _error(path, f"expected labels: ubyte, 1-D (magic 0x00000801),"
                           f" got {labels.dtype} {_shape_text(labels.shape)}")
    bad = np.flatnonzero(labels >= num_classes)
    if bad.size:
        raise _error(path, f"{bad.size} labels out of range 0..{num_classes - 1},"
                           f" the first is {labels[bad[0]]} at index {bad[0]}")
    return labels.astype(np.int64)


def read_examples(images_path, labels_path):
    """Read an images file and its labels file: (uint8 (N, 28, 28), int64 (N,)), N equal."""
    images, labels = read_images(images_path), read_labels(labels_path)
    if len(images) != len(labels):
        raise _error(images_path, f"{len(images)} images, but {labels_path} has"
                                  f" {len(labels)} labels")
    return images, labels


# ---------------------------------------------------------------- finding and downloading

def find_idx(folder, name):
    """The file for `name` in `folder`: NAME.gz, NAME, or the dotted variant
    (train-images.idx3-ubyte), compressed or not; None if there is none."""
    dotted = name.replace("-idx", ".idx")
    for candidate in (name + ".gz", name, dotted + ".gz", dotted):
        if (Path(folder) / candidate).is_file():
            return Path(folder) / candidate
    return None


def download_idx(name, folder, mirrors, sha256=None, *, timeout=30.0):
    """Download NAME.gz into `folder` from the first mirror that serves a good copy; its path.

    A copy is good when it decompresses, parses as IDX and (if `sha256` is given) its
    decompressed bytes have that SHA-256.  A failing mirror is skipped; when all fail,
    DataNotFoundError lists why.  Uses urllib.request.urlopen, so file:// URLs work too.
    """
    target = Path(folder) / (name + ".gz")
    reasons = []
    for mirror in mirrors:
        url = mirror + name + ".gz"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                packed = response.read()
        except (OSError, http.client.HTTPException) as e:  # URLError, HTTPError, timeout, cut off
            reasons.append(f"{url}: {e}")
            continue
        try:
            data = gzip.decompress(packed)
        except (OSError, EOFError, zlib.error) as e:
            reasons.append(f"{url}: corrupt gzip: {e}")
            continue
        digest = hashlib.sha256(data).hexdigest()
        if sha256 is not None and digest != sha256:
            reasons.append(f"{url}: SHA-256 {digest[:12]}... is not the expected {sha256[:12]}...")
            continue
        try:
            parse_idx(data, url)
        except IDXError as e:
            reasons.append(str(e))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, lambda f: f.write(packed))
        return target
    raise _error(target, "download failed: " + ("; ".join(reasons) or "no mirrors"),
                 DataNotFoundError)


def locate(source, path=None, *, download=True):
    """Paths of the four files of `source` (a dict keyed by NAMES), found or downloaded.

    Order: `path`, then $source.env_var, then source.folders, then source.cache (downloading the
    missing files into it).  A folder given by `path` or the variable must hold all four files.
    """
    folder, origin = path, "the path argument"
    if path is None:
        folder, origin = os.environ.get(source.env_var) or None, f"${source.env_var}"
    if folder is not None:  # a folder the user named must be complete: never use another copy
        found = {name: find_idx(folder, name) for name in NAMES}
        missing = [name for name, p in found.items() if p is None]
        if missing:
            raise _error(folder, f"{source.name} folder (from {origin}) lacks {', '.join(missing)}"
                                 " (with or without .gz)", DataNotFoundError)
        return found
    for folder in source.folders:
        found = {name: find_idx(folder, name) for name in NAMES}
        if None not in found.values():
            return found
    cache = Path(source.cache)
    found = {name: find_idx(cache, name) for name in NAMES}
    for name in [name for name, p in found.items() if p is None]:
        try:
            if not download:
                raise _error(cache / name, "not found, and download=False", DataNotFoundError)
            found[name] = download_idx(name, cache, source.mirrors, source.sha256.get(name))
        except DataNotFoundError as e:
            raise _error(cache, f"{source.name} not found ({e}); put the four files"
                                f" {', '.join(NAMES)} (each may end in .gz) in {cache}, or set"
                                f" {source.env_var} to a folder that holds them",
                         DataNotFoundError) from None
    return found


# ---------------------------------------------------------------- loaders

def load_mnist(path=None, *, flatten=True, dtype="float32", validation_size=10000,
               download=True, source=MNIST):
    """MNIST as a Dataset of (X, y) pairs, split as in Nielsen's book.

    train = the first 60000 - validation_size training images, validation = the last
    validation_size of them (Nielsen: 50,000 / 10,000), test = the 10,000 t10k images.
    X: pixels / 255 in [0, 1], `dtype` float32 or float64, shape (N, 784) if `flatten`
    else (N, 1, 28, 28) (channels first).  y: int64 labels 0..9, shape (N,).
    Files are looked for as `locate` says; `path` is a folder, `source` says where else.
    """
    dtype = _float_dtype(dtype)
    if isinstance(validation_size, bool) or not isinstance(validation_size, (int, np.integer)) \
            or validation_size < 0:
        raise ValueError(f"validation_size must be an int >= 0, got {validation_size!r}")
    files = locate(source, path, download=download)
    train = read_examples(files[TRAIN_IMAGES], files[TRAIN_LABELS])
    test = read_examples(files[TEST_IMAGES], files[TEST_LABELS])
    n = len(train[0]) - validation_size
    if n < 0:
        raise ValueError(f"validation_size must be at most {len(train[0])} (the training"
                         f" file's size), got {validation_size}")
    (X, y), (X_test, y_test) = [(_scale(images, flatten, dtype), labels)
                                for images, labels in (train, test)]
    return Dataset((X[:n], y[:n]), (X[n:], y[n:]), (X_test, y_test))


def load_fashion_mnist(path=None, *, flatten=True, dtype="float32", validation_size=10000,
                       download=True, source=FASHION_MNIST):
    """Fashion-MNIST (Zalando), with the same formats and split as `load_mnist`.

    Looked for in `path`, $SCRATCHNET_FASHION_DATA, /usr/share/datasets/fashion-mnist (Debian's
    dataset-fashion-mnist), data/fashion-mnist, then downloaded from Zalando's mirror.
    Labels: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt,
    7 Sneaker, 8 Bag, 9 Ankle boot.
    """
    return load_mnist(path, flatten=flatten, dtype=dtype, validation_size=validation_size,
                      download=download, source=source)


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
