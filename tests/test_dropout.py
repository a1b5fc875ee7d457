"""Dropout: the identity in eval mode; in train mode, inverted dropout with a mask the backward
pass reuses, checked numerically with the mask held fixed."""
import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

import scratchnet as sn
from scratchnet.backend import random_generator, to_numpy
from scratchnet.gradcheck import check_layer
from strategies import examples, seeds, to_xp


def built(p, xp=numpy, seed=0, dtype=numpy.float64):
    layer = sn.Dropout(p)
    layer.build(xp, numpy.random.default_rng(seed), dtype)
    return layer


def values(seed, shape):
    return numpy.random.default_rng(seed).standard_normal(shape)


shapes = st.sampled_from([(3, 5), (2, 3, 4), (2, 2, 3, 3), (1, 7)])


@given(seed=seeds, shape=shapes, p=st.sampled_from([0.1, 0.5, 0.8]))
@examples(0.3)
def test_dropout_gradient_with_a_fixed_mask(xp, seed, shape, p):
    """Re-seed the layer's generator before every forward pass: each draws the same mask,
    so the numerical derivative sees the same function the backward pass differentiates."""
    layer = built(p, xp, seed)
    forward = layer.forward

    def same_mask_forward(x, train=False):
        layer.generator = random_generator(xp, seed)
        return forward(x, train)
    layer.forward = same_mask_forward
    errors = check_layer(layer, to_xp(xp, values(seed, shape)), train=True, seed=seed)
    assert errors.ok, errors


@given(seed=seeds, shape=shapes, p=st.sampled_from([0.0, 0.3, 0.9]))
@examples(0.2)
def test_eval_mode_is_the_identity(xp, seed, shape, p):
    layer = built(p, xp, seed)
    x = to_xp(xp, values(seed, shape))
    y, cache = layer.forward(x, train=False)
    assert (y == x).all()
    dy = to_xp(xp, values(seed + 1, shape))
    assert (layer.backward(dy, cache)[0] == dy).all()


def test_train_mode_drops_a_fraction_p_and_rescales_the_rest():
    layer = built(0.3, dtype=numpy.float32)
    x = numpy.ones((200, 500), numpy.float32)
    y, mask = layer.forward(x, train=True)
    kept = y != 0
    assert abs(1 - kept.mean() - 0.3) < 0.01
    numpy.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    assert y.dtype == numpy.float32
    assert abs(y.mean() - 1.0) < 0.02                      # inverted dropout keeps E[y] = x
    dy = numpy.random.default_rng(0).standard_normal(x.shape).astype(numpy.float32)
    dx, grads = layer.backward(dy, mask)
    numpy.testing.assert_array_equal(dx, dy * mask)
    assert grads == {} and not dx[~kept].any()


def test_each_forward_draws_a_new_mask_and_the_seed_fixes_the_sequence(xp):
    x = xp.ones((4, 50))
    a, b = built(0.5, xp, seed=7), built(0.5, xp, seed=7)
    first, second = a.forward(x, True)[0], a.forward(x, True)[0]
    assert not (first == second).all()
    assert (b.forward(x, True)[0] == first).all() and (b.forward(x, True)[0] == second).all()
    other = built(0.5, xp, seed=8).forward(x, True)[0]
    assert not (to_numpy(other) == to_numpy(first)).all()


def test_p_zero_is_the_identity_in_train_mode_too():
    x = values(0, (3, 4))
    y, cache = built(0.0).forward(x, train=True)
    assert (y == x).all() and cache is None


@pytest.mark.parametrize("p", [-0.1, 1.0, 2, True, "0.5"])
def test_dropout_rejects_bad_p(p):
    with pytest.raises(ValueError, match="Dropout: p"):
        sn.Dropout(p)
