"""The model file format: an ``.npz`` of float arrays and JSON metadata, parsed before trusted.

A model file is a zip archive (NumPy's ``.npz``) of ``.npy`` members, with no pickle anywhere:

    metadata.npy   a 0-d unicode array holding JSON: {"format": "scratchnet-model", "version": 1,
                   "dtype": "float32" | "float64", "layers": [{"type": str, "config": {...}}, ...],
                   "loss": str, "regularizer": null | {"type": str, "lmbda": number},
                   "arrays": {key: {"shape": [int, ...], "sha256": hex}}, "info": {...}}
    KEY.npy        one finite float array of that dtype per key ("layers.0.W.npy"), in C order

The SHA-256 of each array detects corruption (a flipped bit, a bad copy); it cannot show that a
file was not tampered with: the digests live in the same file, so whoever edits an array can
recompute its digest. Trust a model file as much as you trust where it came from.

Parsed before trusted: `ModelFile(path)` reads the zip directory (through `npz`, which checks
every size the zip and the ``.npy`` headers claim against each other, against the file and
against ``max_bytes``), then the metadata, whose structure and types it checks, then every
array's header, which must agree with the metadata's dtype and shape; the arrays together may
hold at most ``max_bytes`` (default `scratchnet.files.MAX_BYTES`, 1 GiB). Only then does
`read_arrays()` allocate and read them, checking each one's SHA-256 and that it is finite.

Memory bound: reading a file allocates at most the bytes of the arrays it holds (so at most
``max_bytes``, and never more than the file can hold), plus ~6 MiB of buffers and zip directory,
plus the metadata: at most MAX_METADATA_CHARS (1 Mi) characters of JSON, whose Python objects
take ~30 MiB at worst (a real model's take a few KiB). Every problem raises `ModelFileError` (a
ValueError): one line, "PATH: problem".
"""
import hashlib
import json
import math
import re
from pathlib import Path

import numpy

from .files import MAX_BYTES, atomic_write
from .inputs import count
from .npz import MAX_MEMBERS, MAX_NDIM, Npz, short

FORMAT, VERSION = "scratchnet-model", 1
DTYPES = ("float32", "float64")
MAX_ARRAYS = MAX_MEMBERS - 1    # and metadata.npy
MAX_METADATA_CHARS = 1 << 20    # ~100 per layer and per array, plus `info`
_REQUIRED = ("format", "version", "dtype", "layers", "loss", "regularizer", "arrays")
_SHA256 = re.compile(r"[0-9a-f]{64}\Z")


class ModelFileError(ValueError):
    """A model file that cannot be used; the message is one line that starts with its path."""


def read(path, *, max_bytes=MAX_BYTES):
    """(metadata dict, {key: numpy array}) from a model file, each array checked against the
    metadata's shape and SHA-256 and found finite."""
    with ModelFile(path, max_bytes=max_bytes) as f:
        return f.metadata, f.read_arrays()


