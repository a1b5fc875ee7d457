"""Costs and penalties: values, gradient checks (∂C/∂a and the fused δ^L), stability."""
import warnings

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

import scratchnet as sn
from scratchnet.gradcheck import check_loss, numerical_gradient, relative_error
from strategies import batches, examples, matrices, one_hot, probabilities, to_xp

COSTS = [sn.Quadratic, sn.CrossEntropy, sn.BinaryCrossEntropy, sn.CategoricalCrossEntropy]


@pytest.mark.parametrize("cls", COSTS, ids=lambda c: c.__name__)
@given(problem=batches())
@examples(0.25)
def test_cost_gradient_wrt_output(xp, cls, problem):
    seed, n, k, _ = problem
    a = to_xp(xp, probabilities(seed, n, k))
    y = to_xp(xp, one_hot(seed + 1, n, k))
    assert check_loss(cls(), a, y).ok


def test_nll_gradient_wrt_log_probabilities(xp):
    a = to_xp(xp, numpy.log(probabilities(0, 4, 3)))
    y = to_xp(xp, one_hot(1, 4, 3))
    assert check_loss(sn.NLL(), a, y).ok


@pytest.mark.parametrize("cls", [sn.CrossEntropy, sn.CategoricalCrossEntropy, sn.NLL],
                         ids=lambda c: c.__name__)
@given(problem=batches(), scale=st.sampled_from([0.3, 1.0, 4.0]))
@examples(0.25)
def test_fused_output_error_is_dC_dz(xp, cls, problem, scale):
    """δ^L = (a - y)/N for sigmoid+cross-entropy and softmax+cross-entropy, e^a - y for NLL."""
    seed, n, k, _ = problem
    z = to_xp(xp, matrices(seed, n, k, scale))
    y = to_xp(xp, one_hot(seed + 1, n, k))
    # 1e-5: at |z| ~ 13, ln(1 - σ(z)) loses digits to cancellation in the cost the numerical
    # derivative is taken of (the fused δ itself is exact). Planted bugs score 1e-2 and up.
    assert check_loss(cls(), z, y, fused=True).ok


def test_quadratic_value_is_half_squared_norm_over_n():
    a, y = numpy.array([[0.5, 0.2], [0.1, 0.9]]), numpy.array([[1.0, 0.0], [0.0, 1.0]])
    assert sn.Quadratic().value(numpy, a, y) == pytest.approx((0.25 + 0.04 + 0.01 + 0.01) / 2 / 2)


def test_cross_entropy_value_matches_nielsen():
    a, y = numpy.array([[0.8, 0.3]]), numpy.array([[1.0, 0.0]])
    expected = -(numpy.log(0.8) + numpy.log(0.7))
    assert sn.CrossEntropy().value(numpy, a, y) == pytest.approx(expected)


@pytest.mark.parametrize("cls", [sn.CrossEntropy, sn.CategoricalCrossEntropy])
def test_saturated_outputs_give_finite_cost_without_warnings(cls):
    a = numpy.array([[1.0, 0.0, 0.0]], numpy.float32)
    y = numpy.array([[0.0, 1.0, 0.0]], numpy.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = cls().value(numpy, a, y)
        grad = cls().grad(numpy, a, y)
    assert numpy.isfinite(value) and value > 10 and numpy.isfinite(grad).all()


@pytest.mark.parametrize("reg", [sn.L2(5.0), sn.L1(0.3)], ids=["L2", "L1"])
def test_penalty_gradients(reg):
    w = matrices(0, 4, 3)
    n = 7
    numeric = numerical_gradient(lambda: float(reg.value(numpy, [w], n)), w)
    assert relative_error(reg.grad(numpy, w, n), numeric) < 1e-7


def test_l2_divides_by_training_set_size():
    w = numpy.ones((2, 2))
    assert sn.L2(4.0).value(numpy, [w], n=8) == pytest.approx(0.5 * 4.0 / 8 * 4)


@pytest.mark.parametrize("cls", [sn.L2, sn.L1])
def test_negative_lambda_is_refused(cls):
    with pytest.raises(ValueError, match="lmbda"):
        cls(-1.0)
