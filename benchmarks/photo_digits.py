"""How well the front end reads photographed digits: a synthetic, photo-like test set.

Real inputs are not MNIST: dark ink on white paper, uneven lighting, the digit anywhere in a
large picture, any size, RGB or grey, JPEG or PNG, sometimes light-on-dark. This script makes
such pictures from three sources of digits, writes them as files, and runs each one through
exactly what the front end does (``examples/reader.py``: ``scratchnet.imaging``, then the model):

  mnist-ink  MNIST *test* digits (real handwriting the model never trained on), enlarged
             and re-inked as pen strokes;
  strokes    digits drawn from pen-stroke templates (open and closed 4s, 1s with and without
             a flag, crossed 7s, ...), each with its own slant, rotation, width, wobble and pen;
  fonts      printed digits in the DejaVu fonts (a robustness check, not handwriting).

Each digit is then "photographed": put anywhere on a page of 300-2500 pixels, 15-70% of its
short side high, in a paper and ink colour, under a lighting gradient and a soft shadow, with
sensor noise, some blur, often seen at a slant (perspective), and JPEG compression or PNG, in
colour or grey; 15% are light-on-dark.

    python benchmarks/photo_digits.py                       # the front end's default model
    python benchmarks/photo_digits.py --model m.npz --n 200 --keep photos/ --show failures.png

Prints the accuracy per source and overall, and how many answers were confident (about a second
a picture on a busy 2-core CPU; the results are in benchmarks/RESULTS.md). ``--keep`` keeps the
pictures, ``--show`` saves the misread ones beside the 28x28 the network saw. MNIST is read from
``--data``/$SCRATCHNET_DATA.
"""
import glob
import io
import os
import sys
import tempfile

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
import reader  # noqa: E402  the front end's digit reader (first: common's sys.path, BLAS)
import scratchnet as sn  # noqa: E402
from common import Parser, count  # noqa: E402
from scratchnet import imaging, preview  # noqa: E402

FONT_FILES = sorted(glob.glob("/usr/share/fonts/truetype/dejavu/DejaVu*.ttf"))


# ---------------------------------------------------------------- digits as ink maps (0..1)

