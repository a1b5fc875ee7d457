"""Activations: values against plain formulas, stability at |z| = 1000, gradient checks."""
import warnings

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scratchnet import activations as act
from scratchnet.gradcheck import check_layer
from strategies import away_from_kink, batches, examples, matrices, to_xp

LAYERS = [act.Sigmoid, act.ReLU, act.Tanh, act.Softmax, act.LogSoftmax]


def built(cls, xp):
    layer = cls()
    layer.build(xp, numpy.random.default_rng(0), numpy.float64)
    return layer


@pytest.mark.parametrize("cls", LAYERS, ids=lambda c: c.__name__)
@given(problem=batches(), scale=st.sampled_from([0.1, 1.0, 5.0]))
@examples(0.25)
def test_activation_gradients(xp, cls, problem, scale):
    seed, n, width, _ = problem
    z = to_xp(xp, away_from_kink(matrices(seed, n, width, scale)))
    errors = check_layer(built(cls, xp), z, seed=seed)
    # 1e-5, not 1e-6: at |z| ~ 15 a sigmoid's slope is ~1e-7 and the central difference
    # itself is only good to a few parts in 1e6. Planted bugs score 1e-3 and up.
    assert errors.ok, errors


def test_values_match_plain_formulas(xp):
    z = numpy.linspace(-5, 5, 12).reshape(3, 4)
    zx = to_xp(xp, z)
    numpy.testing.assert_allclose(act.sigmoid(xp, zx).get() if hasattr(zx, "get") else
                                  act.sigmoid(xp, zx), 1 / (1 + numpy.exp(-z)), rtol=1e-12)
    e = numpy.exp(z) / numpy.exp(z).sum(axis=1, keepdims=True)
    numpy.testing.assert_allclose(numpy.asarray(act.softmax(xp, zx).tolist()), e, rtol=1e-12)
    numpy.testing.assert_allclose(numpy.asarray(act.log_softmax(xp, zx).tolist()), numpy.log(e),
                                  rtol=1e-12)
    numpy.testing.assert_allclose(numpy.asarray(act.sigmoid_prime(xp, zx).tolist()),
                                  numpy.exp(-z) / (1 + numpy.exp(-z)) ** 2, rtol=1e-10)


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_no_overflow_at_large_inputs(xp, dtype):
    z = to_xp(xp, [[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, 1000.0]], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # any overflow/invalid warning fails the test
        s = numpy.asarray(act.sigmoid(xp, z).tolist())
        sm = numpy.asarray(act.softmax(xp, z).tolist())
        ls = numpy.asarray(act.log_softmax(xp, z).tolist())
        t = numpy.asarray(act.tanh(xp, z).tolist())
    numpy.testing.assert_allclose(s, [[1, 0, 0.5], [0, 0, 1]], atol=1e-7)
    numpy.testing.assert_allclose(sm, [[1, 0, 0], [0, 0, 1]], atol=1e-7)
    assert numpy.isfinite(ls).all() and ls[0, 0] == 0 and ls[0, 1] == -2000
    assert numpy.isfinite(t).all()


def test_softmax_rows_sum_to_one(xp):
    z = to_xp(xp, matrices(3, 5, 4, 30.0))
    numpy.testing.assert_allclose(numpy.asarray(act.softmax(xp, z).sum(axis=1).tolist()), 1.0)
