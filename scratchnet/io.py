"""Model files: a network's arrays in an ``.npz`` and its architecture as JSON metadata.

No pickle anywhere: arrays are stored as plain ``.npy`` members and read with
``allow_pickle=False``; the metadata is a JSON string stored as a unicode array
under the key "metadata". It records the format version, the dtype, each layer's
type and constructor arguments, the cost and regulariser, and the shape and
SHA-256 of every array, so a truncated, tampered-with or mismatched file is
refused with a message that names it. Writes are atomic: a temporary file in the
same folder, fsync, then ``os.replace`` — a crash leaves the old file intact.

Array keys are the network's parameter names, "layers.0.W", "layers.0.b", …
"""
import hashlib
import json
import zipfile
from pathlib import Path

import numpy

from . import activations, layers, losses
from .backend import to_numpy
from .conv import Conv2D, MaxPool2D
from .dropout import Dropout
from .files import atomic_write
from .network import Network
from .normalization import BatchNorm

FORMAT, VERSION = "scratchnet-model", 1

# Everything a model file may name, by class name: a plain table, no registration magic.
LAYER_TYPES = {cls.__name__: cls for cls in (
    layers.Dense, layers.Flatten, activations.Sigmoid, activations.ReLU, activations.Tanh,
    activations.Softmax, activations.LogSoftmax,
    Conv2D, MaxPool2D, Dropout, BatchNorm)}
LOSS_TYPES = {cls.__name__: cls for cls in losses.LOSSES.values()}
REGULARIZER_TYPES = {"L2": losses.L2, "L1": losses.L1}


class ModelFileError(ValueError):
    """A model file that cannot be used; the message starts with the file's path."""


def _digest(array):
    return hashlib.sha256(numpy.ascontiguousarray(array).tobytes()).hexdigest()


def save(network, path, info=None):
    """Write ``network`` to ``path`` (.npz). ``info``: extra JSON-able facts to keep
    (e.g. the test accuracy and the hyper-parameters it was trained with)."""
    arrays = {k: to_numpy(v) for k, v in {**network.parameters(), **network.states()}.items()}
    reg = network.regularizer
    metadata = {
        "format": FORMAT, "version": VERSION, "dtype": network.dtype.name,
        "layers": [{"type": type(layer).__name__, "config": layer.config()}
                   for layer in network.layers],
        "loss": type(network.loss).__name__,
        "regularizer": None if reg is None else {"type": type(reg).__name__, "lmbda": reg.lmbda},
        "arrays": {k: {"shape": list(a.shape), "sha256": _digest(a)} for k, a in arrays.items()},
        "info": info or {},
    }
    for layer in metadata["layers"]:
        if layer["type"] not in LAYER_TYPES:
            raise ValueError(f"cannot save layer type {layer['type']}: not in io.LAYER_TYPES")
    arrays["metadata"] = numpy.array(json.dumps(metadata))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: numpy.savez(f, **arrays))


def read(path):
    """(metadata dict, {key: numpy array}) from a model file, every array checked
    against the metadata's shape and SHA-256."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    try:
        with numpy.load(path, allow_pickle=False) as npz:
            contents = {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as e:
        raise ModelFileError(f"{path}: not a readable .npz model file "
                             f"(truncated or corrupted?): {e}") from None
    try:
        metadata = json.loads(str(contents.pop("metadata")))
    except (KeyError, ValueError) as e:
        raise ModelFileError(f"{path}: missing or unreadable metadata: {e}") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a scratchnet model file")
    if metadata.get("version") != VERSION:
        raise ModelFileError(f"{path}: model format version {metadata.get('version')!r}, "
                             f"this scratchnet reads version {VERSION}")
    expected = metadata.get("arrays", {})
    if set(expected) != set(contents):
        raise ModelFileError(f"{path}: arrays {sorted(contents)} do not match the metadata's "
                             f"{sorted(expected)}")
    for key, array in contents.items():
        if list(array.shape) != expected[key]["shape"]:
            raise ModelFileError(f"{path}: {key} has shape {array.shape}, metadata says "
                                 f"{tuple(expected[key]['shape'])}")
        if _digest(array) != expected[key]["sha256"]:
            raise ModelFileError(f"{path}: {key} does not match its checksum (file was altered)")
    return metadata, contents


def load(path, device=None, dtype=None):
    """Rebuild the saved network (on ``device``; in its saved dtype unless ``dtype``)."""
    metadata, arrays = read(path)
    try:
        net_layers = [LAYER_TYPES[spec["type"]](**spec["config"]) for spec in metadata["layers"]]
        loss = LOSS_TYPES[metadata["loss"]]()
        reg = metadata["regularizer"]
        regularizer = None if reg is None else REGULARIZER_TYPES[reg["type"]](reg["lmbda"])
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"{path}: cannot rebuild the architecture: {e!r}") from None
    network = Network(net_layers, loss, regularizer, device=device,
                      dtype=dtype or metadata["dtype"])
    load_weights(network, path, _contents=arrays)
    network.info = metadata.get("info", {})
    return network


def load_weights(network, path, _contents=None):
    """Copy a model file's arrays into an existing network of the same architecture."""
    arrays = _contents if _contents is not None else read(path)[1]
    live = {**network.parameters(), **network.states()}
    if set(live) != set(arrays):
        raise ModelFileError(f"{path}: holds arrays {sorted(arrays)}, the network has "
                             f"{sorted(live)}: a model for another architecture")
    for key, array in arrays.items():
        if tuple(live[key].shape) != array.shape:
            raise ModelFileError(f"{path}: {key} has shape {array.shape}, the network's is "
                                 f"{tuple(live[key].shape)}: a model for another architecture")
    network.set_weights(arrays)
