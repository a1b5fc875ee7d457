"""Draw examples/sample.jpg: a phone-camera-like photo of one handwritten digit.

    python examples/make_sample.py                 # the digit 3, seed 0
    python examples/make_sample.py --digit 7 --seed 5 --out /tmp/seven.jpg

The digit is a pen stroke along Bezier curves with a hand's wobble; the pen's width follows its
pressure, thin where it lands and lifts.  The paper is off-white with fibres, lit unevenly (brighter
on one side, darker in the corners), the camera adds a little blur and sensor noise, and the digit
is not centred.  Everything comes from one seed, so the same command writes the same file.
"""
import os
import sys

import common  # noqa: F401  first: it pins BLAS to one thread before NumPy loads

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw, ImageFilter  # noqa: E402

from common import Parser, count  # noqa: E402
from scratchnet.files import atomic_write  # noqa: E402

# Centre lines as cubic Bezier segments (P0, P1, P2, P3) in a unit box, x right, y down.
DIGITS = {
    "3": [[(0.18, 0.15), (0.35, -0.04), (0.88, 0.0), (0.72, 0.28)],
          [(0.72, 0.28), (0.64, 0.43), (0.48, 0.46), (0.38, 0.47)],
          [(0.38, 0.47), (0.78, 0.44), (0.98, 0.7), (0.72, 0.9)],
          [(0.72, 0.9), (0.52, 1.05), (0.2, 0.99), (0.06, 0.82)]],
    "7": [[(0.05, 0.05), (0.3, 0.02), (0.6, 0.04), (0.92, 0.02)],
          [(0.92, 0.02), (0.7, 0.3), (0.5, 0.6), (0.38, 1.0)]],
}
SIZE = (400, 300)          # width, height of the photo
SUPER = 3                  # drawn at 3x, then scaled down: anti-aliased like a camera


def bezier(p, n):
    """n points on the cubic Bezier B(t) = (1-t)^3 P0 + 3(1-t)^2 t P1 + 3(1-t) t^2 P2 + t^3 P3."""
    t = np.linspace(0, 1, n)[:, None]
    p = np.asarray(p, dtype=float)
    return ((1 - t) ** 3 * p[0] + 3 * (1 - t) ** 2 * t * p[1] + 3 * (1 - t) * t ** 2 * p[2]
            + t ** 3 * p[3])


def wobble(rng, n, amplitude):
    """A smooth random (n, 2) offset: a few low-frequency sines, like an unsteady hand."""
    t = np.linspace(0, 1, n)[:, None]
    freq = rng.uniform(1, 4, (1, 3, 2))
    phase = rng.uniform(0, 2 * np.pi, (1, 3, 2))
    return amplitude * np.sin(2 * np.pi * freq * t[:, :, None] + phase).sum(axis=1) / 3


def ink_coverage(rng, digit, centre, height, pen):
    """Ink alpha in [0, 1] at SIZE: discs along the path, radius following the pen's pressure."""
    w, h = SIZE[0] * SUPER, SIZE[1] * SUPER
    mask = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(mask)
    box = height * SUPER
    x0, y0 = centre[0] * SUPER - 0.35 * box, centre[1] * SUPER - 0.5 * box
    slant = 0.15                                        # handwriting leans right
    strokes = DIGITS[digit]
    path = np.concatenate([bezier(seg, 400) for seg in strokes])
    path = path + wobble(rng, len(path), 0.015)
    pressure = 0.75 + 0.25 * np.sin(np.linspace(0, 3 * np.pi, len(path)) + rng.uniform(0, 6))
    taper = np.minimum(1, np.minimum(np.arange(len(path)), np.arange(len(path))[::-1]) / 40)
    radius = pen * SUPER / 2 * pressure * (0.4 + 0.6 * taper)
    for (u, v), r in zip(path, radius):
        x = x0 + (u + slant * (1 - v)) * 0.7 * box
        y = y0 + v * box
        draw.ellipse([x - r, y - r, x + r, y + r], fill=255)
    return np.asarray(mask.resize(SIZE, Image.LANCZOS), dtype=np.float64) / 255


def photo(rng, alpha):
    """RGB float image: paper x light, ink where alpha says, fibres, blur and sensor noise."""
    w, h = SIZE
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    light = 0.72 + 0.35 * x - 0.12 * y                 # a window to the right
    light *= 1 - 0.35 * ((x - 0.6) ** 2 + (y - 0.35) ** 2)   # vignette: dark corners
    fibres = Image.fromarray((rng.normal(0, 1, (h // 6, w // 6)) * 40 + 128).clip(0, 255)
                             .astype(np.uint8)).resize(SIZE, Image.BICUBIC)
    paper = np.array([247, 242, 230]) / 255 * (1 + 0.02 * (np.asarray(fibres) / 128 - 1))[..., None]
    ink = np.array([35, 38, 70]) / 255                 # blue-black ballpoint
    strength = 0.92 + 0.08 * rng.random(alpha.shape)   # ink is not perfectly even
    a = (alpha * strength)[..., None]
    rgb = (paper * (1 - a) + ink * a) * light[..., None]
    img = Image.fromarray((rgb * 255).clip(0, 255).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(0.7))                 # slight defocus
    noisy = np.asarray(img, dtype=np.float64) + rng.normal(0, 3.0, (h, w, 3))
    return Image.fromarray(noisy.clip(0, 255).round().astype(np.uint8))


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--digit", choices=sorted(DIGITS), default="3")
    parser.add_argument("--seed", type=count(0), default=0)
    parser.add_argument("--out", default=os.path.join(here, "sample.jpg"))
    args = parser.parse_args(argv)
    if not args.out or os.path.isdir(args.out):
        parser.error(f"--out: {args.out!r} is not a file path")
    rng = np.random.default_rng(args.seed)
    centre = (SIZE[0] * rng.uniform(0.3, 0.42), SIZE[1] * rng.uniform(0.5, 0.6))   # off centre
    alpha = ink_coverage(rng, args.digit, centre, height=SIZE[1] * 0.6, pen=6.0)
    img = photo(rng, alpha)
    try:      # a temporary file renamed into place: never a half-written sample
        atomic_write(args.out, lambda f: img.save(f, format="JPEG", quality=85))
    except OSError as e:
        sys.exit(f"error: --out: cannot write {args.out} ({e.strerror or e})")
    print(f"{args.out}: a handwritten {args.digit}, {SIZE[0]}x{SIZE[1]} RGB JPEG, seed {args.seed}")


if __name__ == "__main__":
    main()
