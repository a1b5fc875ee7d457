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


# ---- what the convolutional examples share: SGD flags, a final low-rate phase, keep-the-best

def add_sgd_flags(parser, hyper):
    """--eta --momentum --batch-size, and --final-eta --final-epochs --dropout where ``hyper``
    (the example's defaults) has them."""
    parser.add_argument("--eta", type=float, default=hyper["eta"],
                        help=f"learning rate η (default {hyper['eta']})")
    if "final_eta" in hyper:
        parser.add_argument("--final-eta", type=float, default=hyper["final_eta"],
                            help=f"η for the last --final-epochs epochs (default {hyper['final_eta']})")
        parser.add_argument("--final-epochs", type=int, default=hyper["final_epochs"],
                            help=f"epochs at --final-eta (default {hyper['final_epochs']})")
    parser.add_argument("--momentum", type=float, default=hyper["momentum"])
    parser.add_argument("--batch-size", type=int, default=hyper["batch_size"])
    if "dropout" in hyper:
        parser.add_argument("--dropout", type=float, default=hyper["dropout"],
                            help=f"dropout probability p (default {hyper['dropout']})")
    return parser


def final_phase(epochs, eta, final_eta, final_epochs):
    """A Piecewise schedule: η, then ``final_eta`` for the last ``final_epochs`` epochs (for all
    of them, if there are no more)."""
    switch = max(epochs - final_epochs, 0)
    return sn.Piecewise({0: eta, switch: final_eta} if switch else {0: final_eta})


MONITORED = {"val_accuracy": ("max", "validation accuracy"), "val_loss": ("min", "validation loss")}


def fit_keeping_best(net, data, args, schedule, monitor="val_accuracy", extra_fields=()):
    """Train with SGD + momentum on data.train, scoring data.validation every epoch (one line per
    epoch: loss, validation score, ``extra_fields``, lr), and keep the weights of the epoch best
    by ``monitor``. A one-line error and exit if training fails. Returns the History."""
    mode, name = MONITORED[monitor]
    keep_best = sn.EarlyStopping(monitor, mode=mode, patience=max(args.epochs, 1),
                                 restore_best_weights=True)
    n_val = len(data.validation[1])
    progress = Progress([lambda logs: f"loss {logs['loss']:.4f}",
                         lambda logs: f"validation {round(logs['val_accuracy'] * n_val)} / {n_val}",
                         *extra_fields, lambda logs: f"lr {logs['lr']:.3g}"])
    try:
        history = net.fit(data.train, args.epochs, args.batch_size,
                          sn.SGD(lr=args.eta, momentum=args.momentum),
                          validation_data=data.validation, schedule=schedule,
                          early_stopping=keep_best, callbacks=[progress], seed=args.seed)
    except (ValueError, FloatingPointError) as e:
        sys.exit(f"error: {e}")
    if not len(history):
        sys.exit("error: no epochs trained (--epochs 0)")
    total = sum(history["time"])
    print(f"{len(history)} epochs, {total:.0f} s ({total / len(history):.1f} s per epoch); "
          f"weights of epoch {keep_best.best_epoch} (best {name})")
    return history


def build_or_exit(build, *args):
    """The network ``build(*args)`` makes, printed; a one-line error and exit if it cannot be."""
    try:
        net = build(*args)
    except (ValueError, RuntimeError) as e:
        sys.exit(f"error: {e}")
    print(net.summary())
    return net
