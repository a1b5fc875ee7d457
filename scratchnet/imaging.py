"""A photo or scan of one handwritten digit -> an MNIST-style 28x28 image (Pillow + NumPy).

MNIST was made from binary NIST scans: each digit was scaled to fit a 20x20 box keeping its aspect
ratio (anti-aliasing gives the grey edges), then put in a 28x28 field so that its centre of mass
sits at the centre.  `to_mnist` does the same to a grey photo, after the steps a photo needs first:

    1. work at a fixed size (long side 512 px) so every constant below is in known pixels;
    2. polarity: fit a smooth (quadratic) model of the page's light, robustly, and compare the
       strong deviations below it with those above: dark ink on paper, or light ink on dark;
       should steps 3-4 find no digit that way, they are run again for the other polarity;
    3. flatten the page: its level b(x, y) is a per-block percentile (high for paper, low for a
       dark ground), median-filtered over neighbouring blocks and interpolated; dark ink is the
       reflectance ratio ink = 1 - g/b (uneven light multiplies), light ink is ink = g - b;
    4. threshold with Otsu (floored at 3 noise sigmas) and find the digit among the 8-connected
       pieces of ink (`scratchnet.pieces`): pieces closer than a fraction of the size of what
       they would form are joined, so a digit drawn with gaps keeps all its strokes; the group
       with the most ink is the digit (not the table or shadow at the image's edge), specks and
       clutter further away vanish; the grey levels of the kept ink give anti-aliased edges;
    5. crop, scale to a long side of 80 (4 x 20), thicken or thin the strokes with a disc so their
       width at 20x20 (2 * area / perimeter of the pixels above 1/2) lies in MNIST's usual range,
       2.3 to 3.3 px; scale to 20 by area averaging;
    6. paste in 28x28 shifted by the rounded offset that puts the centre of mass at (14, 14).

Output: float32 in [0, 1], light digit on dark background, peak exactly 1 - like `load_mnist`.
Every problem with an input raises `ImageError`, one line, starting with the image's name.
Reading files is `scratchnet.imagefile`'s job (re-exported here: `load_image`, `ImageError`);
the preview sheet is `scratchnet.preview`'s.
"""
import numpy as np
from PIL import Image

from . import pieces
from .imagefile import ImageError, label, load_image, name_of
from .preview import save_preview
from .raster import blur, crop, dilate, fit, noise, otsu, resize, width

__all__ = ["to_mnist", "load_digit", "load_image", "ImageError", "save_preview"]

WORK_SIZE = 512           # long side of the working image, in pixels
BLOCKS = 6                # background grid: about this many blocks along the long side
MIN_SIDE, MAX_ASPECT = 8, 16
MIN_CONTRAST = 0.1        # ink must differ from the paper by 10% of its brightness (or level)
STROKE = (2.3, 3.3)       # stroke width band at 20x20: MNIST's median and 90th percentile
FINE = 4                  # strokes are adjusted at FINE x the 20-pixel box


def load_digit(source, name=None):
    """Read an image of one handwritten digit (a path, its bytes or a binary file object, as
    `load_image` takes) as an MNIST-style (28, 28) float32 array."""
    name = label(name if name is not None else name_of(source))
    return to_mnist(load_image(source, name), source=name)


def to_mnist(grey, *, source="<array>"):
    """Grey image (h, w) in [0, 1] of one digit -> (28, 28) float32, light digit on dark, peak 1.

    See the module docstring for the steps; `source` names the image in error messages.
    """
    source = label(source)
    g = _check(grey, source)
    h, w = g.shape
    s = WORK_SIZE / max(h, w)
    g = resize(g, (max(1, round(h * s)), max(1, round(w * s))))

    # The voted polarity first; should it find no digit (a deep shadow or a bright patch can
    # mislead the vote), the other.
    for attempt, ink in enumerate(_inks(g, source)):
        smooth = blur(ink, 1.0)               # averages away pixel noise and JPEG blocks
        sigma = noise(smooth)
        ink = np.clip(smooth, 0, 1)
        t = max(otsu(ink), 3 * sigma, MIN_CONTRAST / 2)
        try:
            keep, level = pieces.main_ink(ink, ink > t, max(MIN_CONTRAST, 5 * sigma), source)
            break
        except ImageError:
            if attempt == 1:
                raise
    near = dilate(keep.astype(np.float32), 2.0) > 0    # the edges the threshold cut off
    floor = min(3 * sigma, t / 2)             # below: paper noise; above: ink and its grey edge
    soft = np.clip((ink - floor) / max(level - floor, 1e-6), 0, 1) * near
    soft = crop(soft, 0.2)                    # faint blur tails would inflate the box
    digit = _strokes(fit(soft, FINE * 20, Image.LANCZOS))
    if digit.max() <= 0:
        raise ImageError(f"{source}: no ink found (strokes too thin)")
    return _centre(digit)


def _check(grey, source):
    """Validate the public array argument; return it as float32."""
    a = np.asarray(grey)
    if a.ndim != 2:
        raise ImageError(f"{source}: expected a 2-D grey image, got shape {a.shape}")
    if a.dtype.kind not in "biuf":
        raise ImageError(f"{source}: expected a numeric image, got dtype {a.dtype}")
    a = a.astype(np.float32)
    if not np.isfinite(a).all():
        raise ImageError(f"{source}: image contains NaN or infinite values")
    h, w = a.shape
    if min(h, w) < MIN_SIDE:
        raise ImageError(f"{source}: image is {w}x{h} pixels, need at least {MIN_SIDE}x{MIN_SIDE}")
    if max(h, w) > MAX_ASPECT * min(h, w):
        raise ImageError(f"{source}: image is {w}x{h} pixels, too elongated for one digit")
    if a.min() < 0 or a.max() > 1:
        raise ImageError(f"{source}: grey values must lie in [0, 1], got "
                         f"[{a.min():g}, {a.max():g}]")
    return a


