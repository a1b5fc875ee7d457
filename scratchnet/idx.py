"""The IDX file format (LeCun's MNIST page): read, validate and write, in bounded memory.

An IDX file is a header followed by the data, all big-endian:

    bytes 0-1   zero
    byte  2     type code: 0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int, 0x0D float, 0x0E double
    byte  3     number of dimensions, ndim
    ndim x 4    each dimension as an unsigned 32-bit integer
    the rest    prod(dims) items of that type, last dimension varying fastest (C order)

So MNIST labels start with magic 0x00000801 (1-D ubyte) and images with 0x00000803 (3-D ubyte,
N x 28 x 28).  Files may be gzip-compressed; a name ending in ``.gz`` says so.

Memory bound: reading never allocates more than the array the header describes, plus 1 MiB of
buffers, and that size is checked before anything is allocated: against ``max_bytes`` (default
`scratchnet.files.MAX_BYTES`, 1 GiB) and against the file.  An uncompressed file must hold exactly
header + data; a gzip of S bytes cannot hold more than 1032 S (deflate's largest expansion).  A
``.gz`` is decompressed as it is read, straight into the array, and reading stops one byte after
the data the header claims: a gzip bomb behind an honest header costs one byte, not gigabytes.

Every problem with a file raises `IDXError` (a ValueError) with a one-line message that starts
with the file's path.
"""
import gzip
import io
import math
import types
import zlib
from pathlib import Path

import numpy as np

from .files import MAX_BYTES, NotRegularFileError, atomic_write, open_regular, printable

