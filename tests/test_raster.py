"""Tests for scratchnet.raster: connected pieces (against a plain flood fill), stroke width,
Otsu's threshold, and the grey dilation the stroke adjustment uses."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis.extra import numpy as hnp
from PIL import Image, ImageDraw

from scratchnet import raster
from strategies import examples


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
@examples(2.0)
def test_components_agree_with_flood_fill(mask):
    runs, comp = raster.components(mask)
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
    assert raster.width(np.asarray(img) > 127) == pytest.approx(12, rel=0.15)


def test_otsu_splits_two_modes():
    v = np.concatenate([np.full(900, 0.05), np.full(100, 0.8)])
    assert 0.05 <= raster.otsu(v) < 0.8


# --- preview ----------------------------------------------------------------------------------


def test_dilation_by_a_fractional_disc_grows_a_point_by_its_radius():
    a = np.zeros((21, 21), np.float32)
    a[10, 10] = 1
    grown = raster.dilate(a, 2.0)
    # weight clip(r + 1/2 - |d|, 0, 1): 1 at |d| = 1, 1/2 at |d| = 2, 0 at |d| = 3
    assert grown[10, 11] == 1 and grown[10, 12] == pytest.approx(0.5) and grown[10, 13] == 0
    np.testing.assert_array_equal(grown, grown.T)                       # a disc: symmetric
