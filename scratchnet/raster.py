"""Small operations on grey float32 images (h, w), the parts `imaging`'s digit pipeline is made
of: resizing, blurring, grey dilation by a disc, Otsu's threshold, a robust noise level, connected
pieces of a mask, and the mean stroke width of a mask.  NumPy and Pillow only; each one's
docstring gives its formula.
"""
import numpy as np
from PIL import Image


def resize(a, shape, resample=None):
    """Resize float32 (h, w) to `shape`; area-average (BOX) when shrinking, bicubic when growing."""
    if resample is None:
        resample = Image.BOX if shape[0] <= a.shape[0] else Image.BICUBIC
    img = Image.fromarray(np.ascontiguousarray(a, dtype=np.float32))   # mode "F"
    return np.asarray(img.resize((shape[1], shape[0]), resample), dtype=np.float32)


def fit(a, side, resample):
    """Scale so the long side is `side` pixels, keeping the aspect ratio; clip to [0, 1]."""
    h, w = a.shape
    s = side / max(h, w)
    return np.clip(resize(a, (max(1, round(h * s)), max(1, round(w * s))), resample), 0, 1)


def crop(a, level=1 / 255):
    """The smallest box holding all a >= level (default: visible in 8 bits)."""
    ys, xs = np.nonzero(a >= level)
    if not len(ys):
        return a[:1, :1]
    return a[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def blur(a, sigma):
    """Separable Gaussian blur, edges replicated (Pillow's GaussianBlur has no float mode)."""
    k = int(np.ceil(3 * sigma))
    g = np.exp(-0.5 * (np.arange(-k, k + 1) / sigma) ** 2)
    g /= g.sum()
    p = np.pad(a, k, mode="edge")
    rows = sum(gi * p[i:i + a.shape[0], :] for i, gi in enumerate(g))
    return sum(gi * rows[:, i:i + a.shape[1]] for i, gi in enumerate(g)).astype(np.float32)


def dilate(a, r, fill=0.0):
    """Grey dilation by an anti-aliased disc of radius r: out(p) = max over shifts d of
    a(p + d) * clip(r + 1/2 - |d|, 0, 1), so a fractional radius grows strokes fractionally.
    Outside the array counts as `fill`; erosion is 1 - dilate(1 - a, r, fill=1)."""
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


def noise(d):
    """Robust noise sigma: 1.4826 * median absolute deviation (exact for Gaussian noise)."""
    return 1.4826 * float(np.median(np.abs(d - np.median(d))))


def otsu(v):
    """Otsu's threshold: the level t maximising the between-class variance w0 w1 (m0 - m1)^2."""
    hist, edges = np.histogram(v, bins=256, range=(0.0, max(float(v.max()), 1e-6)))
    p = hist / hist.sum()
    w0 = np.cumsum(p)
    m = np.cumsum(p * edges[:-1])
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (m[-1] * w0 - m) ** 2 / (w0 * (1 - w0))
    return float(edges[1:][np.nanargmax(np.nan_to_num(between[:-1], nan=-1.0))])


def components(mask):
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


def width(mask):
    """Mean stroke width 2A/P: a strip of width w and length l has area A = wl and perimeter
    P = 2l.  P by Crofton's formula from the in/out transitions along rows, columns and both
    diagonals, P = (N_0 + N_90 + (N_45 + N_135) / sqrt 2) / (1 + sqrt 2), right at every angle."""
    p = np.pad(mask, 1)
    n0 = (p[:, 1:] != p[:, :-1]).sum()
    n90 = (p[1:] != p[:-1]).sum()
    n45 = (p[1:, :-1] != p[:-1, 1:]).sum() + (p[1:, 1:] != p[:-1, :-1]).sum()
    return 2 * mask.sum() / max((n0 + n90 + n45 / np.sqrt(2)) / (1 + np.sqrt(2)), 1)
