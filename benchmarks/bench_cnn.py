"""One epoch of the is_three CNN (examples/is_three.py) at mini-batch 64, timed in one run for
scratchnet and PyTorch on the CPU: the same architecture, the same 50,000 MNIST training
images (28x28, float32, labels "is it a 3?"), the same optimiser.

    conv 5x5, 16 maps - max-pool 2 - ReLU - conv 5x5, 32 maps - max-pool 2 - ReLU -
    dropout 0.5 - dense 512->256 - ReLU - dense 256->1 - sigmoid, binary cross-entropy,
    SGD lr 0.05 momentum 0.9

Each library trains one full epoch (shuffled; PyTorch's loss is BCEWithLogitsLoss, the same
fused sigmoid + cross-entropy scratchnet uses), --repeats times, alternating; the best and the
median epoch of each are printed, and their ratio scratchnet / PyTorch.

    SCRATCHNET_DATA=../shared/mnist python benchmarks/bench_cnn.py
    python benchmarks/bench_cnn.py --threads 2 --repeats 3
    python benchmarks/bench_cnn.py --batches 100          # a quick look: 100 mini-batches

--threads sets both BLAS's threads (OpenBLAS / OpenMP, read by NumPy at import) and PyTorch's.
The default is 1, as the examples use: on this 2-core machine, shared with other jobs, two
threads that wait for each other make an epoch 2-5x slower for both libraries, and the timings
swing from run to run; --threads 2 measures what an idle machine allows.
"""
import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1, help="BLAS and PyTorch threads (default 1)")
    p.add_argument("--repeats", type=int, default=2, help="epochs timed per library (default 2)")
    p.add_argument("--batches", type=int, default=None,
                   help="train on only this many mini-batches per 'epoch' (quick looks)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default=None, help="MNIST folder (default: $SCRATCHNET_DATA, ...)")
    args = p.parse_args()
    if args.threads < 1 or args.repeats < 1:
        p.error("--threads and --repeats must be >= 1")
    return args


ARGS = parse_args()
# Thread counts must be set before NumPy (and its BLAS) is imported.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(HERE, ".."))
import scratchnet as sn  # noqa: E402

BATCH, LR, MOMENTUM, DROPOUT = 64, 0.05, 0.9, 0.5


def scratchnet_epoch(X, y, seed):
    net = sn.Network([
        sn.Conv2D(1, 16, 5), sn.MaxPool2D(2), sn.ReLU(),
        sn.Conv2D(16, 32, 5), sn.MaxPool2D(2), sn.ReLU(),
        sn.Flatten(), sn.Dropout(DROPOUT),
        sn.Dense(512, 256, init="he"), sn.ReLU(),
        sn.Dense(256, 1, init="glorot"), sn.Sigmoid()],
        loss=sn.BinaryCrossEntropy(), seed=seed)
    history = net.fit((X, y), epochs=1, batch_size=BATCH,
                      optimizer=sn.SGD(lr=LR, momentum=MOMENTUM), seed=seed)
    return history["time"][0]


def torch_epoch(X, y, seed):
    import torch
    torch.manual_seed(seed)
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(1, 16, 5), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(16, 32, 5), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(), nn.Dropout(DROPOUT),
        nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 1))
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    loss_fn = nn.BCEWithLogitsLoss()
    Xt = torch.from_numpy(X)
    Yt = torch.from_numpy(y.astype(np.float32)[:, None])
    start = time.perf_counter()
    perm = torch.randperm(len(Xt))
    for k in range(0, len(Xt), BATCH):
        idx = perm[k:k + BATCH]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(Xt[idx]), Yt[idx])
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def main():
    import torch
    torch.set_num_threads(ARGS.threads)
    try:
        data = sn.load_mnist(ARGS.data, flatten=False)
    except (sn.IDXError, OSError) as e:
        sys.exit(f"error: {e}")
    X, labels = data.train
    if ARGS.batches:
        X, labels = X[:ARGS.batches * BATCH], labels[:ARGS.batches * BATCH]
    y = (labels == 3).astype(np.int64)
    print(f"is_three CNN, one epoch of {len(X)} images, batch {BATCH}, float32; "
          f"threads {ARGS.threads}; numpy {np.__version__}, "
          f"torch {torch.__version__}")
    times = {"scratchnet": [], "torch": []}
    for r in range(ARGS.repeats):
        for name, epoch in (("scratchnet", scratchnet_epoch), ("torch", torch_epoch)):
            times[name].append(epoch(X, y, ARGS.seed + r))
            print(f"  repeat {r}: {name:<10} {times[name][-1]:7.2f} s", flush=True)
    best = {k: min(v) for k, v in times.items()}
    median = {k: statistics.median(v) for k, v in times.items()}
    for name in times:
        print(f"{name:<10}  best {best[name]:7.2f} s   median {median[name]:7.2f} s")
    print(f"scratchnet / torch: best {best['scratchnet'] / best['torch']:.2f}x, "
          f"median {median['scratchnet'] / median['torch']:.2f}x")


if __name__ == "__main__":
    main()
