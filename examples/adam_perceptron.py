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
import common  # noqa: F401  first: it pins BLAS to one thread before NumPy loads

from common import (Parser, add_common_flags, add_output_flags, add_sgd_flags,  # noqa: E402
                    finish, fit_or_exit, load_data, parse, positive_int, sn, standard_progress)

PHASES = {0: 1e-3, 20: 1e-5}      # epoch -> learning rate


def build_network(hidden, seed, device, dtype):
    return sn.Network([sn.Dense(784, hidden, init="he"), sn.ReLU(),
                       sn.Dense(hidden, 10, init="glorot"), sn.LogSoftmax()],
                      loss=sn.NLL(), device=device, dtype=dtype, seed=seed)


def main(argv=None):
    parser = Parser(description=__doc__.splitlines()[0])
    add_common_flags(parser, epochs=40)
    add_sgd_flags(parser, {"eta": PHASES[0], "batch_size": 64})
    parser.add_argument("--hidden", type=positive_int, default=128,
                        help="hidden neurons (default 128)")
    add_output_flags(parser)
    args = parse(parser, argv)

    data = load_data(args)
    net = build_network(args.hidden, args.seed, args.device, args.dtype)
    # The second phase keeps the first's ratio: 1e-5 after 1e-3 by default.
    phases = sn.Piecewise({0: args.eta, 20: args.eta * PHASES[20] / PHASES[0]})
    history = fit_or_exit(net, data, args, sn.Adam(lr=args.eta), [phases, standard_progress()])
    test = net.evaluate(data.test)["accuracy"]
    print(f"{len(history.epoch)} epochs, {sum(history['time']):.0f} s")
    print(f"test accuracy: {test:.4f}")
    finish(args, net, history, {"test_accuracy": test, "hidden": args.hidden, "eta": args.eta,
                                "batch_size": args.batch_size})


if __name__ == "__main__":
    main()
