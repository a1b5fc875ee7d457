"""Dropout (Srivastava et al., 2014; Nielsen ch. 3), in its "inverted" form.

In training, each input is kept with probability 1 - p and scaled by 1/(1 - p):

    y = x ⊙ m,   m_i = [u_i >= p] / (1 - p),   u_i ~ U[0, 1)

so E[y] = x, and at test time the layer is the identity (no rescaling of the weights,
as Nielsen's halving does). Backward: ∂C/∂x = ∂C/∂y ⊙ m, with the same mask m.
"""
from .backend import random_generator
from .layers import Layer


class Dropout(Layer):
    """Inverted dropout of a fraction ``p`` of the inputs, any shape (N, ...).

    The masks come from a generator on the layer's device, seeded in ``build`` from the
    network's seeded ``rng``: the same network seed gives the same masks.
    """

    def __init__(self, p=0.5):
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout: p must be a number in [0, 1), got {p!r}")
        super().__init__()
        self.p = float(p)

    def build(self, xp, rng, dtype):
        super().build(xp, rng, dtype)
        self.generator = random_generator(xp, int(rng.integers(2**63 - 1)))

    def forward(self, x, train=False):
        """Train: y = x ⊙ m (cache: m). Eval: y = x (cache: None)."""
        if not train or self.p == 0.0:
            return x, None
        mask = self.generator.random(x.shape, dtype=x.dtype) >= self.p
        m = mask.astype(x.dtype)
        m *= 1.0 / (1.0 - self.p)
        return x * m, m

    def backward(self, dy, m, need_dx=True):
        """∂C/∂x = ∂C/∂y ⊙ m (the identity in eval mode, where m is None)."""
        return (dy if m is None else dy * m), {}

    def config(self):
        return {"p": self.p}
