"""Networks to and from model files: `save`, `load`, `load_weights`.

The file format, and how a file is parsed before it is trusted, are in `modelfile`: an ``.npz``
of float arrays named by the network's parameter keys ("layers.0.W", "layers.0.b", ...) and JSON
metadata (each layer's type and constructor arguments, the cost, the regulariser), with no pickle
anywhere. Its SHA-256s detect corruption; they do not prove that a file was not tampered with
(the digests live in the same file). Writes are atomic (`files.atomic_write`).

Here: what a file may name (LAYER_TYPES, LOSS_TYPES, REGULARIZER_TYPES), and the check that the
architecture its metadata describes owns exactly the arrays the file holds, shape by shape,
before any layer is built. So metadata claiming Dense(784, 10**8) is refused at once: its
parameters would have to be in the file, whose size was checked against ``max_bytes``.

Memory bound: `load` builds the network first (its parameters, P bytes in the dtype it is
loaded in, and meanwhile one layer's float64 initial weights, drawn then divided: at most 16
bytes a parameter), then reads the arrays one at a time into it: at most 4 P in all, plus
`modelfile`'s few MiB (~36 MiB for a maximal metadata), where P is what the file's arrays take,
so at most ``max_bytes`` (default 1 GiB; twice that when a float32 file is loaded as float64).
"""
from . import activations, layers, losses
from .backend import get_array_module, resolve_dtype, to_numpy
from .conv import Conv2D, MaxPool2D
from .dropout import Dropout
from .files import MAX_BYTES
from .modelfile import FORMAT, VERSION, ModelFile, ModelFileError, read, write
from .network import Network
from .normalization import BatchNorm

__all__ = ["save", "load", "load_weights", "read", "ModelFileError", "LAYER_TYPES",
           "LOSS_TYPES", "REGULARIZER_TYPES", "PARAM_SHAPES"]

# Everything a model file may name, by class name: a plain table, no registration magic.
LAYER_TYPES = {cls.__name__: cls for cls in (
    layers.Dense, layers.Flatten, activations.Sigmoid, activations.ReLU, activations.Tanh,
    activations.Softmax, activations.LogSoftmax,
    Conv2D, MaxPool2D, Dropout, BatchNorm)}
LOSS_TYPES = {cls.__name__: cls for cls in losses.LOSSES.values()}
REGULARIZER_TYPES = {"L2": losses.L2, "L1": losses.L1}

# The arrays (parameters and state) a layer of each type owns, from its constructor's
# arguments; a type that is not here owns none. tests/test_io.py checks this table against
# the layers as they build themselves.
PARAM_SHAPES = {
    "Dense": lambda layer: {"W": (layer.n_out, layer.n_in), "b": (layer.n_out,)},
    "Conv2D": lambda layer: {"b": (layer.out_channels,), "W": (
        layer.out_channels, layer.in_channels, layer.kernel_size, layer.kernel_size)},
    "BatchNorm": lambda layer: {k: (layer.n_features,)
                                for k in ("gamma", "beta", "running_mean", "running_var")},
}


def save(network, path, info=None):
    """Write ``network`` to ``path`` (.npz). ``info``: a dict of extra JSON-able facts to keep
    (e.g. the test accuracy and the hyper-parameters it was trained with). A ValueError, and no
    file written, for weights that are NaN or infinite (naming the parameter) or for a layer,
    cost or regulariser that `load` could not rebuild."""
    if info is not None and not isinstance(info, dict):
        raise ValueError(f"cannot save {path}: info must be a dict, got {type(info).__name__}")
    reg = network.regularizer
    named = [(type(layer).__name__, LAYER_TYPES) for layer in network.layers] + [
        (type(network.loss).__name__, LOSS_TYPES)] + (
        [] if reg is None else [(type(reg).__name__, REGULARIZER_TYPES)])
    for name, table in named:
        if name not in table:
            raise ValueError(f"cannot save {path}: {name} is not one of the types a model "
                             f"file may name ({', '.join(table)})")
    metadata = {
        "format": FORMAT, "version": VERSION, "dtype": network.dtype.name,
        "layers": [{"type": type(layer).__name__, "config": layer.config()}
                   for layer in network.layers],
        "loss": type(network.loss).__name__,
        "regularizer": None if reg is None else {"type": type(reg).__name__, "lmbda": reg.lmbda},
        "info": info or {},
    }
    arrays = {k: to_numpy(v) for k, v in {**network.parameters(), **network.states()}.items()}
    write(path, metadata, arrays)