# IDX type code -> big-endian NumPy dtype.
IDX_TYPES = types.MappingProxyType({0x08: ">u1", 0x09: ">i1", 0x0B: ">i2",
                                    0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"})
_CODE_OF = {np.dtype(t).str[1:]: code for code, t in IDX_TYPES.items()}  # "u1" -> 0x08, ...

# Deflate expands at most 1032:1 (zlib's FAQ; 1029:1 measured on zeros); gzip's own header and
# trailer, and every further member, only lower the ratio.  A header claiming more is a lie.
DEFLATE_MAX_RATIO = 1032
_CHUNK = 1 << 20  # bytes read (and, for gzip, decompressed) at a time


class IDXError(ValueError):
    """A data file is missing, unreadable or malformed; the message is one line, 'PATH: problem'."""

    @classmethod
    def at(cls, path, problem):
        """The error for `path`, with `problem` folded onto one line."""
        return cls(f"{printable(path)}: " + " ".join(str(problem).split()))


class DataNotFoundError(IDXError):
    """A data file or folder is not where it was looked for (nor could a loader download it)."""


def read_idx(path, *, max_bytes=MAX_BYTES, check_header=None):
    """Read an IDX file (gzip-compressed if the name ends in .gz) into an array.

    Returns a writable, native-byte-order array of the header's shape and type, e.g. uint8
    (60000, 28, 28) for MNIST training images.  Raises DataNotFoundError for a missing file and
    IDXError for an unreadable one, a corrupt gzip, a bad magic number, a short header, data
    shorter or longer than the header says, or a header claiming more than `max_bytes` bytes of
    data.  `check_header(dtype, dims)`, if given, is called before any data is read and returns
    None or a problem to report (so a reader of images refuses a labels file at its header).
    """
    path = Path(path)
    try:
        f = open_regular(path, buffering=0)
    except FileNotFoundError:
        raise DataNotFoundError.at(path, "no such file") from None
    except (IsADirectoryError, NotRegularFileError):  # a FIFO would block, a device never end
        raise IDXError.at(path, "not a regular file") from None
    except (OSError, ValueError) as e:  # no permission, a loop of links, a NUL in the name
        raise IDXError.at(path, f"cannot read: {getattr(e, 'strerror', None) or e}") from None
    with f:                             # read_idx_from turns its OSErrors into IDXError
        return read_idx_from(f, path, compressed=path.name.endswith(".gz"),
                             max_bytes=max_bytes, check_header=check_header)


def parse_idx(data, where="<bytes>", *, max_bytes=MAX_BYTES):
    """Parse the bytes of an (uncompressed) IDX file; `where` names them in error messages."""
    return read_idx_from(io.BytesIO(data), where, max_bytes=max_bytes)


def read_idx_from(f, where, *, compressed=False, max_bytes=MAX_BYTES, check_header=None):
    """Read an IDX file from the seekable binary file `f`, from its position to its end.

    `where` names it in error messages; `compressed` says it is gzip; the rest as `read_idx`.
    """
    try:
        start = f.tell()
        size = f.seek(0, io.SEEK_END) - start  # checked against the header before reading data
        f.seek(start)
        stream = gzip.GzipFile(fileobj=f, mode="rb") if compressed else f
        return _read(stream, where, size, compressed, max_bytes, check_header)
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:  # raised only by decompression
        raise IDXError.at(where, f"corrupt gzip: {e}") from None
    except OSError as e:
        raise IDXError.at(where, f"cannot read: {e.strerror or e}") from None


def _read(stream, where, size, compressed, max_bytes, check_header):
    """The array in `stream` (decompressed if `compressed`), whose file is `size` bytes long."""
    head = _read_up_to(stream, 4)
    if len(head) < 4:
        raise IDXError.at(where, f"truncated header: {len(head)} bytes, an IDX header has at"
                                 " least 4")
    if head[0] or head[1]:
        hint = " (it looks gzip-compressed; name it .gz)" if head[:2] == b"\x1f\x8b" else ""
        raise IDXError.at(where, f"not an IDX file: magic starts 0x{head[:2].hex()},"
                                 " expected 0x0000" + hint)
    code, ndim = head[2], head[3]
    if code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02X} {np.dtype(t).name}" for c, t in IDX_TYPES.items())
        raise IDXError.at(where, f"unknown IDX type code 0x{code:02X} (known: {known})")
    start = 4 + 4 * ndim
    raw_dims = _read_up_to(stream, 4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise IDXError.at(where, f"truncated header: {ndim} dimensions need {start} header"
                                 f" bytes, file has {4 + len(raw_dims)}")
    dims = [int.from_bytes(raw_dims[i:i + 4], "big") for i in range(0, 4 * ndim, 4)]
    dtype = np.dtype(IDX_TYPES[code])
    want = dtype.itemsize * math.prod(dims)  # Python ints: a hostile header cannot overflow this
    claim = f"header says {_shape_text(dims)} = {want} bytes of data"

    # The claim is checked against the file and the cap before anything is allocated.
    if not compressed and size - start != want:
        have = size - start
        problem = "truncated" if have < want else f"{have - want} extra bytes after the data"
        raise IDXError.at(where, f"{problem}: {claim}, file has {have}")
    if compressed and want > DEFLATE_MAX_RATIO * size:
        raise IDXError.at(where, f"truncated: {claim}, more than a gzip of {size} bytes can hold"
                                 f" (deflate expands at most {DEFLATE_MAX_RATIO}:1)")
    if want > max_bytes:
        raise IDXError.at(where, f"{claim}, more than the limit max_bytes={max_bytes}; pass a"
                                 " larger max_bytes= to read it")
    problem = check_header(dtype, dims) if check_header else None
    if problem:
        raise IDXError.at(where, problem)
    try:
        array = np.empty(dims, dtype.newbyteorder("="))
    except ValueError as e:  # more dimensions than NumPy supports
        raise IDXError.at(where, f"cannot make an array of shape {_shape_text(dims)}: {e}") \
            from None
    except MemoryError:
        raise IDXError.at(where, f"{claim}, and there is not enough memory for them") from None

    buffer = memoryview(array.reshape(-1).view(np.uint8))  # the array's own bytes: no copy
    got = 0
    while got < want:
        n = stream.readinto(buffer[got:got + _CHUNK])
        if not n:
            has = "decompresses to" if compressed else "has"
            raise IDXError.at(where, f"truncated: {claim}, file {has} {got}")
        got += n
    if compressed and stream.read(1):  # one byte past the claim: a bomb is never inflated
        raise IDXError.at(where, f"extra bytes after the data: {claim}, the decompressed"
                                 " file has more")
    if not dtype.isnative:
        array.byteswap(inplace=True)  # IDX is big-endian; the array's dtype is native
    return array


def _read_up_to(stream, n):
    """Up to n bytes from `stream`, fewer only at its end."""
    data = b""
    while len(data) < n:
        more = stream.read(n - len(data))
        if not more:
            break
        data += more
    return data


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
    data = np.ascontiguousarray(array, dtype=IDX_TYPES[code])
    path = Path(path)

    def write(f):
        # mtime=0 and no file name: the same array always gives the same bytes
        out = gzip.GzipFile(filename="", fileobj=f, mode="wb", mtime=0) \
            if path.name.endswith(".gz") else f
        out.write(header)
        out.write(data.reshape(-1).view(np.uint8))
        if out is not f:
            out.close()  # writes the gzip trailer; f itself stays open for atomic_write
    atomic_write(path, write)


def _shape_text(dims):
    return "x".join(map(str, dims)) or "a scalar"
