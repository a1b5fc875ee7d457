"""A convolutional network in the style of Nielsen's chapter 6, on MNIST's 28x28 images.

    conv 5x5, 20 maps (28x28 -> 24x24) - max-pool 2 (-> 12x12) - ReLU
    conv 5x5, 40 maps (-> 8x8) - max-pool 2 (-> 4x4) - ReLU
    dense 640 -> 100 - ReLU - dropout 0.5 - dense 100 -> 10 - softmax

Nielsen's network3.py trains this shape (with ReLUs and L2 regularisation) for 60 epochs at
η = 0.03 to 99.23%. Here the cost is the softmax cross-entropy (δ = a - y, eq. 81), the
optimiser SGD with momentum 0.9, η = 0.05 and mini-batches of 64, and a piecewise schedule
lowers η to 0.005 for the last epoch; dropout on the 100 hidden neurons stands in for L2.
The weights of the epoch with the best validation accuracy are kept.

    python examples/convnet.py                         # test accuracy: 0.99xx (>= 0.990)
    python examples/convnet.py --epochs 10 --final-epochs 3 --save data/models/convnet.npz
"""
import argparse

import common  # noqa: F401  first: it pins BLAS to one thread before NumPy loads

from common import (add_common_flags, add_output_flags, add_sgd_flags, build_or_exit,  # noqa: E402
                    final_phase, fit_keeping_best, load_data, save_and_plot, sn)

EPOCHS = 3
HYPER = {"eta": 0.05, "momentum": 0.9, "batch_size": 64, "dropout": 0.5,
         "final_eta": 0.005, "final_epochs": 1}


def build_network(dropout=HYPER["dropout"], seed=0, device=None, dtype="float32"):
    return sn.Network([
        sn.Conv2D(1, 20, 5), sn.MaxPool2D(2), sn.ReLU(),
        sn.Conv2D(20, 40, 5), sn.MaxPool2D(2), sn.ReLU(),
        sn.Flatten(),
        sn.Dense(40 * 4 * 4, 100, init="he"), sn.ReLU(), sn.Dropout(dropout),
        sn.Dense(100, 10, init="glorot"), sn.Softmax()],
        loss=sn.CategoricalCrossEntropy(), device=device, dtype=dtype, seed=seed)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_flags(parser, epochs=EPOCHS)
    add_output_flags(parser)
    add_sgd_flags(parser, HYPER)
    args = parser.parse_args(argv)

    data = load_data(args, flatten=False)
    net = build_or_exit(build_network, args.dropout, args.seed, args.device, args.dtype)
    history = fit_keeping_best(net, data, args, final_phase(args.epochs, args.eta, args.final_eta,
                                                            args.final_epochs))
    test = net.evaluate(data.test)["accuracy"]
    print(f"test accuracy: {test:.4f}")
    save_and_plot(args, net, history, info={
        "test_accuracy": test, "epochs": len(history), "seed": args.seed, "eta": args.eta,
        "final_eta": args.final_eta, "final_epochs": args.final_epochs,
        "momentum": args.momentum, "batch_size": args.batch_size, "dropout": args.dropout})


if __name__ == "__main__":
    main()
