"""What every example shares: command-line flags, a progress line, per-epoch lines, plots.

Not part of the library: scratchnet itself returns data and never prints.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

# One BLAS thread per process, unless you set OMP_NUM_THREADS yourself. Mini-batches make small
# matrices (32 x 784 by 784 x 150): a second BLAS thread saves little on them, and on a machine
# busy with other work the threads wait for each other (epochs measured 5-10x slower on our
# shared 2-core machine). It must be set before NumPy is first imported, so every example
# imports this module first.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import scratchnet as sn  # noqa: E402


def positive_int(text):
    """An argparse type: an int >= 1."""
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def add_common_flags(parser, epochs, seed=0):
    """--epochs --seed --device --dtype --data --limit, with this example's default epochs."""
    parser.add_argument("--epochs", type=int, default=epochs, help=f"epochs (default {epochs})")
    parser.add_argument("--seed", type=int, default=seed, help="seed for weights and shuffling")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None,
                        help="cpu or cuda (default: $SCRATCHNET_DEVICE, else cpu)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--data", default=None,
                        help="folder with the MNIST IDX files (default: $SCRATCHNET_DATA, data/mnist, "
                             "or download)")
    parser.add_argument("--limit", type=positive_int, default=None, metavar="N",
                        help="use only the first N images of each split (quick checks)")
    return parser


def subset(data, limit):
    """The first ``limit`` images of each split (quick runs and tests)."""
    return type(data)(*[(X[:limit], y[:limit]) for X, y in data])


def load_data(args, **kwargs):
    """MNIST (cut to --limit images a split), or a one-line error and exit."""
    try:
        data = sn.load_mnist(args.data, dtype=args.dtype, **kwargs)
    except (sn.data.IDXError, OSError) as e:
        sys.exit(f"error: {e}")
    return subset(data, args.limit) if getattr(args, "limit", None) else data


class Progress:
    """A callback that draws a progress bar on the terminal during an epoch and prints
    one line per epoch: its number, the metrics asked for, and its seconds."""

    def __init__(self, fields, stream=sys.stderr, every=0.25):
        self.fields, self.stream, self.every = fields, stream, every
        self.last = 0.0
        self.interactive = stream.isatty()

    def on_batch_end(self, batch, n_batches):
        now = time.perf_counter()
        if self.interactive and (now - self.last > self.every or batch + 1 == n_batches):
            self.last = now
            done = (batch + 1) * 30 // n_batches
            self.stream.write(f"\r  [{'#' * done}{'.' * (30 - done)}] {batch + 1}/{n_batches}")
            self.stream.flush()

    def on_epoch_end(self, logs):
        if self.interactive:
            self.stream.write("\r" + " " * 60 + "\r")
        parts = [f"Epoch {logs['epoch']}:"] + [fmt(logs) for fmt in self.fields]
        print(" ".join(parts) + f" ({logs['time']:.2f} s)", flush=True)


def plot_history(history, path):
    """Write a PNG with loss and accuracy per epoch, training and validation."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("--plot needs matplotlib: pip install 'scratchnet[plot]'", file=sys.stderr)
        return
    epochs = history["epoch"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, title in ((left, "loss", "loss"), (right, "accuracy", "accuracy")):
        ax.plot(epochs, history[key], label="training")
        if history.epochs and f"val_{key}" in history.epochs[0]:
            ax.plot(epochs, history[f"val_{key}"], label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    tmp = f"{path}.tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
    print(f"plot written to {path}")


def add_output_flags(parser):
    """--save PATH (the trained network, .npz) and --plot PATH (loss and accuracy curves, PNG)."""
    parser.add_argument("--save", metavar="PATH", help="save the trained network here (.npz)")
    parser.add_argument("--plot", metavar="PATH",
                        help="write loss and accuracy curves to this PNG (needs matplotlib)")
    return parser


def save_and_plot(args, net, history, info=None):
    """Do what --save and --plot asked for; a one-line error and exit if a file cannot be written."""
    if args.save:
        try:
            sn.save(net, args.save, info=info)
        except OSError as e:
            sys.exit(f"error: cannot save to {args.save}: {e.strerror or e}")
        print(f"model saved to {args.save}")
    if args.plot:
        try:
            plot_history(history, args.plot)
        except OSError as e:
            sys.exit(f"error: cannot write {args.plot}: {e.strerror or e}")