def load(path, device=None, dtype=None, *, max_bytes=MAX_BYTES):
    """Rebuild the saved network (on ``device``; in its saved dtype unless ``dtype``).
    ``max_bytes``: the most bytes of arrays the file may hold. Any problem with the file
    raises ModelFileError, whose message names it."""
    get_array_module(device)                   # the caller's own arguments: their own errors
    dtype = None if dtype is None else resolve_dtype(dtype)
    with ModelFile(path, max_bytes=max_bytes) as f:
        net_layers, loss, regularizer = _architecture(f)
        try:
            network = Network(net_layers, loss, regularizer, device=device,
                              dtype=f.metadata["dtype"] if dtype is None else dtype)
        except (TypeError, ValueError, KeyError, OverflowError) as e:   # e.g. an unknown init
            raise f.error(f"cannot rebuild the architecture: {e}") from None
        for key, array in f.arrays():          # one at a time: memory for one, not all
            network.set_weights({key: array})
    network.info = f.metadata.get("info", {})
    return network


def load_weights(network, path, *, max_bytes=MAX_BYTES):
    """Copy a model file's arrays into an existing network of the same architecture (all
    checked before the first is copied)."""
    with ModelFile(path, max_bytes=max_bytes) as f:
        live = {k: tuple(v.shape) for k, v in {**network.parameters(),
                                               **network.states()}.items()}
        if live != f.shapes:
            raise f.error(f"holds arrays {_shapes(f.shapes)}, the network has {_shapes(live)}: "
                          "a model for another architecture")
        arrays = f.read_arrays()
    network.set_weights(arrays)


def _architecture(f):
    """(layers, loss, regularizer) from the metadata, the layers not yet built: each one's
    config checked by its constructor, and the arrays it would own against the file's."""
    meta, owned, net_layers = f.metadata, {}, []
    for i, spec in enumerate(meta["layers"]):
        kind, config = spec["type"], spec["config"]
        if kind not in LAYER_TYPES:
            raise f.error(f"layer {i}: unknown layer type {kind[:40]!r} "
                          f"(known: {', '.join(LAYER_TYPES)})")
        try:
            layer = LAYER_TYPES[kind](**config)
            shapes = PARAM_SHAPES.get(kind, lambda layer: {})(layer)
            if not all(type(n) is int for shape in shapes.values() for n in shape):
                raise TypeError("sizes must be ints")   # bool passes the layers' isinstance
        except (TypeError, ValueError, OverflowError) as e:
            raise f.error(f"layer {i}: cannot build a {kind} from {str(config)[:80]}: "
                          f"{e}") from None
        for name, shape in shapes.items():
            key = f"layers.{i}.{name}"
            if f.shapes.get(key) != shape:
                held = "none" if key not in f.shapes else f"shape {f.shapes[key]}"
                raise f.error(f"layer {i}: {layer!r:.120} owns {key} of shape {shape}, the file "
                              f"holds {held}")
            owned[key] = shape
        net_layers.append(layer)
    if set(owned) != set(f.shapes):
        raise f.error(f"arrays that no layer owns: {sorted(set(f.shapes) - set(owned))[:5]}")
    reg = meta["regularizer"]
    for name, table in ((meta["loss"], LOSS_TYPES), (reg and reg["type"], REGULARIZER_TYPES)):
        if name is not None and name not in table:
            raise f.error(f"unknown cost or regularizer {name[:40]!r} (known: "
                          f"{', '.join(table)})")
    regularizer = None if reg is None else REGULARIZER_TYPES[reg["type"]](reg["lmbda"])
    return net_layers, LOSS_TYPES[meta["loss"]](), regularizer


def _shapes(shapes):
    text = str(sorted(shapes.items()))
    return text if len(text) <= 160 else text[:157] + "..."
