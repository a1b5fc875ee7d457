"""One training epoch (50,000 MNIST images, float32, sigmoid + quadratic cost, SGD) on
every device present, in one process: scratchnet-cuda, PyTorch eager CUDA (when
installed) and scratchnet-cpu, for [784,30,10] and [784,150,50,100,10] at mini-batch
10, 64 and 1000. Prints the machine (GPU, driver, CUDA, CuPy, PyTorch, NumPy), then the
best of ``--repeats`` seconds per epoch and the ratios to scratchnet-cuda; ``--json PATH``
keeps the same figures as JSON (rewritten after each row):

    {"environment": {"gpu": ..., "driver": ..., "cuda_runtime": ..., "cupy": ..., ...},
     "repeats": 2, "rows": [{"sizes": [784, 30, 10], "batch": 10,
                             "seconds": {"scratchnet-cuda": 2.8, "torch-cuda": 5.1, ...}}]}

    SCRATCHNET_DATA=../shared/mnist python benchmarks/bench_devices.py
    python benchmarks/bench_devices.py --sizes 784,30,10 --batches 10 --repeats 1

Without a CUDA device, only the CPU rows are measured, and the output says so.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time
from functools import partial

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import scratchnet as sn  # noqa: E402
from scratchnet.backend import cuda_available, get_array_module  # noqa: E402
from scratchnet.files import atomic_write  # noqa: E402


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


def _run(argv):
    """A command's stdout, stripped ("" if it is missing or fails)."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def environment(gpu):
    """What the figures were measured on: the versions RESULTS.md records beside them."""
    env = {"python": platform.python_version(), "numpy": np.__version__,
           "cpu": next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo")
                        if line.startswith("model name")), platform.processor()),
           "cores": os.cpu_count()}
    try:
        import torch
        env.update(torch=torch.__version__, torch_cuda=torch.version.cuda,
                   torch_sees_gpu=torch.cuda.is_available())
    except ImportError:
        env["torch"] = None
    if gpu:
        xp = get_array_module("cuda")
        runtime = xp.cuda.runtime
        name, driver = (_run(["nvidia-smi", "--query-gpu=name,driver_version",
                              "--format=csv,noheader"]).splitlines() or [","])[0].split(",")[:2]
        env.update(gpu=name.strip() or runtime.getDeviceProperties(0)["name"].decode(),
                   driver=driver.strip() or None, cupy=xp.__version__,
                   cuda_runtime=_cuda_version(runtime.runtimeGetVersion()),
                   cuda_driver=_cuda_version(runtime.driverGetVersion()))
    return env


def _read(path):
    try:
        with open(path) as f:
            return f.readlines()
    except OSError:
        return []


def _cuda_version(number):
    """CUDA's version integers (13000 = 13.0, 12040 = 12.4) as text."""
    return f"{number // 1000}.{number % 1000 // 10}"


def write_json(path, report):
    text = json.dumps(report, indent=1).encode()
    atomic_write(path, lambda f: f.write(text))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", action="append", default=None,
                   help="layer sizes, e.g. 784,30,10 (repeatable)")
    p.add_argument("--batches", default="10,64,1000")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--data", default=None, help="MNIST folder (default: $SCRATCHNET_DATA, ...)")
    p.add_argument("--json", metavar="PATH", help="also write the figures here as JSON")
    args = p.parse_args()
    nets = [tuple(int(s) for s in spec.split(",")) for spec in
            (args.sizes or ["784,30,10", "784,150,50,100,10"])]
    batches = [int(b) for b in args.batches.split(",")]
    try:
        X, y = sn.load_mnist(args.data).train
    except (sn.IDXError, OSError) as e:
        sys.exit(f"error: {e}")
    Y = np.eye(10, dtype=np.float32)[y]
    gpu = cuda_available()
    env = environment(gpu)
    has_torch_cuda = bool(gpu and env.get("torch_sees_gpu"))
    print("machine: " + ", ".join(f"{k} {v}" for k, v in env.items()))
    if not gpu:
        print("no CUDA device: measuring scratchnet-cpu only (no GPU figure is claimed)")
    rows = []
    for sizes in nets:
        for batch in batches:
            runners = {}                       # name -> epoch(seed) -> seconds
            if gpu:
                runners["scratchnet-cuda"] = partial(scratchnet_epoch, sizes, X, y, batch, "cuda")
                scratchnet_epoch(sizes, X[:2000], y[:2000], batch, "cuda", 0)     # warm-up
            if has_torch_cuda:
                runners["torch-cuda"] = partial(torch_epoch, sizes, X, Y, batch)
                torch_epoch(sizes, X[:2000], Y[:2000], batch, 0)
            runners["scratchnet-cpu"] = partial(scratchnet_epoch, sizes, X, y, batch, "cpu")
            best = {k: min(run(r) for r in range(args.repeats)) for k, run in runners.items()}
            rows.append({"sizes": list(sizes), "batch": batch, "seconds": best})
            line = f"{list(sizes)!s:<24} batch {batch:>5}: " + "  ".join(
                f"{k} {t:7.3f} s" for k, t in best.items())
            base = best.get("scratchnet-cuda")
            if base:
                line += "  | " + "  ".join(f"{k}/scratchnet-cuda = {t / base:.2f}"
                                          for k, t in best.items() if k != "scratchnet-cuda")
            print(line, flush=True)
            if args.json:                      # after each row: a run cut short keeps its rows
                write_json(args.json, {"environment": env, "repeats": args.repeats, "rows": rows})


if __name__ == "__main__":
    main()
