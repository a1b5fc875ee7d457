"""Image files -> grey float32 arrays in [0, 1], the way they are meant to be seen (Pillow).

A source is a path (str or os.PathLike), the file's bytes (bytes, bytearray, memoryview) or a
binary file object.  What `load_image` does to it:

    1. refuses what cannot be a sensible picture before decoding it: a missing, empty or
       unreadable file, a stream over MAX_FILE_BYTES, more than MAX_PIXELS pixels (a
       decompression bomb: a small file claiming a huge picture);
    2. decodes all of it (a truncated file fails here, not later), and turns it as its EXIF
       orientation says (a phone held sideways stores its pixels rotated);
    3. reads every Pillow mode on its own scale (`to_grey`): 8-bit modes by ITU-R 601 luma,
       L = 0.299 R + 0.587 G + 0.114 B, over 255; transparent pixels composited on white paper;
       16-bit modes over 65535; see `to_grey` for 32-bit integers and floats.

Every problem raises `ImageError` (a ValueError), one line that starts with the source's name:
the path, control characters and undecodable bytes escaped (`label`), so that a hostile file
name can neither break the line nor send escape sequences to a terminal.
"""
import io
import os
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .files import NotRegularFileError, open_regular

MAX_PIXELS = 50_000_000        # refuse larger images (decompression bombs); Pillow's own is 89M
MAX_FILE_BYTES = 256 << 20     # the most read from a stream that cannot seek (a pipe, a socket)
EIGHT_BIT = ("1", "L", "P", "RGB", "RGBX", "CMYK", "YCbCr", "LAB", "HSV")
WITH_ALPHA = {"LA": "LA", "La": "LA", "PA": "RGBA", "RGBA": "RGBA", "RGBa": "RGBA"}
FULL_SCALES = (2.0**8 - 1, 2.0**16 - 1, 2.0**31 - 1)   # 8, 16 and 32 bits (signed: Pillow's I)
# The formats Pillow decodes itself. Not EPS: Pillow hands PostScript to Ghostscript, a program
# that would run whatever the file says; nor the vector and Windows-only formats.
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "DIB", "TIFF", "WEBP", "PPM", "TGA", "ICO",
           "PCX", "SGI", "JPEG2000", "QOI")
POSTSCRIPT = (b"%!PS", b"\xc5\xd0\xd3\xc6")    # how a PostScript / EPS file begins


class ImageError(ValueError):
    """A file or array that cannot become a digit; the one-line message starts with its name."""


def label(name):
    """A name as it may go in a one-line message: a path's undecodable bytes, newlines, escape
    and other control or format characters are shown escaped (as Python writes them)."""
    if isinstance(name, (bytes, os.PathLike)):
        name = os.fsdecode(name)     # undecodable bytes become lone surrogates, escaped below
    name = str(name)
    return name if name.isprintable() else repr(name)[1:-1]


def load_image(source, name=None):
    """Read an image (a path as str or os.PathLike, the file's bytes, or a binary file object)
    as grey float32 (h, w) in [0, 1], paper light and ink dark as on the page.  Bytes are
    always the file's content, never a path; a file object that can seek is read from its
    start (as Pillow reads it), one that cannot from where it is.  ``name`` names it in error
    messages (default: the path, the file object's name, or "<bytes>")."""
    name = label(name if name is not None else name_of(source))
    if isinstance(source, (str, os.PathLike)):
        stream = _open_path(source, name)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        stream = io.BytesIO(bytes(source))
    elif hasattr(source, "read"):
        stream = _seekable(source, name)
    else:
        raise ImageError(f"{name}: expected a path, bytes or a binary file, "
                         f"got {type(source).__name__}")
    with stream:
        if _size(stream) == 0:
            raise ImageError(f"{name}: empty file")
        return _decode(stream, name)


def name_of(source):
    """What a source is called when no name is given: the path, the file object's name,
    "<bytes>" or "<file>" (not yet made printable: see `label`)."""
    if isinstance(source, (str, os.PathLike)):
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<bytes>"
    given = getattr(source, "name", None)
    return given if isinstance(given, (str, bytes, os.PathLike)) else "<file>"


def _open_path(path, name):
    try:
        return open_regular(path)
    except FileNotFoundError:
        raise ImageError(f"{name}: file not found") from None
    except IsADirectoryError:
        raise ImageError(f"{name}: is a directory, not an image file") from None
    except NotRegularFileError:        # a pipe would block, /dev/zero never end
        raise ImageError(f"{name}: not a regular file (a pipe, socket or device)") from None
    except PermissionError:
        raise ImageError(f"{name}: cannot read file (permission denied)") from None
    except (OSError, ValueError) as e:     # ValueError: a path with a NUL byte
        raise ImageError(f"{name}: cannot read file ({getattr(e, 'strerror', None) or e})") \
            from None


def _seekable(f, name):
    """A file object Pillow can seek in: ``f`` itself, or its bytes (at most MAX_FILE_BYTES)."""
    if isinstance(f, io.TextIOBase):
        raise ImageError(f"{name}: expected a binary file, got text")
    try:
        if f.seekable():
            return _Borrowed(f)
    except (AttributeError, OSError, ValueError):
        pass
    try:
        data = f.read(MAX_FILE_BYTES + 1)
    except (OSError, ValueError) as e:
        raise ImageError(f"{name}: cannot read file ({getattr(e, 'strerror', None) or e})") \
            from None
    if not isinstance(data, (bytes, bytearray)):
        raise ImageError(f"{name}: expected a binary file, got text")
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(f"{name}: file too large (over {MAX_FILE_BYTES >> 20} MiB)")
    return io.BytesIO(data)


