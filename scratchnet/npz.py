"""An ``.npz`` read without trusting it: every size it claims is checked before it is allocated.

An ``.npz`` is a zip archive of ``.npy`` members; an ``.npy`` is a magic string, a version, a
header (a Python literal: shape, dtype, order) and the data. `Npz(path)` reads the zip directory
through a reader that refuses any one read longer than a directory needs, so a directory that
claims gigabytes fails instead of allocating them; then it checks what the directory claims of
each member: a plain name ending in ``.npy``, not encrypted, stored or deflated, inside the file,
no more bytes than its method can unpack (stored: as many; deflated: at most 1032-fold, deflate's
limit), and in all at most ``max_bytes`` of arrays. `header(key)` reads one ``.npy`` header,
its length bounded first, and checks that the member holds exactly the data it describes.
`read(key)` reads an array in 256 KiB chunks straight into place, hashing it as it goes.

Memory bound: the arrays read, plus ~1 MiB of buffers and at most ~5 MiB for the zip directory.
Every problem raises ``error`` (a ValueError subclass), one line: "PATH: problem".
"""
import contextlib
import hashlib
import io
import math
import os
import struct
import zipfile
import zlib
from pathlib import Path

import numpy
from numpy.lib import format as npy

from .files import NotRegularFileError, open_regular, printable
from .idx import DEFLATE_MAX_RATIO

MAX_MEMBERS = 4097           # a 1000-layer network has ~2000 arrays
MAX_NDIM = 8
_MAX_HEADER = 4096           # bytes of one .npy header (NumPy writes 128 for a parameter)
_MAX_DIRECTORY = 1 << 19     # bytes of the zip directory (~80 per member)
_CHUNK = 1 << 18             # bytes read at a time (deflate needs ~3 times that)
_OTHER_MEMBERS = 4 << 20     # room, beside max_bytes of arrays, for e.g. a model's metadata
# zipfile's faults on a malformed archive (NotImplementedError: an unknown zip version or method).
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError,
               EOFError, OSError, ValueError, struct.error, zlib.error)


