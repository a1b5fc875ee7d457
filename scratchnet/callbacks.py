"""Callbacks: the one way to hook into training, as in Keras.

``fit`` calls every callback at five moments, with Keras' arguments:

    on_train_begin(logs)                  before the first epoch
    on_epoch_begin(epoch, logs)           before each epoch (a schedule sets the rate here)
    on_batch_end(batch, logs)             after each mini-batch's step (logs: {"size": m})
    on_epoch_end(epoch, logs)             after each epoch, logs = that epoch's metrics
    on_train_end(logs)                    once, at the end (also after a divergence)

A callback sees the network as ``self.model`` and its optimiser as ``self.model.optimizer``;
``self.params`` holds {"epochs", "steps", "batch_size", "samples"}. Setting
``self.model.stop_training = True`` ends training after the current epoch.

The callbacks here read a metric and decide; the optimiser alone updates the weights.
Learning-rate schedules write ``optimizer.lr`` (PyTorch's name), nothing else.

    ReduceLROnPlateau   PyTorch's semantics: ``patience`` counts the flat epochs tolerated,
                        so patience=2 cuts the rate after the 3rd flat epoch
    Piecewise           a fixed rate per phase of epochs
    EarlyStopping       Keras' semantics: stop after ``patience`` epochs without improvement
    BestWeights         keep the best epoch's weights and give them back at the end
    LambdaCallback      a callback made of plain functions
    History             records the metrics; ``fit`` returns it
"""
import math
from collections.abc import Mapping

from .inputs import count


class Callback:
    """The base class: every moment does nothing. Override the ones you need."""

    model = None
    params = None

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass


class History(Callback, Mapping):
    """The metrics of every epoch. ``fit`` returns it; it behaves like Keras' History:

        history.history["val_accuracy"]   the list of that metric, one value per epoch
        history["val_accuracy"]           the same (a History is a read-only mapping)
        "val_loss" in history, list(history), history.keys()      as for a dict
        history.epoch                     the epoch numbers, [0, 1, 2, ...]
    A key that was never logged raises KeyError, as a dict does.
    """

    def __init__(self):
        self.history = {}
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def __getitem__(self, key):
        return self.history[key]

    def __iter__(self):
        return iter(self.history)

    def __len__(self):
        return len(self.history)

    def __repr__(self):
        return f"History({len(self.epoch)} epochs, keys={sorted(self.history)})"


class LambdaCallback(Callback):
    """A callback from plain functions, e.g. ``LambdaCallback(on_epoch_end=lambda epoch,
    logs: print(epoch, logs["loss"]))``. Each is called with that moment's arguments."""

    def __init__(self, on_train_begin=None, on_epoch_begin=None, on_batch_end=None,
                 on_epoch_end=None, on_train_end=None):
        for name, fn in (("on_train_begin", on_train_begin), ("on_epoch_begin", on_epoch_begin),
                         ("on_batch_end", on_batch_end), ("on_epoch_end", on_epoch_end),
                         ("on_train_end", on_train_end)):
            if fn is not None:
                if not callable(fn):
                    raise ValueError(f"LambdaCallback: {name} must be callable, got {fn!r}")
                setattr(self, name, fn)


# ---- watching one metric ----------------------------------------------------------------

def resolve_mode(mode, monitor):
    """"min" or "max". "auto" is Keras' rule: "max" for an accuracy, else "min"."""
    if mode == "auto":
        return "max" if "acc" in monitor else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min', 'max' or 'auto', got {mode!r}")
    return mode


class Plateau:
    """The best value of a metric so far, and how many epochs have not beaten it.

    A value is an improvement when it beats the best by more than ``threshold``:
    relative, best·(1 ± threshold) (PyTorch's default), or absolute, best ± threshold
    (Keras' ``min_delta``).
    """

    def __init__(self, mode="max", threshold=1e-4, threshold_mode="rel"):
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        if not threshold >= 0:
            raise ValueError(f"threshold must be >= 0, got {threshold!r}")
        self.mode, self.threshold, self.threshold_mode = mode, threshold, threshold_mode
        self.best = -math.inf if mode == "max" else math.inf
        self.bad_epochs = 0

    def is_better(self, value):
        sign = 1.0 if self.mode == "max" else -1.0
        if self.threshold_mode == "rel":
            margin = abs(self.best) * self.threshold if math.isfinite(self.best) else 0.0
        else:
            margin = self.threshold
        return sign * (value - self.best) > margin

    def update(self, value):
        """Record one epoch's value; True when it is a new best."""
        if math.isnan(value):
            raise ValueError("the monitored metric is NaN: training diverged")
        if self.is_better(value):
            self.best, self.bad_epochs = value, 0
            return True
        self.bad_epochs += 1
        return False


