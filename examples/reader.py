"""The digit reader the front end and the draw page share: a model, and a picture -> its digit.

    reader = load_reader()                   # the default model, trained once if missing
    reading = reader.read("photo.jpg")       # a path, the file's bytes, or a binary file
    reading.digit, reading.probabilities, reading.confident, reading.image

A helper module like common.py, not an example: it is what `front_end.py` and `draw.py` both
need, so that they give the same answers for the same files.

The model: by default the deep perceptron trained on distorted MNIST, kept in the user cache
(`default_model_path()`).  If it is not there yet, `load_reader` trains it once, by running

    python examples/deep_perceptron.py --augment --save PATH

as a child process (a few minutes; its progress goes to stderr, so stdout stays for answers).
Any other model file works whose network reads a 28x28 image and has 10 outputs: a
Dense-first network (784 inputs) or a convolutional one (one input channel, 28x28).

The picture goes through `scratchnet.imaging.to_mnist` (a photo -> MNIST's 28x28), then the
network.  The answer is `confident` when both hold (see `Reader.confident`):

  - the network is sure: its top probability is at least SURE (0.8);
  - the 28x28 looks like a digit as MNIST's do: at most MAX_INK (30%) of its pixels are ink
    (> 1/2; MNIST's 99.9th percentile is 29%: a scribble fills more), at most MAX_HOLES (2)
    holes of 2 pixels or more (an 8 has two; more in 0.1% of MNIST) and at most MAX_PIECES (4)
    separate pieces of ink (more in 0.1% of MNIST).
Measured once on the 10,000 MNIST test images with the default model (seed 0, test accuracy
0.9914): 98.5% of the answers are sure and 99.65% of those are right (the others: 66%); 99.7%
of the images look like digits; 98.2% are confident.

Errors: a model that cannot be used raises `sn.io.ModelFileError` or `ReaderError` (both
ValueErrors, one line starting with the file's name); a picture that cannot be read as a digit
raises `scratchnet.imaging.ImageError` (one line starting with its name).
"""
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import common  # noqa: F401  first: it pins BLAS to one thread before NumPy loads

import numpy as np  # noqa: E402

from common import sn  # noqa: E402
from scratchnet import imaging  # noqa: E402
from scratchnet.imagefile import label, name_of  # noqa: E402
from scratchnet.raster import components  # noqa: E402

HERE = Path(__file__).resolve().parent
TRAIN_SCRIPT = HERE / "deep_perceptron.py"
TRAIN_ARGS = ("--augment",)       # the default model's recipe (tests add --epochs, --limit)
SURE = 0.8                        # the top probability a confident answer needs
MAX_INK, MAX_HOLES, MAX_PIECES = 0.30, 2, 4
INPUTS = ((784,), (1, 28, 28))    # the shapes a digit reader may read a 28x28 image in


class ReaderError(ValueError):
    """A model that is not a digit reader, or that could not be made; names the file."""


@dataclasses.dataclass(frozen=True)
class Reading:
    """What the network made of one picture.

    digit: the most probable digit; probabilities: float64 (10,), summing to 1; confident: see
    `Reader.confident`; image: the (28, 28) float32 image the network saw (light on dark)."""
    digit: int
    probabilities: np.ndarray
    confident: bool
    image: np.ndarray


def default_model_path():
    """Where the default model lives: the user cache's models/deep_perceptron.npz."""
    return Path(sn.datasets.cache_dir()) / "models" / "deep_perceptron.npz"


def add_model_flags(parser):
    """--model PATH and --data DIR, as the front end and the draw page both take them."""
    parser.add_argument("--model", metavar="PATH",
                        help=f"model file (default: {default_model_path()}, trained there on "
                             "first use)")
    parser.add_argument("--data", metavar="DIR",
                        help="MNIST folder, to train the default model (default: "
                             "$SCRATCHNET_DATA, the user cache, or download)")
    return parser


def check_model_flags(parser, args):
    """--model and --data checked before any model is read (``parser.error``: one line, exit
    status 2): an empty --model is not the default model, a folder is not a model file."""
    if args.model is not None:
        if not args.model:
            parser.error("--model: empty path (leave --model out for the default model)")
        if os.path.isdir(args.model):
            parser.error(f"--model: {label(args.model)} is a folder, not a model file")
    if args.data is not None and not os.path.isdir(args.data):
        parser.error(f"--data: {label(args.data) or 'empty path'} is not a folder")


def load_reader(model=None, data=None):
    """A Reader for the model file ``model``; None: the default model, trained first if it is
    not there yet (``data``: the MNIST folder to train it on; None: the usual places)."""
    if model is None:
        path = default_model_path()
        if not path.exists():
            train_default(path, data)
    elif not os.fsdecode(model):
        raise ReaderError("model path is empty: name a model file, or leave it out for the "
                          "default model")
    else:
        path = Path(os.fsdecode(model))
    name = label(path)
    try:
        net = sn.load(path)
    except sn.io.ModelFileError as e:          # its message starts with the path: made safe
        message = str(e)
        if message.startswith(str(path)):
            message = name + message[len(str(path)):]
        raise sn.io.ModelFileError(" ".join(message.split())) from None
    except RuntimeError as e:                   # the device asked for cannot be used
        raise ReaderError(" ".join(str(e).split())) from None
    except (OSError, ValueError, TypeError, KeyError, MemoryError) as e:
        why = " ".join(str(getattr(e, "strerror", None) or e).split()) or type(e).__name__
        raise ReaderError(f"{name}: cannot load the model ({why})") from None
    return Reader(net, name)


