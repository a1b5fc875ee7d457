"""What every example shares: its command line, a progress line per epoch, plots, results.

Not part of the library: scratchnet itself returns data and never prints. Every flag is
checked where it enters: a bad value gets one line, ``error: --flag: reason``, and exit
status 2 (argparse's convention); a failure while running gets ``error: reason`` and 1.
"""
import argparse
import json
import math
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

# One BLAS thread per process, unless you set OMP_NUM_THREADS yourself. Mini-batches make small
# matrices (32 x 784 by 784 x 150): a second BLAS thread saves little on them, and on a machine
# busy with other work the threads wait for each other (epochs measured 5-10x slower on our
# shared 2-core machine). It must be set before NumPy is first imported, so every example
# imports this module first.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import scratchnet as sn  # noqa: E402
from scratchnet.backend import DEVICES, get_array_module  # noqa: E402
from scratchnet.files import atomic_write  # noqa: E402

# ---- flags, checked at the boundary ---------------------------------------------------------

def one_line_warning(message, category, *args, **kwargs):
    """A library warning (e.g. sn.TrainingWarning: "the rate may be far too large") as the
    examples print it: one line."""
    return f"warning: {message}\n"


class Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line: ``error: --flag: reason`` (exit status 2).
    An example's parser also makes the library's warnings one line each."""

    def parse_args(self, args=None, namespace=None):
        warnings.formatwarning = one_line_warning
        return super().parse_args(args, namespace)

    def error(self, message):
        if message.startswith("argument "):
            message = message[len("argument "):]
        self.exit(2, f"error: {message}\n")


def count(minimum):
    """An argparse type: an int >= ``minimum``."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value
    parse.__name__ = f"int >= {minimum}"
    return parse


def number(low=0.0, high=math.inf, low_open=True, high_open=True):
    """An argparse type: a finite float in the interval from ``low`` to ``high``."""
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        inside = (value > low if low_open else value >= low) and \
                 (value < high if high_open else value <= high)
        if not math.isfinite(value) or not inside:
            interval = (f"{'(' if low_open else '['}{low:g}, "
                        f"{high:g}{')' if high_open or high == math.inf else ']'}")
            raise argparse.ArgumentTypeError(f"must be a finite number in {interval}, got {text}")
        return value
    parse.__name__ = "number"
    return parse


positive_int = count(1)
rate = number(0.0)                                   # η > 0
penalty = number(0.0, low_open=False)                # λ >= 0
fraction = number(0.0, 1.0, low_open=False)          # momentum, dropout in [0, 1)


def add_common_flags(parser, epochs, seed=0,
                     results=("PATH", "write the final figures here as JSON (for sweeps)")):
    """--epochs --seed --device --dtype --data --limit --results, with this example's default
    epochs; ``results`` is --results' (metavar, help)."""
    parser.add_argument("--epochs", type=count(0), default=epochs,
                        help=f"epochs (default {epochs})")
    parser.add_argument("--seed", type=count(0), default=seed,
                        help="seed for weights and shuffling")
    parser.add_argument("--device", choices=DEVICES, default=None,
                        help="cpu or cuda (default: $SCRATCHNET_DEVICE, else cpu)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--data", default=None,
                        help="folder with the MNIST IDX files (default: $SCRATCHNET_DATA, the "
                             "user cache, or download)")
    parser.add_argument("--limit", type=positive_int, default=None, metavar="N",
                        help="use only the first N images of each split (quick checks)")
    parser.add_argument("--results", metavar=results[0], help=results[1])
    return parser


def parse(parser, argv=None):
    """Parse the command line and check what argparse alone cannot: that the device asked
    for (by --device or $SCRATCHNET_DEVICE) is there."""
    args = parser.parse_args(argv)
    if hasattr(args, "device"):
        flag = "--device" if args.device else "SCRATCHNET_DEVICE"
        device = args.device or os.environ.get("SCRATCHNET_DEVICE") or "cpu"
        if device not in DEVICES:
            parser.error(f"{flag}: must be one of {', '.join(DEVICES)}, got {device!r}")
        try:
            get_array_module(device)
        except RuntimeError as e:
            parser.error(f"{flag}: {e}")
        args.device = device
    return args


