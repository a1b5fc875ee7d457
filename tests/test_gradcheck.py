"""The gradient checker itself: it must pass right gradients and catch wrong ones."""
import numpy
import pytest

import scratchnet as sn
from scratchnet.gradcheck import check_layer, check_loss, check_network, numerical_gradient
from strategies import matrices, one_hot, to_xp


def test_numerical_gradient_of_a_known_function():
    x = numpy.array([1.0, -2.0, 3.0])
    g = numerical_gradient(lambda: float((x ** 3).sum()), x)
    numpy.testing.assert_allclose(g, 3 * x ** 2, rtol=1e-8)
    numpy.testing.assert_array_equal(x, [1.0, -2.0, 3.0])     # restored after perturbing


class WrongDense(sn.Dense):
    """A Dense layer with a planted bug: ∂C/∂W off by 1%."""

    def backward(self, dz, x, need_dx=True):
        dx, grads = super().backward(dz, x, need_dx)
        grads["W"] = grads["W"] * 1.01
        return dx, grads


class ForgetsSigmoidPrime(sn.Sigmoid):
    """A planted bug: passes ∂C/∂a through as if σ' were 1."""

    def backward(self, da, a, need_dx=True):
        return da, {}


def built(layer):
    layer.build(numpy, numpy.random.default_rng(0), numpy.float64)
    return layer


def test_check_layer_passes_a_right_dense_and_catches_a_planted_bug():
    x = matrices(1, 4, 5)
    assert max(check_layer(built(sn.Dense(5, 3)), x.copy()).values()) < 1e-7
    errors = check_layer(built(WrongDense(5, 3)), x.copy())
    assert errors["W"] > 1e-3 and errors["x"] < 1e-7


def test_check_layer_catches_a_wrong_activation_derivative():
    assert check_layer(built(ForgetsSigmoidPrime()), matrices(2, 3, 4))["x"] > 1e-2


def test_check_layer_catches_a_bug_in_a_big_layer_by_random_directions():
    x = matrices(3, 8, 300)                      # 2,400 inputs > max_elements: directional check
    assert max(check_layer(built(sn.Dense(300, 20)), x.copy(), max_elements=500).values()) < 1e-6
    assert check_layer(built(WrongDense(300, 20)), x.copy(), max_elements=500)["W"] > 1e-3


def test_check_loss_catches_a_wrong_delta():
    class WrongCrossEntropy(sn.CrossEntropy):
        def delta(self, xp, a, y):
            return (a - y) / a.shape[0] * 0.9
    z, y = matrices(4, 5, 3), one_hot(4, 5, 3)
    assert check_loss(sn.CrossEntropy(), z.copy(), y, fused=True) < 1e-7
    assert check_loss(WrongCrossEntropy(), z.copy(), y, fused=True) > 1e-2


def test_check_network_catches_a_planted_bug_anywhere_in_the_chain():
    x, y = matrices(5, 6, 4), one_hot(5, 6, 3)
    good = sn.Network([sn.Dense(4, 5), sn.Sigmoid(), sn.Dense(5, 3), sn.Sigmoid()],
                      loss=sn.Quadratic(), dtype="float64")
    bad = sn.Network([sn.Dense(4, 5), ForgetsSigmoidPrime(), sn.Dense(5, 3), sn.Sigmoid()],
                     loss=sn.Quadratic(), dtype="float64")
    assert max(check_network(good, x, y).values()) < 1e-6
    errors = check_network(bad, x, y)
    assert errors["layers.0.W"] > 1e-2 and errors["layers.2.W"] < 1e-6


def test_check_layer_refuses_float32():
    with pytest.raises(ValueError, match="float64"):
        check_layer(built(sn.Dense(2, 2)), numpy.ones((1, 2), numpy.float32))


def test_check_layer_on_each_backend(xp):
    layer = sn.Dense(4, 3)
    layer.build(xp, numpy.random.default_rng(0), numpy.float64)
    assert max(check_layer(layer, to_xp(xp, matrices(0, 3, 4))).values()) < 1e-7
