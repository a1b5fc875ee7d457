"""One training epoch (50,000 MNIST images, float32, sigmoid + quadratic cost, SGD) on
every device present, in one process: scratchnet-cuda, PyTorch eager CUDA (when
installed) and scratchnet-cpu, for [784,30,10] and [784,150,50,100,10] at mini-batch
10, 64 and 1000. Prints seconds per epoch and the ratios to scratchnet-cuda.

    SCRATCHNET_DATA=../shared/mnist python benchmarks/bench_devices.py
    python benchmarks/bench_devices.py --sizes 784,30,10 --batches 10 --repeats 1

Without a CUDA device, only the CPU rows are measured, and the output says so.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import scratchnet as sn  # noqa: E402
from scratchnet.backend import cuda_available  # noqa: E402


def scratchnet_epoch(sizes, X, y, batch, device, seed):
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [sn.Dense(n_in, n_out), sn.Sigmoid()]
    net = sn.Network(layers, loss=sn.Quadratic(), device=device, seed=seed)
    return net.fit((X, y), epochs=1, batch_size=batch, optimizer=sn.SGD(lr=3.0),
                   seed=seed)["time"][0]


def torch_epoch(sizes, X, Y, batch, seed):
    import torch
    torch.manual_seed(seed)
    mods = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        mods += [torch.nn.Linear(n_in, n_out), torch.nn.Sigmoid()]
    model = torch.nn.Sequential(*mods).cuda()
    opt = torch.optim.SGD(model.parameters(), lr=3.0)
    Xt, Yt = torch.from_numpy(X).cuda(), torch.from_numpy(Y).cuda()
    torch.cuda.synchronize()
    start = time.perf_counter()
    perm = torch.randperm(len(Xt), device="cuda")
    for k in range(0, len(Xt), batch):
        idx = perm[k:k + batch]
        x, y = Xt[idx], Yt[idx]
        opt.zero_grad(set_to_none=True)
        loss = 0.5 * ((model(x) - y) ** 2).sum() / len(x)
        loss.backward()
        opt.step()
    torch.cuda.synchronize()
    return time.perf_counter() - start


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", action="append", default=None,
                   help="layer sizes, e.g. 784,30,10 (repeatable)")
    p.add_argument("--batches", default="10,64,1000")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--data", default=None)
    args = p.parse_args()
    nets = [tuple(int(s) for s in spec.split(",")) for spec in
            (args.sizes or ["784,30,10", "784,150,50,100,10"])]
    batches = [int(b) for b in args.batches.split(",")]
    X, y = sn.load_mnist(args.data).train
    Y = np.eye(10, dtype=np.float32)[y]
    gpu = cuda_available()
    has_torch_cuda = False
    if gpu:
        try:
            import torch
            has_torch_cuda = torch.cuda.is_available()
        except ImportError:
            pass
        import subprocess
        name = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                              capture_output=True, text=True).stdout.strip()
        print(f"GPU: {name or 'unknown'}")
    else:
        print("no CUDA device: measuring scratchnet-cpu only (no GPU figure is claimed)")
    for sizes in nets:
        for batch in batches:
            runners = {}
            if gpu:
                runners["scratchnet-cuda"] = lambda s: scratchnet_epoch(sizes, X, y, batch, "cuda", s)
                scratchnet_epoch(sizes, X[:2000], y[:2000], batch, "cuda", 0)     # warm-up
            if has_torch_cuda:
                runners["torch-cuda"] = lambda s: torch_epoch(sizes, X, Y, batch, s)
                torch_epoch(sizes, X[:2000], Y[:2000], batch, 0)
            runners["scratchnet-cpu"] = lambda s: scratchnet_epoch(sizes, X, y, batch, "cpu", s)
            best = {k: min(run(r) for r in range(args.repeats)) for k, run in runners.items()}
            line = f"{list(sizes)!s:<24} batch {batch:>5}: " + "  ".join(
                f"{k} {t:7.3f} s" for k, t in best.items())
            if "scratchnet-cuda" in best:
                line += "  | " + "  ".join(f"{k}/scratchnet-cuda = {t / best['scratchnet-cuda']:.2f}"
                                          for k, t in best.items() if k != "scratchnet-cuda")
            print(line, flush=True)


if __name__ == "__main__":
    main()