def add_sgd_flags(parser, hyper):
    """--eta --momentum --batch-size, and --lmbda --final-eta --final-epochs --dropout where
    ``hyper`` (the example's defaults) has them."""
    parser.add_argument("--eta", type=rate, default=hyper["eta"],
                        help=f"learning rate η (default {hyper['eta']})")
    if "lmbda" in hyper:
        parser.add_argument("--lmbda", type=penalty, default=hyper["lmbda"],
                            help=f"L2 regularisation λ (default {hyper['lmbda']})")
    if "final_eta" in hyper:
        parser.add_argument("--final-eta", type=rate, default=hyper["final_eta"],
                            help="η for the last --final-epochs epochs "
                                 f"(default {hyper['final_eta']})")
        parser.add_argument("--final-epochs", type=count(0), default=hyper["final_epochs"],
                            help=f"epochs at --final-eta (default {hyper['final_epochs']})")
    if "momentum" in hyper:
        parser.add_argument("--momentum", type=fraction, default=hyper["momentum"],
                            help=f"SGD momentum μ (default {hyper['momentum']})")
    parser.add_argument("--batch-size", type=positive_int, default=hyper["batch_size"],
                        help=f"mini-batch size (default {hyper['batch_size']})")
    if "dropout" in hyper:
        parser.add_argument("--dropout", type=fraction, default=hyper["dropout"],
                            help=f"dropout probability p (default {hyper['dropout']})")
    return parser


def add_sweep_flags(parser):
    """--jobs N and --scheduler ADDR: where the runs of a sweep go (scratchnet.sweep)."""
    parser.add_argument("--jobs", type=count(1), default=1, metavar="N",
                        help="runs side by side on N local processes (default 1)")
    parser.add_argument("--scheduler", metavar="ADDR",
                        help="run on the Dask cluster whose scheduler is at ADDR "
                             "(tcp://HOST:8786; needs pip install -e '.[dask]')")
    return parser


def add_output_flags(parser):
    """--save PATH (the trained network, .npz) and --plot PATH (loss and accuracy curves, PNG)."""
    parser.add_argument("--save", metavar="PATH", help="save the trained network here (.npz)")
    parser.add_argument("--plot", metavar="PATH",
                        help="write loss and accuracy curves to this PNG (needs matplotlib)")
    return parser


# ---- data ---------------------------------------------------------------------------------

def subset(data, limit):
    """The first ``limit`` images of each split (quick runs and tests)."""
    return type(data)(*[(X[:limit], y[:limit]) for X, y in data])


def load_data(args, **kwargs):
    """MNIST (cut to --limit images a split), or a one-line error and exit."""
    try:
        data = sn.load_mnist(args.data, dtype=args.dtype, **kwargs)
    except (sn.IDXError, OSError) as e:
        sys.exit(f"error: {e}")
    return subset(data, args.limit) if args.limit else data


# ---- training -----------------------------------------------------------------------------

class Progress(sn.Callback):
    """A progress bar on the terminal during an epoch, and one line per epoch: its number,
    the figures ``fields`` make of the logs, and its seconds."""

    def __init__(self, fields, stream=sys.stderr, every=0.25):
        self.fields, self.stream, self.every = fields, stream, every
        self.last = 0.0
        self.interactive = stream.isatty()

    def on_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        steps = self.params["steps"]
        if self.interactive and (now - self.last > self.every or batch + 1 == steps):
            self.last = now
            done = (batch + 1) * 30 // steps
            self.stream.write(f"\r  [{'#' * done}{'.' * (30 - done)}] {batch + 1}/{steps}")
            self.stream.flush()

    def on_epoch_end(self, epoch, logs=None):
        if self.interactive:
            self.stream.write("\r" + " " * 60 + "\r")
        parts = [f"Epoch {epoch}:"] + [fmt(logs) for fmt in self.fields]
        print(" ".join(parts) + f" ({logs['time']:.2f} s)", flush=True)


