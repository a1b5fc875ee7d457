"""Tests for scratchnet.imaging: photos of a digit -> MNIST-style 28x28, and every bad input.

All images are synthetic: a "7" (or a "0", or a "5" whose top bar is a separate stroke) drawn with
thick Pillow lines on a big canvas.  Versions of it that a camera or scanner would produce -
shifted, smaller, inverted, noisy, specked, unevenly lit, coloured, JPEG-compressed, rotated by
EXIF, transparent, 16-bit - must all give nearly the same 28x28 as the clean drawing.
"""
import functools
import io
import os
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image, ImageDraw

from scratchnet import imaging
from scratchnet.imaging import ImageError, load_digit, load_image, save_preview, to_mnist

SLOW = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

# strokes of each test digit in a unit box (x right, y down)
SHAPES = {
    "7": [[(0.0, 0.0), (0.7, 0.0), (0.3, 1.0)], [(0.2, 0.5), (0.65, 0.5)]],
    "5": [[(0.15, 0.0), (0.7, 0.0)],                                  # top bar, not touching
          [(0.1, 0.2), (0.05, 0.45), (0.45, 0.4), (0.65, 0.6), (0.6, 0.9), (0.3, 1.0),
           (0.0, 0.9)]],
}


def draw(shape="7", size=(400, 300), at=(130, 40), height=220, width=18, ink=30, paper=235):
    """A grey (uint8) Pillow image of a digit `height` pixels tall with its box's corner at `at`."""
    img = Image.new("L", size, paper)
    pen = ImageDraw.Draw(img)
    x0, y0 = at
    if shape == "0":
        pen.ellipse([x0, y0, x0 + 0.65 * height, y0 + height], outline=ink, width=width)
    else:
        for stroke in SHAPES[shape]:
            pen.line([(x0 + x * height, y0 + y * height) for x, y in stroke], fill=ink,
                     width=width, joint="curve")
    return img


def grey(img):
    return np.asarray(img, dtype=np.float32) / 255


def corr(a, b):
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def similar(a, b):
    """Correlation after the best shift by at most one pixel: centring shifts by whole pixels,
    so two drawings of one digit may land half a pixel either side of (14, 14)."""
    return max(corr(np.roll(a, (dy, dx), axis=(0, 1)), b) for dy in (-1, 0, 1) for dx in (-1, 0, 1))


def write(tmp_path, img, name, **kwargs):
    path = tmp_path / name
    img.save(path, **kwargs)
    return path


@functools.cache
def clean(shape="7"):
    """The clean drawing's 28x28, the reference every variant is compared with."""
    return to_mnist(grey(draw(shape)))


def check_invariants(d):
    """What every output must satisfy: MNIST's shape, type, range, peak, box and centring."""
    assert d.shape == (28, 28) and d.dtype == np.float32
    assert d.min() >= 0 and d.max() == pytest.approx(1.0)
    ys, xs = np.nonzero(d)
    assert np.ptp(ys) + 1 <= 20 and np.ptp(xs) + 1 <= 20
    assert max(np.ptp(ys), np.ptp(xs)) + 1 >= 18            # the long side fills the 20-pixel box
    rows, cols = np.indices(d.shape)
    assert abs((rows * d).sum() / d.sum() - 14) <= 0.501
    assert abs((cols * d).sum() / d.sum() - 14) <= 0.501


# --- the same digit, photographed differently ------------------------------------------------

