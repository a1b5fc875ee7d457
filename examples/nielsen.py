"""Nielsen's first network (Neural Networks and Deep Learning, ch. 1), with scratchnet.

[784, 30, 10] sigmoid neurons, quadratic cost, mini-batch SGD with η = 3.0 and
mini-batches of 10, 30 epochs on the 50,000 training images, each epoch scored on
the 10,000 test images — the book reports 95.42% at best:

    python examples/nielsen.py
    python examples/nielsen.py --hidden 100 --cost cross-entropy --eta 0.5 --lmbda 5.0   (ch. 3)
"""
import argparse

from common import Progress, add_common_flags, load_data, sn


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_flags(parser, epochs=30)
    parser.add_argument("--hidden", type=int, default=30, help="hidden neurons (default 30)")
    parser.add_argument("--eta", type=float, default=3.0, help="learning rate η (default 3.0)")
    parser.add_argument("--batch-size", type=int, default=10, help="mini-batch size (default 10)")
    parser.add_argument("--cost", choices=("quadratic", "cross-entropy"), default="quadratic")
    parser.add_argument("--lmbda", type=float, default=0.0, help="L2 regularisation λ (default 0)")
    args = parser.parse_args()

    data = load_data(args)
    net = sn.Network(
        [sn.Dense(784, args.hidden), sn.Sigmoid(), sn.Dense(args.hidden, 10), sn.Sigmoid()],
        loss=sn.Quadratic() if args.cost == "quadratic" else sn.CrossEntropy(),
        regularizer=sn.L2(args.lmbda) if args.lmbda else None,
        device=args.device, dtype=args.dtype, seed=args.seed)
    n_test = len(data.test[1])
    progress = Progress([lambda logs: f"{round(logs['val_accuracy'] * n_test)} / {n_test}"])
    history = net.fit(data.train, epochs=args.epochs, batch_size=args.batch_size,
                      optimizer=sn.SGD(lr=args.eta), validation_data=data.test,
                      callbacks=[progress], seed=args.seed)
    if len(history):
        print(f"best: {round(max(history['val_accuracy']) * n_test)} / {n_test}")


if __name__ == "__main__":
    main()
