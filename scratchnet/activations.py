"""Activation functions, each beside its derivative, and the layers that apply them.

The functions take the array module ``xp`` first, so they run on NumPy and CuPy
alike; each layer's backward writes the derivative in terms of its output a.
All are numerically stable: no overflow warnings at |z| = 1000.

    sigmoid(z)     = 1 / (1 + e^-z)           σ'(z) = σ(z)(1 - σ(z))
    relu(z)        = max(0, z)                relu'(z) = [z > 0]
    tanh(z)                                   tanh'(z) = 1 - tanh²(z)
    softmax(z)_j   = e^z_j / Σ_k e^z_k        (row-wise)
    log_softmax(z) = z - log Σ_k e^z_k        (row-wise)
"""
from .layers import Layer


def sigmoid(xp, z):
    """σ(z) = ½(1 + tanh(z/2)): the same function, but tanh never overflows."""
    a = xp.multiply(z, 0.5)
    xp.tanh(a, out=a)
    a += 1.0
    a *= 0.5
    return a


def sigmoid_prime(xp, z):
    """σ'(z) = σ(z)(1 - σ(z))."""
    a = sigmoid(xp, z)
    return a * (1.0 - a)


def relu(xp, z):
    return xp.maximum(z, 0)


def tanh(xp, z):
    return xp.tanh(z)


def log_softmax(xp, z):
    """z_j - log Σ_k e^z_k, computed as (z - m) - log Σ e^(z - m) with m = max_k z_k:
    the largest exponent is e^0, so nothing overflows (the log-sum-exp trick)."""
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))


def softmax(xp, z):
    """e^z_j / Σ_k e^z_k, with the max subtracted first so e^z never overflows."""
    e = xp.exp(z - z.max(axis=1, keepdims=True))
    e /= e.sum(axis=1, keepdims=True)
    return e


class Sigmoid(Layer):
    """a = σ(z).  Backward: ∂C/∂z = ∂C/∂a ⊙ a(1 - a)  (Nielsen's BP1/BP2 factor σ'(z))."""

    def forward(self, z, train=False):
        a = sigmoid(self.xp, z)
        return a, a

    def backward(self, da, a, need_dx=True):
        dz = 1.0 - a             # in place from here: three small operations, no temporaries
        dz *= a
        dz *= da
        return dz, {}


class ReLU(Layer):
    """a = max(0, z).  Backward: ∂C/∂z = ∂C/∂a ⊙ [z > 0]."""

    def forward(self, z, train=False):
        a = relu(self.xp, z)
        return a, a

    def backward(self, da, a, need_dx=True):
        return da * (a > 0), {}


class Tanh(Layer):
    """a = tanh(z).  Backward: ∂C/∂z = ∂C/∂a ⊙ (1 - a²)."""

    def forward(self, z, train=False):
        a = tanh(self.xp, z)
        return a, a

    def backward(self, da, a, need_dx=True):
        return da * (1.0 - a * a), {}


class Softmax(Layer):
    """a = softmax(z), row-wise.  Backward (Jacobian diag(a) - a·aᵀ, applied per row):
    ∂C/∂z = a ⊙ (∂C/∂a - Σ_k a_k ∂C/∂a_k)."""

    def forward(self, z, train=False):
        a = softmax(self.xp, z)
        return a, a

    def backward(self, da, a, need_dx=True):
        return a * (da - (da * a).sum(axis=1, keepdims=True)), {}


class LogSoftmax(Layer):
    """a = log softmax(z), row-wise.  Backward: ∂C/∂z = ∂C/∂a - softmax(z) Σ_k ∂C/∂a_k,
    where softmax(z) = e^a."""

    def forward(self, z, train=False):
        a = log_softmax(self.xp, z)
        return a, a

    def backward(self, da, a, need_dx=True):
        return da - self.xp.exp(a) * da.sum(axis=1, keepdims=True), {}
