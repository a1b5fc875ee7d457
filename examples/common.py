"""What every example shares: command-line flags, a progress line, per-epoch lines, plots.

Not part of the library: scratchnet itself returns data and never prints.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import scratchnet as sn  # noqa: E402


def add_common_flags(parser, epochs, seed=0):
    """--epochs --seed --device --dtype --data, with this example's default epochs."""
    parser.add_argument("--epochs", type=int, default=epochs, help=f"epochs (default {epochs})")
    parser.add_argument("--seed", type=int, default=seed, help="seed for weights and shuffling")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None,
                        help="cpu or cuda (default: $SCRATCHNET_DEVICE, else cpu)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--data", default=None,
                        help="folder with the MNIST IDX files (default: $SCRATCHNET_DATA, data/mnist, "
                             "or download)")
    return parser


def load_data(args, **kwargs):
    """MNIST, or a one-line error and exit when it cannot be had."""
    try:
        return sn.load_mnist(args.data, dtype=args.dtype, **kwargs)
    except (sn.data.IDXError, OSError) as e:
        sys.exit(f"error: {e}")


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
