"""The network: backprop against a per-example oracle, one SGD step by hand, training."""
import os
import warnings

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

import scratchnet as sn
from scratchnet.gradcheck import check_network
from strategies import examples, matrices, one_hot, to_xp


class Capture(sn.optimizers.Optimizer):
    """An optimiser that records the gradients instead of stepping."""
    lr = 0.0

    def __init__(self):
        self.grads = {}

    def step(self, params, grads):
        self.grads = {k: numpy.asarray(v.tolist()) for k, v in grads.items()}


def nielsen_backprop(Ws, bs, x, y, cost):
    """Nielsen's network2.backprop, one example at a time, column vectors (the oracle).
    Ws[l] is (n_out, n_in), as in the book."""
    sig = lambda z: 1 / (1 + numpy.exp(-z))
    activation, activations, zs = x.reshape(-1, 1), [x.reshape(-1, 1)], []
    for W, b in zip(Ws, bs):
        z = W @ activation + b.reshape(-1, 1)
        zs.append(z)
        activation = sig(z)
        activations.append(activation)
    a, yc = activations[-1], y.reshape(-1, 1)
    delta = (a - yc) * sig(zs[-1]) * (1 - sig(zs[-1])) if cost == "quadratic" else a - yc
    nabla_W, nabla_b = [None] * len(Ws), [None] * len(Ws)
    nabla_W[-1], nabla_b[-1] = delta @ activations[-2].T, delta.ravel()
    for k in range(2, len(Ws) + 1):
        sp = sig(zs[-k]) * (1 - sig(zs[-k]))
        delta = (Ws[-k + 1].T @ delta) * sp
        nabla_W[-k], nabla_b[-k] = delta @ activations[-k - 1].T, delta.ravel()
    return nabla_W, nabla_b


@pytest.mark.parametrize("cost", ["quadratic", "cross-entropy"])
@given(seed=st.integers(0, 1000), m=st.integers(1, 5), sizes=st.lists(st.integers(1, 6), min_size=3,
                                                                       max_size=4))
@examples(0.2)
def test_vectorised_backprop_equals_per_example_oracle(cost, seed, m, sizes):
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [sn.Dense(n_in, n_out), sn.Sigmoid()]
    net = sn.Network(layers, loss=sn.Quadratic() if cost == "quadratic" else sn.CrossEntropy(),
                     dtype="float64", seed=seed)
    x, y = matrices(seed, m, sizes[0]), one_hot(seed + 1, m, sizes[-1])
    Ws = [layer.params["W"].copy() for layer in net.layers[::2]]
    bs = [layer.params["b"].copy() for layer in net.layers[::2]]
    opt = Capture()
    net.train_step(x, y, opt, n=m)
    oracle = [nielsen_backprop(Ws, bs, x[i], y[i], cost) for i in range(m)]
    for j in range(len(Ws)):
        mean_W = sum(o[0][j] for o in oracle) / m         # the mini-batch mean gradient
        mean_b = sum(o[1][j] for o in oracle) / m
        numpy.testing.assert_allclose(opt.grads[f"layers.{2 * j}.W"], mean_W, rtol=1e-9, atol=1e-12)
        numpy.testing.assert_allclose(opt.grads[f"layers.{2 * j}.b"], mean_b, rtol=1e-9, atol=1e-12)


NETWORKS = {
    "sigmoid-quadratic": lambda: ([sn.Dense(4, 5), sn.Sigmoid(), sn.Dense(5, 3), sn.Sigmoid()],
                                  sn.Quadratic()),
    "relu-softmax-ce": lambda: ([sn.Dense(4, 6, init="he"), sn.ReLU(), sn.Dense(6, 3),
                                 sn.Softmax()],
                                sn.CategoricalCrossEntropy()),
    "tanh-logsoftmax-nll": lambda: ([sn.Dense(4, 5), sn.Tanh(), sn.Dense(5, 3), sn.LogSoftmax()],
                                    sn.NLL()),
    "sigmoid-binary": lambda: ([sn.Dense(4, 5), sn.Sigmoid(), sn.Dense(5, 1), sn.Sigmoid()],
                               sn.BinaryCrossEntropy()),
    "softmax-quadratic-unfused": lambda: ([sn.Dense(4, 3), sn.Softmax()], sn.Quadratic()),
}