def variants(rng):
    """name -> (shape, grey float image) for each way of seeing the clean "7"."""
    base = grey(draw())
    h, w = base.shape
    gradient = np.linspace(0.45, 1.05, w)[None, :] * np.linspace(1.0, 0.8, h)[:, None]
    specked = base.copy()
    for y, x in [(20, 20), (280, 30), (15, 380), (270, 370), (150, 30)]:
        specked[y - 2:y + 3, x - 2:x + 3] = 0.1
    table = base.copy()
    table[:, :40] = 0.25                # the photo caught the table at the left and the top
    table[:20, :] = 0.25
    return {
        "shifted": grey(draw(at=(10, 70))),
        "smaller": grey(draw(at=(250, 180), height=90, width=8)),
        "bigger canvas": grey(draw(size=(1600, 1200), at=(900, 500), height=400, width=30)),
        "tight crop": grey(draw(size=(180, 240), at=(10, 10))),
        "inverted": 1 - base,
        "noisy": np.clip(base + rng.normal(0, 0.08, base.shape), 0, 1),
        "specks": specked,
        "uneven light": np.clip(base * gradient, 0, 1),
        "everything": np.clip(1 - specked * gradient + rng.normal(0, 0.05, base.shape), 0, 1),
        "faint pencil": grey(draw(ink=170, paper=215)),
        "table at the edge": table,
        "inverted table": 1 - table,
    }


@pytest.mark.parametrize("name", ["shifted", "smaller", "bigger canvas", "tight crop", "inverted",
                                  "noisy", "specks", "uneven light", "everything", "faint pencil",
                                  "table at the edge", "inverted table"])
def test_variants_match_the_clean_digit(name):
    d = to_mnist(variants(np.random.default_rng(0))[name])
    check_invariants(d)
    assert similar(d, clean()) > 0.9, name


def test_digits_stay_distinct():
    """A test that cannot fail is a bug: different digits must not look the same."""
    assert similar(clean(), clean("0")) < 0.5
    for shape in ("7", "0", "5"):
        check_invariants(clean(shape))


def test_separate_stroke_near_the_digit_is_kept():
    """The "5"'s top bar does not touch the rest; it must not be dropped as a speck."""
    runs, comp = imaging._components(np.asarray(draw("5")) < 128)
    assert comp.max() + 1 == 2                                  # two pieces on the page
    without_bar = draw("5")
    ImageDraw.Draw(without_bar).rectangle([140, 20, 310, 60], fill=235)
    assert similar(clean("5"), to_mnist(grey(without_bar))) < 0.9
    top = np.nonzero(clean("5").any(axis=1))[0][0]
    assert (clean("5")[top:top + 3] > 0.5).sum(axis=1).max() >= 8   # a bar across the top


def test_big_blob_far_away_is_ignored():
    g = grey(draw(size=(800, 300), at=(60, 40)))
    g[200:215, 700:715] = 0.1           # a large speck far to the right
    assert similar(to_mnist(g), clean()) > 0.9


@pytest.mark.parametrize("width", [2, 5, 30, 45, 60])
def test_stroke_width_lands_in_mnists_range(width):
    d = to_mnist(grey(draw(width=width)))
    w = imaging._width(d > 0.5)
    assert imaging.STROKE[0] <= w <= imaging.STROKE[1] + 0.3, w
    if width < 10:                      # a thin pen: thickened, the same 7 as a felt pen's
        assert similar(d, to_mnist(grey(draw(width=8)))) > 0.9


def test_width_is_left_alone_inside_the_band():
    """A 36-pixel pen on a 7 220 pixels tall (256 with the pen) is 36 * 20 / 256 = 2.8 px wide at
    20x20, inside the band: it must stay that wide, not be moved to an edge of the band."""
    d = to_mnist(grey(draw(width=36)))
    assert imaging._width(d > 0.5) == pytest.approx(2.8, abs=0.25)


@given(x=st.integers(0, 250), y=st.integers(0, 120), height=st.integers(60, 150),
       thickness=st.floats(0.02, 1 / 6), invert=st.booleans(), noise=st.floats(0, 0.1),
       shape=st.sampled_from(["7", "0"]), seed=st.integers(0, 2**16))
@SLOW
def test_outputs_are_mnist_like_wherever_the_digit_is(x, y, height, thickness, invert, noise,
                                                      shape, seed):
    width = max(2, round(thickness * height))
    g = grey(draw(shape, at=(x + width, y + width), height=height, width=width))
    g = np.clip(g + np.random.default_rng(seed).normal(0, noise, g.shape), 0, 1)
    d = to_mnist(1 - g if invert else g)
    check_invariants(d)
    same_digit = to_mnist(grey(draw(shape, width=max(2, round(thickness * 220)))))
    assert similar(d, same_digit) > 0.85


