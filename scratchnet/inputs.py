"""Data at the boundary: what a user hands to ``fit``, ``evaluate`` and ``predict``, checked
once and copied to the network's device once, so that the training loop can trust it.

    X, targets, labels = prepare(network, (X, y), "training_data")

Labels y (N,) become one-hot targets (N, k) for a network with k > 1 outputs (a column of
0/1 for one output); targets (N, k) are taken as they are, their argmax the labels. Every
problem is a ValueError that names the argument and says what was expected.
"""
import numbers

import numpy

from .backend import to_device


def count(name, value, minimum):
    """An int argument (NumPy ints too, not bools) >= minimum, or a ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def prepare(network, data, name):
    """Validate (X, y) and copy it to the device once: returns X, targets, labels."""
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise ValueError(f"{name} must be a pair (X, y), got {type(data).__name__}")
    X, y = (a if hasattr(a, "shape") else numpy.asarray(a) for a in data)
    if X.ndim < 1 or y.ndim < 1 or len(X) != len(y):
        raise ValueError(f"{name}: X has shape {tuple(X.shape)} and y {tuple(y.shape)}: "
                         "they need one row per example")
    if len(X) == 0:
        raise ValueError(f"{name} is empty")
    X = check_inputs(network, X, name)
    n_out = int(network.feedforward(X[:1]).shape[1])
    y = to_device(y, network.xp)
    if y.ndim == 1:
        if y.dtype.kind not in "iu":
            raise ValueError(f"{name}: 1-D y must hold integer class labels, got {y.dtype}")
        top = max(n_out, 2)
        if int(y.min()) < 0 or int(y.max()) >= top:
            raise ValueError(f"{name}: labels must lie in 0..{top - 1} for a network with "
                             f"{n_out} output(s), got {int(y.min())}..{int(y.max())}")
        labels = y
        targets = (y[:, None] == network.xp.arange(n_out)).astype(network.dtype) if n_out > 1 \
            else y[:, None].astype(network.dtype)
    elif y.ndim == 2 and y.shape[1] == n_out:
        if y.dtype.kind not in "biuf" or not bool(network.xp.isfinite(y).all()):
            raise ValueError(f"{name}: targets y must be finite numbers")
        targets = y.astype(network.dtype)
        labels = targets.argmax(axis=1) if n_out > 1 else (targets[:, 0] > 0.5)
    else:
        raise ValueError(f"{name}: y must be labels (N,) or targets (N, {n_out}), "
                         f"got shape {tuple(y.shape)}")
    return X, targets, labels


def check_inputs(network, X, name):
    """X (a NumPy or device array, or a nested list) as a device array of the network's
    dtype, after checking its shape per example and that it holds finite numbers."""
    if not hasattr(X, "shape"):
        X = numpy.asarray(X)
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{name}: inputs must be numbers, got dtype {X.dtype}")
    expected = getattr(network.layers[0], "input_shape", None)
    shape = tuple(X.shape[1:])
    if X.ndim < 1:
        raise ValueError(f"{name}: inputs must be an array of rows, got a single number")
    if expected is not None and (len(shape) != len(expected) or any(
            e is not None and e != s for e, s in zip(expected, shape))):
        raise ValueError(f"{name}: inputs have shape {shape} per example, the first layer "
                         f"expects {tuple(expected)}")
    X = to_device(X, network.xp, network.dtype)
    if not bool(network.xp.isfinite(X).all()):
        raise ValueError(f"{name}: inputs contain NaN or infinity")
    return X