def mnist_ink(image, height, rng):
    """An MNIST digit (28, 28) enlarged to ``height`` pixels, its blurry edge made a pen's."""
    ys, xs = np.nonzero(image > 0.1)
    crop = image[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    h, w = crop.shape
    size = (max(2, round(w * height / h)), height)
    big = np.asarray(Image.fromarray((crop * 255).astype(np.uint8)).resize(size, Image.BICUBIC),
                     dtype=np.float32) / 255
    level = rng.uniform(0.25, 0.55)               # where the pen's edge lies in the grey ramp
    return np.clip((big - level) / 0.15, 0, 1)


def _arc(cx, cy, rx, ry, a0, a1, n=24):
    """Points on an ellipse, angles in degrees, y pointing down (90 = the bottom)."""
    t = np.radians(np.linspace(a0, a1, n))
    return list(zip(cx + rx * np.cos(t), cy + ry * np.sin(t)))


# Each digit: variants, each a list of strokes, each a list of (x, y) in the unit box, y down.
TEMPLATES = {
    0: [[_arc(0.5, 0.5, 0.36, 0.5, -90, 275)], [_arc(0.5, 0.5, 0.3, 0.5, -60, 300)]],
    1: [[[(0.5, 0.0), (0.5, 1.0)]], [[(0.25, 0.22), (0.55, 0.0), (0.55, 1.0)]],
        [[(0.25, 0.22), (0.55, 0.0), (0.55, 1.0)], [(0.25, 1.0), (0.85, 1.0)]]],
    2: [[_arc(0.5, 0.3, 0.33, 0.29, 195, 395) + [(0.12, 1.0), (0.9, 1.0)]],
        [_arc(0.5, 0.3, 0.33, 0.29, 195, 380) + [(0.15, 0.95), (0.3, 0.9), (0.9, 1.0)]]],
    3: [[_arc(0.5, 0.27, 0.3, 0.25, 200, 450) + _arc(0.5, 0.74, 0.36, 0.26, 270, 500)],
        [[(0.15, 0.0), (0.85, 0.0), (0.45, 0.42)] + _arc(0.5, 0.7, 0.36, 0.29, 250, 500)]],
    4: [[[(0.62, 0.0), (0.08, 0.66), (0.92, 0.66)], [(0.68, 0.3), (0.68, 1.0)]],
        [[(0.28, 0.0), (0.18, 0.56), (0.88, 0.56)], [(0.7, 0.08), (0.7, 1.0)]]],
    5: [[[(0.82, 0.0), (0.28, 0.0), (0.22, 0.46)] + _arc(0.5, 0.68, 0.34, 0.31, 222, 505)],
        [[(0.25, 0.0), (0.2, 0.44)] + _arc(0.5, 0.68, 0.34, 0.31, 222, 505),
         [(0.25, 0.0), (0.85, 0.02)]]],
    6: [[[(0.75, 0.0), (0.45, 0.18), (0.25, 0.45), (0.18, 0.72)]
         + _arc(0.5, 0.73, 0.32, 0.27, 180, 540)],
        [_arc(0.95, 0.62, 0.78, 0.62, 250, 180) + _arc(0.5, 0.74, 0.33, 0.26, 180, 520)]],
    7: [[[(0.1, 0.0), (0.9, 0.0), (0.4, 1.0)]],
        [[(0.1, 0.05), (0.9, 0.0), (0.45, 1.0)], [(0.35, 0.5), (0.82, 0.5)]],
        [[(0.1, 0.12), (0.25, 0.0), (0.9, 0.02), (0.6, 0.45), (0.5, 1.0)]]],
    8: [[_arc(0.5, 0.26, 0.27, 0.25, 0, 360), _arc(0.5, 0.74, 0.33, 0.26, -90, 270)],
        [_arc(0.5, 0.26, 0.28, 0.26, 90, 360 + 60) + _arc(0.5, 0.75, 0.33, 0.25, 250, -90)]],
    9: [[_arc(0.45, 0.3, 0.32, 0.3, 0, 360), [(0.77, 0.3), (0.72, 1.0)]],
        [_arc(0.45, 0.3, 0.32, 0.3, 20, 380), [(0.77, 0.35), (0.7, 0.75), (0.45, 1.0)]]],
}


def stroke_ink(digit, height, rng):
    """A template digit written at ``height`` pixels: slanted, turned, wobbly, of a random pen."""
    strokes = TEMPLATES[digit][rng.integers(len(TEMPLATES[digit]))]
    aspect = rng.uniform(0.55, 1.05)
    slant, turn = rng.uniform(-0.4, 0.15), np.radians(rng.uniform(-12, 12))
    A = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]]) \
        @ np.array([[aspect, slant], [0.0, 1.0]])
    pen = height * rng.uniform(0.04, 0.13)
    scale = 2                                     # draw at 2x, then shrink: smooth edges
    lines = []
    for points in strokes:
        p = np.array(points, dtype=float)
        s = np.linspace(0, 1, len(p))[:, None]    # a slow wobble along the stroke
        p = p + rng.normal(0, 0.025, (1, 2)) * np.sin(np.pi * s * rng.uniform(1, 3)) \
            + rng.normal(0, 0.012, p.shape) * (len(p) < 6)
        lines.append((p - 0.5) @ A.T)
    allp = np.concatenate(lines)
    lo, hi = allp.min(0), allp.max(0)
    k = (height - pen) / (hi[1] - lo[1])
    size = np.ceil((hi - lo) * k + pen + 2).astype(int) * scale
    img = Image.new("L", tuple(size), 0)
    draw = ImageDraw.Draw(img)
    width = max(1, round(pen * scale))
    for p in lines:
        q = [tuple(v) for v in ((p - lo) * k + pen / 2 + 1) * scale]
        draw.line(q, fill=255, width=width, joint="curve")
        for x, y in (q[0], q[-1]):                # round pen ends
            draw.ellipse([x - width / 2, y - width / 2, x + width / 2, y + width / 2], fill=255)
    img = img.resize((size[0] // scale, size[1] // scale), Image.BOX)
    return np.asarray(img, dtype=np.float32) / 255


def font_ink(digit, height, rng):
    """A printed digit in a random DejaVu font, about ``height`` pixels high."""
    font = ImageFont.truetype(FONT_FILES[rng.integers(len(FONT_FILES))], size=int(height * 1.4))
    img = Image.new("L", (int(height * 1.6), int(height * 2.0)), 0)
    ImageDraw.Draw(img).text((height * 0.2, height * 0.1), str(digit), fill=255, font=font)
    a = np.asarray(img, dtype=np.float32) / 255
    ys, xs = np.nonzero(a > 0.05)
    return a[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


# ---------------------------------------------------------------- the camera

def photograph(ink, rng):
    """Put an ink map on a page under uneven light; return the picture as a PIL image."""
    W = int(rng.uniform(300, 2500))
    H = int(W * rng.uniform(0.6, 1.4))
    target = int(min(W, H) * rng.uniform(0.15, 0.7))
    h, w = ink.shape
    s = min(target / h, 0.8 * W / w)
    ink = np.asarray(Image.fromarray(ink).resize((max(1, round(w * s)), max(1, round(h * s))),
                                                 Image.BICUBIC), dtype=np.float32).clip(0, 1)
    h, w = ink.shape
    my, mx = int(0.08 * H), int(0.08 * W)          # margin: a tilted view crops up to 8%
    y0, x0 = rng.integers(my, H - h - my + 1), rng.integers(mx, W - w - mx + 1)
    full = np.zeros((H, W), np.float32)
    full[y0:y0 + h, x0:x0 + w] = ink
    paper = rng.uniform(0.72, 0.97) * np.array([1.0, rng.uniform(0.95, 1), rng.uniform(0.85, 1)])
    pen = rng.uniform(0.02, 0.5) * np.array([1.0, 1.0, rng.uniform(1.0, 2.2)])   # black to blue
    paper, pen = paper.astype(np.float32), np.clip(pen, 0, 1).astype(np.float32)  # or pencil
    picture = paper * (1 - full[..., None]) + pen * full[..., None]
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xx / W + np.sin(angle) * yy / H)
    light = 1 - rng.uniform(0, 0.45) * (ramp - ramp.min()) / max(np.ptp(ramp), 1e-6)
    if rng.random() < 0.4:                        # a soft shadow from the side of the camera
        cy, cx = rng.uniform(-0.3, 1.3) * H, rng.uniform(-0.3, 1.3) * W
        r = rng.uniform(0.3, 0.8) * max(H, W)
        edge = 1 + np.exp((np.hypot(yy - cy, xx - cx) - r) / (0.1 * r))
        light *= 1 - rng.uniform(0.1, 0.35) / edge
    picture = picture * light[..., None]
    if rng.random() < 0.15:                       # chalk on a board, or a light pen on a screen
        picture = 1 - picture * rng.uniform(0.8, 1.0)
    picture += rng.normal(0, rng.uniform(0.004, 0.035), picture.shape).astype(np.float32)
    img = Image.fromarray((np.clip(picture, 0, 1) * 255).astype(np.uint8))
    if rng.random() < 0.5:                        # the camera not square to the page
        img = tilt(img, rng.uniform(0.02, 0.08), rng)
    if rng.random() < 0.6:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.8) * max(W, H) / 1000))
    if rng.random() < 0.3:
        img = img.convert("L")
    return img