class _Borrowed:
    """The caller's file object, which `with` must not close."""

    def __init__(self, f):
        self.f = f

    def __getattr__(self, attr):
        return getattr(self.f, attr)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _size(stream):
    """The file's size in bytes (-1 if unknown): Pillow reads a file object from its start."""
    try:
        here = stream.tell()
        end = stream.seek(0, os.SEEK_END)
        stream.seek(here)
        return end
    except (AttributeError, OSError, ValueError):
        return -1                              # unknown: let the decoder find out


def _decode(stream, name):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")    # a quiet library: e.g. "Corrupt EXIF data"
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(stream, formats=FORMATS) as img:
                w, h = img.size
                if w * h > MAX_PIXELS:
                    raise ImageError(f"{name}: image too large ({w}x{h} pixels, limit "
                                     f"{MAX_PIXELS / 1e6:g} megapixels)")
                img.load()                     # decode everything now: a truncated file fails
                unsigned = _unsigned_32(img)       # (the tags are gone once it is turned)
                return to_grey(ImageOps.exif_transpose(img), name, unsigned_32=unsigned)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{name}: image too large (decompression bomb?)") from None
    except UnidentifiedImageError:
        if _starts_with(stream, POSTSCRIPT):
            raise ImageError(f"{name}: PostScript (EPS) is not read (it would run Ghostscript "
                             "on the file); send a PNG or JPEG") from None
        raise ImageError(f"{name}: not a recognised image file") from None
    except PermissionError:
        raise ImageError(f"{name}: cannot read file (permission denied)") from None
    except MemoryError:
        raise ImageError(f"{name}: image too large to decode in memory") from None
    except Exception as e:   # noqa: BLE001  decoders of damaged files raise OSError, SyntaxError,
        why = " ".join(str(e).split()) or type(e).__name__   # EOFError, struct.error, ...
        raise ImageError(f"{name}: damaged or truncated image ({why[:200]})") from None


def _starts_with(stream, prefixes):
    """Whether the file begins with one of ``prefixes`` (False if it cannot be re-read)."""
    try:
        stream.seek(0)
        return stream.read(4).startswith(prefixes)
    except (AttributeError, OSError, ValueError):
        return False


def _unsigned_32(img):
    """Whether a mode I image holds unsigned 32-bit integers: a TIFF saying so (BitsPerSample
    32, SampleFormat 1 or absent), which Pillow reads into signed ones, wrapping 2^31 and up."""
    tags = getattr(img, "tag_v2", None)
    if img.mode != "I" or tags is None:
        return False
    return tuple(tags.get(258, ())) == (32,) and tuple(tags.get(339, (1,))) == (1,)


def to_grey(img, name="<image>", unsigned_32=False):
    """A decoded Pillow image -> float32 (h, w) in [0, 1], each mode on its own scale:

    - 8-bit modes (1, L, P, RGB, CMYK, YCbCr, LAB, HSV, ...): luma / 255;
    - with alpha (LA, La, PA, RGBA, RGBa, or a transparent colour): g = a L + (1 - a), the page
      white where the pixels are transparent;
    - I;16 and its byte orders: the value / 65535;
    - I (32-bit integers; Pillow uses this mode for 8-, 16- and 32-bit data alike, and a file's
      declared depth says only how it was stored): the value over the smallest full scale,
      255, 65535 or 2^31 - 1, that holds every value; with ``unsigned_32`` (a TIFF of unsigned
      32-bit integers, which Pillow wraps into signed ones) unwrapped, and 2^32 - 1 the last;
    - F (floats): as is when in [0, 1]; else, if not negative, over the smallest of those full
      scales that holds them.
    Integers or floats below 0 have no agreed black: their range min..max is stretched to 0..1.
    NaN or infinite values raise ImageError.
    """
    if img.mode in ("I", "F") or img.mode.startswith("I;"):
        values = np.asarray(img)
        if unsigned_32 and img.mode == "I":
            return _deep(values.astype(np.int32).view(np.uint32), img.mode, name,
                         scales=FULL_SCALES[:2] + (2.0**32 - 1,))
        return _deep(values, img.mode, name)
    try:
        if img.mode in WITH_ALPHA or "transparency" in img.info:
            # La and RGBa (premultiplied) become LA and RGBA: luma and alpha kept apart
            rgba = img.convert(WITH_ALPHA.get(img.mode, "RGBA"))
            a = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255
            luma = np.asarray(rgba.convert("L"), dtype=np.float32) / 255
            return luma * a + (1 - a)
        if img.mode not in EIGHT_BIT or img.mode == "LAB":
            img = img.convert("RGB")
        return np.asarray(img.convert("L"), dtype=np.float32) / 255
    except ValueError as e:
        raise ImageError(f"{name}: unsupported colour mode {img.mode} ({e})") from None


def _deep(values, mode, name, scales=FULL_SCALES):
    """Integer or float pixels (mode I, I;16*, F) -> [0, 1] on the scale `to_grey` states.
    Float32 throughout (a 50-megapixel picture: 200 MB); its 24-bit mantissa is ample for grey."""
    a = values.astype(np.float32)
    if not np.isfinite(a).all():
        raise ImageError(f"{name}: image contains NaN or infinite values")
    if not a.size:
        return a.astype(np.float32)
    low, high = float(a.min()), float(a.max())
    if low < 0:
        return np.clip((a - np.float32(low)) / np.float32(max(high - low, 1e-12)), 0, 1)
    if mode.startswith("I;16"):
        top = FULL_SCALES[1]
    elif mode == "F" and high <= 1:
        top = 1.0
    else:
        top = next((s for s in scales if high <= s), high)
    return np.clip(a / np.float32(top), 0, 1)      # float32 rounding may pass 1 by an ulp
