"""The cupy backend on a real GPU, against NumPy: the same training from the same weights and
batches, each CNN layer's forward and backward, a model file moved between devices, and no
device-to-host copy inside a training step, as CuPy itself (and, where PyTorch can profile
CUDA, the CUDA profiler) sees it.

Skipped without a GPU (the ``cuda_xp`` fixture); benchmarks/gpu_check.sh runs them with
SCRATCHNET_REQUIRE_CUDA=1, where a cupy backend that cannot run is an error.
"""
import contextlib
import importlib

import numpy
import pytest

import scratchnet as sn
from scratchnet.backend import to_numpy
from strategies import matrices

# CuPy's guard is deprecated (it cannot see synchronisation outside CuPy) and says so each
# time; it is still the check CuPy offers, and this suite's question is CuPy's own copies.
pytestmark = pytest.mark.filterwarnings("ignore:cupyx.allow_synchronize")


def blobs(n, seed, k=3, dim=12):
    """k Gaussian clusters in ``dim`` dimensions (float32 inputs, int labels)."""
    rng = numpy.random.default_rng(seed)
    centres = numpy.random.default_rng(99).standard_normal((k, dim)) * 1.5
    labels = rng.integers(0, k, n)
    return (centres[labels] + rng.standard_normal((n, dim))).astype(numpy.float32), labels


# name -> (layers, loss, regulariser, optimiser, batch size). Adam's ε is large enough that a
# gradient element of float32 rounding size (whose sign the two backends may disagree on)
# moves its weight by a rounding-sized step, not by ±lr.
NETS = {
    "sigmoid-quadratic-sgd": (
        lambda: [sn.Dense(12, 16), sn.Sigmoid(), sn.Dense(16, 3), sn.Sigmoid()],
        sn.Quadratic, None, lambda: sn.SGD(lr=3.0), 10),
    "relu-softmax-l2-nesterov": (
        lambda: [sn.Dense(12, 20, init="he"), sn.ReLU(), sn.Dense(20, 3), sn.Softmax()],
        sn.CategoricalCrossEntropy, sn.L2(1.0),
        lambda: sn.SGD(lr=0.1, momentum=0.9, nesterov=True), 16),
    "tanh-logsoftmax-nll-adam": (
        lambda: [sn.Dense(12, 10), sn.Tanh(), sn.Dense(10, 3), sn.LogSoftmax()],
        sn.NLL, None, lambda: sn.Adam(lr=1e-2, eps=1e-4), 7),
}
TOLERANCE = {"float32": {"rtol": 1e-3, "atol": 1e-4}, "float64": {"rtol": 1e-9, "atol": 1e-11}}


def host(arrays):
    """Host copies of a dict of arrays (a NumPy network's own arrays change as it trains)."""
    return {k: numpy.array(to_numpy(v)) for k, v in arrays.items()}


@pytest.mark.parametrize("dtype", sorted(TOLERANCE))
@pytest.mark.parametrize("name", sorted(NETS))
def test_backends_agree_on_a_short_training_run(cuda_xp, name, dtype):
    """Same seed: the same initial weights (exactly) and the same batches on both devices,
    so after 3 epochs the weights differ only by rounding (cuBLAS and OpenBLAS sum in
    different orders)."""
    layers, loss, penalty, optimizer, batch = NETS[name]
    X, y = blobs(300, 0)
    nets = {device: sn.Network(layers(), loss(), regularizer=penalty, device=device,
                               dtype=dtype, seed=1) for device in ("cpu", "cuda")}
    start = host(nets["cpu"].parameters())
    for key, w in host(nets["cuda"].parameters()).items():
        numpy.testing.assert_array_equal(w, start[key], err_msg=key)
    losses = {device: net.fit((X, y), epochs=3, batch_size=batch, optimizer=optimizer(),
                              seed=2)["loss"] for device, net in nets.items()}
    numpy.testing.assert_allclose(losses["cuda"], losses["cpu"], rtol=TOLERANCE[dtype]["rtol"])
    end = host(nets["cpu"].parameters())
    assert max(numpy.abs(end[k] - start[k]).max() for k in end) > 0.01     # it did train
    for key, w in host(nets["cuda"].parameters()).items():
        numpy.testing.assert_allclose(w, end[key], **TOLERANCE[dtype], err_msg=key)
    numpy.testing.assert_allclose(nets["cuda"].predict(X), nets["cpu"].predict(X),
                                  **TOLERANCE[dtype])


def cnn():
    return [sn.Conv2D(1, 4, 3, padding=1), sn.BatchNorm(4), sn.ReLU(), sn.MaxPool2D(2),
            sn.Conv2D(4, 6, 3, stride=2), sn.ReLU(), sn.Flatten(), sn.Dense(6, 3),
            sn.Softmax()]


