"""Convolution and max-pooling on channel-first images, x: (N, C, H, W).

A convolution is a matrix product in disguise (im2col). Every output pixel (y, x)
of every example looks at a C·k·k patch of the input; lay example n's patches out
as the columns of a matrix,

    cols[:, n] : (C·k·k, H'·W')      cols[(c, i, j), n, (y, x)] = x[n, c, s·y + i, s·x + j]

and the layer is z[n] = W·cols[:, n] + b with W reshaped to (F, C·k·k): one batched
matrix product for the whole mini-batch. ``cols`` is copied once from a strided
*view* of the input, and no Python loop runs over examples or pixels; the only
loops run over the k² offsets (i, j) of a window: 25 for a 5x5 kernel.
"""
from .initializers import initial_biases, initial_weights
from .layers import Layer


def _positive_int(owner, name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{owner}: {name} must be an int >= {minimum}, got {value!r}")
    return value


def _output_size(owner, size, k, stride, padding=0):
    out = (size + 2 * padding - k) // stride + 1
    if out < 1:
        raise ValueError(f"{owner}: input of size {size} (padding {padding}) is smaller than "
                         f"the window {k}")
    return out


def _windows(xp, x, k, stride, out_h, out_w):
    """A strided view (C, k, k, N, H', W') of x: [c, i, j, n, y, x] = x[n, c, s·y + i, s·x + j].
    No copy: the view shares x's memory (as_strided exists in numpy and cupy alike)."""
    n, c = x.shape[:2]
    sn, sc, sh, sw = x.strides
    return xp.lib.stride_tricks.as_strided(
        x, (c, k, k, n, out_h, out_w), (sc, sh, sw, sn, stride * sh, stride * sw))


class Conv2D(Layer):
    """A 2-D convolution (cross-correlation, as in every deep-learning library).

    Shapes: x (N, C, H, W), W (F, C, k, k), b (F,), z (N, F, H', W') with
    H' = (H + 2p - k) // s + 1 (likewise W'), for stride s and zero padding p:

        z[n, f, y, x] = b[f] + Σ_{c,i,j} W[f, c, i, j] · x_pad[n, c, s·y + i, s·x + j]

    ``init`` picks the weight initialiser with fan-in C·k·k ("he" suits ReLU networks).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, init="he"):
        super().__init__()
        self.in_channels = _positive_int("Conv2D", "in_channels", in_channels)
        self.out_channels = _positive_int("Conv2D", "out_channels", out_channels)
        self.kernel_size = _positive_int("Conv2D", "kernel_size", kernel_size)
        self.stride = _positive_int("Conv2D", "stride", stride)
        self.padding = _positive_int("Conv2D", "padding", padding, minimum=0)
        self.init = init
        self.input_shape = (in_channels, None, None)

    def build(self, xp, rng, dtype):
        super().build(xp, rng, dtype)
        k, c, f = self.kernel_size, self.in_channels, self.out_channels
        W = initial_weights(self.init, rng, (f, c, k, k), c * k * k, f * k * k)
        b = initial_biases(self.init, rng, (f,))
        self.params = {"W": xp.asarray(W, dtype=dtype), "b": xp.asarray(b, dtype=dtype)}

    def forward(self, x, train=False):
        """z[n] = W·cols[n] + b, one batched matrix product.  Cache: (cols, x's shape)."""
        xp, k, s, p = self.xp, self.kernel_size, self.stride, self.padding
        n, c, h, w = x.shape
        if c != self.in_channels:
            raise ValueError(f"Conv2D: expected {self.in_channels} input channels, got {c}")
        out_h = _output_size("Conv2D", h, k, s, p)
        out_w = _output_size("Conv2D", w, k, s, p)
        if p:
            x = xp.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        # The one copy of the forward pass: the patches as a (C·k·k, N, H'·W') array, so
        # that cols[:, n] is example n's patch matrix and cols.reshape(C·k·k, N·H'·W') is
        # the whole batch's, for the single matrix product of ∂C/∂W in backward.
        cols = xp.ascontiguousarray(_windows(xp, x, k, s, out_h, out_w)).reshape(
            c * k * k, n, out_h * out_w)
        W = self.params["W"].reshape(self.out_channels, -1)
        z = xp.matmul(W, cols.transpose(1, 0, 2))           # (N, F, H'·W'), batched over n
        z += self.params["b"][:, None]
        return z.reshape(n, self.out_channels, out_h, out_w), (cols, (n, c, h, w))

    def backward(self, dz, cache, need_dx=True):
        """Given δ = ∂C/∂z (N, F, H', W'), with cols (C·k·k, N, H'·W') and W as in forward:

            ∂C/∂b      = Σ_{n,y,x} δ[n, :, y, x]                        (F,)
            ∂C/∂W      = Σ_n δ[n]·cols[:, n]ᵀ: one product over N·H'·W'  (F, C, k, k)
            ∂C/∂cols   = Wᵀ·δ                                           (C·k·k, H'·W'·N)
            ∂C/∂x      = col2im(∂C/∂cols): each patch entry added back to the pixel it
                         was copied from — one vectorised add per kernel offset (i, j).

        col2im runs with the batch as the last axis, (C, H, W, N): each of the k² adds
        then moves runs of W'·N contiguous numbers instead of rows of W' (5x faster).
        """
        xp, k, s, p = self.xp, self.kernel_size, self.stride, self.padding
        cols, (n, c, h, w) = cache
        f = self.out_channels
        out_h, out_w = dz.shape[2:]
        d = xp.ascontiguousarray(dz.reshape(n, f, out_h * out_w).transpose(1, 0, 2))
        d = d.reshape(f, n * out_h * out_w)                     # (F, N·H'·W')
        if c * k * k * f >= 4096:
            # One product over all N·H'·W' positions; (cols·δᵀ)ᵀ runs faster than δ·colsᵀ.
            dW = (cols.reshape(c * k * k, -1) @ d.T).T
        else:
            # A small W (the first layer): BLAS is slow on one long, thin product, and
            # N small products, summed, are 2-5x faster.
            dW = xp.matmul(dz.reshape(n, f, -1), cols.transpose(1, 2, 0)).sum(axis=0)
        grads = {"W": xp.ascontiguousarray(dW).reshape(self.params["W"].shape),
                 "b": d.sum(axis=1)}
        if not need_dx:
            return None, grads
        d_last = xp.ascontiguousarray(dz.transpose(1, 2, 3, 0)).reshape(f, -1)  # (F, H'·W'·N)
        dcols = (self.params["W"].reshape(f, -1).T @ d_last).reshape(c, k, k, out_h, out_w, n)
        dx = xp.zeros((c, h + 2 * p, w + 2 * p, n), dtype=dz.dtype)
        span_h, span_w = s * (out_h - 1) + 1, s * (out_w - 1) + 1
        for i in range(k):
            for j in range(k):
                dx[:, i:i + span_h:s, j:j + span_w:s] += dcols[:, i, j]
        return xp.ascontiguousarray(dx[:, p:p + h, p:p + w].transpose(3, 0, 1, 2)), grads

    def config(self):
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": self.kernel_size, "stride": self.stride,
                "padding": self.padding, "init": self.init}


class MaxPool2D(Layer):
    """Max-pooling over size x size windows moved by ``stride`` (default: ``size``, so the
    windows tile the image). Shapes: x (N, C, H, W), y (N, C, H', W'),
    H' = (H - size) // stride + 1 — rows and columns that fill no whole window are dropped.

        y[n, c, y, x] = max_{i,j} x[n, c, s·y + i, s·x + j]

    The cache is the argmax of each window (its offset i·size + j, the first one on a tie),
    so the gradient goes to exactly one input per window.
    """

    def __init__(self, size=2, stride=None):
        super().__init__()
        self.size = _positive_int("MaxPool2D", "size", size)
        self.stride = size if stride is None else _positive_int("MaxPool2D", "stride", stride)

    def _offsets(self):
        return [(i, j) for i in range(self.size) for j in range(self.size)]

    def _window_views(self, a, out_h, out_w):
        """For each offset (i, j), the (N, C, H', W') strided view a[:, :, s·y + i, s·x + j]."""
        s = self.stride
        span_h, span_w = s * (out_h - 1) + 1, s * (out_w - 1) + 1
        return [a[:, :, i:i + span_h:s, j:j + span_w:s] for i, j in self._offsets()]

    def forward(self, x, train=False):
        """y = the window maxima, found with one comparison per offset (k² passes over y).
        Cache: (argmax offsets as uint8, x's shape)."""
        xp = self.xp
        n, c, h, w = x.shape
        out_h = _output_size("MaxPool2D", h, self.size, self.stride)
        out_w = _output_size("MaxPool2D", w, self.size, self.stride)
        views = self._window_views(x, out_h, out_w)
        y = views[0].copy()
        arg = xp.zeros(y.shape, dtype=xp.uint8)
        for o, v in enumerate(views[1:], start=1):
            better = v > y                         # strict: a tie keeps the earlier offset
            arg *= ~better                         # arg = o where better (arithmetic on bools
            arg += better * xp.uint8(o)            # is faster than a masked write or where)
            xp.maximum(y, v, out=y)
        return y, (arg, x.shape)

    def backward(self, dy, cache, need_dx=True):
        """∂C/∂x[n, c, s·y + i, s·x + j] = ∂C/∂y[n, c, y, x] where (i, j) is that window's
        argmax, 0 elsewhere (summed where overlapping windows share a pixel)."""
        xp = self.xp
        arg, shape = cache
        out_h, out_w = dy.shape[2:]
        k, s = self.size, self.stride
        tiled = s == k and out_h * k == shape[2] and out_w * k == shape[3]
        # Windows that tile x write every pixel once; otherwise start from zeros and add.
        dx = xp.empty(shape, dtype=dy.dtype) if tiled else xp.zeros(shape, dtype=dy.dtype)
        for o, v in enumerate(self._window_views(dx, out_h, out_w)):
            if s >= k:
                xp.multiply(arg == o, dy, out=v)
            else:
                v += (arg == o) * dy
        return dx, {}

    def config(self):
        return {"size": self.size, "stride": self.stride}
