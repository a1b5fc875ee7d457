"""Shared fixtures: the array backends present on this machine.

Every backend-dependent test takes the ``xp`` fixture: numpy always, cupy when a
CUDA device is present (skipped, not failed, without one).
"""
import pytest

from scratchnet.backend import cuda_available, get_array_module


def _backends():
    return [pytest.param("cpu", id="numpy"),
            pytest.param("cuda", id="cupy", marks=pytest.mark.skipif(
                not cuda_available(), reason="no CUDA device / CuPy"))]


@pytest.fixture(scope="session", params=_backends())
def device(request):
    return request.param


@pytest.fixture(scope="session")
def xp(device):
    return get_array_module(device)