@pytest.mark.filterwarnings("ignore::scratchnet.network.TrainingWarning")   # random labels
def test_a_cnn_trains_the_same_on_both_backends(cuda_xp):
    rng = numpy.random.default_rng(0)
    X, y = rng.standard_normal((120, 1, 8, 8)), rng.integers(0, 3, 120)
    weights = {}
    for device in ("cpu", "cuda"):
        net = sn.Network(cnn(), sn.CategoricalCrossEntropy(), device=device, dtype="float64",
                         seed=3)
        net.fit((X, y), epochs=2, batch_size=16, optimizer=sn.SGD(lr=0.05, momentum=0.9),
                seed=4)
        weights[device] = host({**net.parameters(), **net.states()})
    for key, w in weights["cuda"].items():
        numpy.testing.assert_allclose(w, weights["cpu"][key], **TOLERANCE["float64"],
                                      err_msg=key)


# name -> (layer, input shape); each also runs in eval mode (batch-norm's other path)
LAYERS = {
    "conv": (lambda: sn.Conv2D(2, 3, 3), (4, 2, 7, 6)),
    "conv-stride-padding": (lambda: sn.Conv2D(3, 4, 3, stride=2, padding=1), (3, 3, 9, 8)),
    "conv-wide": (lambda: sn.Conv2D(8, 64, 3, stride=2, padding=1), (2, 8, 6, 5)),  # one ∂W product
    "pool-tiled": (lambda: sn.MaxPool2D(2), (3, 2, 8, 6)),
    "pool-ragged": (lambda: sn.MaxPool2D(2), (2, 2, 7, 5)),          # a row and a column dropped
    "pool-overlapping": (lambda: sn.MaxPool2D(3, stride=2), (2, 3, 9, 9)),
    "batchnorm-images": (lambda: sn.BatchNorm(3), (4, 3, 5, 5)),
    "batchnorm-dense": (lambda: sn.BatchNorm(6), (8, 6)),
    "flatten": (lambda: sn.Flatten(), (2, 3, 4, 5)),
    "dense": (lambda: sn.Dense(7, 5), (6, 7)),
    "sigmoid": (sn.Sigmoid, (5, 4)),
    "relu": (sn.ReLU, (5, 4)),
    "tanh": (sn.Tanh, (5, 4)),
    "softmax": (sn.Softmax, (5, 4)),
    "log-softmax": (sn.LogSoftmax, (5, 4)),
}


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_each_layer_agrees_forward_and_backward(cuda_xp, name, train):
    """The same parameters, input and ∂C/∂y (float64): the same output, ∂C/∂x, parameter
    gradients and updated state on both backends."""
    make, shape = LAYERS[name]
    x = matrices(5, 1, int(numpy.prod(shape))).reshape(shape)
    results = {}
    for xp in (numpy, cuda_xp):
        layer = make()
        layer.build(xp, numpy.random.default_rng(0), numpy.dtype(numpy.float64))
        y, cache = layer.forward(xp.asarray(x), train)
        dy = matrices(6, 1, y.size).reshape(y.shape)
        dx, grads = layer.backward(xp.asarray(dy), cache)
        results[xp] = {"y": to_numpy(y), "dx": to_numpy(dx), **host(grads),
                       **host(layer.state)}
    for key, value in results[numpy].items():
        numpy.testing.assert_allclose(results[cuda_xp][key], value, rtol=1e-9, atol=1e-12,
                                      err_msg=key)


def test_a_model_trained_on_the_gpu_loads_on_either_device(cuda_xp, tmp_path):
    X, y = blobs(200, 1)
    net = sn.Network([sn.Dense(12, 8), sn.Sigmoid(), sn.Dense(8, 3), sn.Sigmoid()],
                     sn.Quadratic(), device="cuda")
    net.fit((X, y), epochs=1, batch_size=10, optimizer=sn.SGD(lr=1.0))
    sn.save(net, tmp_path / "net.npz")
    for device in ("cpu", "cuda"):
        back = sn.load(tmp_path / "net.npz", device=device)
        numpy.testing.assert_allclose(back.predict(X), net.predict(X), rtol=1e-5, atol=1e-6)


# ---- no device-to-host copy inside a training step ---------------------------------------

def forbid_sync():
    """CuPy's own guard: inside it, a device-to-host copy (ndarray.get, and so float(),
    int(), bool(), item(), tolist() of a device array) or a device synchronisation raises
    cupyx.DeviceSynchronized."""
    cupyx = importlib.import_module("cupyx")
    if not hasattr(cupyx, "allow_synchronize"):
        pytest.skip("this CuPy has no cupyx.allow_synchronize")
    return cupyx.allow_synchronize(False)


class Peeks(sn.Layer):
    """A planted fault: a layer that reads a value, as a debug print would."""

    def forward(self, x, train=False):
        if float(x.max()) > 1e6:
            pass
        return x, None


STEP_NETS = sorted(NETS) + ["cnn-dropout"]


