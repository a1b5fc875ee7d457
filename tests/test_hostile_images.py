"""Hostile pictures: every file that is not a readable picture of a digit gets one line, an
ImageError (a ValueError) naming it, in bounded memory; fuzzed files never raise anything else.

Names a user's shell or a web client can pass are hostile too: undecodable bytes, newlines and
terminal escape sequences must come out escaped, never raw.
"""
import io
import os
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from digit_pictures import check_invariants, draw, encoded, write
from scratchnet.imagefile import ImageError, load_image
from scratchnet.imaging import load_digit
from strategies import examples

FORMATS = ["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"]
VALID = {fmt: encoded(draw(size=(120, 90), at=(40, 10), height=70, width=6), fmt)
         for fmt in FORMATS}


def fake_png(width, height):
    """A PNG header declaring width x height grey pixels, with a token of data: cheap to write."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)   # 8-bit grey
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))


def bad_files(tmp_path):
    """name -> (path, expected words in the message)."""
    png = io.BytesIO()
    draw().save(png, "PNG")
    jpg = io.BytesIO()
    draw().save(jpg, "JPEG", quality=90)
    corrupt = bytearray(png.getvalue())
    corrupt[100:140] = b"\xff" * 40
    made = {
        "empty.png": (b"", "empty"),
        "notes.txt": (b"seven, in words\n", "not a recognised image"),
        "noise.jpg": (bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8)),
                      "not a recognised image"),
        "half.png": (png.getvalue()[: len(png.getvalue()) // 2], "truncated"),
        "half.jpg": (jpg.getvalue()[: len(jpg.getvalue()) // 2], "truncated"),
        "header-only.jpg": (jpg.getvalue()[:600], "truncated"),
        "corrupt.png": (bytes(corrupt), "damaged"),
        "bomb.png": (fake_png(20_000, 20_000), "too large"),      # Pillow's own hard limit
        "big.png": (fake_png(10_000, 10_000), "too large"),       # Pillow's warning, made an error
        "wide.png": (fake_png(10_000, 6_000), "too large"),       # over our 50 megapixels only
    }
    out = {}
    for name, (data, words) in made.items():
        (tmp_path / name).write_bytes(data)
        out[name] = (tmp_path / name, words)
    for name, img in [("blank.png", Image.new("L", (400, 300), 240)),
                      ("specks.png", _specks_only()),
                      ("shadow.jpg", Image.fromarray(
                          np.tile(np.linspace(80, 250, 400), (300, 1)).astype(np.uint8)))]:
        out[name] = (write(tmp_path, img, name), "no ink found")
    out["missing.png"] = (tmp_path / "missing.png", "not found")
    (tmp_path / "folder.png").mkdir()
    out["folder.png"] = (tmp_path / "folder.png", "directory")
    return out


def _specks_only():
    img = Image.new("L", (400, 300), 235)
    for x, y in [(50, 50), (300, 80), (200, 250), (350, 200)]:
        ImageDraw.Draw(img).ellipse([x, y, x + 4, y + 4], fill=20)
    return img


@pytest.mark.parametrize("name", ["empty.png", "notes.txt", "noise.jpg", "half.png", "half.jpg",
                                  "header-only.jpg", "corrupt.png", "bomb.png", "big.png",
                                  "wide.png", "blank.png", "specks.png", "shadow.jpg",
                                  "missing.png", "folder.png"])
def test_bad_files_raise_one_line_image_error_naming_the_file(tmp_path, name):
    path, words = bad_files(tmp_path)[name]
    with pytest.raises(ImageError) as info:
        load_digit(path)
    message = str(info.value)
    assert message.startswith(str(path) + ": ") and "\n" not in message
    assert words in message, message
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("name", ["notes.txt", "noise.jpg", "half.png", "half.jpg",
                                  "header-only.jpg", "corrupt.png", "bomb.png", "big.png",
                                  "wide.png", "blank.png", "specks.png", "shadow.jpg"])
def test_bad_bytes_raise_the_same_error_as_the_file(tmp_path, name):
    """What the web page posts: the file's bytes, named by the caller."""
    path, words = bad_files(tmp_path)[name]
    with pytest.raises(ImageError) as info:
        load_digit(path.read_bytes(), name="upload")
    assert str(info.value).startswith("upload: ") and words in str(info.value)
    assert "\n" not in str(info.value)


