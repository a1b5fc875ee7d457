"""Synthetic pictures of digits for the imaging, reader and front-end tests (not a test module).

`draw` makes a "7" (or a "0", or a "5" whose top bar is a separate stroke) with thick Pillow
lines on a big canvas; `dashed` draws a digit's centre line as dashes with gaps between them,
as a thin pen, a faint scan or a small drawing breaks a stroke.
"""
import functools
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from scratchnet.imaging import to_mnist

# strokes of each test digit in a unit box (x right, y down)
SHAPES = {
    "7": [[(0.0, 0.0), (0.7, 0.0), (0.3, 1.0)], [(0.2, 0.5), (0.65, 0.5)]],
    "5": [[(0.15, 0.0), (0.7, 0.0)],                                  # top bar, not touching
          [(0.1, 0.2), (0.05, 0.45), (0.45, 0.4), (0.65, 0.6), (0.6, 0.9), (0.3, 1.0),
           (0.0, 0.9)]],
}


def _arc(cx, cy, rx, ry, a0, a1, n=24):
    """Points on an ellipse, angles in degrees, y pointing down (90 = the bottom)."""
    t = np.radians(np.linspace(a0, a1, n))
    return list(zip(cx + rx * np.cos(t), cy + ry * np.sin(t)))


# Centre lines of whole digits in a unit box, for `dashed`: one list of points per stroke.
CENTRE_LINES = {
    2: [_arc(0.5, 0.3, 0.33, 0.29, 195, 395) + [(0.12, 1.0), (0.9, 1.0)]],
    3: [_arc(0.5, 0.27, 0.3, 0.25, 200, 450) + _arc(0.5, 0.74, 0.36, 0.26, 270, 500)],
    4: [[(0.62, 0.0), (0.08, 0.66), (0.92, 0.66)], [(0.68, 0.3), (0.68, 1.0)]],
    5: [[(0.82, 0.0), (0.28, 0.0), (0.22, 0.46)] + _arc(0.5, 0.68, 0.34, 0.31, 222, 505)],
    7: [[(0.1, 0.0), (0.9, 0.0), (0.4, 1.0)]],
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


def dashed(digit, size=200, pen=0.03, dash=0.12, gap=0.05, ink=30, paper=235):
    """A grey (uint8) Pillow image of CENTRE_LINES[digit] 70% of ``size`` tall, drawn as dashes
    ``dash`` long and ``gap`` apart along each stroke, with a pen ``pen`` wide (all three as
    fractions of the digit's height).  ``gap=0`` draws it whole."""
    img = Image.new("L", (size, size), paper)
    d = ImageDraw.Draw(img)
    height = 0.7 * size
    offset = np.array([(size - 0.8 * height) / 2, (size - height) / 2])
    width = max(1, round(pen * height))
    for stroke in CENTRE_LINES[digit]:
        p = np.array(stroke, float) * [0.8 * height, height] + offset
        along = np.concatenate([[0], np.cumsum(np.hypot(*np.diff(p, axis=0).T))])
        step = (dash + gap) * height if gap else along[-1] + 1
        for start in np.arange(0, along[-1], step):
            q = np.linspace(start, min(start + (dash * height if gap else along[-1]),
                                       along[-1]), 12)
            points = np.stack([np.interp(q, along, p[:, 0]), np.interp(q, along, p[:, 1])], 1)
            d.line([tuple(x) for x in points], fill=ink, width=width, joint="curve")
    return img


def grey(img):
    return np.asarray(img, dtype=np.float32) / 255


def encoded(img, fmt, **options):
    buffer = io.BytesIO()
    img.save(buffer, fmt, **options)
    return buffer.getvalue()


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
