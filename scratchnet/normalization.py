"""Batch normalisation (Ioffe & Szegedy, 2015), for dense (N, F) and conv (N, C, H, W) inputs.

Each feature (each channel, for images) is normalised with the mean and variance of the
mini-batch — over N rows, or over the N·H·W pixels of a channel — then scaled and shifted:

    μ = mean(x),  σ² = mean((x - μ)²),  x̂ = (x - μ) / √(σ² + ε),  y = γ x̂ + β

In eval mode the batch statistics are replaced by running averages kept in ``state``
(PyTorch's convention: r ← (1 - momentum)·r + momentum·batch value, and the running
variance uses the unbiased batch variance σ²·m/(m - 1), m values per feature).
"""
from .layers import Layer


class BatchNorm(Layer):
    """Batch normalisation of ``n_features`` features (dense) or channels (conv).

    Params: gamma (F,) = 1, beta (F,) = 0.  State: running_mean (F,) = 0, running_var (F,) = 1.
    """

    def __init__(self, n_features, momentum=0.1, eps=1e-5):
        if isinstance(n_features, bool) or not isinstance(n_features, int) or n_features < 1:
            raise ValueError(f"BatchNorm: n_features must be a positive int, got {n_features!r}")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"BatchNorm: momentum must be in [0, 1], got {momentum!r}")
        if not eps > 0:
            raise ValueError(f"BatchNorm: eps must be > 0, got {eps!r}")
        super().__init__()
        self.n_features, self.momentum, self.eps = n_features, float(momentum), float(eps)

    def build(self, xp, rng, dtype):
        super().build(xp, rng, dtype)
        f = self.n_features
        self.params = {"gamma": xp.ones(f, dtype=dtype), "beta": xp.zeros(f, dtype=dtype)}
        self.state = {"running_mean": xp.zeros(f, dtype=dtype),
                      "running_var": xp.ones(f, dtype=dtype)}

    def _layout(self, x):
        """The axes to average over, and the shape that broadcasts (F,) against x."""
        if x.ndim not in (2, 4) or x.shape[1] != self.n_features:
            raise ValueError(f"BatchNorm: expected (N, {self.n_features}) or "
                             f"(N, {self.n_features}, H, W) inputs, got {tuple(x.shape)}")
        if x.ndim == 2:
            return (0,), (1, -1)
        return (0, 2, 3), (1, -1, 1, 1)

    def forward(self, x, train=False):
        """y = γ x̂ + β with batch statistics (train, updating the running ones) or the
        running statistics (eval).  Cache: (x̂, 1/√(σ² + ε), axes, train)."""
        xp = self.xp
        axes, shape = self._layout(x)
        if train:
            mean = x.mean(axis=axes)
            xc = x - mean.reshape(shape)
            var = (xc * xc).mean(axis=axes)
            m = x.size // self.n_features
            r = self.momentum
            state = self.state
            state["running_mean"] *= 1.0 - r
            state["running_mean"] += r * mean
            state["running_var"] *= 1.0 - r
            state["running_var"] += (r * m / max(m - 1, 1)) * var
        else:
            xc = x - self.state["running_mean"].reshape(shape)
            var = self.state["running_var"]
        inv_std = 1.0 / xp.sqrt(var + self.eps)
        x_hat = xc
        x_hat *= inv_std.reshape(shape)
        y = x_hat * self.params["gamma"].reshape(shape)
        y += self.params["beta"].reshape(shape)
        return y, (x_hat, inv_std, axes, train)

    def backward(self, dy, cache, need_dx=True):
        """With m values per feature and sums over the batch (and pixels):

            ∂C/∂β = Σ δ        ∂C/∂γ = Σ δ ⊙ x̂
            train:  ∂C/∂x = γ/√(σ² + ε) · (δ - mean(δ) - x̂ ⊙ mean(δ ⊙ x̂))
            eval:   ∂C/∂x = γ/√(σ² + ε) · δ          (the statistics are constants)
        """
        x_hat, inv_std, axes, train = cache
        _, shape = self._layout(dy)
        dbeta = dy.sum(axis=axes)
        dgamma = (dy * x_hat).sum(axis=axes)
        grads = {"gamma": dgamma, "beta": dbeta}
        if not need_dx:
            return None, grads
        scale = (self.params["gamma"] * inv_std).reshape(shape)
        if not train:
            return dy * scale, grads
        m = dy.size // self.n_features
        dx = x_hat * (dgamma / m).reshape(shape)
        dx += (dbeta / m).reshape(shape)
        dx = dy - dx
        dx *= scale
        return dx, grads

    def config(self):
        return {"n_features": self.n_features, "momentum": self.momentum, "eps": self.eps}