# --- files: formats, colour, transparency, orientation ---------------------------------------

def test_load_image_reads_grey_in_unit_range(tmp_path):
    g = load_image(write(tmp_path, draw(), "seven.png"))
    assert g.dtype == np.float32 and g.shape == (300, 400)
    np.testing.assert_allclose(g, grey(draw()), atol=1e-6)


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


def test_palette_and_bilevel_images(tmp_path):
    for name, img in [("p.png", draw().convert("P")), ("p.gif", draw().convert("P")),
                      ("one.png", draw().convert("1")), ("one.bmp", draw().convert("1"))]:
        assert similar(load_digit(write(tmp_path, img, name)), clean()) > 0.9, name


def test_16_bit_is_scaled_by_65535(tmp_path):
    g8 = np.asarray(draw(), dtype=np.uint16)
    img = Image.fromarray(g8 * 257)                                  # 255 -> 65535
    path = write(tmp_path, img, "deep.png")
    assert Image.open(path).mode.startswith("I")
    np.testing.assert_allclose(load_image(path), g8 / 255, atol=1e-6)


@pytest.mark.parametrize("orientation, stored", [(6, Image.Transpose.ROTATE_90),
                                                 (3, Image.Transpose.ROTATE_180),
                                                 (8, Image.Transpose.ROTATE_270)])
def test_exif_orientation_is_applied(tmp_path, orientation, stored):
    exif = Image.Exif()
    exif[0x0112] = orientation                      # camera held sideways: pixels stored rotated
    path = write(tmp_path, draw().transpose(stored), "phone.jpg", exif=exif, quality=90)
    assert load_image(path).shape == (300, 400)
    assert similar(load_digit(path), clean()) > 0.9


# --- bad input: one-line ImageError naming the file -------------------------------------------

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


def test_pixel_limit_is_ours_to_set(tmp_path, monkeypatch):
    path = write(tmp_path, draw(), "seven.png")
    monkeypatch.setattr(imaging, "MAX_PIXELS", 100_000)
    with pytest.raises(ImageError, match=r"seven\.png: image too large \(400x300"):
        load_image(path)


def test_odd_file_names_stay_on_one_line(tmp_path):
    path = tmp_path / "two\nlines.png"
    with pytest.raises(ImageError) as info:
        load_image(path)
    assert "\n" not in str(info.value) and "two\\nlines.png" in str(info.value)


@pytest.mark.parametrize("array, words", [
    (np.zeros((28, 28, 3)), "2-D"),
    (np.zeros(784), "2-D"),
    (np.array([["a"] * 28] * 28), "numeric"),
    (np.full((28, 28), 255.0), "[0, 1]"),
    (np.full((28, 28), np.nan), "NaN"),
    (np.zeros((5, 28)), "at least 8x8"),
    (np.zeros((10, 400)), "elongated"),
])
def test_bad_arrays_raise_image_error(array, words):
    with pytest.raises(ImageError) as info:
        to_mnist(array)
    assert str(info.value).startswith("<array>: ") and words in str(info.value)
    with pytest.raises(ImageError, match="^scan.png: "):
        to_mnist(array, source="scan.png")


# --- never anything but ImageError ------------------------------------------------------------

@pytest.fixture(scope="module")
def encoded():
    out = {}
    for fmt in ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"):
        buf = io.BytesIO()
        draw(size=(120, 90), at=(40, 10), height=70, width=6).save(buf, fmt)
        out[fmt] = buf.getvalue()
    return out


@given(fmt=st.sampled_from(["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"]), data=st.data())
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_damaged_files_raise_image_error_or_decode(tmp_path, encoded, fmt, data):
    """Cut a valid file anywhere, or overwrite a few bytes: a digit or an ImageError, never a
    bare exception from Pillow or NumPy."""
    raw = bytearray(encoded[fmt])
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


@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=60),
                  elements=st.floats(0, 1)))
