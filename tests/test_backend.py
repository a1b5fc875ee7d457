"""The array-module abstraction: device and dtype choice, copies, and the same results
on every backend present."""
import numpy
import pytest

import scratchnet as sn
from scratchnet import backend


def test_cpu_is_numpy_and_default(monkeypatch):
    monkeypatch.delenv("SCRATCHNET_DEVICE", raising=False)
    assert backend.get_array_module() is numpy
    assert backend.get_array_module("cpu") is numpy


def test_device_from_environment(monkeypatch):
    monkeypatch.setenv("SCRATCHNET_DEVICE", "gpu")
    with pytest.raises(ValueError, match="device must be one of"):
        backend.get_array_module()


def test_cuda_without_cupy_is_a_clear_error():
    if backend.cuda_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(RuntimeError, match="cuda"):
        sn.Network([sn.Dense(2, 2)], loss=sn.Quadratic(), device="cuda")


@pytest.mark.parametrize("dtype, expected", [("float32", numpy.float32), ("float64", numpy.float64),
                                             (numpy.float64, numpy.float64)])
def test_dtypes(dtype, expected):
    assert backend.resolve_dtype(dtype) == expected


def test_other_dtypes_are_refused():
    with pytest.raises(ValueError, match="float32"):
        backend.resolve_dtype("float16")


def test_to_device_and_back(xp):
    a = numpy.arange(6.0).reshape(2, 3)
    d = backend.to_device(a, xp, numpy.float32)
    assert backend.array_module_of(d) is xp and d.dtype == numpy.float32
    numpy.testing.assert_array_equal(backend.to_numpy(d), a)


def test_backends_agree_on_a_short_run(device):
    """The same seed gives the same training on every backend, to float32 rounding."""
    rng = numpy.random.default_rng(0)
    X, y = rng.standard_normal((300, 8)).astype(numpy.float32), rng.integers(0, 3, 300)
    results = []
    for dev in ("cpu", device):
        net = sn.Network([sn.Dense(8, 6), sn.Sigmoid(), sn.Dense(6, 3), sn.Sigmoid()],
                         loss=sn.Quadratic(), device=dev, seed=1)
        h = net.fit((X, y), epochs=2, batch_size=10, optimizer=sn.SGD(lr=1.0), seed=2)
        results.append((h["loss"], net.predict(X)))
    numpy.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-4)
    numpy.testing.assert_allclose(results[0][1], results[1][1], atol=1e-4)


def test_only_backend_uses_cupy():
    import pathlib
    import re
    for path in pathlib.Path(sn.__file__).parent.glob("*.py"):
        if path.name != "backend.py":
            assert not re.search(r"import cupy|cupy\.", path.read_text()), path.name
