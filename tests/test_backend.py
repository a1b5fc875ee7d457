"""The array-module abstraction: device and dtype choice, copies, and what a missing GPU does.
(The backends' agreement on training and on each layer: tests/test_gpu.py.)"""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy
import pytest
from conftest import CUDA_PROBLEM

import scratchnet as sn
from scratchnet import backend


def test_cpu_is_numpy_and_default(monkeypatch):
    monkeypatch.delenv("SCRATCHNET_DEVICE", raising=False)
    assert backend.get_array_module() is numpy
    assert backend.get_array_module("cpu") is numpy


def test_device_from_environment(monkeypatch):
    monkeypatch.setenv("SCRATCHNET_DEVICE", "gpu")
    with pytest.raises(ValueError, match=r"\$SCRATCHNET_DEVICE must be one of .*got .gpu."):
        backend.get_array_module()


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is installed")
def test_cuda_without_cupy_names_the_extras_to_install():
    with pytest.raises(RuntimeError, match=r"needs CuPy: pip install 'scratchnet\[cuda12\]' or "
                                           r"'\[cuda13\]'"):
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


@pytest.mark.skipif(CUDA_PROBLEM is None, reason="the cupy backend runs here")
def test_requiring_cuda_without_it_stops_pytest_before_any_test(tmp_path):
    """SCRATCHNET_REQUIRE_CUDA=1 (benchmarks/gpu_check.sh) makes a cupy backend that cannot
    run an error naming why, not a skip of every cupy test."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"{Path(__file__).parent}/test_backend.py::test_dtypes"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**os.environ, "SCRATCHNET_REQUIRE_CUDA": "1"})
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert "passed" not in result.stdout
    assert f"SCRATCHNET_REQUIRE_CUDA is set, but the cupy backend cannot run: {CUDA_PROBLEM}" \
        in result.stderr


def test_only_backend_uses_cupy():
    import pathlib
    import re
    for path in pathlib.Path(sn.__file__).parent.glob("*.py"):
        if path.name != "backend.py":
            assert not re.search(r"import cupy|cupy\.", path.read_text()), path.name