def standard_progress():
    """loss, validation accuracy and learning rate, each epoch."""
    return Progress([lambda logs: f"loss {logs['loss']:.4f}",
                     lambda logs: f"val accuracy {logs['val_accuracy']:.4f}",
                     lambda logs: f"lr {logs['lr']:.4g}"])


def fit_or_exit(net, data, args, optimizer, callbacks, **kwargs):
    """net.fit on data.train, watching data.validation; a one-line error and exit status 1
    if training fails (divergence, bad data). Returns the History."""
    try:
        history = net.fit(data.train, args.epochs, args.batch_size, optimizer,
                          validation_data=data.validation, callbacks=callbacks, seed=args.seed,
                          **kwargs)
    except (ValueError, FloatingPointError, RuntimeError) as e:
        sys.exit(f"error: {e}")
    if not history.epoch:
        sys.exit("error: no epochs trained (--epochs 0)")
    return history


def fit_keeping_best(net, data, args, schedule, monitor="val_accuracy", extra_fields=()):
    """Train with SGD + momentum and ``schedule``, one line per epoch (loss, validation score,
    ``extra_fields``, lr), and keep the weights of the epoch best by ``monitor``
    (sn.BestWeights). Returns the History; prints which epoch's weights were kept."""
    keep_best = sn.BestWeights(monitor)
    n_val = len(data.validation[1])
    progress = Progress([lambda logs: f"loss {logs['loss']:.4f}",
                         lambda logs: f"validation {round(logs['val_accuracy'] * n_val)} / {n_val}",
                         *extra_fields, lambda logs: f"lr {logs['lr']:.3g}"])
    history = fit_or_exit(net, data, args, sn.SGD(lr=args.eta, momentum=args.momentum),
                          [schedule, keep_best, progress])
    total = sum(history["time"])
    print(f"{len(history.epoch)} epochs, {total:.0f} s ({total / len(history.epoch):.1f} s per "
          f"epoch); weights of epoch {keep_best.best_epoch} (best {monitor})")
    return history


def final_phase(epochs, eta, final_eta, final_epochs):
    """A Piecewise schedule: η, then ``final_eta`` for the last ``final_epochs`` epochs (for all
    of them, if there are no more)."""
    switch = max(epochs - final_epochs, 0)
    return sn.Piecewise({0: eta, switch: final_eta} if switch else {0: final_eta})


def build_or_exit(build, *args):
    """The network ``build(*args)`` makes, printed; a one-line error and exit if it cannot be."""
    try:
        net = build(*args)
    except (ValueError, RuntimeError) as e:
        sys.exit(f"error: {e}")
    print(net.summary())
    return net


# ---- what a run leaves behind -----------------------------------------------------------------

def plot_history(history, path):
    """Write a PNG with loss and accuracy per epoch, training and validation."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("--plot needs matplotlib: pip install 'scratchnet[plot]'", file=sys.stderr)
        return
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key in ((left, "loss"), (right, "accuracy")):
        ax.plot(history.epoch, history[key], label="training")
        if f"val_{key}" in history:
            ax.plot(history.epoch, history[f"val_{key}"], label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))
    plt.close(fig)
    print(f"plot written to {path}")


def finish(args, net, history, figures):
    """Do what --save, --plot and --results asked for, keeping ``figures`` (the run's final
    numbers, JSON-able) with the model and in the results file. One-line error if a file
    cannot be written."""
    figures = {**figures, "epochs": len(history.epoch), "seconds": round(sum(history["time"]), 2),
               "seed": args.seed}
    for flag, path, write in (
            ("--save", getattr(args, "save", None), lambda p: sn.save(net, p, info=figures)),
            ("--plot", getattr(args, "plot", None), lambda p: plot_history(history, p)),
            ("--results", args.results, lambda p: atomic_write(
                p, lambda f: f.write(json.dumps(figures, indent=1).encode())))):
        if path:
            try:
                write(path)
            except (OSError, ValueError) as e:
                sys.exit(f"error: {flag}: cannot write {path}: {getattr(e, 'strerror', None) or e}")
            if flag == "--save":
                print(f"model saved to {path}")
