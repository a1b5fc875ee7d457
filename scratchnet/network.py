"""A network is a list of layers and a cost. Backpropagation is the loop in ``train_step``.

    net = Network([Dense(784, 30), Sigmoid(), Dense(30, 10), Sigmoid()], loss=Quadratic())
    history = net.fit((X, y), epochs=30, batch_size=10, optimizer=SGD(lr=3.0),
                      validation_data=(X_test, y_test))

Rows are examples: a mini-batch x is an (m, 784) matrix and every layer works on
the whole matrix at once — no loop over examples. Parameters are named
"layers.{i}.{name}" (e.g. "layers.0.W"): the same keys are used by the optimiser,
the model file and the gradient checker.
"""
import time

import numpy

from .backend import device_of, get_array_module, resolve_dtype, to_device, to_numpy
from .layers import Layer


class History:
    """What ``fit`` returns: one dict of metrics per epoch.
    ``history["val_accuracy"]`` is the list of that metric over the epochs."""

    def __init__(self):
        self.epochs = []

    def append(self, logs):
        self.epochs.append(logs)

    def __getitem__(self, key):
        return [logs.get(key) for logs in self.epochs]

    def __len__(self):
        return len(self.epochs)

    def __repr__(self):
        return f"History({len(self)} epochs, keys={sorted(self.epochs[-1]) if self.epochs else []})"


