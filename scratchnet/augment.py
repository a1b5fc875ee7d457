"""Data augmentation: fresh, slightly distorted copies of MNIST images, for ``fit(augment=...)``.

Photographed and drawn digits are never as neatly upright, centred and even as MNIST's. A
network trained on a new random distortion of every image each epoch sees a little of that
variety and reads real handwriting better (the front end's model is trained so):

    net.fit(data.train, ..., augment=distort)          # distort(X, rng) each epoch

Every step is a whole-array NumPy operation on a chunk of images: no loop over examples.
"""
import numpy


def distort(X, rng, angle=12.0, shear=0.2, scale=0.1, shift=2.0, thickness=0.7, chunk=5000):
    """A randomly distorted copy of MNIST images X — (N, 784), (N, 28, 28) or (N, 1, 28, 28),
    light digits on black in [0, 1] — each image its own distortion; ``rng`` a NumPy Generator.

    Each image is resampled (bilinear, zero outside) through the affine map p -> A p + t about
    its centre, A = s·R(θ)·[[1, h], [0, 1]], with θ uniform in ±``angle`` degrees, shear h in
    ±``shear``, scale s in [1/(1+scale), 1+scale] and t uniform in ±``shift`` pixels; then its
    strokes are blended towards a grey dilation (thicker) or erosion (thinner) by a 3x3 cross,
    by a random fraction of up to ``thickness``. Every step is a whole-array NumPy operation,
    ``chunk`` images at a time to bound the memory used.
    """
    shape = X.shape
    if len(shape) < 2 or numpy.prod(shape[1:]) != 784:
        raise ValueError(f"distort: expected 28x28 images, got an array of shape {shape}")
    X = X.reshape(len(X), 784)
    out = numpy.empty_like(X)
    c = 13.5                                         # the centre of a 28x28 image
    grid_y, grid_x = (numpy.indices((28, 28)).reshape(2, 1, 784) - c).astype(numpy.float32)
    for k in range(0, len(X), chunk):
        m = min(chunk, len(X) - k)
        theta = numpy.radians(rng.uniform(-angle, angle, m))
        s = numpy.exp(rng.uniform(-numpy.log1p(scale), numpy.log1p(scale), m))
        h = rng.uniform(-shear, shear, m)
        ty, tx = rng.uniform(-shift, shift, (2, m, 1)).astype(numpy.float32)
        cos, sin = numpy.cos(theta), numpy.sin(theta)
        a11, a12, a21, a22 = s * cos, s * (cos * h - sin), s * sin, s * (sin * h + cos)
        det = a11 * a22 - a12 * a21
        # Output pixel p comes from source point A⁻¹(p - t): inverse mapping leaves no holes.
        i11, i12, i21, i22 = (v.astype(numpy.float32)[:, None] / det[:, None]
                              for v in (a22, -a12, -a21, a11))
        px, py = grid_x - tx, grid_y - ty
        sx = i11 * px + i12 * py + (c + 1)           # +1: the image is padded by one pixel
        sy = i21 * px + i22 * py + (c + 1)
        numpy.clip(sx, 0, 28.999, out=sx)
        numpy.clip(sy, 0, 28.999, out=sy)
        x0, y0 = sx.astype(numpy.intp), sy.astype(numpy.intp)
        fx, fy = (sx - x0).astype(X.dtype), (sy - y0).astype(X.dtype)
        flat = numpy.pad(X[k:k + m].reshape(m, 28, 28), ((0, 0), (1, 1), (1, 1))).reshape(-1)
        i = numpy.arange(m)[:, None] * 900 + y0 * 30 + x0          # 900 = 30 x 30 padded pixels
        top = flat[i] * (1 - fx) + flat[i + 1] * fx
        bottom = flat[i + 30] * (1 - fx) + flat[i + 31] * fx
        img = (top * (1 - fy) + bottom * fy).reshape(m, 28, 28)
        out[k:k + m] = _thicken(img, rng.uniform(-thickness, thickness, m)).reshape(m, 784)
    return out.reshape(shape)


def _thicken(img, amount):
    """Blend each image towards its 3x3-cross dilation (amount > 0) or erosion (amount < 0)."""
    p = numpy.pad(img, ((0, 0), (1, 1), (1, 1)))
    neighbours = numpy.stack([p[:, 1:-1, 1:-1], p[:, :-2, 1:-1], p[:, 2:, 1:-1],
                              p[:, 1:-1, :-2], p[:, 1:-1, 2:]])
    grown = neighbours.max(axis=0) - img
    shrunk = neighbours.min(axis=0) - img
    a = amount[:, None, None].astype(img.dtype)
    return img + numpy.where(a > 0, a * grown, -a * shrunk)