class Npz:
    """An open ``.npz`` whose zip directory has been checked. ``members``: {key: ZipInfo}, the
    key being the member's name without ".npy". A context manager."""

    def __init__(self, path, *, max_bytes, error=ValueError, what="npz file"):
        self.path, self._error = Path(path), error
        try:   # a named pipe must be refused, not waited on
            self._file = open_regular(self.path)
        except FileNotFoundError:
            raise self.error(f"no such {what}") from None
        except IsADirectoryError:
            raise self.error(f"is a directory, not a {what}") from None
        except NotRegularFileError:
            raise self.error(f"not a regular file, so not a {what}") from None
        except (OSError, ValueError) as e:   # no permission, a NUL in the name, ...
            raise self.error(f"cannot read: {getattr(e, 'strerror', None) or e}") from None
        size = os.fstat(self._file.fileno()).st_size
        try:
            reader = _CappedReader(self._file, size, _MAX_DIRECTORY, self.error)
            try:
                self._zip = zipfile.ZipFile(reader)
            except NotImplementedError as e:
                raise self.error(f"uses a zip feature this reader does not: {e}") from None
            except _ZIP_ERRORS as e:
                if isinstance(e, error):
                    raise
                raise self.error(f"not a readable .npz (truncated or corrupted?): {e}") from None
            reader.limit = 2 * _CHUNK      # from here on, the reads are ours, in chunks
            self.members = self._check_directory(size, max_bytes)
        except BaseException:
            self.close()
            raise

    def error(self, problem):
        """The error for this file: "PATH: problem", one printable line of bounded length (the
        problem may quote the file, and a file's name may hold a newline or an escape)."""
        problem = _printable(problem)
        return self._error(f"{printable(self.path)}: "
                           + (problem[:397] + "..." if len(problem) > 400 else problem))

    def close(self):
        if getattr(self, "_zip", None) is not None:
            self._zip.close()
        if getattr(self, "_file", None) is not None:
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _check_directory(self, size, max_bytes):
        infos = self._zip.infolist()
        if len(infos) > MAX_MEMBERS:
            raise self.error(f"{len(infos)} zip members, more than {MAX_MEMBERS}")
        members = {info.filename: info for info in infos}
        if len(members) != len(infos):
            raise self.error("two zip members share a name")
        for name, info in members.items():
            where = f"zip member {short(name)}"
            if not name.endswith(".npy") or len(name) > 256:
                raise self.error(f"unexpected {where}: an .npz holds only .npy arrays")
            if info.flag_bits & 0x61:        # bits 0 and 6: encrypted; bit 5: patched data
                raise self.error(f"{where} is encrypted (flags 0x{info.flag_bits:04x})")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise self.error(f"{where} uses compression method {info.compress_type}; "
                                 "only stored and deflated members are read")
            if info.header_offset < 0 or info.header_offset + 30 + info.compress_size > size:
                raise self.error(f"{where} claims {info.compress_size} bytes at offset "
                                 f"{info.header_offset}, past the end of the {size}-byte file "
                                 "(truncated?)")
            stored = info.compress_type == zipfile.ZIP_STORED
            if stored and info.file_size != info.compress_size or not stored and \
                    info.file_size > DEFLATE_MAX_RATIO * max(info.compress_size, 1):
                raise self.error(f"{where} claims to unpack {info.compress_size} bytes into "
                                 f"{info.file_size}, which its method cannot (a zip bomb?)")
        if sum(info.compress_size for info in infos) > size:
            raise self.error(f"zip members claim more bytes than the {size}-byte file holds")
        claimed = sum(info.file_size for info in infos)
        if claimed > max_bytes + _MAX_HEADER * len(infos) + _OTHER_MEMBERS:
            raise self.error(f"its arrays claim {claimed} bytes unpacked, more than the limit "
                             f"max_bytes={max_bytes}; pass a larger max_bytes= to read it")
        return {name[:-len(".npy")]: info for name, info in members.items()}

    def header(self, key):
        """(shape, dtype, bytes before the data) from a member's .npy header, after checking
        that the member holds exactly the bytes of data the header describes."""
        with self._open(key) as f:
            try:
                version = npy.read_magic(f)
            except ValueError as e:
                raise self.error(f"{key}: not a .npy array: {e}") from None
            if version not in ((1, 0), (2, 0)):
                raise self.error(f"{key}: .npy format version {version}, expected 1.0 or 2.0")
            length_field = _read_exact(f, 2 if version == (1, 0) else 4)
            length = int.from_bytes(length_field, "little")
            if length > _MAX_HEADER:
                raise self.error(f"{key}: a {length}-byte .npy header, more than {_MAX_HEADER}")
            header = io.BytesIO(length_field + _read_exact(f, length))
        parse = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
        try:
            shape, fortran_order, dtype = parse(header)
        # NumPy parses the header as a Python literal: besides its ValueErrors, a hostile one
        # raises tokenize, recursion and type errors; whatever it raises, the header is broken.
        except Exception as e:
            raise self.error(f"{key}: broken .npy header: {e}") from None
        if dtype.hasobject:
            raise self.error(f"{key} holds object values: pickled Python objects, which are "
                             "never loaded (they can run code)")
        if fortran_order:
            raise self.error(f"{key}: stored in Fortran order, not C order")
        if len(shape) > MAX_NDIM or any(n < 0 for n in shape):
            raise self.error(f"{key}: bad shape {short(shape)} in its .npy header")
        start = 8 + len(length_field) + length
        nbytes = math.prod(shape) * dtype.itemsize   # Python ints: a hostile shape cannot overflow
        held = self.members[key].file_size - start
        if held != nbytes:
            raise self.error(f"{key}: its .npy header says {'x'.join(map(str, shape)) or '()'} "
                             f"{dtype} = {nbytes} bytes, its zip member holds {held} "
                             "(truncated or corrupted?)")
        return shape, dtype, start

    def data(self, key, start):
        """The bytes after a (small) member's header, as a memoryview (no copy)."""
        with self._open(key) as f:
            return memoryview(_read_exact(f, self.members[key].file_size))[start:]

    def read(self, key, shape, dtype, start):
        """(array, SHA-256 hex digest of its data bytes, whether all values are finite): the
        array read in chunks straight into place, in native byte order."""
        array = numpy.empty(shape, dtype)
        flat = array.reshape(-1)
        raw, step, size = flat.view(numpy.uint8), _CHUNK // dtype.itemsize, dtype.itemsize
        digest, finite = hashlib.sha256(), True
        with self._open(key) as f:
            _read_exact(f, start)
            for i in range(0, flat.size, step):
                j = min(i + step, flat.size)
                chunk = _read_exact(f, (j - i) * size)
                raw[i * size:j * size] = numpy.frombuffer(chunk, numpy.uint8)
                digest.update(chunk)
                finite = finite and (dtype.kind != "f" or bool(numpy.isfinite(flat[i:j]).all()))
            f.read(1)       # the end, where zipfile checks the CRC-32 (if no data read did)
        if not dtype.isnative:              # in place: no second copy
            array = array.byteswap(inplace=True).view(dtype.newbyteorder())
        return array, digest.hexdigest(), finite

    @contextlib.contextmanager
    def _open(self, key):
        """A member opened for reading, zipfile's faults (a bad CRC, ...) raised as errors."""
        try:
            with self._zip.open(self.members[key]) as f:
                yield f
        except _ZIP_ERRORS as e:
            if isinstance(e, self._error):
                raise
            raise self.error(f"{key}: unreadable zip member (corrupted?): {e}") from None


class _CappedReader:
    """The file as zipfile sees it, refusing any one read longer than ``limit``."""

    def __init__(self, f, size, limit, error):
        self._f, self._size, self.limit, self._error = f, size, limit, error

    def seekable(self):
        return True

    def seek(self, offset, whence=0):
        return self._f.seek(offset, whence)

    def tell(self):
        return self._f.tell()

    def read(self, n=-1):
        if n is None or n < 0:
            n = self._size - self._f.tell()
        if n > self.limit:
            raise self._error(f"corrupt zip: it asks for a {n}-byte read where at most "
                              f"{self.limit} are needed")
        return self._f.read(n)


def _read_exact(f, n):
    """n bytes from f, read a chunk at a time."""
    data = f.read(min(n, _CHUNK))
    if len(data) < n:
        data = bytearray(data)
        while len(data) < n and (piece := f.read(min(n - len(data), _CHUNK))):
            data += piece
    if len(data) != n:
        raise EOFError(f"{n} bytes expected, {len(data)} found")
    return data


def _printable(text):
    text = " ".join(str(text).split())
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def short(value, n=80):
    """repr of a value from a hostile file, cut to n characters."""
    text = repr(value)
    return text if len(text) <= n else text[:n - 3] + "..."