def test_a_bomb_is_refused_before_it_is_decoded(tmp_path):
    """A 10,000 x 10,000 PNG of 100 bytes: refused from its header, so reading it takes no more
    memory than the file (tracemalloc sees NumPy's and Pillow's Python-side allocations)."""
    import tracemalloc
    data = fake_png(7_100, 7_100)                  # 50.4 megapixels: over MAX_PIXELS only
    tracemalloc.start()
    try:
        with pytest.raises(ImageError, match="too large"):
            load_image(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000, peak


@given(fmt=st.sampled_from(FORMATS), data=st.data())
@examples(0.6, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_damaged_files_raise_image_error_or_decode(tmp_path, fmt, data):
    """Cut a valid file anywhere, or overwrite a few bytes: a digit or an ImageError, never a
    bare exception from Pillow or NumPy."""
    raw = bytearray(VALID[fmt])
    cut = data.draw(st.integers(0, len(raw)))
    raw = raw[:cut]
    for _ in range(data.draw(st.integers(0, 3))):
        if raw:
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    path = tmp_path / f"fuzz.{fmt.lower()}"
    path.write_bytes(bytes(raw))
    try:
        check_invariants(load_digit(path))
    except ImageError as e:
        assert str(e).startswith(str(path) + ": ") and "\n" not in str(e)


@given(fmt=st.sampled_from(["PNG", "JPEG"]), seed=st.integers(0, 2**32 - 1),
       flips=st.integers(1, 40))
@examples(0.6)
def test_random_byte_flips_of_a_png_or_jpeg_give_a_digit_or_image_error(fmt, seed, flips):
    """Flip random bits in random bytes of a valid file, given as bytes: whatever the decoder
    meets (bad CRCs, Huffman tables, sizes, markers), only ImageError may escape."""
    raw = bytearray(VALID[fmt])
    rng = np.random.default_rng(seed)
    for i in rng.integers(0, len(raw), flips):
        raw[i] ^= 1 << int(rng.integers(0, 8))
    try:
        check_invariants(load_digit(bytes(raw), name="fuzzed"))
    except ImageError as e:
        assert str(e).startswith("fuzzed: ") and "\n" not in str(e)


@pytest.mark.parametrize("name", ["two\nlines.png", "bell\a.png", "esc\x1b]0;owned\x07.png",
                                  "\x9b31m.png", "tab\there.png", "\u202ereversed.png"])
def test_hostile_names_come_out_escaped(tmp_path, name):
    path = write(tmp_path, Image.new("L", (50, 50), 240), name, format="PNG")
    with pytest.raises(ImageError) as info:
        load_digit(path)
    message = str(info.value)
    assert message.isprintable() and "no ink found" in message
    with pytest.raises(ImageError) as info:
        load_digit(b"junk", name=name)
    assert str(info.value).isprintable()


def test_a_pipe_or_a_device_is_refused_not_waited_on(tmp_path):
    """Opening a named pipe blocks until someone writes to it; /dev/zero never ends."""
    fifo = tmp_path / "photo.png"
    os.mkfifo(fifo)
    with pytest.raises(ImageError, match=r"photo\.png: not a regular file"):
        load_image(fifo)
    with pytest.raises(ImageError, match=r"^/dev/zero: not a regular file"):
        load_image("/dev/zero")


def test_a_path_with_a_nul_byte_is_one_line():
    with pytest.raises(ImageError, match=r"^a\\x00b\.png: cannot read file"):
        load_image("a\0b.png")
