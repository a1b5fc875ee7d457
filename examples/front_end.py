"""Read handwritten digits from photos and scans with the deep perceptron.

    python examples/front_end.py IMAGE [IMAGE ...] [--model PATH] [--show PATH] [--data DIR]

prints one line per image, ``IMAGE: digit (p=0.97)``, where p is the network's probability for
that digit; ``IMAGE: digit (p=0.55, not sure)`` when the answer is not confident (the network is
unsure, or the picture does not look like a digit: see examples/reader.py). Any photo or scan
of one digit will do: dark ink on paper (or light on dark), in any light, anywhere in a picture
of any size, in any format and colour mode Pillow reads. ``scratchnet.imaging`` turns it into
what MNIST looks like (a 20x20 digit centred by mass in 28x28, white on black); ``--show PATH``
saves that 28x28, next to each input, as one PNG (the first SHOW_ROWS images).

The model: by default the deep perceptron in the user cache
($XDG_CACHE_HOME/scratchnet/models/deep_perceptron.npz, or ~/.cache/...). If it is not there
yet, the front end says so, trains it once (a few minutes, progress on stderr) and saves it;
the same as running

    python examples/deep_perceptron.py --augment --save PATH

(trained on randomly distorted MNIST images: photographed digits are never as neatly upright,
centred and even as MNIST's). ``--model`` takes any model file whose network reads a 28x28
image and has 10 outputs (a dense or a convolutional network).

Errors: a bad flag gets ``error: --flag: reason`` and exit status 2 before anything is read; a
model that cannot be used gets ``error: MODEL: reason`` and exit status 1. A file that cannot
be read as one digit (missing, not an image, empty or truncated, blank, too large) gets one line
on stderr, ``error: IMAGE: reason``; the other images are still read, and the exit status is 1.
File names are printed with control characters and undecodable bytes escaped.
"""
import os
import sys

import common  # noqa: F401  first: it pins BLAS to one thread before NumPy loads

from common import Parser  # noqa: E402
from reader import ReaderError, add_model_flags, check_model_flags, load_reader  # noqa: E402
from scratchnet import imaging, preview  # noqa: E402
from scratchnet.imagefile import label  # noqa: E402
from scratchnet.io import ModelFileError  # noqa: E402

SHOW_ROWS = 100           # --show keeps a thumbnail of at most this many images (118 KB each)


def parse_args(argv=None):
    """The command line, every flag checked before any image or model is read."""
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="photos or scans of digits")
    add_model_flags(parser)
    parser.add_argument("--show", metavar="PATH",
                        help="save each input beside the 28x28 the network saw, as one PNG")
    args = parser.parse_args(argv)
    check_model_flags(parser, args)
    if args.show is not None:
        folder = os.path.dirname(os.path.abspath(args.show)) if args.show else ""
        if not args.show or os.path.isdir(args.show):
            parser.error(f"--show: {label(args.show) or 'empty path'}: need a PNG file's path")
        if not os.path.isdir(folder):
            parser.error(f"--show: {label(args.show)}: folder {label(folder)} does not exist")
    return args


def main(argv=None):
    for stream in (sys.stdout, sys.stderr):     # a name the terminal cannot encode: escaped
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    args = parse_args(argv)
    try:
        reader = load_reader(args.model, args.data)
    except (ModelFileError, ReaderError) as e:   # their messages start with the file's name
        sys.exit(f"error: {' '.join(str(e).split())}")

    failed, read, shown = 0, 0, []
    for path in args.images:
        name = label(path)
        try:
            grey = imaging.load_image(path, name)
            reading = reader.read_grey(grey, name)
            if args.show and len(shown) < SHOW_ROWS:
                shown.append((preview.thumbnail(grey), reading.image, f"{name}: {reading.digit}"))
            del grey                              # the next photo need not wait beside it
        except imaging.ImageError as e:           # its message starts with the file's name
            print(f"error: {e}", file=sys.stderr, flush=True)
            failed += 1
            continue
        except MemoryError:
            print(f"error: {name}: not enough memory to read it", file=sys.stderr, flush=True)
            failed += 1
            continue
        except Exception as e:                    # noqa: BLE001  a bug must not stop the
            why = " ".join(str(e).split())[:200]  # other images, nor trace back
            print(f"error: {name}: cannot read it ({type(e).__name__}: {why})", file=sys.stderr,
                  flush=True)
            failed += 1
            continue
        read += 1
        p = float(reading.probabilities[reading.digit])
        doubt = "" if reading.confident else ", not sure"
        print(f"{name}: {reading.digit} (p={p:.2f}{doubt})", flush=True)

    if args.show and shown:
        if read > SHOW_ROWS:
            print(f"note: --show: the first {SHOW_ROWS} images only", file=sys.stderr)
        try:
            preview.save_preview(args.show, *zip(*shown))
        except OSError as e:
            print(f"error: --show: cannot write {label(args.show)} ({e.strerror or e})",
                  file=sys.stderr)
            failed += 1
        else:
            print(f"what the network saw: {label(args.show)}", file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:                     # Ctrl-C, e.g. while the model trains
        sys.exit(130)
