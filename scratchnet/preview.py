"""The preview sheet: each input picture beside the 28x28 digit a network saw, as one PNG.

A row is 740 x 300 pixels (316 with a caption): the picture scaled to fit 420 x 280 at the
left, the digit enlarged 10x (nearest neighbour, so its pixels show) at the right, the caption
under them.  Keep `thumbnail`s rather than whole photos while collecting rows: a row never
shows more than 420 x 280 pixels of its picture (118 KB as 8 bits), however large the photo.
"""
import numpy as np
from PIL import Image, ImageDraw

from .files import atomic_write
from .raster import resize

THUMB = (280, 420)        # (height, width) a picture is scaled to fit in its row


def thumbnail(grey):
    """A grey image (h, w) in [0, 1] scaled to fit THUMB, as uint8: what a row shows of it."""
    o = np.clip(np.asarray(grey, dtype=np.float32), 0, 1)
    s = min(THUMB[0] / o.shape[0], THUMB[1] / o.shape[1])
    o = resize(o, (max(1, round(o.shape[0] * s)), max(1, round(o.shape[1] * s))))
    return (np.clip(o, 0, 1) * 255).round().astype(np.uint8)


def save_preview(path, originals, digits, captions=None):
    """Write a PNG: each original (grey in [0, 1], or a `thumbnail`) beside its 28x28 digit.
    One pair, or sequences of them with a caption per row.  Written to a temporary file in
    the same folder and renamed, so a reader never sees half a file."""
    if np.ndim(digits) == 2:
        originals, digits, captions = [originals], [digits], [captions or ""]
    captions = captions or [""] * len(digits)
    if not len(originals) == len(digits) == len(captions):
        raise ValueError(f"save_preview: {len(originals)} originals, {len(digits)} digits, "
                         f"{len(captions)} captions; expected as many of each")
    height = 300 + (16 if any(captions) else 0)
    sheet = Image.new("L", (740, height * len(digits)), 128)
    for i, (orig, digit, text) in enumerate(zip(originals, digits, captions)):
        o = np.asarray(orig)
        if o.dtype != np.uint8 or o.shape[0] > THUMB[0] or o.shape[1] > THUMB[1]:
            o = thumbnail(o / 255 if o.dtype == np.uint8 else o)
        d = np.clip(np.asarray(digit, dtype=np.float32), 0, 1)
        sheet.paste(Image.fromarray(o), (10, 10 + i * height))
        sheet.paste(Image.fromarray((d * 255).round().astype(np.uint8)).resize(
            (280, 280), Image.NEAREST), (450, 10 + i * height))
        ImageDraw.Draw(sheet).text((10, 294 + i * height), text, fill=255)
    atomic_write(path, lambda f: sheet.save(f, format="PNG"))