@pytest.mark.parametrize("name", sorted(NETWORKS))
@pytest.mark.parametrize("penalty", [None, sn.L2(3.0), sn.L1(0.5)], ids=["none", "L2", "L1"])
def test_whole_network_gradient_check(xp, name, penalty):
    layers, loss = NETWORKS[name]()
    net = sn.Network(layers, loss, regularizer=penalty, device="cpu" if xp is numpy else "cuda",
                     dtype="float64", seed=3)
    k = layers[-2].n_out
    x = to_xp(xp, matrices(1, 5, 4))
    y = to_xp(xp, one_hot(2, 5, k) if k > 1 else numpy.array([[0.0], [1.0], [1.0], [0.0], [1.0]]))
    errors = check_network(net, x, y)
    assert errors.ok, errors


def test_one_sgd_step_by_hand():
    """A 1-1 sigmoid network, quadratic cost, η = 0.5, one example x = 1, y = 1:
    z = w·x + b = 0.5·1 + 0 = 0.5;  a = σ(0.5) = 0.622459;  σ'(z) = a(1 - a) = 0.235004
    δ = (a - y)·σ'(z) = -0.377541 · 0.235004 = -0.088724
    w ← 0.5 - 0.5·δ·x = 0.544362;   b ← 0 - 0.5·δ = 0.044362"""
    net = sn.Network([sn.Dense(1, 1), sn.Sigmoid()], loss=sn.Quadratic(), dtype="float64")
    net.layers[0].params["W"][...] = 0.5
    net.layers[0].params["b"][...] = 0.0
    net.train_step(numpy.array([[1.0]]), numpy.array([[1.0]]), sn.SGD(lr=0.5), n=1)
    assert net.layers[0].params["W"][0, 0] == pytest.approx(0.544362, abs=1e-6)
    assert net.layers[0].params["b"][0] == pytest.approx(0.044362, abs=1e-6)


def blobs(n, seed, k=3, dim=10):
    """k Gaussian clusters in `dim` dimensions: an easy, made-up classification task."""
    rng = numpy.random.default_rng(seed)
    centres = numpy.random.default_rng(99).standard_normal((k, dim)) * 1.5
    labels = rng.integers(0, k, n)
    return (centres[labels] + rng.standard_normal((n, dim))).astype(numpy.float32), labels


def small_net(device="cpu", seed=0, dtype="float32"):
    return sn.Network([sn.Dense(10, 16), sn.Sigmoid(), sn.Dense(16, 3), sn.Sigmoid()],
                      loss=sn.CrossEntropy(), device=device, seed=seed, dtype=dtype)


def test_training_on_synthetic_data_reaches_95_percent(device):
    net = small_net(device)
    history = net.fit(blobs(2000, 0), epochs=15, batch_size=10, optimizer=sn.SGD(lr=0.5),
                      validation_data=blobs(1000, 1))
    assert history["loss"][0] > history["loss"][-1]
    assert net.evaluate(blobs(1000, 2))["accuracy"] >= 0.95
    assert set(history) == {"loss", "accuracy", "lr", "val_loss", "val_accuracy", "time"}


def test_training_is_reproducible_with_a_seed():
    runs = [small_net(seed=4).fit(blobs(500, 0), epochs=2, batch_size=10,
                                  optimizer=sn.SGD(lr=0.5), seed=7)["loss"] for _ in range(2)]
    assert runs[0] == runs[1]


def test_float64_on_request():
    net = small_net(dtype="float64")
    assert net.layers[0].params["W"].dtype == numpy.float64
    assert net.predict(blobs(5, 0)[0]).dtype == numpy.float64


