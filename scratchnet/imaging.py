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
    4. threshold with Otsu (floored at 3 noise sigmas), keep the 8-connected piece with the most
       ink (not the table or shadow at the image's edge) and sizeable pieces near it, so specks
       and clutter vanish; the grey levels of the kept ink give anti-aliased edges;
    5. crop, scale to a long side of 80 (4 x 20), thicken or thin the strokes with a disc so their
       width at 20x20 (2 * area / perimeter of the pixels above 1/2) lies in MNIST's usual range,
       2.3 to 3.3 px; scale to 20 by area averaging;
    6. paste in 28x28 shifted by the rounded offset that puts the centre of mass at (14, 14).

Output: float32 in [0, 1], light digit on dark background, peak exactly 1 - like `data.load_mnist`.
Every problem with an input raises `ImageError`, one line, starting with the file's path.
"""
import os
import warnings

import numpy as np
from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError

from .files import atomic_write

MAX_PIXELS = 50_000_000   # refuse larger images (decompression bombs); Pillow's own limit is 89M
WORK_SIZE = 512           # long side of the working image, in pixels
BLOCKS = 6                # background grid: about this many blocks along the long side
MIN_SIDE, MAX_ASPECT = 8, 16
MIN_CONTRAST = 0.1        # ink must differ from the paper by 10% of its brightness (or level)
MIN_EXTENT = 12           # a digit spans at least this many working pixels
STROKE = (2.3, 3.3)       # stroke width band at 20x20: MNIST's median and 90th percentile
FINE = 4                  # strokes are adjusted at FINE x the 20-pixel box


class ImageError(ValueError):
    """A file or array that cannot become a digit; the one-line message starts with its path."""


def _label(path):
    """The path as it goes in a one-line message (control characters escaped)."""
    name = os.fsdecode(path)
    return name if name.isprintable() else repr(name)[1:-1]


def load_image(path):
    """Read an image file as grey float32 in [0, 1], the way it is meant to be seen.

    EXIF orientation is applied; transparent pixels are composited on white paper; colour goes to
    grey by ITU-R 601 luma, L = 0.299 R + 0.587 G + 0.114 B; 16-bit images are divided by 65535.
    """
    name = _label(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ImageError(f"{name}: file not found") from None
    except OSError as e:
        raise ImageError(f"{name}: cannot read file ({e.strerror})") from None
    if os.path.isdir(path):
        raise ImageError(f"{name}: is a directory, not an image file")
    if st.st_size == 0:
        raise ImageError(f"{name}: empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # a quiet library: e.g. "Corrupt EXIF data"
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
                if w * h > MAX_PIXELS:
                    raise ImageError(f"{name}: image too large ({w}x{h} pixels, limit "
                                     f"{MAX_PIXELS / 1e6:g} megapixels)")
                img.load()   # decode everything now, so a truncated file fails here
                return _grey(ImageOps.exif_transpose(img), name)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{name}: image too large (decompression bomb?)") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not a recognised image file") from None
    except PermissionError:
        raise ImageError(f"{name}: cannot read file (permission denied)") from None
    except MemoryError:
        raise ImageError(f"{name}: image too large to decode in memory") from None
    except Exception as e:   # decoders of damaged files raise OSError, SyntaxError, EOFError, ...
        why = " ".join(str(e).split()) or type(e).__name__
        raise ImageError(f"{name}: damaged or truncated image ({why})") from None


def _grey(img, name):
    """A decoded Pillow image -> float32 (h, w) in [0, 1]."""
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        a = np.asarray(img, dtype=np.float64)
        if not np.isfinite(a).all():
            raise ImageError(f"{name}: image contains NaN or infinite values")
        top = 1.0 if img.mode == "F" else 65535.0      # float in [0, 1], or 16-bit integers
        if a.size and (a.min() < 0 or a.max() > top):  # anything else: stretch min..max
            a, top = a - a.min(), max(float(np.ptp(a)), 1e-12)
        return (a / top).astype(np.float32)
    try:
        if "A" in img.mode or "a" in img.mode or "transparency" in img.info:
            img = Image.alpha_composite(Image.new("RGBA", img.size, "white"), img.convert("RGBA"))
        if img.mode not in ("L", "RGB", "RGBA"):
            img = img.convert("RGB")
        return np.asarray(img.convert("L"), dtype=np.float32) / 255
    except ValueError as e:
        raise ImageError(f"{name}: unsupported colour mode {img.mode} ({e})") from None


def load_digit(path):
    """Read an image file of one handwritten digit as an MNIST-style (28, 28) float32 array."""
    return to_mnist(load_image(path), source=_label(path))


def to_mnist(grey, *, source="<array>"):
    """Grey image (h, w) in [0, 1] of one digit -> (28, 28) float32, light digit on dark, peak 1.

    See the module docstring for the steps; `source` names the image in error messages.
    """
    g = _check(grey, source)
    h, w = g.shape
    s = WORK_SIZE / max(h, w)
    g = _resize(g, (max(1, round(h * s)), max(1, round(w * s))))

    # The voted polarity first; should it find no digit (a deep shadow or a bright patch can
    # mislead the vote), the other.
    for attempt, ink in enumerate(_inks(g, source)):
        smooth = _blur(ink, 1.0)              # averages away pixel noise and JPEG blocks
        sigma = _noise(smooth)
        ink = np.clip(smooth, 0, 1)
        t = max(_otsu(ink), 3 * sigma, MIN_CONTRAST / 2)
        try:
            keep, level = _main_ink(ink, ink > t, max(MIN_CONTRAST, 5 * sigma), source)
            break
        except ImageError:
            if attempt == 1:
                raise
    near = _dilate(keep.astype(np.float32), 2.0) > 0   # the edges the threshold cut off
    floor = min(3 * sigma, t / 2)             # below: paper noise; above: ink and its grey edge
    soft = np.clip((ink - floor) / max(level - floor, 1e-6), 0, 1) * near
    soft = _crop(soft, 0.2)                   # faint blur tails would inflate the box
    digit = _strokes(_fit(soft, FINE * 20, Image.LANCZOS))
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
    tau = max(4 * _noise(d), 0.04)
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
    use = np.abs(r) <= 2.5 * max(_noise(r), 1e-3)
    for _ in range(4):
        if use.sum() < 6:
            break
        at = a[use].T                         # normal equations: (A'A) c = A'v, 6 x 6
        r = v - a @ np.linalg.lstsq(at @ a[use], at @ v[use], rcond=None)[0]
        use = np.abs(r - np.median(r[use])) <= 2.5 * max(_noise(r[use]), 1e-3)
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
    return _resize(grid, (h, w), Image.BILINEAR)


def _noise(d):
    """Robust noise sigma: 1.4826 * median absolute deviation (exact for Gaussian noise)."""
    return 1.4826 * float(np.median(np.abs(d - np.median(d))))


def _otsu(v):
    """Otsu's threshold: the level t maximising the between-class variance w0 w1 (m0 - m1)^2."""
    hist, edges = np.histogram(v, bins=256, range=(0.0, max(float(v.max()), 1e-6)))
    p = hist / hist.sum()
    w0 = np.cumsum(p)
    m = np.cumsum(p * edges[:-1])
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (m[-1] * w0 - m) ** 2 / (w0 * (1 - w0))
    return float(edges[1:][np.nanargmax(np.nan_to_num(between[:-1], nan=-1.0))])


def _main_ink(ink, mask, min_level, source):
    """Keep the 8-connected component with the most ink (a tenth as much if it touches the image's
    edge, as tables and shadows do), and the pieces near it with at least 5% of its area; the rest
    is specks and clutter.  Return (mask kept, typical ink level on it)."""
    runs, comp = _components(mask)
    if not len(runs):
        raise ImageError(f"{source}: no ink found")
    n = comp.max() + 1
    r, c0, c1 = runs.T
    area = np.bincount(comp, c1 - c0, n)
    sums = np.pad(np.cumsum(ink, axis=1), ((0, 0), (1, 0)))   # row prefix sums: run totals
    mass = np.bincount(comp, sums[r, c1] - sums[r, c0], n)
    top, left = np.full(n, r.max()), np.full(n, c0.max())
    bottom, right = np.zeros(n, int), np.zeros(n, int)
    np.minimum.at(top, comp, r), np.minimum.at(left, comp, c0)
    np.maximum.at(bottom, comp, r + 1), np.maximum.at(right, comp, c1)
    edge = (top == 0) | (left == 0) | (bottom == mask.shape[0]) | (right == mask.shape[1])
    extents = np.maximum(bottom - top, right - left)
    # Only pieces big and dark enough to be a digit compete (a faint shadow does not), and
    # one that touches the image's edge (a table, a shadow) counts a tenth of its ink.
    fit = (extents >= MIN_EXTENT) & (mass / area >= min_level)
    if not fit.any():
        raise ImageError(f"{source}: no ink found (only specks or too faint)")
    k = int(np.argmax(np.where(fit, np.where(edge, mass / 10, mass), -1.0)))
    extent = extents[k]
    gap = extent / 4                          # how far a separate piece may lie from the main ink
    near = ((top <= bottom[k] + gap) & (bottom >= top[k] - gap) &
            (left <= right[k] + gap) & (right >= left[k] - gap))
    kept = near & (area >= 0.05 * area[k]) & (mass / area >= min_level) & (edge <= edge[k])
    keep = np.zeros(mask.shape, bool)
    for y, a, b in runs[kept[comp]]:
        keep[y, a:b] = True
    return keep, float(np.percentile(ink[keep], 75))


def _components(mask):
    """8-connected components by runs: union-find over runs that touch in adjacent rows.
    Returns runs (k, 3) as (row, start, stop) and each run's component number 0..n-1."""
    p = np.zeros((mask.shape[0], mask.shape[1] + 2), np.int8)
    p[:, 1:-1] = mask
    rows, starts = np.nonzero(np.diff(p, axis=1) == 1)
    stops = np.nonzero(np.diff(p, axis=1) == -1)[1]
    runs = np.stack([rows, starts, stops], axis=1)
    parent = list(range(len(runs)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first = np.searchsorted(rows, np.arange(mask.shape[0] + 1)).tolist()
    s, e = starts.tolist(), stops.tolist()
    for y in range(mask.shape[0] - 1):
        i, j = first[y], first[y + 1]
        while i < first[y + 1] and j < first[y + 2]:
            if s[i] <= e[j] and s[j] <= e[i]:     # overlap, or touch diagonally
                parent[find(i)] = find(j)
            if e[i] < e[j]:
                i += 1
            else:
                j += 1
    roots = np.array([find(i) for i in range(len(runs))], dtype=int)
    return runs, np.unique(roots, return_inverse=True)[1].ravel()


def _width(mask):
    """Mean stroke width 2A/P: a strip of width w and length l has area A = wl and perimeter
    P = 2l.  P by Crofton's formula from the in/out transitions along rows, columns and both
    diagonals, P = (N_0 + N_90 + (N_45 + N_135) / sqrt 2) / (1 + sqrt 2), right at every angle."""
    p = np.pad(mask, 1)
    n0 = (p[:, 1:] != p[:, :-1]).sum()
    n90 = (p[1:] != p[:-1]).sum()
    n45 = (p[1:, :-1] != p[:-1, 1:]).sum() + (p[1:, 1:] != p[:-1, :-1]).sum()
    return 2 * mask.sum() / max((n0 + n90 + n45 / np.sqrt(2)) / (1 + np.sqrt(2)), 1)


def _strokes(a):
    """a (long side FINE * 20) -> the digit in its 20-pixel box, strokes thickened by the smallest
    disc (radius steps of 1/4 at FINE x scale) that makes the width at 20x20, measured as MNIST's
    was, at least STROKE[0]; or thinned by the smallest that brings it to at most STROKE[1]."""
    def box(r):
        if r > 0:
            b = _dilate(np.pad(a, int(np.ceil(r)) + 1), r)
        else:
            b = 1 - _dilate(1 - a, -r, fill=1.0)
        d = _fit(_crop(b), 20, Image.BOX)
        return d / max(d.max(), 1e-6)

    d = box(0)
    w, area = _width(d > 0.5), (d > 0.5).sum()
    if w < STROKE[0]:
        for r in np.arange(0.25, 4 * FINE, 0.25):
            d = box(r)
            if _width(d > 0.5) >= STROKE[0]:
                break
    elif w > STROKE[1]:
        for r in np.arange(0.5, FINE, 0.5):
            t = box(-r)
            if (t > 0.5).sum() < area / 2:    # erosion is breaking the strokes: stop before
                break
            d = t
            if _width(d > 0.5) <= STROKE[1]:
                break
    return d


def _dilate(a, r, fill=0.0):
    """Grey dilation by an anti-aliased disc of radius r: out(p) = max over shifts d of
    a(p + d) * clip(r + 1/2 - |d|, 0, 1), so a fractional radius grows strokes fractionally.
    Outside the array counts as `fill`; erosion is 1 - _dilate(1 - a, r, fill=1)."""
    k = int(np.ceil(r + 0.5))
    p = np.pad(a, k, constant_values=fill)
    out = a.copy()
    for dy in range(-k, k + 1):
        for dx in range(-k, k + 1):
            weight = min(1.0, r + 0.5 - np.hypot(dy, dx))
            if weight > 0 and (dy or dx):
                shifted = p[k + dy:k + dy + a.shape[0], k + dx:k + dx + a.shape[1]]
                out = np.maximum(out, shifted * weight)
    return out


def _crop(a, level=1 / 255):
    """The smallest box holding all a >= level (default: visible in 8 bits)."""
    ys, xs = np.nonzero(a >= level)
    if not len(ys):
        return a[:1, :1]
    return a[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def _fit(a, side, resample):
    """Scale so the long side is `side` pixels, keeping the aspect ratio; clip to [0, 1]."""
    h, w = a.shape
    s = side / max(h, w)
    return np.clip(_resize(a, (max(1, round(h * s)), max(1, round(w * s))), resample), 0, 1)


def _centre(d):
    """Paste d (at most 20x20) in 28x28 with its centre of mass at (14, 14), shifted by whole
    pixels (MNIST's convention: the mean over its training set is 14.0 in row and column)."""
    d = _crop(d) / d.max()                    # peak 1, like MNIST's saturated stroke cores
    d[d < 1 / 255] = 0                        # what an 8-bit MNIST file would hold as 0
    ys, xs = np.indices(d.shape)
    m = d.sum()
    top, left = round(14 - (ys * d).sum() / m), round(14 - (xs * d).sum() / m)
    out = np.zeros((28, 28), np.float32)
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + d.shape[0], 28), min(left + d.shape[1], 28)
    out[y0:y1, x0:x1] = d[y0 - top:y1 - top, x0 - left:x1 - left]
    return out


def _resize(a, shape, resample=None):
    """Resize float32 (h, w) to `shape`; area-average (BOX) when shrinking, bicubic when growing."""
    if resample is None:
        resample = Image.BOX if shape[0] <= a.shape[0] else Image.BICUBIC
    img = Image.fromarray(np.ascontiguousarray(a, dtype=np.float32))   # mode "F"
    return np.asarray(img.resize((shape[1], shape[0]), resample), dtype=np.float32)


def _blur(a, sigma):
    """Separable Gaussian blur, edges replicated (Pillow's GaussianBlur has no float mode)."""
    k = int(np.ceil(3 * sigma))
    g = np.exp(-0.5 * (np.arange(-k, k + 1) / sigma) ** 2)
    g /= g.sum()
    p = np.pad(a, k, mode="edge")
    rows = sum(gi * p[i:i + a.shape[0], :] for i, gi in enumerate(g))
    return sum(gi * rows[:, i:i + a.shape[1]] for i, gi in enumerate(g)).astype(np.float32)


def save_preview(path, originals, digits, captions=None):
    """Write a PNG: each original grey image (scaled to fit 420x280) beside its 28x28 digit
    (10x, nearest, so pixels show).  One pair, or sequences of them with a caption per row.
    Written to a temporary file in the same folder and renamed, so a reader never sees half."""
    if np.ndim(digits) == 2:
        originals, digits, captions = [originals], [digits], [captions or ""]
    captions = captions or [""] * len(digits)
    if not len(originals) == len(digits) == len(captions):
        raise ValueError(f"save_preview: {len(originals)} originals, {len(digits)} digits, "
                         f"{len(captions)} captions; expected as many of each")
    height = 300 + (16 if any(captions) else 0)
    sheet = Image.new("L", (740, height * len(digits)), 128)
    for i, (orig, digit, text) in enumerate(zip(originals, digits, captions)):
        o = np.clip(np.asarray(orig, dtype=np.float32), 0, 1)
        s = min(280 / o.shape[0], 420 / o.shape[1])
        o = _resize(o, (max(1, round(o.shape[0] * s)), max(1, round(o.shape[1] * s))))
        d = np.clip(np.asarray(digit, dtype=np.float32), 0, 1)
        sheet.paste(Image.fromarray((o * 255).round().astype(np.uint8)), (10, 10 + i * height))
        sheet.paste(Image.fromarray((d * 255).round().astype(np.uint8)).resize(
            (280, 280), Image.NEAREST), (450, 10 + i * height))
        ImageDraw.Draw(sheet).text((10, 294 + i * height), text, fill=255)
    atomic_write(path, lambda f: sheet.save(f, format="PNG"))
