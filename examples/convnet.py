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
import sys

import common  # noqa: F401  first: it pins BLAS to one thread before NumPy loads

from common import (Progress, add_common_flags, add_output_flags, load_data,  # noqa: E402
                    save_and_plot, sn)

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
    parser.add_argument("--eta", type=float, default=HYPER["eta"],
                        help=f"learning rate η (default {HYPER['eta']})")
    parser.add_argument("--final-eta", type=float, default=HYPER["final_eta"],
                        help=f"η for the last --final-epochs epochs (default {HYPER['final_eta']})")
    parser.add_argument("--final-epochs", type=int, default=HYPER["final_epochs"],
                        help=f"epochs at --final-eta (default {HYPER['final_epochs']})")
    parser.add_argument("--momentum", type=float, default=HYPER["momentum"])
    parser.add_argument("--batch-size", type=int, default=HYPER["batch_size"])
    parser.add_argument("--dropout", type=float, default=HYPER["dropout"],
                        help=f"dropout probability p (default {HYPER['dropout']})")
    args = parser.parse_args(argv)

    data = load_data(args, flatten=False)
    try:
        net = build_network(args.dropout, args.seed, args.device, args.dtype)
    except (ValueError, RuntimeError) as e:
        sys.exit(f"error: {e}")
    print(net.summary())
    switch = max(args.epochs - args.final_epochs, 0)
    # The last --final-epochs epochs at --final-eta (all of them, if there are no more).
    rates = {0: args.eta, switch: args.final_eta} if switch else {0: args.final_eta}
    schedule = sn.Piecewise(rates)
    keep_best = sn.EarlyStopping("val_accuracy", patience=max(args.epochs, 1),
                                 restore_best_weights=True)
    n_val = len(data.validation[1])
    progress = Progress([lambda logs: f"loss {logs['loss']:.4f}",
                         lambda logs: f"validation {round(logs['val_accuracy'] * n_val)} / {n_val}",
                         lambda logs: f"lr {logs['lr']:.3g}"])
    try:
        history = net.fit(data.train, args.epochs, args.batch_size,
                          sn.SGD(lr=args.eta, momentum=args.momentum),
                          validation_data=data.validation, schedule=schedule,
                          early_stopping=keep_best, callbacks=[progress], seed=args.seed)
    except (ValueError, FloatingPointError) as e:
        sys.exit(f"error: {e}")
    if not len(history):
        sys.exit("error: no epochs trained (--epochs 0)")
    test = net.evaluate(data.test)["accuracy"]
    print(f"{len(history)} epochs, {sum(history['time']):.0f} s "
          f"({sum(history['time']) / len(history):.1f} s per epoch); weights of epoch "
          f"{keep_best.best_epoch} (best validation accuracy)")
    print(f"test accuracy: {test:.4f}")
    save_and_plot(args, net, history, info={
        "test_accuracy": test, "epochs": len(history), "seed": args.seed, "eta": args.eta,
        "final_eta": args.final_eta, "final_epochs": args.final_epochs,
        "momentum": args.momentum, "batch_size": args.batch_size, "dropout": args.dropout})


if __name__ == "__main__":
    main()
