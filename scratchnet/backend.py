"""The array module: NumPy on the CPU, CuPy on a CUDA GPU.

Every numeric line in scratchnet is written once, against ``xp`` — the array
module — and runs on either backend. This is the only file that names cupy
(after Chainer's ``get_array_module`` and thinc's ``ops``). The device is chosen
by the caller, once, when a network is built; nothing here is global.

    xp = get_array_module("cpu")     # numpy
    xp = get_array_module("cuda")    # cupy, or a clear error if it is missing
"""
import os

import numpy

DEVICES = ("cpu", "cuda")
DTYPES = {"float32": numpy.float32, "float64": numpy.float64}


def resolve_device(device=None):
    """The device name to use: ``device`` if given, else ``$SCRATCHNET_DEVICE``, else "cpu"."""
    name = "device"
    if device is None:
        name, device = "$SCRATCHNET_DEVICE", os.environ.get("SCRATCHNET_DEVICE", "") or "cpu"
    if device not in DEVICES:
        raise ValueError(f"{name} must be one of {DEVICES}, got {device!r}")
    return device


def resolve_dtype(dtype="float32"):
    """float32 (the default) or float64 (for gradient checks), as a NumPy dtype."""
    name = numpy.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return numpy.dtype(DTYPES[name])


def _import_cupy():
    try:
        import cupy
    except ImportError as e:
        raise RuntimeError(
            "device 'cuda' needs CuPy: pip install 'scratchnet[cuda12]' or '[cuda13]' (the "
            f"CUDA major version nvidia-smi shows); import failed: {e}"
        ) from None
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("device 'cuda' asked for, but CuPy sees no CUDA device")
    except cupy.cuda.runtime.CUDARuntimeError as e:
        raise RuntimeError(f"device 'cuda' asked for, but CUDA is not usable: {e}") from None
    return cupy


def get_array_module(device=None):
    """numpy for "cpu", cupy for "cuda" (device=None reads $SCRATCHNET_DEVICE)."""
    if resolve_device(device) == "cuda":
        return _import_cupy()
    return numpy


def cuda_available():
    """True when CuPy imports and sees at least one CUDA device."""
    try:
        _import_cupy()
    except RuntimeError:
        return False
    return True


def array_module_of(a):
    """The module an array belongs to (cupy arrays carry ``__cuda_array_interface__``)."""
    if hasattr(a, "__cuda_array_interface__"):
        return _import_cupy()
    return numpy


def device_of(xp):
    """"cuda" for cupy, "cpu" for numpy."""
    return "cpu" if xp is numpy else "cuda"


def to_device(a, xp, dtype=None):
    """Copy a host (or device) array to the device of ``xp`` — a host-to-device copy for cupy."""
    return xp.asarray(a, dtype=dtype)


def to_numpy(a):
    """Copy an array back to the host as a NumPy array (a device-to-host copy for cupy)."""
    if hasattr(a, "__cuda_array_interface__"):
        return a.get()
    return numpy.asarray(a)


def random_generator(xp, seed):
    """A random generator that makes arrays on the device of ``xp`` (for dropout masks)."""
    return xp.random.default_rng(seed)
