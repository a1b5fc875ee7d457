"""One epoch of Nielsen's [784,30,10] network (sigmoid, quadratic cost, SGD η=3.0,
mini-batch 10, float32, 50,000 MNIST images), timed in one run for:

  scratchnet   Network.fit for one epoch (with its per-epoch training metrics)
  bare numpy   a hand-written vectorised NumPy loop of the same math, no library
  torch        PyTorch eager on the CPU, the same math (when torch is installed)

Prints seconds per epoch (best and median of --repeats interleaved runs) and the ratios
scratchnet / peer.

    SCRATCHNET_DATA=../shared/mnist python benchmarks/bench_nielsen.py
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from bench_devices import scratchnet_epoch  # noqa: E402  (the same sigmoid network, one epoch)

from scratchnet import load_mnist  # noqa: E402


def bare_numpy_epoch(X, y_onehot, seed, eta=3.0, batch=10, layout="(n_in, n_out)"):
    """Nielsen's SGD epoch written by hand: whole mini-batches as matrices.

    layout "(n_in, n_out)": W1 is 784x30 and z = x·W + b, the usual way to write it;
    layout "(n_out, n_in)": W1 is 30x784 and z = x·Wᵀ + b, Nielsen's (and scratchnet's) layout.
    """
    rng = np.random.default_rng(seed)
    W1 = (rng.standard_normal((30, 784)) / np.sqrt(784)).astype(np.float32)
    b1 = rng.standard_normal(30).astype(np.float32)
    W2 = (rng.standard_normal((10, 30)) / np.sqrt(30)).astype(np.float32)
    b2 = rng.standard_normal(10).astype(np.float32)
    start = time.perf_counter()
    perm = rng.permutation(len(X))
    Xs, Ys = X[perm], y_onehot[perm]
    if layout == "(n_in, n_out)":
        W1, W2 = np.ascontiguousarray(W1.T), np.ascontiguousarray(W2.T)
        for k in range(0, len(X), batch):
            x, y = Xs[k:k + batch], Ys[k:k + batch]
            a1 = 1.0 / (1.0 + np.exp(-(x @ W1 + b1)))
            a2 = 1.0 / (1.0 + np.exp(-(a1 @ W2 + b2)))
            d2 = (a2 - y) * a2 * (1.0 - a2) / len(x)
            d1 = (d2 @ W2.T) * a1 * (1.0 - a1)
            W2 -= eta * (a1.T @ d2)
            b2 -= eta * d2.sum(axis=0)
            W1 -= eta * (x.T @ d1)
            b1 -= eta * d1.sum(axis=0)
    else:
        for k in range(0, len(X), batch):
            x, y = Xs[k:k + batch], Ys[k:k + batch]
            a1 = 1.0 / (1.0 + np.exp(-(x @ W1.T + b1)))
            a2 = 1.0 / (1.0 + np.exp(-(a1 @ W2.T + b2)))
            d2 = (a2 - y) * a2 * (1.0 - a2) / len(x)
            d1 = (d2 @ W2) * a1 * (1.0 - a1)
            W2 -= eta * (d2.T @ a1)
            b2 -= eta * d2.sum(axis=0)
            W1 -= eta * (d1.T @ x)
            b1 -= eta * d1.sum(axis=0)
    return time.perf_counter() - start


def torch_epoch(X, y_onehot, seed, eta=3.0, batch=10):
    import torch
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(784, 30), torch.nn.Sigmoid(),
                                torch.nn.Linear(30, 10), torch.nn.Sigmoid())
    opt = torch.optim.SGD(model.parameters(), lr=eta)
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(y_onehot)
    start = time.perf_counter()
    perm = torch.randperm(len(Xt))
    Xs, Ys = Xt[perm], Yt[perm]
    for k in range(0, len(Xt), batch):
        x, y = Xs[k:k + batch], Ys[k:k + batch]
        opt.zero_grad()
        loss = 0.5 * ((model(x) - y) ** 2).sum() / len(x)
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--data", default=None)
    args = p.parse_args()
    data = load_mnist(args.data)
    X, y = data.train
    y_onehot = np.eye(10, dtype=np.float32)[y]
    runners = {"scratchnet": lambda s: scratchnet_epoch((784, 30, 10), X, y, 10, "cpu", s),
               "bare numpy": lambda s: bare_numpy_epoch(X, y_onehot, s),
               "bare nielsen-layout": lambda s: bare_numpy_epoch(X, y_onehot, s,
                                                                 layout="(n_out, n_in)")}
    try:
        import torch
        torch.set_num_threads(os.cpu_count())
        runners["torch cpu"] = lambda s: torch_epoch(X, y_onehot, s)
    except ImportError:
        print("torch is not installed: skipping PyTorch")
    times = {name: [] for name in runners}
    for r in range(args.repeats):      # interleaved, so drift hits every contender alike
        for name, run in runners.items():
            times[name].append(run(r))
    best = {name: min(t) for name, t in times.items()}
    median = {name: float(np.median(t)) for name, t in times.items()}
    print(f"Nielsen [784,30,10], mini-batch 10, float32, 50,000 images; {args.repeats} "
          "interleaved runs")
    print(f"  {'contender':<22} {'best':>7} {'median':>7}  s/epoch")
    for name in runners:
        print(f"  {name:<22} {best[name]:7.3f} {median[name]:7.3f}")
    print(f"  {'ratio':<38} {'best':>5} {'median':>7}")
    for name in runners:
        if name != "scratchnet":
            print(f"  scratchnet / {name:<24} {best['scratchnet'] / best[name]:5.2f} "
                  f"{median['scratchnet'] / median[name]:7.2f}")


if __name__ == "__main__":
    main()
