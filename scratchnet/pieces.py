"""Which ink on a page is the digit: its 8-connected pieces, joined into groups, the best group.

A thin pen, a faint scan or a small drawing breaks a digit's strokes into pieces; specks, text, a
table's edge or a shadow add pieces that are not the digit.  The rule (`main_ink`):

1. pieces: the 8-connected components of the thresholded ink; only those dark enough (mean ink
   >= min_level) take part, at most MAX_PIECES of them, those with the most ink;
2. join: single linkage, nearest first, where two groups A and B join when the gap between
   their boxes is at most JOIN times the long side of the box around both,
   gap(A, B) <= JOIN * extent(A u B).  The distance scales with the digit: with JOIN = 1/5,
   two dashes of length L in a row join when their gap is at most L/2, and the grown group
   reaches further, so a 3 drawn in dashes becomes one group; a small piece beside a digit of
   extent E joins it only within about E/4 (g <= (E + g) / 5): clutter further away stays out;
3. choose: the group with the most ink, among those at least MIN_EXTENT pixels across; a piece
   touching the image's edge (a table, a shadow, a neighbouring digit cut by the frame) takes
   part alone and counts a tenth of its ink, and joins others only if it wins anyway (a digit
   cropped tightly);
4. keep the chosen group's pieces with at least MIN_SHARE of its largest piece's area.

Boxes are (top, left, bottom, right), bottom and right exclusive; the gap between two boxes is
max(vertical gap, horizontal gap, 0) in pixels: never more than the gap between their pixels,
so it errs towards joining (and costs O(k^2) for k pieces, not a distance transform).
"""
import numpy as np

from .imagefile import ImageError
from .raster import components

JOIN = 0.2            # gap <= JOIN * extent of the joined group
MAX_PIECES = 150      # at most this many pieces (the most ink) take part
MIN_EXTENT = 12       # a digit spans at least this many working pixels
MIN_SHARE = 0.05      # kept pieces have at least this share of the group's largest one's area
EDGE_WEIGHT = 0.1     # a piece touching the image's edge counts this share of its ink


def main_ink(ink, mask, min_level, source):
    """The digit's pixels in ``mask`` (the thresholded ``ink``), by the rule in the module
    docstring.  Returns (mask kept, typical ink level on it: the 75th percentile)."""
    runs, comp = components(mask)
    if not len(runs):
        raise ImageError(f"{source}: no ink found")
    n = comp.max() + 1
    r, c0, c1 = runs.T
    area = np.bincount(comp, c1 - c0, n)
    sums = np.pad(np.cumsum(ink, axis=1), ((0, 0), (1, 0)))   # row prefix sums: run totals
    mass = np.bincount(comp, sums[r, c1] - sums[r, c0], n)
    box = np.stack([np.full(n, r.max()), np.full(n, c0.max()), np.zeros(n, int),
                    np.zeros(n, int)], axis=1)
    np.minimum.at(box[:, 0], comp, r), np.minimum.at(box[:, 1], comp, c0)
    np.maximum.at(box[:, 2], comp, r + 1), np.maximum.at(box[:, 3], comp, c1)
    edge = (box[:, 0] == 0) | (box[:, 1] == 0) | (box[:, 2] == mask.shape[0]) | \
        (box[:, 3] == mask.shape[1])

    dark = np.flatnonzero(mass / area >= min_level)
    take = dark[np.argsort(-mass[dark], kind="stable")[:MAX_PIECES]]
    if not len(take):
        raise ImageError(f"{source}: no ink found (only specks or too faint)")
    group, gbox = join(box[take], edge[take], loners=True)
    score = np.where(edge[take], EDGE_WEIGHT, 1.0) * mass[take]
    total = np.bincount(group, score, len(take))
    extent = np.maximum(gbox[:, 2] - gbox[:, 0], gbox[:, 3] - gbox[:, 1])
    total[extent < MIN_EXTENT] = -1.0
    if total.max() < 0:
        raise ImageError(f"{source}: no ink found (only specks or too faint)")
    best = int(np.argmax(total))
    members = np.flatnonzero(group == best)
    if edge[take[members]].any():              # an edge piece won: let it gather its pieces
        group, _ = join(box[take], edge[take], loners=False)
        members = np.flatnonzero(group == group[members[0]])
    chosen = take[members]
    chosen = chosen[area[chosen] >= MIN_SHARE * area[chosen].max()]
    keep = np.zeros(mask.shape, bool)
    wanted = np.zeros(n, bool)
    wanted[chosen] = True
    for y, a, b in runs[wanted[comp]]:
        keep[y, a:b] = True
    return keep, float(np.percentile(ink[keep], 75))


def join(boxes, edge, loners):
    """Single-linkage groups of boxes (k, 4): group A and B join when gap(A, B) <= JOIN *
    extent(A u B), pairs tried nearest first, until nothing joins.  With ``loners``, a box with
    ``edge`` set joins nothing.  Returns (each box's group number, each group's box), groups
    numbered by their first member; a number no box has gets an empty box."""
    k = len(boxes)
    top, left, bottom, right = (boxes[:, i].astype(np.int64) for i in range(4))
    gap = np.maximum(np.maximum(top[None] - bottom[:, None], top[:, None] - bottom[None]),
                     np.maximum(left[None] - right[:, None], left[:, None] - right[None]))
    gap = np.maximum(gap, 0)
    i, j = np.triu_indices(k, 1)
    allowed = ~(edge[i] | edge[j]) if loners else np.ones(len(i), bool)
    # a pair can join only if its gap is within JOIN of the largest box any group could have
    span = max(bottom.max() - top.min(), right.max() - left.min())
    allowed &= gap[i, j] <= JOIN * span
    order = np.argsort(gap[i, j][allowed], kind="stable")
    pairs = [(int(a), int(b), int(g)) for a, b, g in
             zip(i[allowed][order], j[allowed][order], gap[i, j][allowed][order])]
    parent = list(range(k))
    gbox = boxes.astype(np.int64).copy()

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    joined = True
    while joined:                 # a pair refused early may join once its groups have grown
        joined = False
        for a, b, g in pairs:
            ra, rb = find(a), find(b)
            if ra == rb:
                continue
            u = np.concatenate([np.minimum(gbox[ra, :2], gbox[rb, :2]),
                                np.maximum(gbox[ra, 2:], gbox[rb, 2:])])
            if g <= JOIN * max(u[2] - u[0], u[3] - u[1]):
                # the gap between the groups may be less than this pair's: still true
                lo, hi = min(ra, rb), max(ra, rb)
                parent[hi] = lo
                gbox[lo] = u
                joined = True
    group = np.array([find(x) for x in range(k)], dtype=int)
    out = np.zeros_like(gbox)
    out[group] = gbox[group]
    return group, out
