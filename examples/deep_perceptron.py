"""The deep perceptron: a plain fully-connected [784, 150, 50, 100, 10] network on MNIST.

The reference result this reproduces: trained from scratch, it reaches 98.3% test accuracy with
L2 regularisation, a learning rate halved after every 3 epochs without improvement, and training
stopped after 20 epochs without improvement, keeping and restoring the best weights.

    python examples/deep_perceptron.py                  # 52 epochs, ~1 min: test accuracy: 0.9851
    python examples/deep_perceptron.py --save data/models/deep_perceptron.npz --plot curves.png
    python examples/deep_perceptron.py --augment --save data/models/deep_perceptron.npz
                                  # the front end's model: 50 epochs, ~5 min, test accuracy 0.9907

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
see ``distort``). It is *not* part of the reference result: it is how the front end's model is
trained, because photographed digits are never as neatly centred, upright and even as MNIST's.
"""
import argparse
import os
import sys
import time
import types

import common  # noqa: F401  first: it pins BLAS to one thread before NumPy loads

import numpy as np  # noqa: E402

from common import (Progress, add_common_flags, add_output_flags, load_data,  # noqa: E402
                    save_and_plot, sn)

SIZES = (784, 150, 50, 100, 10)
HYPER = {"eta": 0.03, "lmbda": 15.0, "batch_size": 32, "momentum": 0.9}
MAX_EPOCHS = 200          # a cap only: early stopping ends the default run long before
LR_PATIENCE, LR_FACTOR = 2, 0.5          # halve after the 3rd epoch without improvement
STOP_PATIENCE = 20                       # stop after the 20th epoch without improvement
MODEL_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "models",
                          "deep_perceptron.npz")


def build_network(sizes=SIZES, lmbda=HYPER["lmbda"], seed=0, device=None, dtype="float32"):
    """Dense layers with ReLU between them and a softmax at the end, L2-regularised."""
    layers = []
    for n_in, n_out in zip(sizes[:-2], sizes[1:-1]):
        layers += [sn.Dense(n_in, n_out, init="he"), sn.ReLU()]
    layers += [sn.Dense(sizes[-2], sizes[-1], init="glorot"), sn.Softmax()]
    return sn.Network(layers, loss=sn.CategoricalCrossEntropy(),
                      regularizer=sn.L2(lmbda) if lmbda else None,
                      device=device, dtype=dtype, seed=seed)


def distort(X, rng, angle=12.0, shear=0.2, scale=0.1, shift=2.0, thickness=0.7, chunk=5000):
    """A randomly distorted copy of MNIST images X (N, 784), each image its own distortion.

    Each image is resampled (bilinear, zero outside) through the affine map p -> A p + t about
    its centre, A = s·R(θ)·[[1, h], [0, 1]], with θ uniform in ±``angle`` degrees, shear h in
    ±``shear``, scale s in [1/(1+scale), 1+scale] and t uniform in ±``shift`` pixels; then its
    strokes are blended towards a grey dilation (thicker) or erosion (thinner) by a 3x3 cross,
    by a random fraction of up to ``thickness``. Every step is a whole-array NumPy operation,
    ``chunk`` images at a time to bound the memory used.
    """
    out = np.empty_like(X)
    c = 13.5                                         # the centre of a 28x28 image
    grid_y, grid_x = (np.indices((28, 28)).reshape(2, 1, 784) - c).astype(np.float32)
    for k in range(0, len(X), chunk):
        m = min(chunk, len(X) - k)
        theta = np.radians(rng.uniform(-angle, angle, m))
        s = np.exp(rng.uniform(-np.log1p(scale), np.log1p(scale), m))
        h = rng.uniform(-shear, shear, m)
        ty, tx = rng.uniform(-shift, shift, (2, m, 1)).astype(np.float32)
        cos, sin = np.cos(theta), np.sin(theta)
        a11, a12, a21, a22 = s * cos, s * (cos * h - sin), s * sin, s * (sin * h + cos)
        det = a11 * a22 - a12 * a21
        # Output pixel p comes from source point A⁻¹(p - t): inverse mapping leaves no holes.
        i11, i12, i21, i22 = (v.astype(np.float32)[:, None] / det[:, None]
                              for v in (a22, -a12, -a21, a11))
        px, py = grid_x - tx, grid_y - ty
        sx = i11 * px + i12 * py + (c + 1)           # +1: the image is padded by one pixel
        sy = i21 * px + i22 * py + (c + 1)
        np.clip(sx, 0, 28.999, out=sx)
        np.clip(sy, 0, 28.999, out=sy)
        x0, y0 = sx.astype(np.intp), sy.astype(np.intp)
        fx, fy = (sx - x0).astype(X.dtype), (sy - y0).astype(X.dtype)
        flat = np.pad(X[k:k + m].reshape(m, 28, 28), ((0, 0), (1, 1), (1, 1))).reshape(-1)
        i = np.arange(m)[:, None] * 900 + y0 * 30 + x0          # 900 = 30 x 30 padded pixels
        top = flat[i] * (1 - fx) + flat[i + 1] * fx
        bottom = flat[i + 30] * (1 - fx) + flat[i + 31] * fx
        img = (top * (1 - fy) + bottom * fy).reshape(m, 28, 28)
        out[k:k + m] = _thicken(img, rng.uniform(-thickness, thickness, m)).reshape(m, 784)
    return out


