"""Tests for scratchnet.preview: the sheet of pictures beside the 28x28 the network saw."""
import os

import numpy as np
import pytest
from PIL import Image

from digit_pictures import clean, draw, grey
from scratchnet.preview import THUMB, save_preview, thumbnail


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


def test_a_thumbnail_is_what_a_row_shows_and_no_more():
    """The front end keeps thumbnails, not photos: at most THUMB pixels as uint8 each, and a
    sheet made from them is the sheet made from the photos."""
    photo = np.tile(np.linspace(0, 1, 3000, dtype=np.float32), (2000, 1))    # 24 MB as float32
    small = thumbnail(photo)
    assert small.dtype == np.uint8 and small.shape == (THUMB[1] * 2000 // 3000, THUMB[1])
    assert small.nbytes <= THUMB[0] * THUMB[1]
    assert thumbnail(grey(draw())).shape == (THUMB[0], round(400 * THUMB[0] / 300))


def test_a_sheet_from_thumbnails_equals_one_from_the_photos(tmp_path):
    photo = grey(draw(size=(1600, 1200), at=(500, 300), height=600, width=40))
    save_preview(tmp_path / "a.png", photo, clean())
    save_preview(tmp_path / "b.png", thumbnail(photo), clean())
    with Image.open(tmp_path / "a.png") as a, Image.open(tmp_path / "b.png") as b:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
