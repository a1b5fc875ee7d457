"""Gradient checking: compare backprop's gradients with numerical ones.

For a scalar function C(θ), the central difference

    ∂C/∂θ_i ≈ [C(θ + ε e_i) - C(θ - ε e_i)] / 2ε          (error O(ε²))

needs two forward passes per element — slow, but obviously right, which is the
point (Nielsen ch. 2, "Backpropagation: the big picture"). For large arrays we
check the derivative along a few random directions v instead (Chainer's
``check_backward``): (∇C · v) ≈ [C(θ + εv) - C(θ - εv)] / 2ε.

Use float64: in float32 the rounding error of C swamps ε. A layer is checked by
turning its output y into a scalar with a fixed random projection, C = Σ y ⊙ r,
so that ∂C/∂y = r is what ``backward`` receives.
"""
import numpy

from .backend import array_module_of


def relative_error(analytic, numeric, floor=1e-4):
    """‖a - n‖ / max(‖a‖ + ‖n‖, floor), in the Euclidean norm over the whole array.

    Measured over the array, not per element: a per-element ratio blows up on
    gradients that are tiny (a saturated sigmoid's) where the central difference's
    own rounding error (~1e-10 in float64) dominates. For the same reason the
    denominator never drops below ``floor``: a gradient of norm 1e-8 cannot be
    checked to more digits than the difference quotient has. A gradient wrong by
    1% still scores ~5e-3, and a wrong tiny one ≥ its size / floor.
    """
    xp = array_module_of(analytic)
    scale = max(float(xp.linalg.norm(analytic) + xp.linalg.norm(numeric)), floor)
    return float(xp.linalg.norm(analytic - numeric)) / scale


def numerical_gradient(f, x, eps=1e-6):
    """∂f/∂x by central differences, one element at a time. ``f()`` reads ``x``, which
    is perturbed in place and restored."""
    grad = x * 0.0
    flat_x, flat_g = x.reshape(-1), grad.reshape(-1)
    for i in range(flat_x.size):
        old = float(flat_x[i])
        flat_x[i] = old + eps
        up = f()
        flat_x[i] = old - eps
        down = f()
        flat_x[i] = old
        flat_g[i] = (up - down) / (2 * eps)
    return grad


def directional_derivative(f, x, v, eps=1e-6):
    """(∇f · v) by a central difference along the direction v."""
    x += eps * v
    up = f()
    x -= 2 * eps * v
    down = f()
    x += eps * v
    return (up - down) / (2 * eps)


def _compare(f, x, analytic, eps, max_elements, rng):
    """Relative error between ``analytic`` and the numerical gradient of f w.r.t. x."""
    xp = array_module_of(x)
    if x.size <= max_elements:
        return relative_error(analytic, numerical_gradient(f, x, eps))
    worst = 0.0
    for _ in range(3):
        v = xp.asarray(rng.standard_normal(x.shape), dtype=x.dtype)
        numeric = directional_derivative(f, x, v, eps)
        exact = float((analytic * v).sum())
        worst = max(worst, abs(exact - numeric) / max(abs(exact) + abs(numeric), 1e-4))
    return worst


def check_layer(layer, x, *, train=False, eps=1e-6, max_elements=2000, seed=0):
    """Relative errors of a built layer's backward: {"x": ..., "W": ..., ...}.

    ``x`` must be float64 (on the layer's device). Each entry compares the gradient
    of C = Σ forward(x) ⊙ r from ``backward`` with central differences.
    """
    if x.dtype != numpy.float64:
        raise ValueError(f"check_layer needs float64 inputs, got {x.dtype}")
    xp = array_module_of(x)
    rng = numpy.random.default_rng(seed)
    y, cache = layer.forward(x, train)
    r = xp.asarray(rng.standard_normal(y.shape))
    dx, grads = layer.backward(r, cache)

    def cost():
        return float((layer.forward(x, train)[0] * r).sum())

    errors = {"x": _compare(cost, x, dx, eps, max_elements, rng)}
    for name, g in grads.items():
        errors[name] = _compare(cost, layer.params[name], g, eps, max_elements, rng)
    return errors


def check_loss(loss, a, y, *, fused=False, eps=1e-6):
    """Relative error of a cost's gradient. ``fused=False`` checks ``grad`` = ∂C/∂a;
    ``fused=True`` checks ``delta`` = ∂C/∂z where a = output_activation(z), with
    ``a`` given as z and the cost's paired activation applied here."""
    xp = array_module_of(a)
    if fused:
        act = loss.pairs_with()
        act.build(xp, None, a.dtype)
        z = a

        def cost():
            return float(loss.value(xp, act.forward(z)[0], y))
        return relative_error(loss.delta(xp, act.forward(z)[0], y), numerical_gradient(cost, z, eps))

    def cost():
        return float(loss.value(xp, a, y))
    return relative_error(loss.grad(xp, a, y), numerical_gradient(cost, a, eps))


def check_network(network, x, y, *, eps=1e-6, max_elements=2000, seed=0):
    """Relative error per parameter ("layers.0.W" …) of one backprop pass over the batch
    (x, y) — the whole chain, cost and regulariser included (n = len(x)) — against
    numerical gradients of the cost. The network must be float64 and deterministic."""
    xp, rng = network.xp, numpy.random.default_rng(seed)
    params = network.parameters()
    grads = {}

    class Capture:                       # an "optimiser" that records instead of updating
        lr = 0.0

        def step(self, params, g):
            grads.update({k: v.copy() for k, v in g.items()})

    network.train_step(x, y, Capture(), len(x))

    def cost():
        c = float(network.loss.value(xp, network.feedforward(x, True), y))
        if network.regularizer is not None:
            weights = [w for k, w in params.items() if k.endswith(".W")]
            c += float(network.regularizer.value(xp, weights, len(x)))
        return c

    return {k: _compare(cost, params[k], grads[k], eps, max_elements, rng) for k in grads}