def _thicken(img, amount):
    """Blend each image towards its 3x3-cross dilation (amount > 0) or erosion (amount < 0)."""
    p = np.pad(img, ((0, 0), (1, 1), (1, 1)))
    neighbours = np.stack([p[:, 1:-1, 1:-1], p[:, :-2, 1:-1], p[:, 2:, 1:-1],
                           p[:, 1:-1, :-2], p[:, 1:-1, 2:]])
    grown = neighbours.max(axis=0) - img
    shrunk = neighbours.min(axis=0) - img
    a = amount[:, None, None].astype(img.dtype)
    return img + np.where(a > 0, a * grown, -a * shrunk)


def train(data, hyper=HYPER, epochs=MAX_EPOCHS, seed=0, device=None, dtype="float32",
          augment=False, callbacks=()):
    """Build the deep perceptron and train it on data.train, watching data.validation.
    Returns (network, history), the network holding the weights of its best epoch."""
    net = build_network(SIZES, hyper["lmbda"], seed, device, dtype)
    optimizer = sn.SGD(lr=hyper["eta"], momentum=hyper["momentum"])
    schedule = sn.ReduceLROnPlateau("val_accuracy", factor=LR_FACTOR, patience=LR_PATIENCE)
    stopping = sn.EarlyStopping("val_accuracy", patience=STOP_PATIENCE, restore_best_weights=True)
    if not augment:
        history = net.fit(data.train, epochs, hyper["batch_size"], optimizer,
                          validation_data=data.validation, schedule=schedule,
                          early_stopping=stopping, callbacks=callbacks, seed=seed)
        return net, history
    # A new distortion every epoch means new training data every epoch, so ``fit`` runs one
    # epoch at a time and the early stopping that spans the epochs is driven from here.
    X, y = data.train
    rng = np.random.default_rng(seed)
    batch_only = [types.SimpleNamespace(on_batch_end=c.on_batch_end, on_epoch_end=lambda logs: None)
                  for c in callbacks if hasattr(c, "on_batch_end")]
    history = sn.History()
    for epoch in range(epochs):
        start = time.perf_counter()
        distorted = distort(X, rng)
        logs = net.fit((distorted, y), 1, hyper["batch_size"], optimizer,
                       validation_data=data.validation, schedule=schedule,
                       callbacks=batch_only, seed=seed + epoch).epochs[0]
        logs.update(epoch=epoch, time=time.perf_counter() - start)
        history.append(logs)
        for callback in callbacks:
            getattr(callback, "on_epoch_end", callback)(logs)
        if stopping.end_epoch(epoch, logs, net):
            break
    stopping.restore(net)
    return net, history


def progress_lines():
    """One line per epoch: train loss, validation accuracy, learning rate (and the seconds)."""
    return Progress([lambda logs: f"loss {logs['loss']:.4f}",
                     lambda logs: f"val accuracy {logs['val_accuracy']:.4f}",
                     lambda logs: f"lr {logs['lr']:.4g}"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_flags(parser, epochs=MAX_EPOCHS)
    parser.add_argument("--eta", type=float, default=HYPER["eta"],
                        help=f"learning rate η (default {HYPER['eta']})")
    parser.add_argument("--lmbda", type=float, default=HYPER["lmbda"],
                        help=f"L2 regularisation λ (default {HYPER['lmbda']})")
    parser.add_argument("--batch-size", type=int, default=HYPER["batch_size"],
                        help=f"mini-batch size (default {HYPER['batch_size']})")
    parser.add_argument("--momentum", type=float, default=HYPER["momentum"],
                        help=f"SGD momentum μ (default {HYPER['momentum']})")
    parser.add_argument("--augment", action="store_true",
                        help="train on randomly distorted images (the front end's model)")
    add_output_flags(parser)
    args = parser.parse_args(argv)
    hyper = {"eta": args.eta, "lmbda": args.lmbda, "batch_size": args.batch_size,
             "momentum": args.momentum}

    data = load_data(args)
    print(f"[{', '.join(map(str, SIZES))}] {', '.join(f'{k} {v:g}' for k, v in hyper.items())}"
          f"{', augmented' if args.augment else ''}; {len(data.train[1])} training images")
    try:
        net, history = train(data, hyper, args.epochs, args.seed, args.device, args.dtype,
                             args.augment, callbacks=[progress_lines()])
    except (ValueError, RuntimeError, FloatingPointError) as e:
        sys.exit(f"error: {e}")
    if not len(history):
        sys.exit("error: no epochs trained (--epochs 0)")
    best = int(np.argmax(history["val_accuracy"]))
    test = net.evaluate(data.test)["accuracy"]
    print(f"{len(history)} epochs, {sum(history['time']):.0f} s; best epoch {best} "
          f"(validation accuracy {history['val_accuracy'][best]:.4f}), weights restored")
    print(f"test accuracy: {test:.4f}")
    save_and_plot(args, net, history, info={
        "test_accuracy": test, "epochs": len(history), "best_epoch": best,
        "augment": args.augment, "seed": args.seed, **hyper})


if __name__ == "__main__":
    main()
