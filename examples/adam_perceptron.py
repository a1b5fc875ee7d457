"""A one-hidden-layer perceptron trained with Adam, in two phases.

[784, 128, 10]: a ReLU hidden layer (He initialisation) and a log-softmax output, trained on the
negative log-likelihood, C_x = -ln a_y where a = log softmax(z) — the same cost as the softmax
cross-entropy, with δ^L = e^a - y. Adam (Kingma & Ba) with mini-batches of 64 and a two-phase
schedule: 20 epochs at η = 1e-3, then 20 at 1e-5 to settle into the minimum it has found.
Trained on the 50,000 training images, watched on the 10,000 validation images; the test
images are scored once, at the end (target: at least 97.5%).

    python examples/adam_perceptron.py
    python examples/adam_perceptron.py --epochs 1 --save adam.npz --plot adam.png
"""
import argparse
import sys

import common  # noqa: F401  first: it pins BLAS to one thread before NumPy loads

from common import add_common_flags, add_output_flags, load_data, save_and_plot, sn  # noqa: E402
from deep_perceptron import progress_lines  # noqa: E402

PHASES = {0: 1e-3, 20: 1e-5}      # epoch -> learning rate


def build_network(hidden=128, seed=0, device=None, dtype="float32"):
    return sn.Network([sn.Dense(784, hidden, init="he"), sn.ReLU(),
                       sn.Dense(hidden, 10, init="glorot"), sn.LogSoftmax()],
                      loss=sn.NLL(), device=device, dtype=dtype, seed=seed)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_flags(parser, epochs=40)
    parser.add_argument("--hidden", type=int, default=128, help="hidden neurons (default 128)")
    parser.add_argument("--batch-size", type=int, default=64, help="mini-batch size (default 64)")
    add_output_flags(parser)
    args = parser.parse_args(argv)

    data = load_data(args)
    try:
        net = build_network(args.hidden, args.seed, args.device, args.dtype)
        history = net.fit(data.train, args.epochs, args.batch_size, sn.Adam(lr=PHASES[0]),
                          validation_data=data.validation, schedule=sn.Piecewise(PHASES),
                          callbacks=[progress_lines()], seed=args.seed)
    except (ValueError, RuntimeError, FloatingPointError) as e:
        sys.exit(f"error: {e}")
    if not len(history):
        sys.exit("error: no epochs trained (--epochs 0)")
    test = net.evaluate(data.test)["accuracy"]
    print(f"{len(history)} epochs, {sum(history['time']):.0f} s")
    print(f"test accuracy: {test:.4f}")
    save_and_plot(args, net, history, info={"test_accuracy": test, "epochs": len(history),
                                            "seed": args.seed, "hidden": args.hidden})


if __name__ == "__main__":
    main()
