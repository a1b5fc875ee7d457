"""Shared fixtures: the array backends present on this machine.

Every backend-dependent test takes the ``xp`` (or ``device``) fixture: numpy always, cupy
when CuPy can use a CUDA device, skipped with the reason otherwise. Tests that only make
sense on a GPU take ``cuda_xp`` (tests/test_gpu.py).

``SCRATCHNET_REQUIRE_CUDA=1`` (what benchmarks/gpu_check.py sets) turns "CuPy cannot use a
GPU" from a skip into an error that stops the run before any test: on a GPU machine a
missing or broken CuPy must not pass as a green run of the NumPy half.
"""
import os

import pytest
from hypothesis import settings

from scratchnet.backend import get_array_module

# CI replays the same examples on every run (derandomize), so a red build is always
# reproducible; `pytest --hypothesis-profile=thorough` explores ten times more locally: every
# property test asks for a fraction of the profile's max_examples (strategies.examples).
settings.register_profile("ci", derandomize=True)
settings.register_profile("thorough", max_examples=1000)
if os.environ.get("CI"):
    settings.load_profile("ci")


def _cuda_problem():
    """Why the cupy backend cannot run here (backend's one-line message), or None if it can."""
    try:
        get_array_module("cuda")
    except RuntimeError as e:
        return str(e)
    return None


CUDA_PROBLEM = _cuda_problem()
REQUIRE_CUDA = os.environ.get("SCRATCHNET_REQUIRE_CUDA", "") not in ("", "0")


def pytest_configure(config):
    if REQUIRE_CUDA and CUDA_PROBLEM:
        raise pytest.UsageError(f"SCRATCHNET_REQUIRE_CUDA is set, but the cupy backend cannot "
                                f"run: {CUDA_PROBLEM}")


def _backends():
    return [pytest.param("cpu", id="numpy"),
            pytest.param("cuda", id="cupy", marks=pytest.mark.skipif(
                CUDA_PROBLEM is not None, reason=f"cupy backend: {CUDA_PROBLEM}"))]


@pytest.fixture(scope="session", params=_backends())
def device(request):
    return request.param


@pytest.fixture(scope="session")
def xp(device):
    return get_array_module(device)


@pytest.fixture(scope="session")
def cuda_xp():
    """The cupy module, for tests that only make sense on a GPU (skipped without one)."""
    if CUDA_PROBLEM is not None:
        pytest.skip(f"needs a CUDA GPU: {CUDA_PROBLEM}")
    return get_array_module("cuda")
