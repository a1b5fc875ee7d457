"""Layers: each one's forward pass and, right beside it, its backward pass.

A layer maps a mini-batch to a mini-batch; rows are examples. The contract:

    y, cache = layer.forward(x, train)          # cache: what backward needs, nothing more
    dx, grads = layer.backward(dy, cache)       # dy = ∂C/∂y, dx = ∂C/∂x, grads[name] = ∂C/∂param

Nothing is stored on the layer between the two calls: the cache is returned by
``forward`` and handed back to ``backward``, so there is no stale state.
``layer.params`` holds the trainable arrays by name ("W", "b"); ``layer.state``
holds arrays that are saved but not trained (batch-norm's running statistics).
The arrays in ``grads`` are new ones made for this step: the optimiser may
scale them in place.
"""
from .initializers import initial_biases, initial_weights


class Layer:
    """Base class: a layer with no parameters that passes its input through.
    A subclass's ``__init__`` calls ``super().__init__()``, so that every layer has dicts
    ``params`` and ``state`` of its own."""

    def __init__(self):
        self.params = {}
        self.state = {}

    def build(self, xp, rng, dtype):
        """Create parameters as ``xp`` arrays of ``dtype``; ``rng`` is a numpy Generator."""
        self.xp = xp
        self.dtype = dtype
        self.params = {}
        self.state = {}

    def forward(self, x, train=False):
        return x, None

    def backward(self, dy, cache, need_dx=True):
        return dy, {}

    def config(self):
        """Constructor arguments, as JSON-able values (used to save the architecture)."""
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


class Dense(Layer):
    """A fully-connected layer: z = x·Wᵀ + b.

    Shapes: x (N, n_in), W (n_out, n_in), b (n_out,), z (N, n_out).
    W is laid out as in Nielsen's book: w_jk joins input neuron k to output neuron j,
    so row j of W holds neuron j's weights. With the batch as rows, Nielsen's
    z = w·a + b becomes z = x·Wᵀ + b. (This layout is also the faster one for
    NumPy's BLAS at MNIST sizes.) ``init`` picks the initialiser (see ``initializers``):
    "nielsen" is N(0, 1/n_in) weights and N(0, 1) biases, as network2.py does.
    """

    def __init__(self, n_in, n_out, init="nielsen"):
        for name, n in (("n_in", n_in), ("n_out", n_out)):
            if not isinstance(n, int) or n < 1:
                raise ValueError(f"Dense: {name} must be a positive int, got {n!r}")
        super().__init__()
        self.n_in, self.n_out, self.init = n_in, n_out, init
        self.input_shape = (n_in,)

    def build(self, xp, rng, dtype):
        super().build(xp, rng, dtype)
        W = initial_weights(self.init, rng, (self.n_out, self.n_in), self.n_in, self.n_out)
        b = initial_biases(self.init, rng, (self.n_out,))
        self.params = {"W": xp.asarray(W, dtype=dtype), "b": xp.asarray(b, dtype=dtype)}

    def forward(self, x, train=False):
        """z = x·Wᵀ + b.  Cache: x."""
        z = x @ self.params["W"].T
        z += self.params["b"]
        return z, x

    def backward(self, dz, x, need_dx=True):
        """Given δ = ∂C/∂z (N, n_out), Nielsen's BP3 and BP4 summed over the batch:

            ∂C/∂b = Σ_rows δ            (n_out,)
            ∂C/∂W = δᵀ·x                (n_out, n_in)   ∂C/∂w_jk = Σ_x a_k δ_j
            ∂C/∂x = δ·W                 (N, n_in)       the δ handed to the layer below (BP2)

        The first layer of a network skips ∂C/∂x (``need_dx=False``): nobody needs it.
        """
        grads = {"W": dz.T @ x, "b": dz.sum(axis=0)}
        dx = dz @ self.params["W"] if need_dx else None
        return dx, grads

    def config(self):
        return {"n_in": self.n_in, "n_out": self.n_out, "init": self.init}


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1·d2·...), e.g. conv feature maps into a Dense layer."""

    def forward(self, x, train=False):
        return x.reshape(x.shape[0], -1), x.shape

    def backward(self, dy, shape, need_dx=True):
        return dy.reshape(shape), {}
