"""How the deep perceptron's hyper-parameters were found: a small search, then fine-tuning.

Nielsen's advice (ch. 3, "How to choose a neural network's hyper-parameters?"): get a signal
fast on a small problem, then move to the real one.

Stage 1, the small problem: a [784, 30, 10] network with the deep perceptron's recipe (ReLU,
He initialisation, softmax with the cross-entropy, SGD with momentum 0.9) on the first 10,000
training images for 15 epochs at a fixed rate, scored on the 10,000 validation images, over the
grid η x λ x mini-batch size below. A run takes about a second.

Stage 2, fine-tuning on the full problem: examples/deep_perceptron.py (the [784, 150, 50, 100,
10] network on all 50,000 training images, rate halved after 3 flat epochs, stopped after 20,
best weights restored) around the best two stage-1 settings. L2's λ/2n divides by the
training-set size, so the same weight decay per step on 5x the images needs 5x the λ (Nielsen:
λ = 0.1 on 1,000 images, 5.0 on 50,000); stage-1 λs are scaled by 5 before they are tried
here. A run takes 20-60 seconds. Settings are chosen on the validation accuracy only; the test
set is not used.

    python examples/search_hyperparameters.py                 # both stages, about 7 minutes
    python examples/search_hyperparameters.py --stage 1 --jobs 2     # stage 1 on 2 processes
    python examples/search_hyperparameters.py --scheduler tcp://HOST:8786 --results search.jsonl

Every training is one run of a sweep (scratchnet.sweep): stage 1's are this script with
``--one``, stage 2's are examples/deep_perceptron.py, each a process of its own that loads MNIST
itself, so that they can run side by side (``--jobs N``) or on a Dask cluster (``--scheduler``;
README, "Beyond one machine"). ``--results FILE.jsonl`` keeps each finished run; the same command
run again with the same file skips them. The tables are printed when a stage's runs are all in
and are the same however the runs were spread.

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
import common  # noqa: F401  first: it pins BLAS to one thread before NumPy loads

import itertools
import json
import sys
import time

from common import (Parser, add_common_flags, add_sgd_flags, add_sweep_flags, load_data, parse,
                    positive_int, rate, penalty, sn)
from scratchnet.files import atomic_write
from scratchnet.sweep import SweepError, run_example, sweep

ETAS = (0.01, 0.03, 0.1, 0.3)
LMBDAS = (0.0, 1.0, 3.0, 10.0)          # for n = 10,000 training images
BATCH_SIZES = (16, 32, 64, 128)
SMALL = (784, 30, 10)
MOMENTUM = 0.9
STAGE1_BEST = [(0.03, 3.0, 32), (0.1, 3.0, 128)]     # its result (seed 0), for --stage 2 alone


def build_small(lmbda, seed, device, dtype):
    """Stage 1's network: the deep perceptron's recipe on one hidden layer of 30."""
    return sn.Network([sn.Dense(SMALL[0], SMALL[1], init="he"), sn.ReLU(),
                       sn.Dense(SMALL[1], SMALL[2], init="glorot"), sn.Softmax()],
                      loss=sn.CategoricalCrossEntropy(),
                      regularizer=sn.L2(lmbda) if lmbda else None,
                      device=device, dtype=dtype, seed=seed)


def one_run(args):
    """--one: train stage 1's network once, at a fixed rate; write its best validation accuracy
    (None if it diverged) to --results."""
    data = load_data(args)
    train = data.train[0][:args.small_images], data.train[1][:args.small_images]
    net = build_small(args.lmbda, args.seed, args.device, args.dtype)
    start = time.perf_counter()
    try:
        history = net.fit(train, args.epochs, args.batch_size,
                          sn.SGD(lr=args.eta, momentum=args.momentum),
                          validation_data=data.validation, seed=args.seed)
        figures = {"val_accuracy": max(history["val_accuracy"]), "epochs": len(history.epoch)}
    except FloatingPointError:                 # diverged: the rate is too large
        figures = {"val_accuracy": None, "epochs": None}
    figures.update(seconds=round(time.perf_counter() - start, 2), seed=args.seed)
    print(json.dumps(figures))
    atomic_write(args.results, lambda f: f.write(json.dumps(figures, indent=1).encode()))


def passed_on(args):
    """The flags every run gets from this command line. --data only if given: a worker on
    another machine finds MNIST itself ($SCRATCHNET_DATA or its cache)."""
    flags = ["--device", args.device, "--dtype", args.dtype]
    if args.data:
        flags += ["--data", args.data]
    if args.limit:
        flags += ["--limit", args.limit]
    return flags


def run_all(configs, args):
    """The sweep's results for ``configs`` (run, or read from --results), with a line on stderr
    for each run as it finishes; a one-line error and exit if the sweep fails."""
    start, ran = time.perf_counter(), []

    def progress(config, result):
        ran.append(config)
        flags = [str(flag) for flag in config["flags"] if flag != "--one"][:6]    # η, λ, batch
        acc = result.get("val_accuracy")
        print(f"  [{len(ran)}] {' '.join(flags)}: validation accuracy "
              f"{'-' if acc is None else f'{acc:.4f}'}", file=sys.stderr, flush=True)

    try:
        results = sweep(run_example, configs, jobs=args.jobs, scheduler=args.scheduler,
                        results=args.results, on_result=progress)
    except (SweepError, ValueError, ImportError, OSError) as e:
        sys.exit(f"error: {e}")
    print(f"  {len(ran)} runs in {time.perf_counter() - start:.0f} s, "
          f"{len(set(map(json.dumps, configs))) - len(ran)} from the results file",
          file=sys.stderr)
    return results


def score(acc):
    return -1.0 if acc is None else acc


def stage1(args):
    grid = list(itertools.product(args.batch_sizes, args.lmbdas, args.etas))
    configs = [{"script": "search_hyperparameters.py", "seed": args.seed,
                "flags": ["--one", "--eta", eta, "--lmbda", lmbda, "--batch-size", batch,
                          "--epochs", args.epochs, "--small-images", args.small_images,
                          *passed_on(args)]}
               for batch, lmbda, eta in grid]
    print(f"stage 1: {list(SMALL)} on {args.small_images} images, {args.epochs} epochs, "
          "best validation accuracy (-: diverged)")
    results = {point: r["val_accuracy"] for point, r in zip(grid, run_all(configs, args))}
    print(f"{'batch':>5} {'λ':>5}  " + "  ".join(f"η={eta:<6g}" for eta in args.etas))
    for batch, lmbda in itertools.product(args.batch_sizes, args.lmbdas):
        row = [results[batch, lmbda, eta] for eta in args.etas]
        print(f"{batch:>5} {lmbda:>5g}  "
              + "  ".join(f"{'-':<6}  " if a is None else f"{a:.4f}  " for a in row))
    ranked = sorted(grid, key=lambda point: -score(results[point]))    # stable: grid order
    print("best:", ", ".join(f"η={e:g} λ={lm:g} batch={b} ({score(results[b, lm, e]):.4f})"
                             for b, lm, e in ranked[:3]))
    return [(eta, lmbda, batch) for batch, lmbda, eta in ranked[:2]]


def stage2(best, args):
    candidates = []
    for eta, lmbda, batch in best:             # η around the optimum; λ scaled to n = 50,000
        lmbda = lmbda or 1.0
        for e, lm in itertools.product((eta / 2, eta), (5 * lmbda, 10 * lmbda)):
            if (e, lm, batch) not in candidates:
                candidates.append((e, lm, batch))
    configs = [{"script": "deep_perceptron.py", "seed": args.seed,
                "flags": ["--eta", e, "--lmbda", lm, "--batch-size", b,
                          "--epochs", args.max_epochs, *passed_on(args)]}
               for e, lm, b in candidates]
    print("stage 2: examples/deep_perceptron.py, full recipe "
          f"(at most {args.max_epochs} epochs), validation accuracy of the best epoch")
    results = run_all(configs, args)
    print(f"{'η':>6} {'λ':>5} {'batch':>5}  {'val acc':>7}  {'epochs':>6}")
    for (e, lm, b), r in zip(candidates, results):
        print(f"{e:>6g} {lm:>5g} {b:>5}  {r['val_accuracy']:7.4f}  {r['epochs']:>6}")
    (e, lm, b), r = max(zip(candidates, results), key=lambda c: c[1]["val_accuracy"])
    print(f"chosen: η={e:g} λ={lm:g} batch={b} (validation accuracy {r['val_accuracy']:.4f})")


def numbers(kind):
    """An argparse type: a comma-separated list of ``kind``."""
    def parse_list(text):
        return tuple(kind(part) for part in text.split(","))
    parse_list.__name__ = f"comma-separated {getattr(kind, '__name__', 'values')}"
    return parse_list


def main(argv=None):
    parser = Parser(description=__doc__.splitlines()[0])
    add_common_flags(parser, epochs=15, results=(       # --results is the sweep's file here
        "FILE.jsonl", "keep each finished run in this JSON-lines file; skip those already in it"))
    parser.add_argument("--stage", choices=("1", "2", "both"), default="both")
    parser.add_argument("--small-images", type=positive_int, default=10000,
                        help="training images for stage 1 (default 10000)")
    parser.add_argument("--max-epochs", type=positive_int, default=120,
                        help="stage 2 cap (default 120)")
    parser.add_argument("--etas", type=numbers(rate), default=ETAS, help="stage 1's η values")
    parser.add_argument("--lmbdas", type=numbers(penalty), default=LMBDAS,
                        help="stage 1's λ values")
    parser.add_argument("--batch-sizes", type=numbers(positive_int), default=BATCH_SIZES,
                        help="stage 1's mini-batch sizes")
    add_sweep_flags(parser)
    parser.add_argument("--one", action="store_true",
                        help="train one stage-1 network with --eta --lmbda --batch-size and "
                             "write its figures to --results (what each stage-1 run does)")
    add_sgd_flags(parser, {"eta": 0.03, "lmbda": 3.0, "batch_size": 32, "momentum": MOMENTUM})
    args = parse(parser, argv)
    if args.scheduler and args.jobs != 1:
        parser.error("--jobs, --scheduler: give one (local processes or a Dask cluster)")
    if args.epochs < 1:
        parser.error("--epochs: must be >= 1 for a search")
    if args.one:
        if not args.results:
            parser.error("--one: needs --results PATH")
        return one_run(args)

    best = STAGE1_BEST
    if args.stage in ("1", "both"):
        best = stage1(args)
    if args.stage in ("2", "both"):
        stage2(best, args)


if __name__ == "__main__":
    main()
