"""The deep perceptron: a plain fully-connected [784, 150, 50, 100, 10] network on MNIST.

The reference result this reproduces: trained from scratch, it reaches 98.3% test accuracy with
L2 regularisation, a learning rate halved after every 3 epochs without improvement, and training
stopped after 20 epochs without improvement, keeping and restoring the best weights.

    python examples/deep_perceptron.py                  # about a minute (see README's table)
    python examples/deep_perceptron.py --save model.npz --plot curves.png
    python examples/deep_perceptron.py --augment --save model.npz    # the front end's model

The data are Nielsen's split: 50,000 training images, 10,000 validation images (they alone drive
the schedule and early stopping) and the 10,000 test images, scored once, at the end.

The network and its training (the defaults below were found with
examples/search_hyperparameters.py; its docstring and benchmarks/RESULTS.md tell how):
  - ReLU hidden layers with He initialisation, N(0, 2/n_in): an active ReLU passes the error
    back undiminished, where each sigmoid layer would scale it by σ' ≤ 1/4 (Nielsen ch. 5's
    vanishing gradient); a softmax output with the categorical cross-entropy, whose output
    error is δ^L = a - y (Nielsen eq. 81).
  - Mini-batch SGD with momentum 0.9, η = 0.03, mini-batches of 32.
  - L2 regularisation, C = C0 + (λ/2n) Σ w², with λ = 15 and n = 50,000 (the training-set size).
  - ReduceLROnPlateau(factor=0.5, patience=2) on the validation accuracy: PyTorch's patience
    counts the flat epochs tolerated, so the rate is halved after the 3rd flat epoch.
  - EarlyStopping(patience=20, restore_best_weights=True) on the validation accuracy.

``--augment`` trains on a freshly distorted copy of the training images every epoch (a random
small rotation, shear, scale, shift of up to 2 pixels and a thicker or thinner stroke per image;
see ``scratchnet.augment.distort``, given to ``fit(augment=...)``). It is *not* part of the
reference result: it is how the front end's model is trained, because photographed digits are
never as neatly centred, upright and even as MNIST's.
"""
import common  # noqa: F401  first: it pins BLAS to one thread before NumPy loads

from common import (Parser, add_common_flags, add_output_flags, add_sgd_flags,  # noqa: E402
                    finish, fit_or_exit, load_data, parse, sn, standard_progress)

SIZES = (784, 150, 50, 100, 10)
HYPER = {"eta": 0.03, "lmbda": 15.0, "batch_size": 32, "momentum": 0.9}
MAX_EPOCHS = 200          # a cap only: early stopping ends the default run long before
LR_PATIENCE, LR_FACTOR = 2, 0.5          # halve after the 3rd epoch without improvement
STOP_PATIENCE = 20                       # stop after the 20th epoch without improvement


def build_network(lmbda, seed, device, dtype):
    """Dense layers with ReLU between them and a softmax at the end, L2-regularised."""
    layers = []
    for n_in, n_out in zip(SIZES[:-2], SIZES[1:-1]):
        layers += [sn.Dense(n_in, n_out, init="he"), sn.ReLU()]
    layers += [sn.Dense(SIZES[-2], SIZES[-1], init="glorot"), sn.Softmax()]
    return sn.Network(layers, loss=sn.CategoricalCrossEntropy(),
                      regularizer=sn.L2(lmbda) if lmbda else None,
                      device=device, dtype=dtype, seed=seed)


def main(argv=None):
    parser = Parser(description=__doc__.splitlines()[0])
    add_common_flags(parser, epochs=MAX_EPOCHS)
    add_sgd_flags(parser, HYPER)
    parser.add_argument("--augment", action="store_true",
                        help="train on randomly distorted images (the front end's model)")
    add_output_flags(parser)
    args = parse(parser, argv)

    data = load_data(args)
    print(f"[{', '.join(map(str, SIZES))}] eta {args.eta:g}, lmbda {args.lmbda:g}, batch size "
          f"{args.batch_size}, momentum {args.momentum:g}{', augmented' if args.augment else ''}; "
          f"{len(data.train[1])} training images")
    net = build_network(args.lmbda, args.seed, args.device, args.dtype)
    stopping = sn.EarlyStopping("val_accuracy", patience=STOP_PATIENCE, restore_best_weights=True)
    history = fit_or_exit(
        net, data, args, sn.SGD(lr=args.eta, momentum=args.momentum),
        [sn.ReduceLROnPlateau("val_accuracy", factor=LR_FACTOR, patience=LR_PATIENCE), stopping,
         standard_progress()],
        augment=sn.distort if args.augment else None)
    best = stopping.best_epoch
    test = net.evaluate(data.test)["accuracy"]
    print(f"{len(history.epoch)} epochs, {sum(history['time']):.0f} s; best epoch {best} "
          f"(validation accuracy {history['val_accuracy'][best]:.4f}), weights restored")
    print(f"test accuracy: {test:.4f}")
    finish(args, net, history, {"test_accuracy": test, "best_epoch": best,
                                "val_accuracy": history["val_accuracy"][best],
                                "augment": args.augment, "eta": args.eta, "lmbda": args.lmbda,
                                "batch_size": args.batch_size, "momentum": args.momentum})


if __name__ == "__main__":
    main()