def tilt(img, amount, rng):
    """A perspective view: the picture's corners come from points up to ``amount`` of its size
    inside the page's corners (so no edge of the page shows)."""
    W, H = img.size
    corners = np.array([(0, 0), (W, 0), (W, H), (0, H)], dtype=float)
    inward = np.array([(1, 1), (-1, 1), (-1, -1), (1, -1)])
    source = corners + inward * rng.uniform(0, amount, (4, 2)) * (W, H)
    # Pillow maps each output pixel (x, y) to the input pixel ((ax+by+c)/(gx+hy+1),
    # (dx+ey+f)/(gx+hy+1)): eight unknowns, two linear equations per corner.
    rows, rhs = [], []
    for (x, y), (u, v) in zip(corners, source):
        rows += [[x, y, 1, 0, 0, 0, -u * x, -u * y], [0, 0, 0, x, y, 1, -v * x, -v * y]]
        rhs += [u, v]
    coeffs = np.linalg.solve(np.array(rows), np.array(rhs))
    return img.transform(img.size, Image.PERSPECTIVE, tuple(coeffs), Image.BICUBIC)


def make_photos(folder, n, seed, test_images):
    """Write n photos per source into folder; return [(path, source, digit)]."""
    rng = np.random.default_rng(seed)
    cases = []
    for source in ("mnist-ink", "strokes", "fonts"):
        for i in range(n):
            height = int(rng.uniform(40, 500))
            if source == "mnist-ink":
                image, digit = test_images[0][i], int(test_images[1][i])
                ink = mnist_ink(image, height, rng)
            else:
                digit = i % 10
                ink = (stroke_ink if source == "strokes" else font_ink)(digit, height, rng)
            img = photograph(ink, rng)
            jpeg = rng.random() < 0.7
            path = os.path.join(folder, f"{source}-{i:03d}-{digit}.{'jpg' if jpeg else 'png'}")
            buffer = io.BytesIO()
            img.save(buffer, "JPEG", quality=int(rng.uniform(40, 95))) if jpeg \
                else img.save(buffer, "PNG")
            with open(path, "wb") as f:
                f.write(buffer.getvalue())
            cases.append((path, source, digit))
    return cases


