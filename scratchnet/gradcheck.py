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

For learners, ``gradient_check(layer_or_network, x, y)`` does it all and, when a
gradient is wrong, prints a table: each parameter, its relative error, the threshold,
the verdict and a likely cause. The tolerances live here, in one place.
"""
import math
from collections.abc import Mapping
from typing import NamedTuple

import numpy

from .backend import array_module_of
from .network import Network
from .optimizers import Optimizer

EPS = 1e-6            # the step ε of the central difference (float64)
TOLERANCE = 1e-6      # a relative error above this is a wrong gradient
FLOOR = 1e-4          # the smallest denominator of a relative error (see relative_error)
SAFETY = 100.0        # how far above the difference quotient's estimated rounding error to stay
MAX_ELEMENTS = 2000   # arrays larger than this are checked along random directions


def relative_error(analytic, numeric, floor=FLOOR):
    """‖a - n‖ / max(‖a‖ + ‖n‖, floor), in the Euclidean norm over the whole array.

    Measured over the array, not per element: a per-element ratio blows up on
    gradients that are tiny (a saturated sigmoid's). For the same reason the
    denominator never drops below ``floor``: a gradient of norm 1e-8 cannot be checked
    to more digits than the difference quotient has (see ``rounding_floor``).
    """
    xp = array_module_of(analytic)
    scale = max(float(xp.linalg.norm(analytic) + xp.linalg.norm(numeric)), floor)
    return float(xp.linalg.norm(analytic - numeric)) / scale


def rounding_floor(magnitude, size, eps=EPS):
    """The denominator floor at which a correct gradient still scores below TOLERANCE.

    C is computed with an absolute rounding error of about u·``magnitude`` (u = 2.2e-16 in
    float64; see ``cost_magnitude``), so each central difference carries an error of about
    u·magnitude/ε, and an array of ``size`` of them about √size times that. Dividing by
    at least SAFETY times that error over TOLERANCE keeps the rounding well below the
    threshold; a real bug (wrong by a factor, a sign, a term) is still far above it.
    """
    noise = numpy.finfo(numpy.float64).eps * magnitude / eps * math.sqrt(size)
    return max(FLOOR, SAFETY * noise / TOLERANCE)


def cost_magnitude(loss, xp, a, y):
    """How large C's rounding error can be, in units of u: |C| + Σ_i |∂C/∂a_i|·|a_i|.

    Each output a_i carries a relative rounding error u, which reaches C times ∂C/∂a_i.
    The second term is what matters where a cost loses digits: ln(1 - a) with a = σ(13)
    = 1 - 2e-6 is known to 10 digits only, however exact backprop's δ is.
    """
    return abs(float(loss.value(xp, a, y))) + float(xp.abs(loss.grad(xp, a, y) * a).sum())


def numerical_gradient(f, x, eps=EPS):
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


def directional_derivative(f, x, v, eps=EPS):
    """(∇f · v) by a central difference along the direction v."""
    x += eps * v
    up = f()
    x -= 2 * eps * v
    down = f()
    x += eps * v
    return (up - down) / (2 * eps)


# ---- the verdict, and a likely cause ----------------------------------------------------

class Row(NamedTuple):
    """One parameter's check: its relative error, the threshold and the verdict."""
    name: str
    error: float
    threshold: float
    ok: bool
    cause: str


class GradientReport(Mapping):
    """The result of a gradient check: a mapping name -> relative error, plus a verdict.

        report.ok          every gradient within TOLERANCE
        report.rows        [Row(name, error, threshold, ok, cause), ...]
        print(report)      the table
    """

    def __init__(self, rows):
        self.rows = list(rows)
        self._errors = {row.name: row.error for row in self.rows}

    @property
    def ok(self):
        return all(row.ok for row in self.rows)

    def __getitem__(self, name):
        return self._errors[name]

    def __iter__(self):
        return iter(self._errors)

    def __len__(self):
        return len(self._errors)

    def __str__(self):
        width = max([len(r.name) for r in self.rows] + [9])
        lines = [f"{'parameter':<{width}}  relative error  threshold  verdict  likely cause"]
        for r in self.rows:
            lines.append(f"{r.name:<{width}}  {r.error:14.2e}  {r.threshold:9.0e}  "
                         f"{'ok' if r.ok else 'WRONG':<7}  {'' if r.ok else r.cause}")
        return "\n".join(lines)

    __repr__ = __str__


def likely_cause(analytic, numeric, name):
    """A guess, for a learner, at what is wrong when backprop's gradient ``analytic`` and
    the numerical one ``numeric`` disagree (both host float64 arrays)."""
    a, n = numpy.ravel(analytic), numpy.ravel(numeric)
    norm_a, norm_n = numpy.linalg.norm(a), numpy.linalg.norm(n)
    if norm_a <= 1e-3 * norm_n:
        return "backward gives (almost) no gradient here: is it computed and returned?"
    if norm_n <= 1e-3 * norm_a:
        return "the cost does not depend on this, yet backward gives a gradient"
    c = float(a @ n) / float(n @ n)              # the best factor with analytic ≈ c·numeric
    if abs(c - 1) < 1e-4:
        return ("nearly right: rounding (float32 somewhere? a cost that loses digits, like "
                "ln(1 - a) with a near 1?) or a small missing term")
    if numpy.linalg.norm(a - c * n) <= 1e-3 * norm_a:
        if abs(c + 1) < 1e-3:
            return "the sign is flipped (a - y versus y - a?)"
        return (f"off by a factor of {c:.4g}: a missing or extra 1/m (the batch size), "
                "½, η or λ/n?")
    if analytic.ndim == 2 and analytic.shape[0] == analytic.shape[1] and \
            numpy.linalg.norm(analytic.T - numeric) <= 1e-3 * norm_a:
        return "transposed: δᵀ·a where a·δᵀ is meant (or W where Wᵀ is)?"
    if name == "x":
        return "the error passed down (BP2) is wrong: W versus Wᵀ, or the activation's derivative"
    return ("a wrong formula, or an input at a kink (ReLU at 0, a max-pool tie): "
            "try another input")


def _to_host(a):
    return a.get() if hasattr(a, "__cuda_array_interface__") else numpy.asarray(a)


def _compare(f, x, analytic, name, magnitude, eps, max_elements, rng):
    """A Row comparing ``analytic`` with the numerical gradient of f with respect to x."""
    xp = array_module_of(x)
    if x.size <= max_elements:
        numeric = numerical_gradient(f, x, eps)
        error = relative_error(analytic, numeric, rounding_floor(magnitude, x.size, eps))
        cause = "" if error < TOLERANCE else likely_cause(_to_host(analytic), _to_host(numeric),
                                                          name)
        return Row(name, error, TOLERANCE, error < TOLERANCE, cause)
    error = 0.0
    for _ in range(3):
        v = xp.asarray(rng.standard_normal(x.shape), dtype=x.dtype)
        numeric = directional_derivative(f, x, v, eps)
        exact = float((analytic * v).sum())
        scale = max(abs(exact) + abs(numeric), rounding_floor(magnitude, 1, eps))
        error = max(error, abs(exact - numeric) / scale)
    cause = "" if error < TOLERANCE else (
        "wrong along a random direction (the array is too big to check element by element)")
    return Row(name, error, TOLERANCE, error < TOLERANCE, cause)


def _need_float64(x, what):
    if x.dtype != numpy.float64:
        raise ValueError(f"{what} needs float64 (float32 rounding swamps the central "
                         f"difference), got {x.dtype}")


# ---- what to check ----------------------------------------------------------------------

def check_layer(layer, x, *, train=False, eps=EPS, max_elements=MAX_ELEMENTS, seed=0):
    """A ``GradientReport`` of a built layer's backward: rows "x", "W", "b", ...

    ``x`` must be float64 (on the layer's device). Each row compares the gradient of
    C = Σ forward(x) ⊙ r from ``backward`` with central differences.
    """
    _need_float64(x, "check_layer")
    xp = array_module_of(x)
    rng = numpy.random.default_rng(seed)
    y, cache = layer.forward(x, train)
    r = xp.asarray(rng.standard_normal(y.shape))
    dx, grads = layer.backward(r, cache)
    magnitude = float(xp.abs(y * r).sum())

    def cost():
        return float((layer.forward(x, train)[0] * r).sum())

    rows = [_compare(cost, x, dx, "x", magnitude, eps, max_elements, rng)]
    rows += [_compare(cost, layer.params[name], g, name, magnitude, eps, max_elements, rng)
             for name, g in grads.items()]
    return GradientReport(rows)


def check_loss(loss, a, y, *, fused=False, eps=EPS):
    """A ``GradientReport`` of a cost's gradient (one row). ``fused=False`` checks ``grad``
    = ∂C/∂a; ``fused=True`` checks ``delta`` = ∂C/∂z where a = output_activation(z), with
    ``a`` given as z and the cost's paired activation applied here."""
    _need_float64(a, "check_loss")
    xp = array_module_of(a)
    if fused:
        act = loss.pairs_with()
        act.build(xp, None, a.dtype)
        z, name = a, "δ (∂C/∂z)"

        def cost():
            return float(loss.value(xp, act.forward(z)[0], y))
        outputs = act.forward(z)[0]
        analytic = loss.delta(xp, outputs, y)
    else:
        name, outputs = "∂C/∂a", a

        def cost():
            return float(loss.value(xp, a, y))
        analytic = loss.grad(xp, a, y)
    magnitude = cost_magnitude(loss, xp, outputs, y)
    return GradientReport([_compare(cost, a, analytic, name, magnitude, eps, a.size + 1, None)])


def check_network(network, x, y, *, eps=EPS, max_elements=MAX_ELEMENTS, seed=0):
    """A ``GradientReport`` per parameter ("layers.0.W" …) of one backprop pass over the
    batch (x, y) — the whole chain, cost and regulariser included (n = len(x)) — against
    numerical gradients of the cost. The network must be float64 and deterministic."""
    _need_float64(x, "check_network")
    xp, rng = network.xp, numpy.random.default_rng(seed)
    params = network.parameters()
    grads = {}

    class Capture(Optimizer):            # an "optimiser" that records instead of updating
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

    magnitude = cost_magnitude(network.loss, xp, network.feedforward(x, True), y)
    if network.regularizer is not None:
        magnitude += abs(cost())
    return GradientReport(_compare(cost, params[k], grads[k], k, magnitude, eps, max_elements,
                                   rng) for k in sorted(grads))


def gradient_check(model, x, y=None, *, train=False, verbose=False, seed=0):
    """Check backprop in a layer (``y`` None) or a whole network (``y`` the targets) against
    central differences, in float64. Returns the ``GradientReport``; prints its table when
    a gradient is wrong (always, with ``verbose=True``).

        report = gradient_check(sn.Dense(3, 2), x)          # a layer: built here if needed
        report = gradient_check(net, x, y)                  # a network made with dtype="float64"
    """
    if isinstance(model, Network):
        if y is None:
            raise ValueError("gradient_check of a network needs the targets y")
        if model.dtype != numpy.float64:
            raise ValueError("gradient_check needs a network made with dtype='float64' "
                             "(float32 rounding swamps the central difference)")
        xp = model.xp
        report = check_network(model, xp.asarray(x, dtype=xp.float64),
                               xp.asarray(y, dtype=xp.float64), seed=seed)
    else:
        if y is not None:
            raise ValueError("gradient_check of a layer takes x only (C = Σ y ⊙ r is made here)")
        if not hasattr(model, "xp"):
            model.build(numpy, numpy.random.default_rng(seed), numpy.dtype(numpy.float64))
        report = check_layer(model, model.xp.asarray(x, dtype=numpy.float64), train=train,
                             seed=seed)
    if verbose or not report.ok:
        print(report)
    return report
