"""The distortions that make fresh training images every epoch (fit(augment=sn.distort))."""
import numpy as np
import pytest

import scratchnet as sn
from scratchnet.augment import _thicken


def test_distort_with_nothing_to_do_is_the_identity():
    X = np.random.default_rng(0).random((7, 784), dtype=np.float32)
    X.reshape(7, 28, 28)[:, [0, -1]] = 0                        # MNIST's border is empty
    X.reshape(7, 28, 28)[:, :, [0, -1]] = 0
    same = sn.distort(X, np.random.default_rng(1), angle=0, shear=0, scale=0, shift=0,
                      thickness=0)
    np.testing.assert_allclose(same, X, atol=1e-6)


def test_distort_moves_ink_but_keeps_its_amount():
    digits = np.zeros((500, 28, 28), np.float32)
    digits[:, 8:20, 12:16] = 1.0                                # a thick bar in the middle
    X = digits.reshape(500, 784)
    out = sn.distort(X, np.random.default_rng(2), thickness=0)
    assert out.shape == X.shape and out.dtype == X.dtype
    assert out.min() >= 0 and out.max() <= 1 + 1e-6
    assert np.mean(np.abs(out - X).sum(axis=1) > 1) > 0.9       # nearly every image changed
    mass = out.sum(axis=1) / X.sum(axis=1)                      # area scales by s², s ≤ 1.1
    assert 0.75 < mass.min() and mass.max() < 1.3


def test_distort_keeps_the_shape_of_image_batches():
    X = np.zeros((3, 1, 28, 28), np.float32)
    X[:, 0, 10:18, 12:16] = 1
    assert sn.distort(X, np.random.default_rng(0)).shape == (3, 1, 28, 28)
    with pytest.raises(ValueError, match="28x28"):
        sn.distort(np.zeros((3, 100), np.float32), np.random.default_rng(0))


def test_thicken_grows_and_thins_strokes():
    img = np.zeros((2, 28, 28), np.float32)
    img[:, 10:18, 13:15] = 1.0
    out = _thicken(img, np.array([1.0, -1.0]))
    assert out[0].sum() > img[0].sum() > out[1].sum()
