"""Nielsen's first network (Neural Networks and Deep Learning, ch. 1), with scratchnet.

[784, 30, 10] sigmoid neurons, quadratic cost, mini-batch SGD with η = 3.0 and
mini-batches of 10, 30 epochs on the 50,000 training images, each epoch scored on
the 10,000 test images — the book reports 95.42% at best:

    python examples/nielsen.py
    python examples/nielsen.py --hidden 100 --cost cross-entropy --eta 0.5 --lmbda 5.0   (ch. 3)

What the default run printed on our machines is in README.md and benchmarks/RESULTS.md.
"""
from common import Parser, Progress, add_common_flags, add_sgd_flags, finish, fit_or_exit, \
    load_data, parse, positive_int, sn


def main(argv=None):
    parser = Parser(description=__doc__.splitlines()[0])
    add_common_flags(parser, epochs=30)
    add_sgd_flags(parser, {"eta": 3.0, "batch_size": 10, "lmbda": 0.0})
    parser.add_argument("--hidden", type=positive_int, default=30,
                        help="hidden neurons (default 30)")
    parser.add_argument("--cost", choices=("quadratic", "cross-entropy"), default="quadratic")
    args = parse(parser, argv)

    data = load_data(args)
    net = sn.Network(
        [sn.Dense(784, args.hidden), sn.Sigmoid(), sn.Dense(args.hidden, 10), sn.Sigmoid()],
        loss=sn.Quadratic() if args.cost == "quadratic" else sn.CrossEntropy(),
        regularizer=sn.L2(args.lmbda) if args.lmbda else None,
        device=args.device, dtype=args.dtype, seed=args.seed)
    n_test = len(data.test[1])
    # Nielsen scores every epoch on the test images: they take the validation set's place here.
    data = type(data)(data.train, data.test, data.test)
    progress = Progress([lambda logs: f"{round(logs['val_accuracy'] * n_test)} / {n_test}"])
    history = fit_or_exit(net, data, args, sn.SGD(lr=args.eta), [progress])
    best = round(max(history["val_accuracy"]) * n_test)
    print(f"best: {best} / {n_test}")
    finish(args, net, history, {"best_correct": best, "best_accuracy": best / n_test,
                                "test_accuracy": best / n_test})


if __name__ == "__main__":
    main()