class Network:
    """A sequential network. ``device`` "cpu" | "cuda" (default ``$SCRATCHNET_DEVICE``, else cpu);
    ``dtype`` "float32" (default) or "float64"; ``seed`` seeds the initial weights.
    ``regularizer`` (``L2``/``L1``) adds its penalty to the cost, with n = training-set size."""

    def __init__(self, layers, loss, regularizer=None, device=None, dtype="float32", seed=0):
        layers = list(layers)
        if not layers or not all(isinstance(layer, Layer) for layer in layers):
            raise ValueError(f"layers must be a non-empty list of Layer objects, got {layers!r}")
        if not (hasattr(loss, "value") and hasattr(loss, "grad")):
            raise ValueError(f"loss must be a cost object such as Quadratic(), got {loss!r}")
        self.layers, self.loss, self.regularizer = layers, loss, regularizer
        self.info = {}          # facts kept with a saved model (see io.save)
        self.xp = get_array_module(device)
        self.device = device_of(self.xp)
        self.dtype = resolve_dtype(dtype)
        rng = numpy.random.default_rng(seed)
        for layer in layers:
            layer.build(self.xp, rng, self.dtype)
        # The cost gives δ^L = ∂C/∂z directly when the network ends in its paired activation.
        self.fused_output = loss.pairs_with is not None and isinstance(layers[-1], loss.pairs_with)
        # Names are fixed once built: layer i's "W" is "layers.i.W" (no string work per step).
        self._keys = [{k: f"layers.{i}.{k}" for k in layer.params} for i, layer in enumerate(layers)]
        self._params = self.parameters()

    # ---- parameters, by name ------------------------------------------------------------
    def parameters(self):
        """{"layers.i.name": array} — the live trainable arrays (updated in place)."""
        return {f"layers.{i}.{k}": v for i, layer in enumerate(self.layers)
                for k, v in layer.params.items()}

    def states(self):
        """{"layers.i.name": array} — saved but not trained (e.g. batch-norm running means)."""
        return {f"layers.{i}.{k}": v for i, layer in enumerate(self.layers)
                for k, v in layer.state.items()}

    @property
    def n_params(self):
        return sum(int(v.size) for v in self.parameters().values())

    def copy_weights(self):
        """A copy of every parameter and state array, on the device."""
        return {k: v.copy() for k, v in {**self.parameters(), **self.states()}.items()}

    def set_weights(self, weights):
        """Copy arrays into the live ones, in place (the optimiser's state stays valid)."""
        live = {**self.parameters(), **self.states()}
        for key, value in weights.items():
            live[key][...] = to_device(value, self.xp, self.dtype)

    def summary(self):
        lines = [f"{i:>2}  {layer!r:<48} {sum(int(v.size) for v in layer.params.values()):>9,}"
                 for i, layer in enumerate(self.layers)]
        return "\n".join(lines + [f"    {'parameters':<48} {self.n_params:>9,}"])

    # ---- forward and backward -----------------------------------------------------------
    def feedforward(self, x, train=False):
        """The network's output for a batch x (device arrays in, device array out)."""
        for layer in self.layers:
            x, _ = layer.forward(x, train)
        return x

    def train_step(self, x, y, optimizer, n):
        """One step of mini-batch gradient descent; returns the output a^L of the batch.

        1. forward: each layer's output and the cache its backward needs;
        2. output error δ^L from the cost (fused with the output activation when paired);
        3. backward: each layer turns ∂C/∂(its output) into ∂C/∂(its input) and its grads;
        4. the regulariser adds ∂/∂w of its penalty (n = training-set size);
        5. the optimiser updates the parameters.
        With plain SGD, step 3 carries η·δ^L instead of δ^L, and so the gradients
        come out times η: the same update, with one multiplication by η on the
        (m, k) output error instead of one on every parameter array.
        """
        xp, layers = self.xp, self.layers
        caches = []
        a = x
        for layer in layers:
            a, cache = layer.forward(a, True)
            caches.append(cache)
        if self.fused_output:
            delta, top = self.loss.delta(xp, a, y), len(layers) - 2
        else:
            delta, top = self.loss.grad(xp, a, y), len(layers) - 1
        # Backprop is linear in δ^L: for plain SGD we send η·δ^L down, so every gradient
        # arrives already times η and the update is one subtraction (see SGD.delta_scale).
        scale = getattr(optimizer, "delta_scale", None)
        if scale is not None:
            delta = delta * scale
        grads = {}
        for i in range(top, -1, -1):
            delta, layer_grads = layers[i].backward(delta, caches[i], i > 0)
            if layer_grads:
                keys = self._keys[i]
                for name, g in layer_grads.items():
                    grads[keys[name]] = g
        params = self._params
        if self.regularizer is not None:
            for key, g in grads.items():
                if key.endswith(".W"):
                    penalty = self.regularizer.grad(xp, params[key], n)
                    g += penalty if scale is None else scale * penalty
        if scale is None:
            optimizer.step(params, grads)
        else:
            optimizer.step(params, grads, scaled=True)
        return a

    # ---- data at the boundary -----------------------------------------------------------
    def _n_outputs(self, x):
        return int(self.feedforward(x[:1]).shape[1])

    def _prepare(self, data, name):
        """Validate (X, y) and copy it to the device once: returns X, targets, labels."""
        if not (isinstance(data, (tuple, list)) and len(data) == 2):
            raise ValueError(f"{name} must be a pair (X, y), got {type(data).__name__}")
        X, y = data
        if len(X) != len(y):
            raise ValueError(f"{name}: X has {len(X)} rows but y has {len(y)}")
        if len(X) == 0:
            raise ValueError(f"{name} is empty")
        X = self._check_inputs(X, name)
        n_out = self._n_outputs(X)
        y = to_device(y, self.xp)
        if y.ndim == 1:
            if y.dtype.kind not in "iu":
                raise ValueError(f"{name}: 1-D y must hold integer class labels, got {y.dtype}")
            top = max(n_out, 2)
            if int(y.min()) < 0 or int(y.max()) >= top:
                raise ValueError(f"{name}: labels must lie in 0..{top - 1} for a network with "
                                 f"{n_out} output(s), got {int(y.min())}..{int(y.max())}")
            labels = y
            targets = (y[:, None] == self.xp.arange(n_out)).astype(self.dtype) if n_out > 1 \
                else y[:, None].astype(self.dtype)
        elif y.ndim == 2 and y.shape[1] == n_out:
            targets = y.astype(self.dtype)
            labels = targets.argmax(axis=1) if n_out > 1 else (targets[:, 0] > 0.5)
        else:
            raise ValueError(f"{name}: y must be labels (N,) or targets (N, {n_out}), "
                             f"got shape {tuple(y.shape)}")
        return X, targets, labels

    def _check_inputs(self, X, name):
        expected = getattr(self.layers[0], "input_shape", None)
        shape = tuple(X.shape[1:])
        if expected is not None and (len(shape) != len(expected) or any(
                e is not None and e != s for e, s in zip(expected, shape))):
            raise ValueError(f"{name}: inputs have shape {shape} per example, the first layer "
                             f"expects {tuple(expected)}")
        X = to_device(X, self.xp, self.dtype)
        if not bool(self.xp.isfinite(X).all()):
            raise ValueError(f"{name}: inputs contain NaN or infinity")
        return X

    # ---- using a network ----------------------------------------------------------------
    def predict(self, X, batch_size=1000):
        """The network's outputs for X, as a NumPy array on the host."""
        X = self._check_inputs(X, "X")
        out = [self.feedforward(X[k:k + batch_size]) for k in range(0, len(X), batch_size)]
        return to_numpy(self.xp.concatenate(out))

    def _correct(self, a, labels):
        """How many rows of a are classified as their label (a device scalar)."""
        guess = a.argmax(axis=1) if a.shape[1] > 1 else a[:, 0] > 0.5
        return (guess == labels).sum()

    def _evaluate_prepared(self, X, targets, labels, batch_size):
        xp, loss, correct = self.xp, 0.0, 0
        for k in range(0, len(X), batch_size):
            a = self.feedforward(X[k:k + batch_size])
            loss = loss + self.loss.value(xp, a, targets[k:k + batch_size]) * len(a)
            correct = correct + self._correct(a, labels[k:k + batch_size])
        return {"loss": float(loss) / len(X), "accuracy": int(correct) / len(X)}

    def evaluate(self, data, batch_size=1000):
        """{"loss": mean cost C0 (no penalty), "accuracy": fraction right} on data = (X, y)."""
        return self._evaluate_prepared(*self._prepare(data, "data"), batch_size)

    def fit(self, training_data, epochs, batch_size, optimizer, validation_data=None,
            schedule=None, early_stopping=None, callbacks=(), seed=0, shuffle=True):
        """Train by mini-batch SGD (or any optimiser); returns a ``History``.

        Each epoch: shuffle (seeded), one ``train_step`` per mini-batch, then the
        epoch's metrics go to the schedule, the early-stopping rule and each
        callback (a function of the metrics dict, or an object with
        ``on_epoch_end(logs)`` and, optionally, ``on_batch_end(batch, n_batches)``).
        The metrics: "loss" and "accuracy" on the training data (of the outputs each
        batch had during its own step, kept on the device — not a second pass; the
        cost C0 without the penalty), "val_loss"/"val_accuracy" when validation data
        is given, "lr" and "time" (seconds).
        """
        if not (isinstance(epochs, int) and epochs >= 0):
            raise ValueError(f"epochs must be an int >= 0, got {epochs!r}")
        if not (isinstance(batch_size, int) and batch_size >= 1):
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        X, Y, labels = self._prepare(training_data, "training_data")
        val = self._prepare(validation_data, "validation_data") if validation_data else None
        xp, n = self.xp, len(X)
        rng = numpy.random.default_rng(seed)
        epoch_ends = [getattr(c, "on_epoch_end", c) for c in callbacks]
        batch_ends = [c.on_batch_end for c in callbacks if hasattr(c, "on_batch_end")]
        n_batches = -(-n // batch_size)
        history = History()
        for epoch in range(epochs):
            start = time.perf_counter()
            if schedule is not None:
                schedule.begin_epoch(epoch, optimizer)
            lr = optimizer.lr
            # Each mini-batch gathers its rows from a shuffled order: cheaper than
            # copying the whole training set into a shuffled array every epoch.
            order = to_device(rng.permutation(n), xp) if shuffle else xp.arange(n)
            outputs = []
            for b, k in enumerate(range(0, n, batch_size)):
                rows = order[k:k + batch_size]
                outputs.append(self.train_step(
                    X.take(rows, axis=0), Y.take(rows, axis=0), optimizer, n))
                for on_batch_end in batch_ends:
                    on_batch_end(b, n_batches)
            # Training metrics from the outputs each batch had as it was trained, in one
            # vectorised pass (no per-step work beyond keeping the output).
            outputs = xp.concatenate(outputs)
            logs = {"epoch": epoch, "loss": float(self.loss.value(xp, outputs, Y[order])),
                    "accuracy": int(self._correct(outputs, labels[order])) / n, "lr": lr}
            if val is not None:
                metrics = self._evaluate_prepared(*val, batch_size=1000)
                logs["val_loss"], logs["val_accuracy"] = metrics["loss"], metrics["accuracy"]
            logs["time"] = time.perf_counter() - start
            if not numpy.isfinite(logs["loss"]):
                raise FloatingPointError(f"training diverged: the loss is {logs['loss']} at epoch "
                                         f"{epoch}; try a smaller learning rate (lr={lr:g})")
            history.append(logs)
            for on_epoch_end in epoch_ends:
                on_epoch_end(logs)
            if schedule is not None:
                schedule.end_epoch(epoch, logs, optimizer)
            if early_stopping is not None and early_stopping.end_epoch(epoch, logs, self):
                break
        if early_stopping is not None:
            early_stopping.restore(self)
        return history