@settings(max_examples=60, deadline=None)
def test_any_array_gives_a_digit_or_image_error(a):
    try:
        check_invariants(to_mnist(a))
    except ImageError as e:
        assert str(e).startswith("<array>: ")


# --- the pieces -------------------------------------------------------------------------------

def flood_fill_count(mask):
    """Oracle: count 8-connected components with a plain stack-based flood fill."""
    seen = np.zeros_like(mask)
    count = 0
    for start in zip(*np.nonzero(mask)):
        if seen[start]:
            continue
        count += 1
        stack = [start]
        seen[start] = True
        while stack:
            y, x = stack.pop()
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    q = (y + dy, x + dx)
                    if (0 <= q[0] < mask.shape[0] and 0 <= q[1] < mask.shape[1]
                            and mask[q] and not seen[q]):
                        seen[q] = True
                        stack.append(q)
    return count


@given(hnp.arrays(bool, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=14)))
@settings(max_examples=200, deadline=None)
def test_components_agree_with_flood_fill(mask):
    runs, comp = imaging._components(mask)
    assert len(set(comp.tolist())) == flood_fill_count(mask)
    painted = np.zeros_like(mask)
    for y, a, b in runs:
        painted[y, a:b] = True
    assert (painted == mask).all()
    for label in set(comp.tolist()):    # each component is one flood fill
        part = np.zeros_like(mask)
        for y, a, b in runs[comp == label]:
            part[y, a:b] = True
        assert flood_fill_count(part) == 1


@pytest.mark.parametrize("angle", [0, 30, 45, 70, 90])
def test_width_is_the_same_at_every_angle(angle):
    img = Image.new("L", (400, 400))
    c, s = np.cos(np.radians(angle)) * 180, np.sin(np.radians(angle)) * 180
    ImageDraw.Draw(img).line([(200 - c, 200 - s), (200 + c, 200 + s)], fill=255, width=12)
    assert imaging._width(np.asarray(img) > 127) == pytest.approx(12, rel=0.15)


def test_otsu_splits_two_modes():
    v = np.concatenate([np.full(900, 0.05), np.full(100, 0.8)])
    assert 0.05 <= imaging._otsu(v) < 0.8


# --- preview ----------------------------------------------------------------------------------

def test_save_preview_writes_one_png_row_per_image(tmp_path):
    path = tmp_path / "show.png"
    save_preview(path, grey(draw()), clean())
    one = Image.open(path)
    assert one.format == "PNG"
    save_preview(path, [grey(draw()), grey(draw("0"))], [clean(), clean("0")],
                 captions=["7 (p=0.97)", "0 (p=0.99)"])
    two = Image.open(path)
    assert two.height > 2 * one.height - 1 and two.width == one.width
    pixels = np.asarray(two)
    assert pixels[10 + 140, 450 + 140] != pixels[5, 5]              # the digit is drawn
    assert os.listdir(tmp_path) == ["show.png"]                      # no temporary left behind


def test_save_preview_leaves_nothing_when_the_folder_is_missing(tmp_path):
    with pytest.raises(OSError):
        save_preview(tmp_path / "no" / "show.png", grey(draw()), clean())
    with pytest.raises(ValueError, match="2 originals, 1 digits"):
        save_preview(tmp_path / "x.png", [grey(draw())] * 2, [clean()])


def test_when_the_voted_polarity_finds_no_digit_the_other_is_tried(monkeypatch):
    """A bright band around a shadowed close-up can outvote the ink in the polarity vote (a
    photo of a big, thick "4" once gave "no ink found" that way). When the voted polarity's
    ink map holds no digit, the other polarity's must be used."""
    reference = clean()
    inks = imaging._inks
    monkeypatch.setattr(imaging, "_inks", lambda g, source: (np.zeros_like(g), inks(g, source)[0]))
    d = to_mnist(grey(draw()))
    check_invariants(d)
    assert similar(d, reference) > 0.9
    monkeypatch.setattr(imaging, "_inks", lambda g, source: (np.zeros_like(g),) * 2)
    with pytest.raises(ImageError, match="no ink found"):
        to_mnist(grey(draw()))
