"""Tests for scratchnet.imagefile: image files (a path, bytes or a file object) -> grey in [0, 1].

Every Pillow mode must be read on its own scale: the same drawing of a "7", stored as 8-bit grey,
colour, palette, bilevel, with alpha, as 16- or 32-bit integers or as floats, must come back as
the same grey picture (and so the same digit).  Bad files are in test_hostile_images.py.
"""
import io
import os

import numpy as np
import pytest
from PIL import Image, TiffImagePlugin

from digit_pictures import clean, draw, encoded, grey, similar, write
from scratchnet import imagefile
from scratchnet.imagefile import ImageError, label, load_image, to_grey
from scratchnet.imaging import load_digit

G8 = np.asarray(draw(), dtype=np.uint8)              # the 7: ink 30, paper 235
EXPECTED = G8 / 255


def _with_alpha(mode):
    """The 7 as black ink on a transparent page (alpha = ink coverage) in ``mode``."""
    rgba = Image.new("RGBA", (400, 300), (0, 0, 0, 0))
    rgba.putalpha(Image.fromarray(255 - G8))     # alpha 220 on the ink, 20 on the paper
    return rgba.convert("LA" if mode.startswith("L") else "RGBA").convert(mode)


# mode -> (the 7 in that mode, the grey it must be read as, tolerance)
def modes():
    g = Image.fromarray(G8)
    on_white = 1 - (255 - G8) / 255                      # ink composited on white paper
    return {
        "1": (g.convert("1", dither=Image.Dither.NONE), (G8 >= 128).astype(float), 0),
        "L": (g, EXPECTED, 1e-6),
        "P": (g.convert("P"), EXPECTED, 1e-6),
        "RGB": (g.convert("RGB"), EXPECTED, 1e-6),
        "RGBX": (g.convert("RGBX"), EXPECTED, 1e-6),
        "CMYK": (g.convert("CMYK"), EXPECTED, 1e-6),
        "YCbCr": (g.convert("YCbCr"), EXPECTED, 2 / 255),
        "LAB": (g.convert("RGB").convert("LAB"), EXPECTED, 3 / 255),
        "HSV": (g.convert("RGB").convert("HSV"), EXPECTED, 1 / 255),
        "LA": (_with_alpha("LA"), on_white, 1 / 255),
        "La": (_with_alpha("La"), on_white, 2 / 255),
        "PA": (_with_alpha("RGBA").convert("PA"), on_white, 2 / 255),
        "RGBA": (_with_alpha("RGBA"), on_white, 1 / 255),
        "RGBa": (_with_alpha("RGBa"), on_white, 2 / 255),
        "I;16": (Image.fromarray(G8.astype(np.uint16) * 257), EXPECTED, 1e-6),
        "I;16B": (Image.frombytes("I;16B", g.size, (G8.astype(">u2") * 257).tobytes()),
                  EXPECTED, 1e-6),
        "I 8-bit values": (g.convert("I"), EXPECTED, 1e-6),
        "I 16-bit values": (Image.fromarray(G8.astype(np.int32) * 257), EXPECTED, 1e-6),
        "I 32-bit values": (Image.fromarray(G8.astype(np.int32) * 8421504),   # 255 -> 2^31-1
                            EXPECTED, 1e-6),
        "F in [0, 1]": (Image.fromarray(EXPECTED.astype(np.float32)), EXPECTED, 1e-6),
        "F in [0, 255]": (Image.fromarray(G8.astype(np.float32)), EXPECTED, 1e-6),
    }


@pytest.mark.parametrize("mode", list(modes()))
def test_every_mode_is_read_on_its_own_scale(mode):
    """Once, 8-bit values in mode I (e.g. ``convert("I")``, a 32-bit integer TIFF) were divided
    by 65535 and the digit called blank, and La / RGBa raised "unsupported colour mode"."""
    img, expected, tolerance = modes()[mode]
    np.testing.assert_allclose(to_grey(img), expected, atol=tolerance + 1e-6)


@pytest.mark.parametrize("mode, fmt", [
    ("1", "PNG"), ("1", "TIFF"), ("L", "TIFF"), ("P", "GIF"), ("CMYK", "JPEG"), ("CMYK", "TIFF"),
    ("LAB", "TIFF"), ("LA", "PNG"), ("RGBA", "TIFF"), ("RGBA", "WEBP"), ("I;16", "PNG"),
    ("I;16", "TIFF"), ("I 8-bit values", "TIFF"), ("I 32-bit values", "TIFF"),
    ("F in [0, 1]", "TIFF"), ("F in [0, 255]", "TIFF")])