def monitored(logs, monitor):
    """The metric ``monitor`` from an epoch's logs, or a KeyError that says what is there."""
    if monitor not in logs:
        raise KeyError(f"monitor={monitor!r} is not among this epoch's metrics {sorted(logs)}"
                       " (validation metrics need validation_data)")
    return logs[monitor]


# ---- learning-rate schedules ------------------------------------------------------------

class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved for more
    than ``patience`` epochs; then wait ``cooldown`` epochs before counting again. The rate
    never goes below ``min_lr``. The defaults are PyTorch's (its mode="min" is what
    mode="auto" gives for the default monitor, "val_loss").

    "Halve the rate after 3 epochs without improvement" is ``factor=0.5, patience=2``.
    """

    def __init__(self, monitor="val_loss", mode="auto", factor=0.1, patience=10,
                 threshold=1e-4, threshold_mode="rel", cooldown=0, min_lr=0.0):
        if not 0.0 < factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be in (0, 1), got {factor!r}")
        self.patience = count("ReduceLROnPlateau: patience", patience, 0)
        self.cooldown = count("ReduceLROnPlateau: cooldown", cooldown, 0)
        if not min_lr >= 0:
            raise ValueError(f"ReduceLROnPlateau: min_lr must be >= 0, got {min_lr!r}")
        self.monitor, self.factor, self.min_lr = monitor, factor, float(min_lr)
        self.plateau = Plateau(resolve_mode(mode, monitor), threshold, threshold_mode)
        self.cooldown_left = 0

    def on_epoch_end(self, epoch, logs=None):
        self.plateau.update(monitored(logs, self.monitor))
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.plateau.bad_epochs = 0
        if self.plateau.bad_epochs > self.patience:
            optimizer = self.model.optimizer
            optimizer.lr = max(optimizer.lr * self.factor, self.min_lr)
            self.cooldown_left = self.cooldown
            self.plateau.bad_epochs = 0


class Piecewise(Callback):
    """A fixed learning rate per phase: ``Piecewise({0: 1e-3, 20: 1e-5})`` trains epochs
    0-19 at 1e-3 and from epoch 20 on at 1e-5 (epochs counted from 0)."""

    def __init__(self, rates):
        if not isinstance(rates, Mapping) or 0 not in rates:
            raise ValueError(f"Piecewise: rates must be a dict giving the rate for epoch 0, "
                             f"got {rates!r}")
        for epoch, rate in rates.items():
            count("Piecewise: an epoch", epoch, 0)
            if not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0):
                raise ValueError(f"Piecewise: the rate for epoch {epoch} must be a finite "
                                 f"number > 0, got {rate!r}")
        self.rates = sorted((int(e), float(r)) for e, r in rates.items())

    def rate(self, epoch):
        return [r for start, r in self.rates if start <= epoch][-1]

    def on_epoch_begin(self, epoch, logs=None):
        self.model.optimizer.lr = self.rate(epoch)


# ---- stopping and keeping the best ------------------------------------------------------

class BestWeights(Callback):
    """Keep a copy of the weights of the epoch best by ``monitor`` and give them back to the
    network when training ends. ``best_epoch`` and ``best`` say which and how good."""

    def __init__(self, monitor="val_loss", mode="auto", min_delta=0.0):
        self.monitor = monitor
        self.plateau = Plateau(resolve_mode(mode, monitor), min_delta, "abs")
        self.best_epoch, self.best_weights = None, None

    @property
    def best(self):
        return self.plateau.best

    def on_epoch_end(self, epoch, logs=None):
        if self.plateau.update(monitored(logs, self.monitor)):
            self.best_epoch, self.best_weights = epoch, self.model.copy_weights()

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class EarlyStopping(BestWeights):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs (Keras' semantics and defaults: patience=20 stops after the 20th epoch without
    improvement; patience=0 after the first). With ``restore_best_weights`` the network gets
    back the weights of its best epoch when training ends — also when it ran to the last
    epoch without stopping, where Keras keeps the last weights (we find that a trap).
    ``stopped_epoch`` is the epoch it stopped after (None if it did not)."""

    def __init__(self, monitor="val_loss", mode="auto", patience=0, min_delta=0.0,
                 restore_best_weights=False):
        super().__init__(monitor, mode, min_delta)
        self.patience = count("EarlyStopping: patience", patience, 0)
        self.restore_best_weights = bool(restore_best_weights)
        self.stopped_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        if self.plateau.update(monitored(logs, self.monitor)):
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.copy_weights()
        elif self.plateau.bad_epochs >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights:
            super().on_train_end(logs)
