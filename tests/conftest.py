"""Shared fixtures: the array backends present on this machine.

Every backend-dependent test takes the ``xp`` fixture: numpy always, cupy when a
CUDA device is present (skipped, not failed, without one).
"""
import os

import pytest
from hypothesis import settings

from scratchnet.backend import cuda_available, get_array_module


# CI replays the same examples on every run (derandomize), so a red build is always
# reproducible; `pytest --hypothesis-profile=thorough` explores many more locally.
settings.register_profile("ci", derandomize=True)
settings.register_profile("thorough", max_examples=400)
if os.environ.get("CI"):
    settings.load_profile("ci")


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