def train_default(path, data=None):
    """Train the default model by running the deep perceptron example, which saves it at
    ``path`` (atomically: a killed run leaves no file); its output goes to stderr.  ReaderError
    if it fails."""
    print(f"no model at {label(path)}: training the deep perceptron once (a few minutes)...",
          file=sys.stderr, flush=True)
    command = [sys.executable, str(TRAIN_SCRIPT), *TRAIN_ARGS, "--save", str(path)]
    if data is not None:
        command += ["--data", os.fsdecode(data)]
    try:
        out = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):     # a stderr with no file (a test's capture)
        out = None
    result = subprocess.run(command, stdout=out if out is not None else subprocess.PIPE,
                            stderr=subprocess.STDOUT if out is None else None, check=False)
    if out is None and result.stdout:
        sys.stderr.write(result.stdout.decode(errors="replace"))
    if result.returncode != 0 or not path.exists():
        raise ReaderError(f"{label(path)}: training the default model failed "
                          f"({TRAIN_SCRIPT.name} exit status {result.returncode})")


class Reader:
    """A network that reads 28x28 digits, checked once when made (``name``: its file)."""

    def __init__(self, net, name="<network>"):
        self.net, self.name = net, name
        self.input_shape = self._input_shape()

    def _input_shape(self):
        """The shape, of INPUTS, in which the network reads a 28x28 image: tried on a blank
        one, in the order the first layer's ``input_shape`` suggests."""
        first = getattr(self.net.layers[0], "input_shape", None) if self.net.layers else None
        shapes = sorted(INPUTS, key=lambda s: len(s) != len(first or (784,)))
        for shape in shapes:
            try:
                out = np.asarray(self.net.predict(np.zeros((1,) + shape, self.net.dtype)))
            except (ValueError, TypeError, IndexError, RuntimeError):    # not this shape
                continue
            if out.ndim != 2 or out.shape[1] != 10:
                n = out.shape[1] if out.ndim == 2 else "x".join(map(str, out.shape[1:]))
                raise ReaderError(f"{self.name}: the network has {n} outputs, a digit reader "
                                  "needs 10")
            if not np.isfinite(out).all():
                raise ReaderError(f"{self.name}: the network's outputs are not finite "
                                  "(NaN or infinite weights?)")
            return shape
        reads = ""
        if first:
            reads = "; its first layer reads " + (f"{first[0]} inputs" if len(first) == 1 else
                                                   "(" + ", ".join("any" if d is None else str(d)
                                                                   for d in first) + ")")
        raise ReaderError(f"{self.name}: the network cannot read a 28x28 image (784 inputs, or "
                          f"1 channel of 28x28){reads}")

    def read(self, source, name=None):
        """The Reading of a picture: a path, the file's bytes or a binary file object.
        ImageError (one line, starting with ``name``) if it is not a picture of a digit."""
        name = label(name if name is not None else name_of(source))
        return self.read_grey(imaging.load_image(source, name), name)

    def read_grey(self, grey, name="<array>"):
        """The Reading of an already decoded grey picture (h, w) in [0, 1], paper light."""
        image = imaging.to_mnist(grey, source=name)
        outputs = self.net.predict(image.reshape((1,) + self.input_shape).astype(self.net.dtype))
        p = probabilities(self.net, np.asarray(outputs, dtype=np.float64)[0])
        return Reading(int(p.argmax()), p, self.confident(p, image), image)

    @staticmethod
    def confident(p, image):
        """The network is sure (top probability >= SURE) and the 28x28 looks like a digit
        (MAX_INK, MAX_HOLES, MAX_PIECES: see the module docstring)."""
        return bool(p.max() >= SURE and looks_like_a_digit(image))


def probabilities(net, outputs):
    """A network's 10 outputs as probabilities: a softmax's as they are, a log-softmax's
    exponentiated, sigmoids' normalised to sum to 1, anything else (scores) through a softmax."""
    last = type(net.layers[-1]).__name__
    if last == "LogSoftmax":
        p = np.exp(outputs)
    elif last == "Softmax":
        p = np.clip(outputs, 0, None)
    elif last == "Sigmoid":
        p = outputs
    else:
        p = np.exp(outputs - outputs.max())           # shifted: exp never overflows
    total = p.sum()
    return p / total if total > 0 else np.full(10, 0.1)


def looks_like_a_digit(image):
    """MNIST-like ink: at most MAX_INK of the pixels above 1/2, at most MAX_HOLES holes (pieces
    of background the border cannot reach, 4-connected), at most MAX_PIECES pieces of ink."""
    ink = np.asarray(image) > 0.5
    if not ink.any() or ink.mean() > MAX_INK:
        return False
    _, pieces = components(ink)
    if pieces.max() + 1 > MAX_PIECES:
        return False
    return holes(ink) <= MAX_HOLES


def holes(ink):
    """Holes in a mask: 8-connected pieces of at least 2 pixels of the background that cannot
    be reached from the border in 4-connected steps (the border is filled inwards)."""
    free = np.pad(~ink, 1, constant_values=True)
    reached = np.zeros_like(free)
    reached[0], reached[-1], reached[:, 0], reached[:, -1] = True, True, True, True
    while True:                               # 28x28: at most a few dozen steps
        grown = reached.copy()
        grown[1:] |= reached[:-1]
        grown[:-1] |= reached[1:]
        grown[:, 1:] |= reached[:, :-1]
        grown[:, :-1] |= reached[:, 1:]
        grown &= free
        if (grown == reached).all():
            break
        reached = grown
    enclosed = free & ~reached
    if not enclosed.any():
        return 0
    runs, piece = components(enclosed)
    return int((np.bincount(piece, runs[:, 2] - runs[:, 1]) >= 2).sum())
