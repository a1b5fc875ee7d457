"""Optimisers: each update checked against its formula, worked by hand or written plainly."""
import numpy
import pytest

import scratchnet as sn


def one_param(value=1.0):
    return {"layers.0.W": numpy.array([value])}


def test_plain_sgd_is_w_minus_eta_g():
    p = one_param(1.0)
    sn.SGD(lr=0.1).step(p, {"layers.0.W": numpy.array([2.0])})
    assert p["layers.0.W"][0] == pytest.approx(0.8)


def test_momentum_accumulates_velocity():
    """μ = 0.9, η = 0.1, g = 1 each step: v1 = 1, w1 = 1 - 0.1 = 0.9;
    v2 = 0.9·1 + 1 = 1.9, w2 = 0.9 - 0.19 = 0.71."""
    p, opt = one_param(1.0), sn.SGD(lr=0.1, momentum=0.9)
    for expected in (0.9, 0.71):
        opt.step(p, {"layers.0.W": numpy.array([1.0])})
        assert p["layers.0.W"][0] == pytest.approx(expected)


def test_nesterov_looks_ahead():
    """Step 1: v = 1, update g + μv = 1.9 → w = 1 - 0.19 = 0.81."""
    p = one_param(1.0)
    sn.SGD(lr=0.1, momentum=0.9, nesterov=True).step(p, {"layers.0.W": numpy.array([1.0])})
    assert p["layers.0.W"][0] == pytest.approx(0.81)


def test_weight_decay_applies_to_weights_not_biases():
    p = {"layers.0.W": numpy.array([1.0]), "layers.0.b": numpy.array([1.0])}
    zero = {k: numpy.array([0.0]) for k in p}
    sn.SGD(lr=0.1, weight_decay=0.5, momentum=0.0).step(p, zero)
    assert p["layers.0.W"][0] == pytest.approx(0.95) and p["layers.0.b"][0] == 1.0


def test_adam_matches_its_formula_over_steps():
    rng = numpy.random.default_rng(0)
    w = rng.standard_normal(5)
    p, opt = {"layers.0.W": w.copy()}, sn.Adam(lr=0.01)
    m = v = numpy.zeros(5)
    for t in range(1, 6):
        g = rng.standard_normal(5)
        opt.step(p, {"layers.0.W": g.copy()})
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        w = w - 0.01 * (m / (1 - 0.9 ** t)) / (numpy.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        numpy.testing.assert_allclose(p["layers.0.W"], w, rtol=1e-10)


def test_adam_first_step_moves_each_weight_by_lr():
    p = one_param(0.0)
    sn.Adam(lr=0.001).step(p, {"layers.0.W": numpy.array([123.0])})
    assert p["layers.0.W"][0] == pytest.approx(-0.001, rel=1e-5)


@pytest.mark.parametrize("make, message", [
    (lambda: sn.SGD(lr=0), "lr"), (lambda: sn.SGD(lr=0.1, momentum=1.0), "momentum"),
    (lambda: sn.SGD(lr=0.1, nesterov=True), "nesterov"), (lambda: sn.Adam(beta1=1.5), "beta1"),
    (lambda: sn.Adam(lr=-1), "lr"), (lambda: sn.SGD(lr=0.1, weight_decay=-1), "weight_decay"),
])
def test_bad_hyper_parameters_are_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()