def test_files_of_every_depth_give_the_digit(tmp_path, mode, fmt):
    img, expected, tolerance = modes()[mode]
    options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    if fmt == "WEBP":
        options["lossless"] = True
    path = write(tmp_path, img, f"seven.{fmt.lower()}", format=fmt, **options)
    g = load_image(path)
    lossy = 4 / 255 if fmt == "JPEG" else 0
    assert np.abs(g - expected).mean() <= tolerance + lossy + 1e-6, np.abs(g - expected).max()
    assert similar(load_digit(path), clean()) > 0.9


def test_an_unsigned_32_bit_tiff_is_not_wrapped_negative(tmp_path):
    """Pillow reads unsigned 32-bit TIFF pixels as signed ones: 2^31 and above come back
    negative. Unwrapped, 4294967295 is white and 30 / 255 of it is ink."""
    values = (G8.astype(np.uint64) * 16843009).astype(np.uint32)    # 255 -> 2^32 - 1
    buffer = io.BytesIO()
    Image.fromarray(values.view(np.int32)).save(buffer, "TIFF")
    data = bytearray(buffer.getvalue())
    tag = data.find(bytes.fromhex("5301 0300 0100 0000 0200"))   # SampleFormat = 2 (signed)
    assert tag > 0
    data[tag + 8] = 1                                            # ... made 1 (unsigned)
    with Image.open(io.BytesIO(bytes(data))) as img:
        assert img.tag_v2[339] == (1,) and np.asarray(img).min() < 0   # Pillow's wrap
    np.testing.assert_allclose(load_image(bytes(data)), EXPECTED, atol=1e-6)


def test_float_images_with_nan_are_refused():
    a = EXPECTED.astype(np.float32)
    a[5, 5] = np.nan
    with pytest.raises(ImageError, match="NaN or infinite"):
        to_grey(Image.fromarray(a), "nan.tif")


def test_negative_values_are_stretched_to_their_range():
    a = (EXPECTED * 2 - 1).astype(np.float32)                    # -1..1
    np.testing.assert_allclose(to_grey(Image.fromarray(a)),
                               (EXPECTED - EXPECTED.min()) / np.ptp(EXPECTED), atol=1e-6)


# --- where an image comes from: a path, bytes, a file object -----------------------------------

def test_load_image_reads_grey_in_unit_range(tmp_path):
    g = load_image(write(tmp_path, draw(), "seven.png"))
    assert g.dtype == np.float32 and g.shape == (300, 400)
    np.testing.assert_allclose(g, grey(draw()), atol=1e-6)


def test_bytes_and_file_objects_read_as_the_path_does(tmp_path):
    path = write(tmp_path, draw(), "seven.png")
    data = path.read_bytes()
    expected = load_image(path)
    with open(path, "rb") as f:
        np.testing.assert_array_equal(load_image(f), expected)
        assert not f.closed                                     # the caller's to close
    for source in (data, bytearray(data), memoryview(data), io.BytesIO(data), str(path)):
        np.testing.assert_array_equal(load_image(source), expected)


class Pipe(io.RawIOBase):
    """A stream that cannot seek, like a socket or a pipe."""

    def __init__(self, data):
        self.data = io.BytesIO(data)

    def readable(self):
        return True

    def seekable(self):
        return False

    def readinto(self, b):
        return self.data.readinto(b)


def test_a_stream_that_cannot_seek_is_read_whole_up_to_a_limit(monkeypatch):
    data = encoded(draw(), "PNG")
    np.testing.assert_array_equal(load_image(Pipe(data)), grey(draw()))
    monkeypatch.setattr(imagefile, "MAX_FILE_BYTES", len(data) - 1)
    with pytest.raises(ImageError, match=r"^<file>: file too large"):
        load_image(Pipe(data))


def test_names_in_messages(tmp_path):
    with pytest.raises(ImageError, match=r"^<bytes>: not a recognised image file$"):
        load_image(b"not an image")
    with pytest.raises(ImageError, match=r"^upload: not a recognised image file$"):
        load_image(b"not an image", name="upload")
    with open(write(tmp_path, Image.new("L", (9, 9)), "x.png"), "rb") as f:
        f.read(10)                                   # handed over part-read: read from 0
        assert load_image(f).shape == (9, 9)
    with open(tmp_path / "empty.png", "wb+") as f:
        with pytest.raises(ImageError, match=r"empty\.png: empty file$"):
            load_image(f)
    with pytest.raises(ImageError, match=r"^<file>: expected a binary file, got text"):
        load_image(Pipe2())
    with open(tmp_path / "x.png", encoding="utf-8") as text:
        with pytest.raises(ImageError, match=r"x\.png: expected a binary file, got text"):
            load_image(text)
    with pytest.raises(ImageError, match=r"^<file>: expected a path, bytes or a binary file"):
        load_image(42)


