"""Conv2D and MaxPool2D: naive-loop oracles for the forward pass, gradient checks over random
shapes, strides and paddings, a planted bug the check must catch, and a CNN's file round trip."""
import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

import scratchnet as sn
from scratchnet.gradcheck import check_layer, check_network
from strategies import examples, one_hot, seeds, to_xp


def built(layer, xp=numpy, seed=0, dtype=numpy.float64):
    layer.build(xp, numpy.random.default_rng(seed), dtype)
    return layer


def images(seed, n, c, h, w):
    return numpy.random.default_rng(seed).standard_normal((n, c, h, w))


@st.composite
def conv_problems(draw):
    """(seed, N, C, F, k, stride, padding, H, W) with at least one output pixel."""
    k, padding = draw(st.integers(1, 4)), draw(st.integers(0, 2))
    low = max(1, k - 2 * padding)
    return (draw(seeds), draw(st.integers(1, 3)), draw(st.integers(1, 3)),
            draw(st.integers(1, 3)), k, draw(st.integers(1, 3)), padding,
            draw(st.integers(low, low + 5)), draw(st.integers(low, low + 5)))


def naive_conv(x, W, b, stride, padding):
    """The definition, one output number at a time: z[n,f,y,x] = b[f] + Σ W[f]·patch."""
    n, c, h, w = x.shape
    f, _, k, _ = W.shape
    xp = numpy.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out_h, out_w = (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1
    z = numpy.zeros((n, f, out_h, out_w))
    for i in range(n):
        for j in range(f):
            for r in range(out_h):
                for s in range(out_w):
                    patch = xp[i, :, r * stride:r * stride + k, s * stride:s * stride + k]
                    z[i, j, r, s] = b[j] + (W[j] * patch).sum()
    return z


def naive_max_pool(x, size, stride):
    n, c, h, w = x.shape
    out_h, out_w = (h - size) // stride + 1, (w - size) // stride + 1
    y = numpy.zeros((n, c, out_h, out_w))
    for r in range(out_h):
        for s in range(out_w):
            y[:, :, r, s] = x[:, :, r * stride:r * stride + size,
                              s * stride:s * stride + size].max(axis=(2, 3))
    return y


# ---- Conv2D -----------------------------------------------------------------------------

@given(problem=conv_problems())
@examples()
def test_conv_forward_matches_the_naive_loops(problem):
    seed, n, c, f, k, stride, padding, h, w = problem
    layer = built(sn.Conv2D(c, f, k, stride, padding, init="glorot"), seed=seed)
    layer.params["b"][...] = numpy.random.default_rng(seed + 1).standard_normal(f)
    x = images(seed, n, c, h, w)
    z, _ = layer.forward(x)
    numpy.testing.assert_allclose(
        z, naive_conv(x, layer.params["W"], layer.params["b"], stride, padding),
        rtol=1e-10, atol=1e-12)


@given(problem=conv_problems())
@examples()
def test_conv_gradients(xp, problem):
    seed, n, c, f, k, stride, padding, h, w = problem
    layer = built(sn.Conv2D(c, f, k, stride, padding), xp, seed)
    errors = check_layer(layer, to_xp(xp, images(seed, n, c, h, w)), seed=seed)
    assert errors.ok, errors


def test_conv_gradients_of_a_wide_layer(xp):
    """C·k·k·F >= 4096 takes the other ∂C/∂W path (one product over the whole batch)."""
    layer = built(sn.Conv2D(8, 64, 3, stride=2, padding=1), xp, seed=3)
    errors = check_layer(layer, to_xp(xp, images(3, 2, 8, 6, 5)), seed=3)
    assert errors.ok, errors


def test_a_planted_bug_in_conv_backward_is_caught(monkeypatch):
    layer = built(sn.Conv2D(2, 3, 3, padding=1))
    x = images(0, 2, 2, 5, 5)
    assert check_layer(layer, x.copy()).ok
    right = sn.Conv2D.backward

    def wrong(self, dz, cache, need_dx=True):
        dx, grads = right(self, dz, cache, need_dx)
        return dx * 1.01, grads
    monkeypatch.setattr(sn.Conv2D, "backward", wrong)
    errors = check_layer(layer, x.copy())
    assert errors["x"] > 1e-3 and errors["W"] < 1e-6


def test_conv_shapes_dtype_and_first_layer():
    layer = built(sn.Conv2D(3, 5, 3, stride=2, padding=1), dtype=numpy.float32)
    x = images(0, 4, 3, 9, 7).astype(numpy.float32)
    z, cache = layer.forward(x)
    assert z.shape == (4, 5, 5, 4) and z.dtype == numpy.float32
    assert layer.params["W"].shape == (5, 3, 3, 3) and layer.params["b"].shape == (5,)
    dx, grads = layer.backward(numpy.ones_like(z), cache, need_dx=False)
    assert dx is None and grads["W"].dtype == numpy.float32
    dx, _ = layer.backward(numpy.ones_like(z), cache)
    assert dx.shape == x.shape and dx.dtype == numpy.float32


def test_he_initialisation_uses_the_fan_in_of_a_patch():
    layer = built(sn.Conv2D(16, 64, 5), seed=1)
    assert abs(layer.params["W"].std() - numpy.sqrt(2 / (16 * 25))) < 0.005
    assert not layer.params["b"].any()


@pytest.mark.parametrize("args, message", [
    ((0, 3, 3), "in_channels"), ((1, 3, 0), "kernel_size"), ((1, 3, 3, 0), "stride"),
    ((1, 3, 3, 1, -1), "padding"), ((1, 2.0, 3), "out_channels")])
def test_conv_rejects_bad_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        sn.Conv2D(*args)


def test_conv_names_what_does_not_fit():
    layer = built(sn.Conv2D(2, 3, 5))
    with pytest.raises(ValueError, match="expected 2 input channels, got 3"):
        layer.forward(images(0, 1, 3, 8, 8))
    with pytest.raises(ValueError, match="smaller than the window 5"):
        layer.forward(images(0, 1, 2, 4, 8))


def test_network_validates_image_inputs():
    net = sn.Network([sn.Conv2D(1, 2, 3), sn.Flatten(), sn.Dense(8, 2), sn.Softmax()],
                     loss=sn.CategoricalCrossEntropy())
    assert net.predict(numpy.zeros((3, 1, 4, 4), numpy.float32)).shape == (3, 2)
    with pytest.raises(ValueError, match=r"first layer expects \(1, None, None\)"):
        net.predict(numpy.zeros((3, 16), numpy.float32))
    with pytest.raises(ValueError, match="expects"):
        net.predict(numpy.zeros((3, 2, 4, 4), numpy.float32))


# ---- MaxPool2D --------------------------------------------------------------------------

@st.composite
def pool_problems(draw):
    size = draw(st.integers(1, 3))
    stride = draw(st.sampled_from([None, 1, 2, 3]))
    return (draw(seeds), draw(st.integers(1, 3)), draw(st.integers(1, 3)), size, stride,
            draw(st.integers(size, size + 5)), draw(st.integers(size, size + 5)))


@given(problem=pool_problems())
@examples()
def test_max_pool_forward_matches_the_naive_loops(problem):
    seed, n, c, size, stride, h, w = problem
    layer = built(sn.MaxPool2D(size, stride))
    x = images(seed, n, c, h, w)
    numpy.testing.assert_array_equal(layer.forward(x)[0],
                                     naive_max_pool(x, size, stride or size))


@given(problem=pool_problems())
@examples()
def test_max_pool_gradients(xp, problem):
    seed, n, c, size, stride, h, w = problem
    layer = built(sn.MaxPool2D(size, stride), xp)
    errors = check_layer(layer, to_xp(xp, images(seed, n, c, h, w)), seed=seed)
    assert errors.ok, errors


def test_max_pool_sends_a_tied_window_s_gradient_to_one_input():
    """A blank patch (all pixels equal) must not pass its gradient on four times."""
    layer = built(sn.MaxPool2D(2))
    x = numpy.zeros((1, 1, 4, 4))
    x[0, 0, 2:, 2:] = [[1.0, 3.0], [3.0, 2.0]]           # a tie between two maxima, too
    y, cache = layer.forward(x)
    dx, grads = layer.backward(numpy.ones_like(y), cache)
    assert grads == {}
    numpy.testing.assert_array_equal(dx[0, 0], [[1, 0, 1, 0],
                                                [0, 0, 0, 0],
                                                [1, 0, 0, 1],
                                                [0, 0, 0, 0]])


def test_max_pool_drops_rows_and_columns_that_fill_no_window():
    layer = built(sn.MaxPool2D(2))
    x = images(0, 2, 3, 9, 7)
    y, cache = layer.forward(x)
    assert y.shape == (2, 3, 4, 3)
    dx, _ = layer.backward(numpy.ones_like(y), cache)
    assert dx.shape == x.shape and not dx[:, :, 8].any() and not dx[:, :, :, 6].any()
    assert dx.sum() == y.size


def test_max_pool_rejects_bad_arguments():
    with pytest.raises(ValueError, match="size"):
        sn.MaxPool2D(0)
    with pytest.raises(ValueError, match="stride"):
        sn.MaxPool2D(2, stride=0)
    with pytest.raises(ValueError, match="smaller than the window 3"):
        built(sn.MaxPool2D(3)).forward(images(0, 1, 1, 2, 5))


# ---- whole convolutional networks ------------------------------------------------------

def small_cnn(dtype="float64", seed=0):
    return sn.Network([
        sn.Conv2D(1, 3, 3, padding=1), sn.BatchNorm(3), sn.ReLU(), sn.MaxPool2D(2),
        sn.Conv2D(3, 4, 2), sn.Tanh(), sn.Flatten(), sn.Dropout(0.3),
        sn.Dense(16, 5, init="he"), sn.Softmax()],
        loss=sn.CategoricalCrossEntropy(), dtype=dtype, seed=seed)


def test_backprop_through_a_whole_cnn():
    net = sn.Network([
        sn.Conv2D(1, 3, 3, padding=1), sn.MaxPool2D(2), sn.Tanh(),
        sn.Conv2D(3, 4, 2, stride=1), sn.Sigmoid(), sn.Flatten(),
        sn.Dense(16, 5), sn.Softmax()],
        loss=sn.CategoricalCrossEntropy(), dtype="float64", seed=2)
    x, y = images(2, 3, 1, 6, 6), one_hot(2, 3, 5)
    errors = check_network(net, x, y)
    assert errors.ok, errors


def test_a_cnn_survives_a_save_load_round_trip(tmp_path):
    net = small_cnn(dtype="float32")
    rng = numpy.random.default_rng(0)
    X = rng.random((40, 1, 6, 6), dtype=numpy.float32)
    net.fit((X, rng.integers(0, 5, 40)), epochs=2, batch_size=8,
            optimizer=sn.SGD(lr=0.1, momentum=0.9))
    assert net.layers[1].state["running_mean"].any()       # the running statistics moved
    path = tmp_path / "cnn.npz"
    sn.save(net, path)
    loaded = sn.load(path)
    assert [repr(a) for a in loaded.layers] == [repr(b) for b in net.layers]
    numpy.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    for key, value in net.states().items():
        numpy.testing.assert_array_equal(loaded.states()[key], value)