def _inks(g, source):
    """Ink strength per pixel (about 0 on paper, up to 1 on ink) for both polarities, the one
    the page's light votes for first: dark ink on paper, then light ink on a dark ground."""
    d = _off_lighting(g[::3, ::3])
    tau = max(4 * noise(d), 0.04)
    dark = np.clip(-d - tau, 0, None).sum()
    light = np.clip(d - tau, 0, None).sum()
    if dark == light == 0:
        raise ImageError(f"{source}: no ink found (blank image)")
    dark_ink = 1 - g / np.maximum(_background(g, 80), 0.05)   # reflectance ratio to the paper
    light_ink = g - _background(g, 20)                       # a screen or an inverted scan
    return (dark_ink, light_ink) if dark >= light else (light_ink, dark_ink)


def _off_lighting(g):
    """Deviations from the page's light, for the polarity vote (dark ink or light).  The light is
    a quadratic c0 + c1 x + c2 y + c3 x^2 + c4 xy + c5 y^2, fitted by least squares to the points
    within 2.5 sigma of the median, then four times to those within 2.5 sigma of the last fit.
    A smooth surface cannot follow a table's edge: the table counts as dark, not the paper beside
    it as bright (as block percentiles would make it)."""
    y, x = np.mgrid[0:g.shape[0], 0:g.shape[1]] / max(g.shape)
    a = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1).reshape(-1, 6)
    v = g.ravel().astype(np.float64)
    r = v - np.median(v)
    use = np.abs(r) <= 2.5 * max(noise(r), 1e-3)
    for _ in range(4):
        if use.sum() < 6:
            break
        at = a[use].T                         # normal equations: (A'A) c = A'v, 6 x 6
        r = v - a @ np.linalg.lstsq(at @ a[use], at @ v[use], rcond=None)[0]
        use = np.abs(r - np.median(r[use])) <= 2.5 * max(noise(r[use]), 1e-3)
    return r


def _background(g, q):
    """Slowly varying background: the q-th percentile of each block of about (long side / BLOCKS)
    pixels, median-filtered over 3x3 blocks (a block full of ink takes its neighbours' level),
    then interpolated bilinearly between block centres."""
    h, w = g.shape
    step = max(h, w) / BLOCKS
    ys = np.linspace(0, h, max(1, round(h / step)) + 1).astype(int)
    xs = np.linspace(0, w, max(1, round(w / step)) + 1).astype(int)
    grid = np.array([[np.percentile(g[y0:y1, x0:x1], q) for x0, x1 in zip(xs, xs[1:])]
                     for y0, y1 in zip(ys, ys[1:])], dtype=np.float32)
    p = np.pad(grid, 1, mode="edge")
    grid = np.median([p[i:i + grid.shape[0], j:j + grid.shape[1]]
                      for i in range(3) for j in range(3)], axis=0)
    return resize(grid, (h, w), Image.BILINEAR)


def _strokes(a):
    """a (long side FINE * 20) -> the digit in its 20-pixel box, strokes thickened by the smallest
    disc (radius steps of 1/4 at FINE x scale) that makes the width at 20x20, measured as MNIST's
    was, at least STROKE[0]; or thinned by the smallest that brings it to at most STROKE[1]."""
    def box(r):
        if r > 0:
            b = dilate(np.pad(a, int(np.ceil(r)) + 1), r)
        else:
            b = 1 - dilate(1 - a, -r, fill=1.0)
        d = fit(crop(b), 20, Image.BOX)
        return d / max(d.max(), 1e-6)

    d = box(0)
    w, area = width(d > 0.5), (d > 0.5).sum()
    if w < STROKE[0]:
        for r in np.arange(0.25, 4 * FINE, 0.25):
            d = box(r)
            if width(d > 0.5) >= STROKE[0]:
                break
    elif w > STROKE[1]:
        for r in np.arange(0.5, FINE, 0.5):
            t = box(-r)
            if (t > 0.5).sum() < area / 2:    # erosion is breaking the strokes: stop before
                break
            d = t
            if width(d > 0.5) <= STROKE[1]:
                break
    return d


def _centre(d):
    """Paste d (at most 20x20) in 28x28 with its centre of mass at (14, 14), shifted by whole
    pixels (MNIST's convention: the mean over its training set is 14.0 in row and column)."""
    d = crop(d) / d.max()                     # peak 1, like MNIST's saturated stroke cores
    d[d < 1 / 255] = 0                        # what an 8-bit MNIST file would hold as 0
    ys, xs = np.indices(d.shape)
    m = d.sum()
    top, left = round(14 - (ys * d).sum() / m), round(14 - (xs * d).sum() / m)
    out = np.zeros((28, 28), np.float32)
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + d.shape[0], 28), min(left + d.shape[1], 28)
    out[y0:y1, x0:x1] = d[y0 - top:y1 - top, x0 - left:x1 - left]
    return out
