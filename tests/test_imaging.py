"""Tests for scratchnet.imaging: a photo of a digit -> MNIST-style 28x28.

All images are synthetic (tests/digit_pictures.py): a "7" (or a "0", or a "5" whose top bar is a
separate stroke) drawn with thick Pillow lines on a big canvas.  Versions of it that a camera or
scanner would produce - shifted, smaller, inverted, noisy, specked, unevenly lit, faint - must all
give nearly the same 28x28 as the clean drawing; so must a digit drawn in dashes (its strokes
broken by gaps) give nearly the 28x28 of the same digit drawn whole.  Reading files is tested in
test_imagefile.py, damaged files in test_hostile_images.py.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import ImageDraw

from digit_pictures import (
    CENTRE_LINES,
    check_invariants,
    clean,
    dashed,
    draw,
    grey,
    similar,
)
from scratchnet import imaging, raster
from scratchnet.imaging import ImageError, to_mnist
from strategies import examples

SLOW = examples(0.25, suppress_health_check=[HealthCheck.function_scoped_fixture])


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
    runs, comp = raster.components(np.asarray(draw("5")) < 128)
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
    w = raster.width(d > 0.5)
    assert imaging.STROKE[0] <= w <= imaging.STROKE[1] + 0.3, w
    if width < 10:                      # a thin pen: thickened, the same 7 as a felt pen's
        assert similar(d, to_mnist(grey(draw(width=8)))) > 0.9


def test_width_is_left_alone_inside_the_band():
    """A 36-pixel pen on a 7 220 pixels tall (256 with the pen) is 36 * 20 / 256 = 2.8 px wide at
    20x20, inside the band: it must stay that wide, not be moved to an edge of the band."""
    d = to_mnist(grey(draw(width=36)))
    assert raster.width(d > 0.5) == pytest.approx(2.8, abs=0.25)


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


@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=60),
                  elements=st.floats(0, 1)))
@examples(0.6)
def test_any_array_gives_a_digit_or_image_error(a):
    try:
        check_invariants(to_mnist(a))
    except ImageError as e:
        assert str(e).startswith("<array>: ")


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


# --- a digit drawn with gaps keeps all its pieces --------------------------------------------

GAPPY = {   # name -> dashed() arguments: pen width, dash length, gap (fractions of the height)
    "felt pen": dict(size=200, pen=0.03, dash=0.12, gap=0.05),
    "thin pen": dict(size=200, pen=0.015, dash=0.1, gap=0.06),
    "small drawing": dict(size=60, pen=0.05, dash=0.15, gap=0.07),
    "tiny drawing": dict(size=40, pen=0.06, dash=0.2, gap=0.08),
    "fine dashes": dict(size=300, pen=0.02, dash=0.08, gap=0.04),
}


@pytest.mark.parametrize("digit", sorted(CENTRE_LINES))
@pytest.mark.parametrize("kind", sorted(GAPPY))
def test_a_digit_drawn_with_gaps_keeps_all_its_pieces(digit, kind):
    """Once, only the pieces near the biggest dash survived: a dashed 3 became one stroke of
    it (and was read as a 4).  The dashed digit must look like the same digit drawn whole."""
    args = GAPPY[kind]
    whole = to_mnist(grey(dashed(digit, **{**args, "gap": 0})))
    d = to_mnist(grey(dashed(digit, **args)))
    check_invariants(d)
    assert similar(d, whole) > 0.8, (digit, kind, similar(d, whole))


def test_a_speck_a_quarter_of_the_digit_away_is_not_joined():
    """Joining scales with the digit, and stops: a dot 67 px from a 7 238 px tall (0.28 of
    it) stays out; joined, it would shrink the digit and move its centre."""
    img = draw(size=(500, 300), at=(100, 40))       # the 7 spans x 100..254, y 40..260
    ImageDraw.Draw(img).ellipse([330, 140, 350, 160], fill=30)      # 76 px right of its box
    assert similar(to_mnist(grey(img)), clean()) > 0.95