def write(path, metadata, arrays):
    """Write ``arrays`` ({key: float array}) and ``metadata`` (a JSON-able dict, to which this
    adds "arrays": each one's shape and SHA-256) to ``path``, atomically. A ValueError names
    an array that holds NaN or inf, or says why the metadata could not be read back."""
    arrays = {k: numpy.ascontiguousarray(a) for k, a in arrays.items()}
    for key, a in arrays.items():
        if not numpy.isfinite(a).all():
            raise ValueError(f"cannot save {path}: {key} holds NaN or infinite values "
                             "(did training diverge?)")
    metadata = {**metadata, "arrays": {k: {"shape": list(a.shape), "sha256": _digest(a)}
                                       for k, a in arrays.items()}}
    try:
        text = json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"cannot save {path}: its metadata is not plain JSON: {e}") from None
    # What is written must read back: the reader's own checks, on what it will read.
    problem = _metadata_problem(json.loads(text))
    if len(text) > MAX_METADATA_CHARS:
        problem = f"{len(text)} characters of metadata, more than {MAX_METADATA_CHARS}"
    if problem:
        raise ValueError(f"cannot save {path}: {problem}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: numpy.savez(f, metadata=numpy.array(text), **arrays))


def _digest(array):
    """SHA-256 of a C-contiguous array's bytes: the bytes of its .npy member after the header."""
    return hashlib.sha256(memoryview(array).cast("B")).hexdigest()


class ModelFile:
    """An open model file whose zip directory, metadata and array headers have been checked;
    its arrays are not read yet. ``metadata``: the JSON (its types checked); ``shapes``:
    {key: shape}; ``nbytes``: what `read_arrays` allocates. A context manager."""

    def __init__(self, path, *, max_bytes=MAX_BYTES):
        max_bytes = count("max_bytes", max_bytes, 1)
        self._npz = Npz(path, max_bytes=max_bytes, error=ModelFileError, what="model file")
        try:
            self._parse(max_bytes)
        except BaseException:
            self.close()
            raise

    def error(self, problem):
        """The ModelFileError for this file: "PATH: problem", on one line."""
        return self._npz.error(problem)

    def close(self):
        self._npz.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _parse(self, max_bytes):
        members = dict(self._npz.members)
        if members.pop("metadata", None) is None:
            raise self.error("not a scratchnet model file: no metadata.npy")
        self.metadata = self._read_metadata()
        declared = self.metadata["arrays"]
        if set(members) != set(declared):
            raise self.error(f"arrays do not match the metadata's: missing "
                             f"{_names(set(declared) - set(members))}, unexpected "
                             f"{_names(set(members) - set(declared))}")
        self._headers, self.shapes, self.nbytes = {}, {}, 0
        dtype = numpy.dtype(self.metadata["dtype"])
        for key in members:
            shape, dt, start = self._npz.header(key)
            if dt.kind != "f" or dt.itemsize != dtype.itemsize:
                raise self.error(f"{key} holds {dt} values, the metadata says {dtype}")
            if list(shape) != declared[key]["shape"]:
                raise self.error(f"{key}: its .npy header says shape {shape}, the metadata "
                                 f"{tuple(declared[key]['shape'])}")
            self._headers[key], self.shapes[key] = (dt, start), shape
            self.nbytes += math.prod(shape) * dt.itemsize
        if self.nbytes > max_bytes:
            raise self.error(f"holds {self.nbytes} bytes of arrays, more than the limit "
                             f"max_bytes={max_bytes}; pass a larger max_bytes= to load it")

    def _read_metadata(self):
        """The metadata dict, its structure and types checked (`_metadata_problem`)."""
        shape, dt, start = self._npz.header("metadata")
        if dt.kind != "U" or shape != () or dt.itemsize > 4 * MAX_METADATA_CHARS:
            raise self.error(f"metadata must be a 0-d unicode array of at most "
                             f"{MAX_METADATA_CHARS} characters, got {dt} {shape}")
        raw = self._npz.data("metadata", start)
        try:
            text = str(raw, "utf-32-be" if dt.str[0] == ">" else "utf-32-le").rstrip("\0")
            metadata = json.loads(text, parse_constant=_refuse, parse_float=_finite)
        except (ValueError, RecursionError) as e:   # RecursionError: nesting deeper than Python's
            raise self.error(f"unreadable metadata (not JSON): {e}") from None
        problem = _metadata_problem(metadata)
        if problem:
            raise self.error(problem)
        return metadata

    def read_arrays(self):
        """{key: array}: all of `arrays()`. Allocates ``nbytes`` plus a chunk."""
        return dict(self.arrays())

    def arrays(self):
        """(key, native-byte-order numpy array) one at a time, each checked against its SHA-256
        and found finite: a caller that keeps none of them needs memory for one."""
        for key, (dtype, start) in self._headers.items():
            array, digest, finite = self._npz.read(key, self.shapes[key], dtype, start)
            if digest != self.metadata["arrays"][key]["sha256"]:
                raise self.error(f"{key} does not match its checksum (the file is corrupted)")
            if not finite:
                raise self.error(f"{key} holds NaN or infinite values (saved from a diverged "
                                 "training?)")
            yield key, array


def _metadata_problem(m):
    """What is wrong with a metadata dict's structure and types, or None."""
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        return "not a scratchnet model file (its metadata names no scratchnet-model format)"
    if type(m.get("version")) is not int or m["version"] != VERSION:
        return (f"model format version {short(m.get('version'))}, this scratchnet reads "
                f"version {VERSION}")
    missing = [k for k in _REQUIRED if k not in m]
    if missing:
        return f"metadata lacks {', '.join(missing)}"
    reg, arrays = m["regularizer"], m["arrays"]
    checks = [
        ("dtype", m["dtype"] in DTYPES if isinstance(m["dtype"], str) else False,
         f"one of {DTYPES}"),
        ("layers", isinstance(m["layers"], list) and all(
            isinstance(s, dict) and isinstance(s.get("type"), str)
            and isinstance(s.get("config"), dict) for s in m["layers"]),
         'a list of {"type": str, "config": {...}}'),
        ("loss", isinstance(m["loss"], str), "a string"),
        ("regularizer", reg is None or isinstance(reg, dict) and isinstance(reg.get("type"), str)
         and _is_number(reg.get("lmbda")) and reg["lmbda"] >= 0,
         'null or {"type": str, "lmbda": number >= 0}'),
        ("arrays", isinstance(arrays, dict) and len(arrays) <= MAX_ARRAYS and all(
            isinstance(a, dict) and isinstance(a.get("shape"), list)
            and len(a["shape"]) <= MAX_NDIM
            and all(type(n) is int and n >= 0 for n in a["shape"])
            and isinstance(a.get("sha256"), str) and _SHA256.match(a["sha256"])
            for a in arrays.values()),
         f'at most {MAX_ARRAYS} of {{key: {{"shape": [int >= 0, ...], "sha256": hex}}}}'),
        ("info", isinstance(m.get("info", {}), dict), "an object"),
    ]
    for name, ok, expected in checks:
        if not ok:
            return f"metadata: {name} must be {expected}, got {short(m.get(name))}"
    return None


def _is_number(x):
    return type(x) in (int, float) and abs(x) <= 1.7e308     # a float, finite


def _finite(text):
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {short(text)} out of range")
    return value


def _refuse(constant):
    raise ValueError(f"{constant} is not a number a model file may hold")


def _names(keys):
    return short(sorted(keys), 160)
