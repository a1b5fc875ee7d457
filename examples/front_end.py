"""Read handwritten digits from photos and scans with the deep perceptron.

    python examples/front_end.py IMAGE [IMAGE ...] [--model PATH] [--show PATH]

prints one line per image, ``IMAGE: digit (p=0.97)``, where p is the network's probability for
that digit. Any photo or scan of one digit will do: dark ink on paper (or light on dark), in any
light, anywhere in a picture of any size, RGB or grey, JPEG or PNG. ``scratchnet.imaging`` turns
it into what MNIST looks like (a 20x20 digit centred by mass in 28x28, white on black); ``--show
PATH`` saves that 28x28, next to each input, as a PNG.

The model: by default the deep perceptron at data/models/deep_perceptron.npz. If it is not there
yet, the front end says so, trains it once (a few minutes, progress on stderr) and saves it; the
same as running

    python examples/deep_perceptron.py --augment --save data/models/deep_perceptron.npz

(trained on randomly distorted MNIST images: photographed digits are never as neatly upright,
centred and even as MNIST's; see deep_perceptron.py). ``--model`` takes any model file whose
network reads a 28x28 image and has 10 outputs.

A file that cannot be read as one digit (missing, not an image, empty or truncated, blank, too
large) gets one line on stderr, ``error: IMAGE: reason``; the other images are still read, and
the exit status is 1.
"""
import argparse
import contextlib
import os
import sys

import common  # noqa: F401  first: it pins BLAS to one thread before NumPy loads

import numpy as np  # noqa: E402

from common import sn  # noqa: E402
from deep_perceptron import MODEL_PATH, progress_lines, train  # noqa: E402
from scratchnet import imaging  # noqa: E402


def default_model(data_folder):
    """The default model, trained and saved first if it is not there yet."""
    path = os.path.normpath(MODEL_PATH)
    if os.path.exists(path):
        return sn.load(path)
    print(f"no model at {path}: training the deep perceptron once (a few minutes)...",
          file=sys.stderr, flush=True)
    data = sn.load_mnist(data_folder)
    with contextlib.redirect_stdout(sys.stderr):      # stdout is for the answers only
        net, history = train(data, augment=True, callbacks=[progress_lines()])
    test = net.evaluate(data.test)["accuracy"]
    sn.save(net, path, info={"test_accuracy": test, "epochs": len(history), "augment": True})
    print(f"test accuracy {test:.4f}; model saved to {path}", file=sys.stderr, flush=True)
    return net


def probabilities(net, outputs):
    """The network's outputs as probabilities over the 10 digits."""
    last = type(net.layers[-1]).__name__
    if last == "LogSoftmax":
        return np.exp(outputs)
    if last == "Softmax":
        return outputs
    outputs = np.clip(outputs, 0, None)          # e.g. sigmoid outputs: normalised to sum to 1
    return outputs / max(float(outputs.sum()), 1e-12)


def as_input(net, digit):
    """A (28, 28) image as a batch of one, in the shape the network's first layer reads."""
    shape = getattr(net.layers[0], "input_shape", None) or (784,)
    return digit.reshape((1,) + tuple(shape))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="photos or scans of digits")
    parser.add_argument("--model", metavar="PATH",
                        help="model file (default: data/models/deep_perceptron.npz, trained "
                             "there on first use)")
    parser.add_argument("--show", metavar="PATH",
                        help="save each input beside the 28x28 the network saw, as one PNG")
    parser.add_argument("--data", default=None,
                        help="MNIST folder, to train the default model (default: "
                             "$SCRATCHNET_DATA, data/mnist, or download)")
    args = parser.parse_args(argv)

    model = args.model or os.path.normpath(MODEL_PATH)
    try:
        net = sn.load(model) if args.model else default_model(args.data)
        n_out = net.predict(as_input(net, np.zeros((28, 28), np.float32))).shape[1]
    except (sn.io.ModelFileError, sn.data.IDXError) as e:     # their messages name the file
        sys.exit(f"error: {e}")
    except (OSError, ValueError) as e:
        sys.exit(f"error: {model}: {getattr(e, 'strerror', None) or e}")
    if n_out != 10:
        sys.exit(f"error: {model}: the network has {n_out} outputs, a digit reader needs 10")

    failed, shown = 0, []
    for path in args.images:
        try:
            grey = imaging.load_image(path)          # imaging.load_digit, keeping the photo
            digit = imaging.to_mnist(grey, source=path)
            p = probabilities(net, net.predict(as_input(net, digit)))[0]
            if args.show:
                shown.append((grey, digit, f"{path}: {int(p.argmax())}"))
        except imaging.ImageError as e:           # its message starts with the file's name
            print(f"error: {e}", file=sys.stderr, flush=True)
            failed += 1
            continue
        except Exception as e:                    # noqa: BLE001 - one bad file must not stop
            why = " ".join(str(e).split()) or type(e).__name__    # the others, nor trace back
            print(f"error: {path}: {why}", file=sys.stderr, flush=True)
            failed += 1
            continue
        print(f"{path}: {int(p.argmax())} (p={float(p.max()):.2f})", flush=True)

    if args.show and shown:
        try:
            imaging.save_preview(args.show, *zip(*shown))
        except OSError as e:
            print(f"error: {args.show}: cannot write ({e.strerror or e})", file=sys.stderr)
            failed += 1
        else:
            print(f"what the network saw: {args.show}", file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
