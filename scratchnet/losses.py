"""Cost functions and weight penalties.

A cost is a tiny class, as in Nielsen's network2.py. For a mini-batch of N rows,
``a`` the network's output and ``y`` the desired output (both (N, k)):

    value(xp, a, y)   C = (1/N) Σ_x C_x            the mean cost over the batch
    grad(xp, a, y)    ∂C/∂a                         (N, k), includes the 1/N
    delta(xp, a, y)   δ^L = ∂C/∂z^L                 only for a cost that names an
                                                    output activation it pairs with

A cost with ``pairs_with`` set gives the output error δ^L directly when the network
ends in that activation: σ'(z) cancels (Nielsen eq. 66) and the network skips the
activation's backward. Any other ending goes through ``grad`` and the chain rule.
"""
from .activations import LogSoftmax, Sigmoid, Softmax


class Quadratic:
    """C_x = ½‖a - y‖².  ∂C/∂a = (a - y)/N.  (With a sigmoid output this gives
    Nielsen's δ^L = (a - y) ⊙ σ'(z), the σ' coming from the Sigmoid layer's backward.)"""

    pairs_with = None

    def value(self, xp, a, y):
        d = a - y
        return 0.5 * xp.vdot(d, d) / a.shape[0]

    def grad(self, xp, a, y):
        d = a - y
        d *= 1.0 / a.shape[0]
        return d


class CrossEntropy:
    """Nielsen ch. 3: C_x = -Σ_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)], for sigmoid outputs.

    With a = σ(z): δ^L = ∂C/∂z = (a - y)/N — the σ' that slows learning is gone.
    For ``value`` and ``grad``, a is clipped into [tiny, 1 - ε] so that a saturated
    sigmoid costs a large finite number, not inf; ``delta`` needs no clipping.
    """

    pairs_with = Sigmoid

    def _clipped(self, xp, a):
        eps = xp.finfo(a.dtype).eps
        return xp.clip(a, xp.finfo(a.dtype).tiny, 1.0 - eps)

    def value(self, xp, a, y):
        a = self._clipped(xp, a)
        return -(y * xp.log(a) + (1.0 - y) * xp.log1p(-a)).sum() / a.shape[0]

    def grad(self, xp, a, y):
        a = self._clipped(xp, a)
        return (a - y) / (a * (1.0 - a)) / a.shape[0]

    def delta(self, xp, a, y):
        return (a - y) / a.shape[0]


class BinaryCrossEntropy(CrossEntropy):
    """Cross-entropy of a one-output yes/no classifier: a = σ(z) = P(yes), y ∈ {0, 1}, shape (N, 1).
    The same formula as ``CrossEntropy``, named for what it is used for."""


class CategoricalCrossEntropy:
    """The softmax form: C_x = -Σ_j y_j ln a_j, y one-hot.  With a = softmax(z):
    δ^L = (a - y)/N (Nielsen eq. 81).  ``value``/``grad`` clip a at the smallest float."""

    pairs_with = Softmax

    def value(self, xp, a, y):
        return -(y * xp.log(xp.maximum(a, xp.finfo(a.dtype).tiny))).sum() / a.shape[0]

    def grad(self, xp, a, y):
        return -y / xp.maximum(a, xp.finfo(a.dtype).tiny) / a.shape[0]

    def delta(self, xp, a, y):
        return (a - y) / a.shape[0]


class NLL:
    """Negative log-likelihood of log-probabilities a = log softmax(z): C_x = -Σ_j y_j a_j.
    ∂C/∂a = -y/N; with a log-softmax output, δ^L = (e^a - y)/N. Exact: no log is taken here."""

    pairs_with = LogSoftmax

    def value(self, xp, a, y):
        return -(y * a).sum() / a.shape[0]

    def grad(self, xp, a, y):
        return -y / a.shape[0]

    def delta(self, xp, a, y):
        return (xp.exp(a) - y) / a.shape[0]


LOSSES = {"quadratic": Quadratic, "cross-entropy": CrossEntropy,
          "binary-cross-entropy": BinaryCrossEntropy,
          "categorical-cross-entropy": CategoricalCrossEntropy, "nll": NLL}


class L2:
    """Nielsen's L2 regularisation (eq. 85): C = C0 + (λ/2n) Σ_w w².

    n is the size of the *training set* (not the mini-batch), so that λ means the
    same whatever the batch size; the network passes it in. Only weights ("W")
    are penalised, not biases. ∂/∂w = (λ/n) w: SGD's "weight decay" w → (1 - ηλ/n) w.
    """

    def __init__(self, lmbda):
        if not lmbda >= 0:
            raise ValueError(f"L2: lmbda must be >= 0, got {lmbda!r}")
        self.lmbda = float(lmbda)

    def value(self, xp, weights, n):
        return 0.5 * self.lmbda / n * sum(xp.vdot(w, w) for w in weights)

    def grad(self, xp, w, n):
        return (self.lmbda / n) * w


class L1:
    """L1 regularisation (Nielsen eq. 95): C = C0 + (λ/n) Σ_w |w|;  ∂/∂w = (λ/n) sgn(w).
    n is the training-set size; only weights are penalised."""

    def __init__(self, lmbda):
        if not lmbda >= 0:
            raise ValueError(f"L1: lmbda must be >= 0, got {lmbda!r}")
        self.lmbda = float(lmbda)

    def value(self, xp, weights, n):
        return self.lmbda / n * sum(xp.abs(w).sum() for w in weights)

    def grad(self, xp, w, n):
        return (self.lmbda / n) * xp.sign(w)
