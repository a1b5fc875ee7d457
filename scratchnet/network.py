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
import warnings

import numpy

from .backend import device_of, get_array_module, resolve_dtype, to_device, to_numpy
from .callbacks import Callback, History
from .inputs import check_inputs, count, prepare
from .layers import Layer
from .optimizers import Optimizer


class TrainingWarning(UserWarning):
    """Training runs but is not learning (e.g. a learning rate far too large)."""


class Network:
    """A sequential network. ``device`` "cpu" | "cuda" (default ``$SCRATCHNET_DEVICE``, else cpu);
    ``dtype`` "float32" (default) or "float64"; ``seed`` seeds the initial weights.
    ``regularizer`` (``L2``/``L1``) adds its penalty to the cost, with n = training-set size.

    Each layer holds its own weights, so a layer object belongs to one network only.
    """

    def __init__(self, layers, loss, regularizer=None, device=None, dtype="float32", seed=0):
        layers = list(layers)
        if not layers or not all(isinstance(layer, Layer) for layer in layers):
            raise ValueError(f"layers must be a non-empty list of Layer objects, got {layers!r}")
        for i, layer in enumerate(layers):
            if getattr(layer, "in_network", False) or any(layer is other for other in layers[:i]):
                raise ValueError(f"layer {i} ({layer!r}) already belongs to a network: a layer "
                                 "holds its own weights, so give each network new layer objects")
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
            layer.in_network = True
        # The cost gives δ^L = ∂C/∂z directly when the network ends in its paired activation.
        self.fused_output = loss.pairs_with is not None and isinstance(layers[-1], loss.pairs_with)
        self.optimizer, self.stop_training, self.history = None, False, None

    # ---- parameters, by name, read live from the layers -----------------------------------
    def parameters(self):
        """{"layers.i.name": array} — the trainable arrays, as the layers hold them now."""
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
        """One step of mini-batch gradient descent on the batch (x, y); returns its output a^L.

        1. forward: each layer's output, and the cache its backward needs;
        2. the output error: δ^L = ∂C/∂z^L (BP1) when the cost pairs with the output
           activation (σ' cancels, Nielsen eq. 66), else ∂C/∂a^L for the activation's backward;
        3. backward: each layer turns ∂C/∂(its output) into ∂C/∂(its input) (BP2) and the
           gradients of its own parameters (BP3, BP4);
        4. the regulariser adds ∂/∂w of its penalty to each weight's gradient (n = the
           training-set size, Nielsen's λ/n);
        5. the optimiser updates the parameters, read from the layers as they are now.
        """
        xp, layers = self.xp, self.layers
        a, caches = x, []
        for layer in layers:                                        # 1
            a, cache = layer.forward(a, True)
            caches.append(cache)
        if self.fused_output:                                       # 2
            delta, top = self.loss.delta(xp, a, y), len(layers) - 2
        else:
            delta, top = self.loss.grad(xp, a, y), len(layers) - 1
        params, grads = {}, {}
        for i in range(top, -1, -1):                                # 3
            layer = layers[i]
            delta, layer_grads = layer.backward(delta, caches[i], i > 0)
            for name, g in layer_grads.items():
                w = layer.params[name]
                if name == "W" and self.regularizer is not None:     # 4
                    g += self.regularizer.grad(xp, w, n)
                key = f"layers.{i}.{name}"
                params[key], grads[key] = w, g
        optimizer.step(params, grads)                               # 5
        return a

    # ---- using a network ----------------------------------------------------------------
    def predict(self, X, batch_size=1000):
        """The network's outputs for the rows of X (an array or a list of rows), as a NumPy
        array on the host. Zero rows give a (0, outputs) array."""
        X = check_inputs(self, X, "X")
        batch_size = count("batch_size", batch_size, 1)
        if len(X) == 0:
            one = self.feedforward(self.xp.zeros((1,) + tuple(X.shape[1:]), dtype=self.dtype))
            return numpy.zeros((0,) + tuple(one.shape[1:]), dtype=self.dtype)
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
        return self._evaluate_prepared(*prepare(self, data, "data"),
                                       count("batch_size", batch_size, 1))

    def fit(self, training_data, epochs, batch_size, optimizer, validation_data=None,
            callbacks=(), seed=0, shuffle=True, augment=None):
        """Train by mini-batch gradient descent; returns the ``History`` of the epochs.

        Each epoch: shuffle (seeded), one ``train_step`` per mini-batch, then the epoch's
        metrics ("logs"): "loss" and "accuracy" on the training data (of the outputs each
        batch had during its own step, kept on the device: not a second pass; the cost C0
        without the penalty), "val_loss" and "val_accuracy" when validation data is given,
        "lr" (the rate the epoch ran at) and "time" (seconds).

        ``callbacks``: ``Callback`` objects (see ``scratchnet.callbacks``): schedules, early
        stopping, progress lines... ``augment``: a function ``augment(X, rng) -> X'`` that
        makes fresh training inputs (same shape) from the original ones at the start of every
        epoch; ``rng`` is a seeded NumPy Generator.

        A loss that is not finite stops training: the network gets back the weights it had
        before that epoch, the callbacks' ``on_train_end`` runs (so ``EarlyStopping`` may
        restore its best weights), and ``FloatingPointError`` says what happened. A run that is
        not learning after two epochs gets a ``TrainingWarning``: its training accuracy still
        within a tenth of the way from chance (the commonest class's share) to perfect, or its
        cost over ten times what it was before training.
        """
        epochs = count("epochs", epochs, 0)
        batch_size = count("batch_size", batch_size, 1)
        if not isinstance(optimizer, Optimizer):
            raise ValueError(f"optimizer must be an optimiser such as SGD(lr=0.1), "
                             f"got {optimizer!r}")
        callbacks = list(callbacks)
        for c in callbacks:
            if not isinstance(c, Callback):
                raise ValueError(f"callbacks must be Callback objects (see scratchnet.callbacks; "
                                 f"LambdaCallback wraps plain functions), got {c!r}")
        if augment is not None and not callable(augment):
            raise ValueError(f"augment must be a function augment(X, rng) -> X, got {augment!r}")
        X, Y, labels = prepare(self, training_data, "training_data")
        val = prepare(self, validation_data, "validation_data") if validation_data else None
        original = numpy.asarray(to_numpy(training_data[0])) if augment is not None else None
        n = len(X)
        # What "not learning" is measured against: the commonest class's share of the
        # labels, and the cost before training (on at most 1000 rows).
        chance = float(numpy.bincount(to_numpy(labels).astype(numpy.int64)).max()) / n
        initial_loss = self._evaluate_prepared(X[:1000], Y[:1000], labels[:1000], 1000)["loss"]
        rng = numpy.random.default_rng(seed)

        history = History()                       # last, as in Keras: it records final logs
        callbacks.append(history)
        self.optimizer, self.stop_training, self.history = optimizer, False, history
        for c in callbacks:
            c.set_model(self)
            c.set_params({"epochs": epochs, "steps": -(-n // batch_size),
                          "batch_size": batch_size, "samples": n})
            c.on_train_begin({})
        logs, warned = {}, False
        last_good = self.copy_weights()
        for epoch in range(epochs):
            start = time.perf_counter()
            for c in callbacks:
                c.on_epoch_begin(epoch, {})
            if augment is not None:
                X = self._augmented(augment, original, rng)
            logs = self._train_epoch(X, Y, labels, optimizer, batch_size, rng, shuffle, callbacks)
            if val is not None:
                metrics = self._evaluate_prepared(*val, batch_size=1000)
                logs["val_loss"], logs["val_accuracy"] = metrics["loss"], metrics["accuracy"]
            logs["time"] = time.perf_counter() - start
            broken = self._broken(logs)
            if broken:
                self.set_weights(last_good)
                for c in callbacks:
                    c.on_train_end(logs)
                raise FloatingPointError(
                    f"training diverged: {broken} at epoch {epoch}; the weights from before "
                    f"that epoch are kept; try a smaller learning rate (lr={logs['lr']:g})")
            last_good = self.copy_weights()
            for c in callbacks:
                c.on_epoch_end(epoch, logs)
            if not warned and epoch >= 1:
                warned = self._warn_if_not_learning(logs, epoch, chance, initial_loss)
            if self.stop_training:
                break
        for c in callbacks:
            c.on_train_end(logs)
        return history

    def _warn_if_not_learning(self, logs, epoch, chance, initial_loss):
        """A TrainingWarning when the training accuracy is still within a tenth of the way from
        chance to perfect, or the cost is ten times what it was before training. True if so."""
        # (With one class only, "chance" is perfect and says nothing about the rate.)
        stuck = chance < 1 and logs["accuracy"] < chance + 0.1 * (1 - chance)
        worse = logs["loss"] > 10 * max(initial_loss, 1e-3)
        if not (stuck or worse):
            return False
        why = (f"training accuracy {logs['accuracy']:.4f} is close to always answering the "
               f"commonest class ({chance:.4f})" if stuck else
               f"the cost {logs['loss']:.4g} is over ten times its value before training "
               f"({initial_loss:.4g})")
        warnings.warn(f"{why} after {epoch + 1} epochs: the learning rate (lr={logs['lr']:g}) "
                      "may be far too large or too small", TrainingWarning, stacklevel=3)
        return True

    def _broken(self, logs):
        """What went wrong with an epoch (a non-finite loss or weight), or None."""
        for key in ("loss", "val_loss"):
            if key in logs and not numpy.isfinite(logs[key]):
                return f"the {key.replace('_', ' ')} is {logs[key]}"
        for key, w in self.parameters().items():
            if not bool(self.xp.isfinite(w).all()):
                return f"the weights {key} are not finite"
        return None

    def _train_epoch(self, X, Y, labels, optimizer, batch_size, rng, shuffle, callbacks):
        """One pass over the training data; returns the epoch's training metrics."""
        xp, n = self.xp, len(X)
        lr = optimizer.lr
        # Each mini-batch gathers its rows from a shuffled order: cheaper than copying the
        # whole training set into a shuffled array every epoch.
        order = to_device(rng.permutation(n), xp) if shuffle else xp.arange(n)
        # Only the callbacks that watch mini-batches are called after each one.
        watchers = [c for c in callbacks if type(c).on_batch_end is not Callback.on_batch_end]
        outputs, batch_logs = [], {"size": batch_size}
        for b, k in enumerate(range(0, n, batch_size)):
            rows = order[k:k + batch_size]
            outputs.append(self.train_step(X.take(rows, axis=0), Y.take(rows, axis=0),
                                           optimizer, n))
            if watchers:
                batch_logs["size"] = len(rows)
                for c in watchers:
                    c.on_batch_end(b, batch_logs)
        # Training metrics from the outputs each batch had as it was trained, in one
        # vectorised pass (no per-step work beyond keeping the output).
        outputs = xp.concatenate(outputs)
        return {"loss": float(self.loss.value(xp, outputs, Y.take(order, axis=0))),
                "accuracy": int(self._correct(outputs, labels.take(order))) / n, "lr": lr}

    def _augmented(self, augment, original, rng):
        """This epoch's training inputs: augment(original, rng), checked, on the device."""
        X = numpy.asarray(augment(original, rng))
        if X.shape != original.shape or X.dtype.kind != "f":
            raise ValueError(f"augment must return float inputs of shape {original.shape}, "
                             f"got {X.dtype} {X.shape}")
        if not numpy.isfinite(X).all():
            raise ValueError("augment returned inputs with NaN or infinity")
        return to_device(X, self.xp, self.dtype)
