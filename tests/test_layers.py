"""Dense and Flatten: gradient checks over random shapes, initialisation, errors."""
import numpy
import pytest
from hypothesis import given

import scratchnet as sn
from scratchnet.gradcheck import check_layer
from strategies import batches, examples, matrices, to_xp


def built(layer, xp, seed=0):
    layer.build(xp, numpy.random.default_rng(seed), numpy.float64)
    return layer


@given(problem=batches(max_width=9))
@examples(0.4)
def test_dense_gradients(xp, problem):
    seed, n, n_in, n_out = problem
    layer = built(sn.Dense(n_in, n_out), xp, seed)
    errors = check_layer(layer, to_xp(xp, matrices(seed, n, n_in)), seed=seed)
    assert errors.ok, errors


def test_dense_forward_is_x_Wt_plus_b():
    layer = built(sn.Dense(3, 2), numpy)
    x = matrices(0, 4, 3)
    W, b = layer.params["W"], layer.params["b"]
    z, _ = layer.forward(x)
    expected = numpy.array([[sum(W[j, k] * x[i, k] for k in range(3)) + b[j] for j in range(2)]
                            for i in range(4)])
    numpy.testing.assert_allclose(z, expected, rtol=1e-12)


def test_first_layer_skips_input_gradient():
    layer = built(sn.Dense(3, 2), numpy)
    x = matrices(0, 4, 3)
    _, cache = layer.forward(x)
    dx, grads = layer.backward(numpy.ones((4, 2)), cache, need_dx=False)
    assert dx is None and set(grads) == {"W", "b"}


def test_nielsen_initialisation_has_variance_one_over_n_in():
    layer = built(sn.Dense(400, 300), numpy, seed=1)
    assert layer.params["W"].shape == (300, 400)
    assert abs(layer.params["W"].std() - 1 / numpy.sqrt(400)) < 0.002
    assert abs(layer.params["b"].std() - 1.0) < 0.15         # network2: biases N(0, 1)
    large = built(sn.Dense(400, 300, init="large"), numpy, seed=1)
    assert abs(large.params["W"].std() - 1.0) < 0.01


@pytest.mark.parametrize("args", [(0, 3), (3, -1), (2.5, 3)])
def test_dense_rejects_bad_sizes(args):
    with pytest.raises(ValueError, match="Dense"):
        sn.Dense(*args)


def test_unknown_initialiser_is_named():
    with pytest.raises(ValueError, match="init must be one of"):
        built(sn.Dense(2, 2, init="zeros"), numpy)


def test_flatten_round_trip_and_gradient(xp):
    x = to_xp(xp, numpy.random.default_rng(0).standard_normal((2, 3, 4, 5)))
    layer = built(sn.Flatten(), xp)
    y, cache = layer.forward(x)
    assert y.shape == (2, 60)
    assert check_layer(layer, x).ok