def step_network(cuda_xp, name):
    """(network on cuda, x, y) for one of NETS, or a CNN with batch-norm and dropout (a mask
    drawn on the device each step)."""
    rng = numpy.random.default_rng(0)
    if name == "cnn-dropout":
        net = sn.Network(cnn()[:-2] + [sn.Dropout(0.5), sn.Dense(6, 3), sn.Softmax()],
                         sn.CategoricalCrossEntropy(), device="cuda")
        x = rng.standard_normal((8, 1, 8, 8))
    else:
        layers, loss, penalty, _, _ = NETS[name]
        net = sn.Network(layers(), loss(), regularizer=penalty, device="cuda")
        x = rng.standard_normal((8, 12))
    y = numpy.eye(3)[rng.integers(0, 3, 8)]
    return net, cuda_xp.asarray(x, dtype=numpy.float32), cuda_xp.asarray(y, dtype=numpy.float32)


@pytest.mark.parametrize("name", STEP_NETS)
def test_a_training_step_makes_no_device_to_host_copy(cuda_xp, name):
    net, x, y = step_network(cuda_xp, name)
    for opt in (sn.SGD(lr=0.1), sn.SGD(lr=0.1, momentum=0.9, nesterov=True), sn.Adam()):
        net.train_step(x, y, opt, n=100)            # first calls compile kernels: outside
        with forbid_sync():
            for _ in range(3):
                net.train_step(x, y, opt, n=100)


def test_the_guard_catches_a_layer_that_reads_a_value(cuda_xp):
    cupyx = importlib.import_module("cupyx")
    net = sn.Network([sn.Dense(12, 3), Peeks(), sn.Sigmoid()], sn.Quadratic(), device="cuda")
    x, y = (cuda_xp.asarray(a, dtype=numpy.float32) for a in (matrices(0, 4, 12),
                                                              numpy.eye(3)[[0, 1, 2, 0]]))
    with pytest.raises(cupyx.DeviceSynchronized):
        with forbid_sync():
            net.train_step(x, y, sn.SGD(lr=0.1), n=4)


class ForbidSyncInEpochs(sn.Callback):
    """Forbids synchronisation from each epoch's start to its last batch: every step fit
    takes, and its per-batch bookkeeping, run inside the guard; the epoch's end-of-epoch
    metrics (one copy per epoch, by design) outside."""

    def __init__(self):
        self.guard = None

    def on_epoch_begin(self, epoch, logs=None):
        self.guard = forbid_sync()
        self.guard.__enter__()

    def on_batch_end(self, batch, logs=None):
        if batch + 1 == self.params["steps"]:
            self.release()

    def release(self):
        if self.guard is not None:
            self.guard.__exit__(None, None, None)
            self.guard = None


class ReadsEachBatch(sn.Callback):
    """A planted fault: a callback that reads a weight after every batch."""

    def on_batch_end(self, batch, logs=None):
        float(self.model.layers[0].params["b"][0])


@pytest.mark.parametrize("planted", [False, True], ids=["fit", "planted-read"])
def test_fit_copies_nothing_to_the_host_between_the_first_and_last_step(cuda_xp, planted):
    cupyx = importlib.import_module("cupyx")
    X, y = blobs(200, 2)
    net = sn.Network([sn.Dense(12, 8), sn.Sigmoid(), sn.Dense(8, 3), sn.Sigmoid()],
                     sn.Quadratic(), device="cuda")
    net.fit((X, y), epochs=1, batch_size=10, optimizer=sn.SGD(lr=1.0))    # compile kernels
    guard = ForbidSyncInEpochs()
    callbacks = [guard, ReadsEachBatch()] if planted else [guard]
    raises = pytest.raises(cupyx.DeviceSynchronized) if planted else contextlib.nullcontext()
    try:
        with raises:
            net.fit((X, y), epochs=2, batch_size=10, optimizer=sn.SGD(lr=1.0),
                    callbacks=callbacks)
    finally:
        guard.release()


def test_the_cuda_profiler_counts_no_copy_to_the_host_in_training_steps(cuda_xp):
    """CUPTI (through PyTorch's profiler) sees every copy the process makes, CuPy's too."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch cannot use CUDA here, and its profiler is the counter")
    from torch.profiler import ProfilerActivity, profile

    def copies_to_host(work):
        cuda_xp.cuda.Device().synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            work()
            cuda_xp.cuda.Device().synchronize()
        return sum(e.count for e in prof.key_averages() if e.key.startswith("Memcpy DtoH"))

    net, x, y = step_network(cuda_xp, "cnn-dropout")
    opt = sn.SGD(lr=0.1, momentum=0.9)
    net.train_step(x, y, opt, n=100)
    planted = copies_to_host(lambda: [float(x.sum()) for _ in range(5)])
    if planted < 5:
        pytest.skip(f"the profiler saw {planted} of 5 planted copies: it does not record "
                    "CuPy's copies on this machine")
    assert copies_to_host(lambda: [net.train_step(x, y, opt, n=100) for _ in range(5)]) == 0
