"""Optimisers: each owns its learning rate and its state, and has one ``step``.

``step(params, grads)`` updates every array in ``params`` in place, where both are
dicts keyed by the network's parameter names ("layers.0.W"). Gradients are those
of the mean cost over the mini-batch, so plain SGD is Nielsen's update rule

    w → w - (η/m) Σ_x ∂C_x/∂w        (eq. 20, with the 1/m already inside ∂C/∂w)

A schedule (a callback, see ``callbacks``) may change ``optimizer.lr`` between epochs;
nothing else does.
"""
import math
import numbers


def _check(name, value, low=0.0, high=None, strict=False):
    """A finite number in the stated range, or a ValueError naming the setting."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if strict else value >= low) and (high is None or value < high)
    if not ok:
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} {low}"
                         + (f" and < {high}" if high is not None else "") + f", got {value!r}")
    return float(value)


def _is_weight(key):
    return key.endswith(".W")


class Optimizer:
    """The base class: an optimiser owns its learning rate ``lr`` and its state, and has one
    ``step(params, grads)`` that updates ``params`` in place."""

    lr = None

    def step(self, params, grads):
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum (Nielsen ch. 3) and weight decay.

        g ← g + wd·w                      (weights only, biases are not decayed)
        v ← μ v + g                       (momentum, μ = ``momentum``; PyTorch's form)
        w ← w - η (g + μ v)   if nesterov  else   w ← w - η v
    With μ = 0 this is plain SGD: w ← w - η g.
    """

    def __init__(self, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        self.lr = _check("SGD: lr", lr, strict=True)
        self.momentum = _check("SGD: momentum", momentum, high=1.0)
        self.weight_decay = _check("SGD: weight_decay", weight_decay)
        if nesterov and self.momentum == 0:
            raise ValueError("SGD: nesterov=True needs momentum > 0")
        self.nesterov = bool(nesterov)
        self.velocity = {}

    def step(self, params, grads):
        """Update ``params`` in place. The arrays in ``grads`` are fresh ones that each
        layer's backward made for this step, so they may be changed in place."""
        lr, mu = self.lr, self.momentum
        for key, g in grads.items():
            w = params[key]
            if self.weight_decay and _is_weight(key):
                g += self.weight_decay * w
            if mu:
                v = self.velocity.get(key)
                if v is None:
                    v = self.velocity[key] = g.copy()
                else:
                    v *= mu
                    v += g
                w -= lr * (g + mu * v if self.nesterov else v)
            else:
                g *= lr                 # in place (g is this step's own array): no temporary
                w -= g


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), with decoupled weight decay (AdamW) when ``weight_decay`` > 0.

        m ← β1 m + (1 - β1) g          v ← β2 v + (1 - β2) g²          t ← t + 1
        w ← w - η · m̂ / (√v̂ + ε),      m̂ = m / (1 - β1^t),  v̂ = v / (1 - β2^t)
        w ← w - η·wd·w                  (weights only)
    """

    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
        self.lr = _check("Adam: lr", lr, strict=True)
        self.beta1 = _check("Adam: beta1", beta1, high=1.0)
        self.beta2 = _check("Adam: beta2", beta2, high=1.0)
        self.eps = _check("Adam: eps", eps, strict=True)
        self.weight_decay = _check("Adam: weight_decay", weight_decay)
        self.m, self.v, self.t = {}, {}, 0

    def step(self, params, grads):
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        # Fold both bias corrections into one step size: η √(1-β2^t) / (1-β1^t).
        step = self.lr * (1.0 - b2 ** self.t) ** 0.5 / (1.0 - b1 ** self.t)
        eps_hat = self.eps * (1.0 - b2 ** self.t) ** 0.5
        for key, g in grads.items():
            w = params[key]
            if key not in self.m:
                self.m[key], self.v[key] = g * 0, g * 0
            m, v = self.m[key], self.v[key]
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * (g * g)
            if self.weight_decay and _is_weight(key):
                w *= 1.0 - self.lr * self.weight_decay
            w -= step * m / (v ** 0.5 + eps_hat)
