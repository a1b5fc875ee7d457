"""Tests for scratchnet.pieces: joining the pieces of ink into groups, and choosing the digit."""
import numpy as np
import pytest

from scratchnet import pieces
from scratchnet.imagefile import ImageError


def boxes(*rows):
    return np.array(rows, dtype=np.int64)          # (top, left, bottom, right)


def test_dashes_in_a_row_join_into_one_group():
    """Ten dashes 20 px long, 8 px apart: each pair alone is within JOIN of its extent (8 <=
    0.2 * 48), so the chain becomes one group spanning them all."""
    dashes = boxes(*[(0, 28 * i, 4, 28 * i + 20) for i in range(10)])
    group, gbox = pieces.join(dashes, np.zeros(10, bool), loners=True)
    assert (group == group[0]).all()
    assert tuple(gbox[group[0]]) == (0, 0, 4, 272)


def test_a_gap_joins_only_when_small_beside_what_it_would_join():
    big, far, near = (0, 0, 100, 100), (0, 130, 10, 140), (0, 110, 10, 120)
    group, _ = pieces.join(boxes(big, far), np.zeros(2, bool), loners=True)
    assert group[0] != group[1]                    # 30 > 0.2 * 140
    group, _ = pieces.join(boxes(big, near), np.zeros(2, bool), loners=True)
    assert group[0] == group[1]                    # 10 <= 0.2 * 120


def test_a_piece_on_the_image_edge_joins_nothing_unless_asked():
    two = boxes((0, 0, 50, 50), (0, 52, 50, 100))
    edge = np.array([True, False])
    group, _ = pieces.join(two, edge, loners=True)
    assert group[0] != group[1]
    group, _ = pieces.join(two, edge, loners=False)
    assert group[0] == group[1]


def test_the_group_with_the_most_ink_wins_not_the_biggest_piece():
    """Four dashes of a digit beside one longer stroke far away: the dashes together hold more
    ink, and win."""
    mask = np.zeros((200, 400), bool)
    for i in range(4):
        mask[40 + 30 * i:60 + 30 * i, 50:56] = True     # 4 dashes, 20 px each, 10 px apart
    mask[100:104, 250:290] = True                      # a 40 px stroke, far to the right
    keep, level = pieces.main_ink(mask.astype(np.float32), mask, 0.5, "test")
    assert keep[40:150, 50:56].sum() == 4 * 20 * 6 and not keep[:, 200:].any()
    assert level == 1.0


def test_only_specks_is_an_error():
    mask = np.zeros((100, 100), bool)
    mask[10:13, 10:13] = mask[50:53, 80:83] = True
    with pytest.raises(ImageError, match="^test: no ink found"):
        pieces.main_ink(mask.astype(np.float32), mask, 0.5, "test")