@pytest.mark.filterwarnings("ignore:overflow", "ignore:invalid value")
def test_divergence_is_a_clear_error():
    X, y = blobs(200, 0)
    with pytest.raises(FloatingPointError, match="diverged.*learning rate"):
        sn.Network([sn.Dense(10, 3), sn.ReLU(), sn.Dense(3, 3)], loss=sn.Quadratic()).fit(
            (X * 1e3, y), epochs=3, batch_size=10, optimizer=sn.SGD(lr=1e3))


@pytest.mark.parametrize("data, message", [
    ((numpy.zeros((5, 10)), numpy.zeros(4, int)), r"X has shape \(5, 10\) and y \(4,\)"),
    ((numpy.zeros((5, 9)), numpy.zeros(5, int)),
     r"shape \(9,\) per example, the first layer expects \(10,\)"),
    ((numpy.full((5, 10), numpy.nan), numpy.zeros(5, int)), "NaN"),
    ((numpy.zeros((5, 10)), numpy.full(5, 3)), r"labels must lie in 0..2"),
    ((numpy.zeros((5, 10)), numpy.zeros(5)), "integer class labels"),
    ((numpy.zeros((5, 10)), numpy.zeros((5, 4))), r"targets \(N, 3\)"),
    ((numpy.zeros((5, 10)), numpy.full((5, 3), numpy.inf)), "finite"),
    ((numpy.full((5, 10), "a"), numpy.zeros(5, int)), "numbers"),
    ((numpy.zeros((0, 10)), numpy.zeros(0, int)), "empty"),
    (numpy.zeros((5, 10)), "pair"),
])
def test_bad_training_data_is_named(data, message):
    with pytest.raises(ValueError, match=message):
        small_net().fit(data, epochs=1, batch_size=2, optimizer=sn.SGD(lr=0.1))


@pytest.mark.parametrize("kwargs, message", [
    ({"epochs": -1}, "epochs"), ({"batch_size": 0}, "batch_size"), ({"epochs": True}, "epochs"),
    ({"batch_size": 2.0}, "batch_size"), ({"optimizer": 0.1}, "optimizer"),
    ({"augment": "distort"}, "augment")])
def test_bad_hyper_parameters_are_named(kwargs, message):
    args = {"epochs": 1, "batch_size": 10, "optimizer": sn.SGD(lr=0.1), **kwargs}
    with pytest.raises(ValueError, match=message):
        small_net().fit(blobs(10, 0), **args)


def test_numpy_integers_are_integers():
    history = small_net().fit(blobs(20, 0), epochs=numpy.int64(2), batch_size=numpy.int32(10),
                              optimizer=sn.SGD(lr=0.1))
    assert history.epoch == [0, 1]


def test_predict_takes_lists_and_zero_rows():
    net = small_net()
    X = blobs(3, 0)[0]
    numpy.testing.assert_allclose(net.predict(X.tolist()), net.predict(X), rtol=1e-6)
    assert net.predict(numpy.zeros((0, 10), numpy.float32)).shape == (0, 3)
    with pytest.raises(ValueError, match="X: inputs have shape"):
        net.predict([[1.0, 2.0]])


def test_layers_do_not_share_their_dicts():
    assert sn.Flatten().params is not sn.ReLU().params
    assert sn.Flatten().state is not sn.Sigmoid().state


def test_a_layer_in_a_second_network_is_refused():
    dense = sn.Dense(10, 3)
    sn.Network([dense, sn.Sigmoid()], loss=sn.Quadratic())
    with pytest.raises(ValueError, match="layer 0 .* already belongs to a network"):
        sn.Network([dense, sn.Sigmoid()], loss=sn.Quadratic())
    relu = sn.ReLU()
    with pytest.raises(ValueError, match="layer 2 .* already belongs"):
        sn.Network([sn.Dense(10, 3), relu, relu], loss=sn.Quadratic())


def test_a_replaced_parameter_array_is_the_one_trained():
    """Parameters are read live: an array put in place of another is trained, not orphaned."""
    net = small_net()
    new = numpy.zeros_like(net.layers[0].params["W"])
    net.layers[0].params["W"] = new
    net.fit(blobs(50, 0), epochs=1, batch_size=10, optimizer=sn.SGD(lr=0.5))
    assert net.parameters()["layers.0.W"] is new and numpy.abs(new).sum() > 0