class Pipe2(io.TextIOBase):
    """A text stream: the wrong kind of file."""

    def read(self, n=-1):
        return "seven"

    def seekable(self):
        return False


@pytest.mark.parametrize("name, shown", [
    ("two\nlines.png", "two\\nlines.png"),
    ("red\x1b[31m.png", "red\\x1b[31m.png"),
    ("right\u202eto-left.png", "right\\u202eto-left.png"),
    (os.fsdecode(b"latin-\xe9.png"), "latin-\\udce9.png"),
    (b"latin-\xe9.png", "latin-\\udce9.png"),
    ("plain-é.png", "plain-é.png"),
])
def test_label_escapes_what_would_break_a_line_or_a_terminal(name, shown):
    assert label(name) == shown


def test_odd_file_names_stay_on_one_line(tmp_path):
    path = tmp_path / "two\nlines\x1b[2J.png"
    with pytest.raises(ImageError) as info:
        load_image(path)
    message = str(info.value)
    assert "\n" not in message and "\x1b" not in message
    assert "two\\nlines\\x1b[2J.png: file not found" in message


def test_pixel_limit_is_ours_to_set(tmp_path, monkeypatch):
    path = write(tmp_path, draw(), "seven.png")
    monkeypatch.setattr(imagefile, "MAX_PIXELS", 100_000)
    with pytest.raises(ImageError, match=r"seven\.png: image too large \(400x300"):
        load_image(path)


# --- colour, transparency, orientation ---------------------------------------------------------

def test_rgb_and_jpeg_and_cmyk_give_the_same_digit(tmp_path):
    rgb = Image.new("RGB", (400, 300), (250, 240, 200))           # yellowish paper
    rgb.paste((20, 30, 120), mask=draw(ink=255, paper=0))           # blue ink
    for name, kwargs in [("rgb.png", {}), ("rgb.jpg", {"quality": 40}),
                         ("low.jpg", {"quality": 5})]:
        assert similar(load_digit(write(tmp_path, rgb, name, **kwargs)), clean()) > 0.9, name
    cmyk = write(tmp_path, rgb.convert("CMYK"), "cmyk.jpg")
    assert similar(load_digit(cmyk), clean()) > 0.9


def test_transparent_background_is_white_paper(tmp_path):
    """Black ink on fully transparent black pixels: without compositing the page is all black."""
    rgba = Image.new("RGBA", (400, 300), (0, 0, 0, 0))
    rgba.putalpha(draw(ink=255, paper=0))
    path = write(tmp_path, rgba, "rgba.png")
    assert load_image(path)[0, 0] == 1.0
    assert similar(load_digit(path), clean()) > 0.9
    la = write(tmp_path, rgba.convert("LA"), "la.png")
    assert similar(load_digit(la), clean()) > 0.9


def test_a_transparent_colour_is_white_paper(tmp_path):
    """A palette image whose paper colour is marked transparent (PNG tRNS / GIF)."""
    img = draw().convert("P")
    paper = img.getpixel((0, 0))
    for fmt in ("PNG", "GIF"):
        path = write(tmp_path, img, f"key.{fmt.lower()}", format=fmt, transparency=paper)
        assert load_image(path)[0, 0] == 1.0, fmt
        assert similar(load_digit(path), clean()) > 0.9, fmt


@pytest.mark.parametrize("orientation, stored", [(6, Image.Transpose.ROTATE_90),
                                                 (3, Image.Transpose.ROTATE_180),
                                                 (8, Image.Transpose.ROTATE_270)])
def test_exif_orientation_is_applied(tmp_path, orientation, stored):
    exif = Image.Exif()
    exif[0x0112] = orientation                      # camera held sideways: pixels stored rotated
    path = write(tmp_path, draw().transpose(stored), "phone.jpg", exif=exif, quality=90)
    assert load_image(path).shape == (300, 400)
    assert similar(load_digit(path), clean()) > 0.9


def test_tiff_tags_survive_for_the_unsigned_check():
    """`_unsigned_32` reads the tags before EXIF turns the image (a turned copy has none)."""
    img = Image.fromarray(G8.astype(np.int32))
    assert imagefile._unsigned_32(img) is False                    # not a TIFF
    buffer = io.BytesIO()
    img.save(buffer, "TIFF", tiffinfo=TiffImagePlugin.ImageFileDirectory_v2())
    with Image.open(buffer) as tiff:
        assert imagefile._unsigned_32(tiff) is False               # a signed one
