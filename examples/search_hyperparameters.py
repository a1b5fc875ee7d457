"""How the deep perceptron's hyper-parameters were found: a small search, then fine-tuning.

Nielsen's advice (ch. 3, "How to choose a neural network's hyper-parameters?"): get a signal
fast on a small problem, then move to the real one.

Stage 1, the small problem: a [784, 30, 10] network with the deep perceptron's recipe (ReLU,
He initialisation, softmax with the cross-entropy, SGD with momentum 0.9) on the first 10,000
training images for 15 epochs at a fixed rate, scored on the 10,000 validation images, over the
grid η x λ x mini-batch size below. A run takes about a second.

Stage 2, fine-tuning on the full problem: the [784, 150, 50, 100, 10] network on all 50,000
training images with the full recipe (rate halved after 3 flat epochs, stopped after 20, best
weights restored), around the best few stage-1 settings. L2's λ/2n divides by the training-set
size, so the same weight decay per step on 5x the images needs 5x the λ (Nielsen: λ = 0.1 on
1,000 images, 5.0 on 50,000); stage-1 λs are scaled by 5 before they are tried here. A run takes
20-60 seconds. Settings are chosen on the validation accuracy only; the test set is not used.

    python examples/search_hyperparameters.py               # both stages, about 7 minutes
    python examples/search_hyperparameters.py --stage 1     # the small search alone, ~1 minute

What it found (seed 0, a busy 2-core CPU; the tables are in benchmarks/RESULTS.md):
  - Stage 1: the best η grows with the mini-batch size, about η ≈ batch/1000 (0.01 for 16,
    0.03 for 32 and 64, 0.1 for 128): the step is an average over the batch, so a bigger batch
    gives a less noisy gradient that tolerates a bigger step. η = 0.3 is unstable below batch
    64. λ changes little on 10,000 images (< 0.5%); λ = 3 is slightly best. The top two:
    η = 0.03, λ = 3, batch 32 (95.16%) and η = 0.1, λ = 3, batch 128 (94.97%).
  - Stage 2: both carry over to the full network (98.45% and 98.44% validation accuracy with
    λ = 15, the transfer rule's 5 x 3), halving η costs about 0.15%, and doubling λ to 30 gains
    nothing. Chosen: η = 0.03, λ = 15, batch 32, the deep perceptron's defaults. Before the
    search, a guess of η = 0.05, λ = 5, batch 64 fitted the training set almost exactly
    (training loss 0.0008) and stalled at 98.37% validation, 98.17% test: too little L2.
"""
import argparse
import itertools
import time

import common  # noqa: F401  first: it pins BLAS to one thread before NumPy loads

import numpy as np  # noqa: E402

from common import add_common_flags, load_data, sn, subset  # noqa: E402
from deep_perceptron import HYPER, SIZES, build_network, train  # noqa: E402

ETAS = (0.01, 0.03, 0.1, 0.3)
LMBDAS = (0.0, 1.0, 3.0, 10.0)          # for n = 10,000 training images
BATCH_SIZES = (16, 32, 64, 128)
SMALL = (784, 30, 10)


def small_run(data, eta, lmbda, batch_size, epochs, seed, device, dtype):
    """Stage 1: best validation accuracy of the small network at a fixed rate."""
    net = build_network(SMALL, lmbda, seed, device, dtype)
    try:
        history = net.fit(data.train, epochs, batch_size,
                          sn.SGD(lr=eta, momentum=HYPER["momentum"]),
                          validation_data=data.validation, seed=seed)
    except (FloatingPointError, ValueError):
        return float("nan")                    # diverged: the rate is too large
    return max(history["val_accuracy"])


def stage1(data, args):
    print(f"stage 1: {list(SMALL)} on {len(data.train[1])} images, {args.epochs} epochs, "
          "best validation accuracy")
    print(f"{'batch':>5} {'λ':>5}  " + "  ".join(f"η={eta:<6g}" for eta in ETAS))
    results = []
    for batch_size, lmbda in itertools.product(BATCH_SIZES, LMBDAS):
        row = []
        for eta in ETAS:
            acc = small_run(data, eta, lmbda, batch_size, args.epochs, args.seed,
                            args.device, args.dtype)
            results.append((acc, eta, lmbda, batch_size))
            row.append(acc)
        print(f"{batch_size:>5} {lmbda:>5g}  " + "  ".join(f"{a:.4f}  " for a in row), flush=True)
    results.sort(key=lambda r: -np.nan_to_num(r[0], nan=-1))
    print("best:", ", ".join(f"η={e:g} λ={lm:g} batch={b} ({a:.4f})"
                             for a, e, lm, b in results[:3]))
    return results


def stage2(data, candidates, args):
    print(f"stage 2: {list(SIZES)} on {len(data.train[1])} images, full recipe "
          f"(at most {args.max_epochs} epochs), validation accuracy of the best epoch")
    print(f"{'η':>6} {'λ':>5} {'batch':>5}  {'val acc':>7}  {'epochs':>6}  {'seconds':>7}")
    results = []
    for eta, lmbda, batch_size in candidates:
        hyper = dict(HYPER, eta=eta, lmbda=lmbda, batch_size=batch_size)
        start = time.perf_counter()
        try:
            net, history = train(data, hyper, args.max_epochs, args.seed, args.device, args.dtype)
            acc = max(history["val_accuracy"])
        except (FloatingPointError, ValueError):
            acc, history = float("nan"), []
        results.append((acc, eta, lmbda, batch_size))
        print(f"{eta:>6g} {lmbda:>5g} {batch_size:>5}  {acc:7.4f}  {len(history):>6}  "
              f"{time.perf_counter() - start:7.0f}", flush=True)
    acc, eta, lmbda, batch_size = max(results, key=lambda r: np.nan_to_num(r[0], nan=-1))
    print(f"chosen: η={eta:g} λ={lmbda:g} batch={batch_size} (validation accuracy {acc:.4f})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_flags(parser, epochs=15)
    parser.add_argument("--stage", choices=("1", "2", "both"), default="both")
    parser.add_argument("--small-images", type=int, default=10000,
                        help="training images for stage 1 (default 10000)")
    parser.add_argument("--max-epochs", type=int, default=120, help="stage 2 cap (default 120)")
    args = parser.parse_args()
    data = load_data(args)

    best = [(0.03, 3.0, 32), (0.1, 3.0, 128)]      # stage 1's result (seed 0), for --stage 2
    if args.stage in ("1", "both"):
        small = subset(data, args.small_images)
        small = type(data)(small.train, data.validation, data.test)
        results = stage1(small, args)
        best = [(eta, lmbda, batch) for acc, eta, lmbda, batch in results[:2]]
    if args.stage in ("2", "both"):
        candidates = []
        for eta, lmbda, batch in best:         # η around the optimum; λ scaled to n = 50,000
            lmbda = lmbda or 1.0
            for e, lm in itertools.product((eta / 2, eta), (5 * lmbda, 10 * lmbda)):
                if (e, lm, batch) not in candidates:
                    candidates.append((e, lm, batch))
        stage2(data, candidates, args)


if __name__ == "__main__":
    main()