def test_divergence_keeps_the_last_good_weights():
    X, y = blobs(200, 0)
    net = sn.Network([sn.Dense(10, 3), sn.ReLU(), sn.Dense(3, 3)], loss=sn.Quadratic())
    net.fit((X, y), epochs=1, batch_size=10, optimizer=sn.SGD(lr=1e-3))
    good = net.copy_weights()
    with numpy.errstate(all="ignore"), pytest.raises(FloatingPointError, match="kept"):
        net.fit((X * 1e3, y), epochs=3, batch_size=10, optimizer=sn.SGD(lr=1e3))
    for k, v in net.copy_weights().items():
        assert numpy.isfinite(v).all()
        numpy.testing.assert_array_equal(v, good[k])


def test_divergence_with_early_stopping_gives_back_the_best_weights():
    X, y = blobs(200, 0)
    net = sn.Network([sn.Dense(10, 16), sn.ReLU(), sn.Dense(16, 3)], loss=sn.Quadratic())
    saved = {}
    snapshot = sn.LambdaCallback(on_epoch_end=lambda e, logs: saved.update({e: net.copy_weights()}))
    stop = sn.EarlyStopping("val_loss", patience=5, restore_best_weights=True)
    with numpy.errstate(all="ignore"), pytest.raises(FloatingPointError):
        net.fit((X, y), epochs=5, batch_size=10, optimizer=sn.SGD(lr=0.01),
                validation_data=blobs(50, 1),
                callbacks=[sn.Piecewise({0: 0.01, 3: 1e30}), snapshot, stop])
    assert sorted(saved) == [0, 1, 2] and stop.best_epoch is not None
    for k, v in net.copy_weights().items():
        numpy.testing.assert_array_equal(v, saved[stop.best_epoch][k])


def test_weights_that_became_nan_late_in_an_epoch_are_not_kept():
    """The epoch's loss is measured on the outputs before each step: the last steps can
    break the weights while that loss is still finite. The weights are checked too."""
    X, y = blobs(200, 0)
    net = small_net()
    net.fit((X, y), epochs=1, batch_size=10, optimizer=sn.SGD(lr=0.5))
    good = net.copy_weights()

    class BreaksOnLastStep(sn.SGD):
        def step(self, params, grads):
            super().step(params, grads)
            if grads["layers.0.W"].shape and self.steps == 19:
                params["layers.0.W"][...] = numpy.nan
            self.steps += 1

    opt = BreaksOnLastStep(lr=0.5)
    opt.steps = 0
    with pytest.raises(FloatingPointError, match="weights"):
        net.fit((X, y), epochs=1, batch_size=10, optimizer=opt)
    for k, v in net.copy_weights().items():
        numpy.testing.assert_array_equal(v, good[k])


def test_a_rate_far_too_large_gets_a_warning():
    X, y = blobs(300, 0)
    net = sn.Network([sn.Dense(10, 16), sn.Sigmoid(), sn.Dense(16, 3), sn.Sigmoid()],
                     loss=sn.Quadratic())
    with numpy.errstate(all="ignore"), pytest.warns(sn.TrainingWarning, match=r"lr=1e\+06"):
        net.fit((X, y), epochs=3, batch_size=10, optimizer=sn.SGD(lr=1e6))


def test_one_class_only_is_not_called_stuck():
    """One example, one class: the commonest class is always right, and a network still
    learning it (the loss falling) must not be told its rate is wrong."""
    net = sn.Network([sn.Dense(1, 1), sn.Sigmoid()], loss=sn.Quadratic(), dtype="float64")
    net.layers[0].params["W"][...], net.layers[0].params["b"][...] = 2.0, 2.0   # a ≈ 0.98
    with warnings.catch_warnings():
        warnings.simplefilter("error", sn.TrainingWarning)
        history = net.fit(([[1.0]], [[0.0]]), epochs=5, batch_size=1, optimizer=sn.SGD(lr=0.15))
    assert history["loss"][-1] < history["loss"][0]


