"""BatchNorm: gradient checks in train and eval mode, for dense (N, F) and conv (N, C, H, W)
inputs; the normalisation itself; the running statistics and how eval mode uses them."""
import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

import scratchnet as sn
from scratchnet.gradcheck import check_layer
from strategies import examples, seeds, to_xp


def built(n_features, xp=numpy, seed=0, **kwargs):
    """A BatchNorm whose γ and β are random (not 1 and 0), so that both enter every check."""
    layer = sn.BatchNorm(n_features, **kwargs)
    layer.build(xp, numpy.random.default_rng(seed), numpy.float64)
    rng = numpy.random.default_rng(seed + 1)
    layer.params["gamma"][...] = to_xp(xp, rng.uniform(0.5, 2.0, n_features))
    layer.params["beta"][...] = to_xp(xp, rng.standard_normal(n_features))
    return layer


@st.composite
def bn_inputs(draw):
    """(seed, shape): (N, F) with N >= 3, or (N, C, H, W) with N·H·W >= 3. (With two values
    per feature, x̂ = ±1 whatever x is: ∂C/∂x is ~0 and has no relative error to speak of.)"""
    seed, f = draw(seeds), draw(st.integers(1, 4))
    if draw(st.booleans()):
        return seed, (draw(st.integers(3, 6)), f)
    h, w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    return seed, (draw(st.integers(1 if h * w >= 3 else 3, 3)), f, h, w)


def inputs(seed, shape):
    """Values with a per-feature offset and scale, as a layer's outputs have."""
    rng = numpy.random.default_rng(seed)
    offset = rng.standard_normal(shape[1]) * 3
    scale = rng.uniform(0.5, 3.0, shape[1])
    broadcast = (1, -1) + (1,) * (len(shape) - 2)
    return rng.standard_normal(shape) * scale.reshape(broadcast) + offset.reshape(broadcast)


@given(problem=bn_inputs())
@examples(0.5)
def test_batch_norm_gradients_in_train_mode(xp, problem):
    seed, shape = problem
    layer = built(shape[1], xp, seed)
    errors = check_layer(layer, to_xp(xp, inputs(seed, shape)), train=True, seed=seed)
    assert errors.ok, errors


@given(problem=bn_inputs())
@examples(0.25)
def test_batch_norm_gradients_in_eval_mode(xp, problem):
    seed, shape = problem
    layer = built(shape[1], xp, seed)
    layer.state["running_mean"][...] = to_xp(xp, numpy.linspace(-1, 1, shape[1]))
    layer.state["running_var"][...] = to_xp(xp, numpy.linspace(0.5, 2, shape[1]))
    errors = check_layer(layer, to_xp(xp, inputs(seed, shape)), train=False, seed=seed)
    assert errors.ok, errors


@pytest.mark.parametrize("shape, axes", [((50, 3), (0,)), ((6, 3, 5, 4), (0, 2, 3))])
def test_train_mode_normalises_each_feature(shape, axes):
    layer = sn.BatchNorm(3)
    layer.build(numpy, numpy.random.default_rng(0), numpy.float64)
    y, _ = layer.forward(inputs(0, shape), train=True)
    numpy.testing.assert_allclose(y.mean(axis=axes), 0, atol=1e-12)
    numpy.testing.assert_allclose(y.var(axis=axes), 1, rtol=1e-3)   # σ²/(σ² + ε)


def test_running_statistics_follow_pytorch_s_update():
    """r ← 0.9 r + 0.1 (batch value), the variance unbiased: m/(m - 1) times the batch's."""
    layer = sn.BatchNorm(2)
    layer.build(numpy, numpy.random.default_rng(0), numpy.float64)
    x = numpy.array([[1.0, 10.0], [2.0, 20.0], [6.0, 60.0]])    # means 3, 30; var 14/3, 1400/3
    layer.forward(x, train=True)
    numpy.testing.assert_allclose(layer.state["running_mean"], [0.3, 3.0])
    numpy.testing.assert_allclose(layer.state["running_var"], [0.9 + 0.1 * 7.0, 0.9 + 0.1 * 700.0])
    for _ in range(300):
        layer.forward(x, train=True)
    numpy.testing.assert_allclose(layer.state["running_mean"], [3.0, 30.0])
    numpy.testing.assert_allclose(layer.state["running_var"], [7.0, 700.0])


def test_eval_mode_uses_the_running_statistics_and_leaves_them_alone():
    layer = built(3, seed=4, momentum=0.5, eps=1e-3)
    rng = numpy.random.default_rng(4)
    for _ in range(3):
        layer.forward(inputs(int(rng.integers(100)), (5, 3, 2, 2)), train=True)
    mean, var = layer.state["running_mean"].copy(), layer.state["running_var"].copy()
    x = inputs(9, (4, 3, 2, 2))
    y, _ = layer.forward(x, train=False)
    g, b = layer.params["gamma"], layer.params["beta"]
    expected = (g[:, None, None] * (x - mean[:, None, None]) / numpy.sqrt(var[:, None, None] + 1e-3)
                + b[:, None, None])
    numpy.testing.assert_allclose(y, expected, rtol=1e-12)
    numpy.testing.assert_array_equal(layer.state["running_mean"], mean)
    numpy.testing.assert_array_equal(layer.state["running_var"], var)
    # one example at a time gives the same answers in eval mode: no batch statistics used
    numpy.testing.assert_allclose(layer.forward(x[:1], train=False)[0], y[:1], rtol=1e-12)


def test_a_planted_bug_in_batch_norm_backward_is_caught(monkeypatch):
    layer = built(3, seed=1)
    x = inputs(1, (5, 3))
    right = sn.BatchNorm.backward

    def forgets_the_mean_terms(self, dy, cache, need_dx=True):
        dx, grads = right(self, dy, cache, need_dx)
        x_hat, inv_std, axes, train = cache
        return dy * (self.params["gamma"] * inv_std), grads     # the eval-mode formula
    assert check_layer(layer, x.copy(), train=True)["x"] < 1e-6
    monkeypatch.setattr(sn.BatchNorm, "backward", forgets_the_mean_terms)
    assert check_layer(layer, x.copy(), train=True)["x"] > 1e-2


def test_float32_stays_float32():
    layer = sn.BatchNorm(3)
    layer.build(numpy, numpy.random.default_rng(0), numpy.float32)
    x = inputs(0, (4, 3, 2, 2)).astype(numpy.float32)
    y, cache = layer.forward(x, train=True)
    dx, grads = layer.backward(numpy.ones_like(y), cache)
    arrays = (y, dx, *grads.values(), *layer.state.values())
    assert {a.dtype for a in arrays} == {numpy.dtype("float32")}


def test_batch_norm_names_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="n_features"):
        sn.BatchNorm(0)
    with pytest.raises(ValueError, match="momentum"):
        sn.BatchNorm(3, momentum=1.5)
    with pytest.raises(ValueError, match="eps"):
        sn.BatchNorm(3, eps=0)
    layer = sn.BatchNorm(3)
    layer.build(numpy, numpy.random.default_rng(0), numpy.float64)
    with pytest.raises(ValueError, match=r"\(N, 3\) or \(N, 3, H, W\) inputs, got \(2, 4\)"):
        layer.forward(numpy.zeros((2, 4)), train=True)
