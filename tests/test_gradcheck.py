"""The gradient checker itself: it must pass right gradients, catch wrong ones, and tell a
learner what is probably wrong."""
import numpy
import pytest
from hypothesis import given

import scratchnet as sn
from scratchnet.gradcheck import (
    TOLERANCE,
    check_layer,
    check_loss,
    check_network,
    gradient_check,
    numerical_gradient,
)
from strategies import examples, matrices, one_hot, seeds, to_xp


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
    assert check_layer(built(sn.Dense(5, 3)), x.copy()).ok
    report = check_layer(built(WrongDense(5, 3)), x.copy())
    assert not report.ok and report["W"] > 1e-3 and report["x"] < TOLERANCE


def test_check_layer_catches_a_wrong_activation_derivative():
    assert check_layer(built(ForgetsSigmoidPrime()), matrices(2, 3, 4))["x"] > 1e-2


def test_check_layer_catches_a_bug_in_a_big_layer_by_random_directions():
    x = matrices(3, 8, 300)                      # 2,400 inputs > max_elements: directional check
    assert check_layer(built(sn.Dense(300, 20)), x.copy(), max_elements=500).ok
    assert check_layer(built(WrongDense(300, 20)), x.copy(), max_elements=500)["W"] > 1e-3


def test_check_loss_catches_a_wrong_delta():
    class WrongCrossEntropy(sn.CrossEntropy):
        def delta(self, xp, a, y):
            return (a - y) / a.shape[0] * 0.9
    z, y = matrices(4, 5, 3), one_hot(4, 5, 3)
    assert check_loss(sn.CrossEntropy(), z.copy(), y, fused=True).ok
    report = check_loss(WrongCrossEntropy(), z.copy(), y, fused=True)
    assert not report.ok and "factor of 0.9" in str(report)


def test_check_network_catches_a_planted_bug_anywhere_in_the_chain():
    x, y = matrices(5, 6, 4), one_hot(5, 6, 3)
    good = sn.Network([sn.Dense(4, 5), sn.Sigmoid(), sn.Dense(5, 3), sn.Sigmoid()],
                      loss=sn.Quadratic(), dtype="float64")
    bad = sn.Network([sn.Dense(4, 5), ForgetsSigmoidPrime(), sn.Dense(5, 3), sn.Sigmoid()],
                     loss=sn.Quadratic(), dtype="float64")
    assert check_network(good, x, y).ok
    report = check_network(bad, x, y)
    assert report["layers.0.W"] > 1e-2 and report["layers.2.W"] < TOLERANCE


def test_check_layer_refuses_float32():
    with pytest.raises(ValueError, match="float64"):
        check_layer(built(sn.Dense(2, 2)), numpy.ones((1, 2), numpy.float32))


def test_check_layer_on_each_backend(xp):
    layer = sn.Dense(4, 3)
    layer.build(xp, numpy.random.default_rng(0), numpy.float64)
    assert check_layer(layer, to_xp(xp, matrices(0, 3, 4))).ok


# ---- for learners: one function, a table, a likely cause ----------------------------------

class Planted(sn.Dense):
    """A Dense layer whose gradients are wrong in a way chosen by ``bug``."""

    def __init__(self, n_in, n_out, bug):
        super().__init__(n_in, n_out)
        self.bug = bug

    def backward(self, dz, x, need_dx=True):
        dx, grads = super().backward(dz, x, need_dx)
        if self.bug == "no 1/m":
            grads["W"] = grads["W"] * len(x)
        elif self.bug == "sign":
            grads["b"] = -grads["b"]
        elif self.bug == "transposed":
            grads["W"] = grads["W"].T.copy()
        elif self.bug == "missing":
            grads["b"] = grads["b"] * 0
        elif self.bug == "W not Wᵀ":
            dx = dz @ self.params["W"][::-1]
        return dx, grads


@pytest.mark.parametrize("bug, name, cause", [
    ("no 1/m", "W", "factor of 4"), ("sign", "b", "sign is flipped"),
    ("transposed", "W", "transposed"), ("missing", "b", "no gradient"),
    ("W not Wᵀ", "x", "error passed down")])
def test_the_table_names_the_wrong_parameter_and_a_likely_cause(bug, name, cause, capsys):
    report = gradient_check(Planted(3, 3, bug), matrices(7, 4, 3))
    assert not report.ok
    table = capsys.readouterr().out                       # printed because it is wrong
    row = next(line for line in table.splitlines() if line.startswith(name + " "))
    assert "WRONG" in row and cause in row
    assert "relative error" in table and "threshold" in table and "verdict" in table


def test_a_right_gradient_prints_nothing_unless_asked(capsys):
    assert gradient_check(sn.Dense(3, 2), matrices(1, 2, 3)).ok
    assert capsys.readouterr().out == ""
    net = sn.Network([sn.Dense(3, 4), sn.Tanh(), sn.Dense(4, 2), sn.Softmax()],
                     loss=sn.CategoricalCrossEntropy(), dtype="float64")
    assert gradient_check(net, matrices(2, 5, 3), one_hot(3, 5, 2), verbose=True).ok
    assert "layers.2.W" in capsys.readouterr().out


def test_gradient_check_refuses_a_float32_network():
    net = sn.Network([sn.Dense(3, 2), sn.Sigmoid()], loss=sn.Quadratic())
    with pytest.raises(ValueError, match="float64"):
        gradient_check(net, matrices(1, 2, 3), one_hot(1, 2, 2))


def test_a_tiny_right_gradient_is_not_called_wrong():
    """The example that made the conv check flaky: its bias gradient is ~1e-4, and the
    difference quotient's rounding error (~2e-10) was over 1e-6 of it."""
    layer = sn.Conv2D(1, 1, 2, 1, 2)
    layer.build(numpy, numpy.random.default_rng(8981), numpy.float64)
    x = numpy.random.default_rng(8981).standard_normal((1, 1, 3, 6))
    assert check_layer(layer, x, seed=8981).ok


@given(seed=seeds)
@examples(0.5)
def test_small_planted_bugs_are_still_caught_with_the_rounding_floor(seed):
    """The floor only forgives rounding: a gradient wrong by 0.1% is caught anywhere."""
    x = matrices(seed, 3, 4)

    class Off(sn.Dense):
        def backward(self, dz, x, need_dx=True):
            dx, grads = super().backward(dz, x, need_dx)
            grads["W"] = grads["W"] * 1.001
            return dx, grads
    layer = Off(4, 3)
    layer.build(numpy, numpy.random.default_rng(seed), numpy.float64)
    assert check_layer(layer, x, seed=seed)["W"] > TOLERANCE
