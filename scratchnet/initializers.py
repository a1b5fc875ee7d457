"""Weight initialisers: each returns a host (NumPy) array drawn from ``rng``.

Weights are drawn on the host with a seeded ``numpy.random.Generator`` and then
copied to the device, so the same seed gives the same network on CPU and GPU.

    nielsen  W ~ N(0, 1/n_in)           network2's default: keeps z = Σ w·x + b of order 1,
                                        so sigmoid neurons start unsaturated (Nielsen ch. 3)
    large    W ~ N(0, 1)                network.py's initialiser (ch. 1)
    glorot   W ~ U(±sqrt(6/(n_in+n_out)))  Glorot & Bengio, for tanh / softmax layers
    he       W ~ N(0, 2/n_in)           He et al., for ReLU layers
"""
import numpy


def nielsen(rng, shape, fan_in, fan_out):
    return rng.standard_normal(shape) / numpy.sqrt(fan_in)


def large(rng, shape, fan_in, fan_out):
    return rng.standard_normal(shape)


def glorot(rng, shape, fan_in, fan_out):
    limit = numpy.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


def he(rng, shape, fan_in, fan_out):
    return rng.standard_normal(shape) * numpy.sqrt(2.0 / fan_in)


WEIGHT_INITIALIZERS = {"nielsen": nielsen, "large": large, "glorot": glorot, "he": he}


def initial_weights(name, rng, shape, fan_in, fan_out):
    """Draw weights of ``shape`` with the initialiser called ``name``."""
    if name not in WEIGHT_INITIALIZERS:
        raise ValueError(f"init must be one of {sorted(WEIGHT_INITIALIZERS)}, got {name!r}")
    return WEIGHT_INITIALIZERS[name](rng, shape, fan_in, fan_out)


def initial_biases(name, rng, shape):
    """Nielsen's networks start biases at N(0, 1); the modern initialisers at zero."""
    if name in ("nielsen", "large"):
        return rng.standard_normal(shape)
    return numpy.zeros(shape)