def test_augment_gives_fresh_inputs_every_epoch():
    seen = []

    def shift(X, rng):
        seen.append(rng.random())
        return X + rng.normal(0, 0.1, X.shape).astype(X.dtype)

    small_net().fit(blobs(50, 0), epochs=3, batch_size=10, optimizer=sn.SGD(lr=0.5),
                    augment=shift, seed=3)
    assert len(seen) == 3 and len(set(seen)) == 3
    with pytest.raises(ValueError, match="augment must return"):
        small_net().fit(blobs(50, 0), epochs=1, batch_size=10, optimizer=sn.SGD(lr=0.5),
                        augment=lambda X, rng: X[:10])


def test_summary_counts_parameters():
    net = small_net()
    assert net.n_params == 10 * 16 + 16 + 16 * 3 + 3
    assert f"{net.n_params:,}" in net.summary()


@pytest.mark.skipif(not os.environ.get("SCRATCHNET_DATA"), reason="SCRATCHNET_DATA not set")
def test_one_epoch_on_real_mnist_learns():
    data = sn.load_mnist()
    X, y = data.train
    net = sn.Network([sn.Dense(784, 30), sn.Sigmoid(), sn.Dense(30, 10), sn.Sigmoid()],
                     loss=sn.Quadratic())
    net.fit((X[:10000], y[:10000]), epochs=1, batch_size=10, optimizer=sn.SGD(lr=3.0))
    assert net.evaluate(data.test)["accuracy"] > 0.85


class NoHostCopies(numpy.ndarray):
    """An array that refuses to become a Python number: on a GPU each such conversion is a
    device-to-host copy that stalls the step. NumPy carries the subclass through every
    operation on it, so a training step fed with it shows any float()/int()/bool()/item()."""

    def _refuse(self, *args, **kwargs):
        raise AssertionError("an array was turned into a Python value inside a training step")

    __float__ = __int__ = __bool__ = __index__ = item = tolist = _refuse


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_a_training_step_makes_no_host_copies(name):
    layers, loss = NETWORKS[name]()
    net = sn.Network(layers, loss, regularizer=sn.L2(1.0))
    k = layers[-2].n_out
    x = matrices(0, 8, 4).astype(numpy.float32).view(NoHostCopies)
    y = (one_hot(1, 8, k) if k > 1 else numpy.ones((8, 1))).astype(numpy.float32).view(NoHostCopies)
    for opt in (sn.SGD(lr=0.1), sn.SGD(lr=0.1, momentum=0.9, nesterov=True), sn.Adam()):
        a = net.train_step(x, y, opt, n=100)
        assert isinstance(a, NoHostCopies)
    with pytest.raises(AssertionError, match="Python value"):
        float(a.sum())                                   # the guard itself works


def test_a_cnn_training_step_makes_no_host_copies():
    net = sn.Network([sn.Conv2D(1, 2, 3), sn.BatchNorm(2), sn.ReLU(), sn.MaxPool2D(2),
                      sn.Flatten(), sn.Dropout(0.5), sn.Dense(2 * 3 * 3, 3), sn.Softmax()],
                     loss=sn.CategoricalCrossEntropy())
    x = numpy.random.default_rng(0).random((4, 1, 8, 8), dtype=numpy.float32).view(NoHostCopies)
    y = one_hot(2, 4, 3).astype(numpy.float32).view(NoHostCopies)
    net.train_step(x, y, sn.SGD(lr=0.1, momentum=0.9), n=100)


def test_the_host_copy_guard_catches_a_layer_that_reads_a_value():
    class Peeks(sn.Layer):
        def forward(self, x, train=False):
            if float(x.max()) > 1e6:                     # a host read, as a debug print would do
                pass
            return x, None
    net = sn.Network([sn.Dense(4, 3), Peeks(), sn.Sigmoid()], loss=sn.Quadratic())
    x = matrices(0, 2, 4).astype(numpy.float32).view(NoHostCopies)
    y = one_hot(1, 2, 3).astype(numpy.float32).view(NoHostCopies)
    with pytest.raises(AssertionError, match="Python value"):
        net.train_step(x, y, sn.SGD(lr=0.1), n=2)