def main():
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None,
                        help=f"model file (default: {reader.default_model_path()}, trained there "
                             "if missing)")
    parser.add_argument("--n", type=count(1), default=100,
                        help="pictures per source (default 100)")
    parser.add_argument("--seed", type=count(0), default=1)
    parser.add_argument("--data", default=None, help="MNIST folder (default: $SCRATCHNET_DATA)")
    parser.add_argument("--keep", metavar="DIR", help="write the pictures here and keep them")
    parser.add_argument("--show", metavar="PNG", help="save the misread pictures and their 28x28s")
    args = parser.parse_args()
    if args.model == "":
        parser.error("--model: empty path")
    try:
        digits = reader.load_reader(args.model, args.data)
        test = sn.load_mnist(args.data, flatten=False).test
    except (sn.io.ModelFileError, reader.ReaderError, sn.IDXError, OSError) as e:
        sys.exit(f"error: {e}")
    mnist_test = (test[0][:, 0][::-1], test[1][::-1])   # from the end: other scripts use the start

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or tmp
        os.makedirs(folder, exist_ok=True)
        cases = make_photos(folder, args.n, args.seed, mnist_test)
        right, wrong, sure = {}, [], []
        for path, source, digit in cases:
            try:
                reading = digits.read(path)
            except imaging.ImageError as e:
                print(f"  refused: {e}")
                guess = -1
            else:
                guess = reading.digit
                sure.append((reading.confident, guess == digit))
                if guess != digit:
                    wrong.append((path, reading.image, f"{os.path.basename(path)}: read {guess}"))
            right.setdefault(source, []).append(guess == digit)
        for source, hits in right.items():
            print(f"{source:>10}: {np.mean(hits):.3f} ({sum(hits)}/{len(hits)})")
        handwriting = right["mnist-ink"] + right["strokes"]
        every = sum(right.values(), [])
        print(f"handwriting (mnist-ink + strokes): {np.mean(handwriting):.3f} "
              f"({sum(handwriting)}/{len(handwriting)}); all: {np.mean(every):.3f} "
              f"({sum(every)}/{len(every)})")
        confident = [ok for c, ok in sure if c]
        print(f"confident: {len(confident)}/{len(sure)} answers, {sum(confident)} of them right; "
              f"not confident: {len(sure) - len(confident)}, "
              f"{sum(ok for c, ok in sure if not c)} of them right")
        if args.show and wrong:
            thumbs = [preview.thumbnail(imaging.load_image(p)) for p, _, _ in wrong[:30]]
            preview.save_preview(args.show, thumbs, [x for _, x, _ in wrong[:30]],
                                 [c for _, _, c in wrong[:30]])
            print(f"misread pictures: {args.show}")


if __name__ == "__main__":
    main()
