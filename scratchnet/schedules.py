"""Learning-rate schedules and early stopping: they read a metric, they decide.

The optimiser updates; a schedule only writes ``optimizer.lr``; early stopping
only says "stop" and keeps a copy of the best weights. ReduceLROnPlateau and
EarlyStopping share one idea, a ``Plateau``: the best value so far and how many
epochs have passed without beating it.

Semantics follow PyTorch's ReduceLROnPlateau and Keras's EarlyStopping, so the
numbers mean what users expect. In particular, ``patience`` counts the flat
epochs that are *tolerated*: patience=2 cuts the rate after the third flat epoch
("halve after 3 epochs without improvement" is ``factor=0.5, patience=2``).
"""
import math


class Plateau:
    """Tracks the best value of a metric. ``mode`` "max" (accuracy) or "min" (loss).

    A value is an improvement when it beats the best by more than ``threshold``:
    relative (best·(1 ± threshold), PyTorch's default) or absolute (best ± threshold).
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


def _monitored(logs, monitor):
    if monitor not in logs:
        raise KeyError(f"monitor={monitor!r} is not among this epoch's metrics {sorted(logs)}"
                       " (validation metrics need validation_data)")
    return logs[monitor]


class Schedule:
    """A schedule's two moments: before an epoch, and after it with that epoch's metrics."""

    def begin_epoch(self, epoch, optimizer):
        pass

    def end_epoch(self, epoch, logs, optimizer):
        pass


class ReduceLROnPlateau(Schedule):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved for
    more than ``patience`` epochs; then wait ``cooldown`` epochs before counting again.
    The rate never goes below ``min_lr``."""

    def __init__(self, monitor="val_accuracy", mode="max", factor=0.1, patience=10,
                 threshold=1e-4, threshold_mode="rel", cooldown=0, min_lr=0.0):
        if not 0.0 < factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be in (0, 1), got {factor!r}")
        if not (isinstance(patience, int) and patience >= 0):
            raise ValueError(f"ReduceLROnPlateau: patience must be an int >= 0, got {patience!r}")
        if not (isinstance(cooldown, int) and cooldown >= 0):
            raise ValueError(f"ReduceLROnPlateau: cooldown must be an int >= 0, got {cooldown!r}")
        self.monitor, self.factor, self.patience = monitor, factor, patience
        self.cooldown, self.min_lr = cooldown, float(min_lr)
        self.plateau = Plateau(mode, threshold, threshold_mode)
        self.cooldown_left = 0

    def end_epoch(self, epoch, logs, optimizer):
        self.plateau.update(_monitored(logs, self.monitor))
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.plateau.bad_epochs = 0
        if self.plateau.bad_epochs > self.patience:
            optimizer.lr = max(optimizer.lr * self.factor, self.min_lr)
            self.cooldown_left = self.cooldown
            self.plateau.bad_epochs = 0


class Piecewise(Schedule):
    """A fixed learning rate per phase: ``Piecewise({0: 1e-3, 20: 1e-5})`` trains epochs
    0–19 at 1e-3 and from epoch 20 on at 1e-5 (epochs counted from 0)."""

    def __init__(self, rates):
        if not rates or 0 not in rates:
            raise ValueError(f"Piecewise: rates must give the rate for epoch 0, got {rates!r}")
        self.rates = sorted((int(e), float(r)) for e, r in rates.items())

    def rate(self, epoch):
        return [r for start, r in self.rates if start <= epoch][-1]

    def begin_epoch(self, epoch, optimizer):
        optimizer.lr = self.rate(epoch)


class EarlyStopping:
    """Stop when ``monitor`` has not improved for ``patience`` epochs (Keras semantics:
    patience=20 stops after the 20th epoch without improvement). With
    ``restore_best_weights`` the network gets back the weights of its best epoch."""

    def __init__(self, monitor="val_accuracy", mode="max", patience=10, min_delta=0.0,
                 restore_best_weights=True):
        if not (isinstance(patience, int) and patience >= 1):
            raise ValueError(f"EarlyStopping: patience must be an int >= 1, got {patience!r}")
        self.monitor, self.patience = monitor, patience
        self.restore_best_weights = restore_best_weights
        self.plateau = Plateau(mode, min_delta, "abs")
        self.best_epoch, self.best_weights = None, None

    def end_epoch(self, epoch, logs, network):
        """Record the epoch; True when training should stop."""
        if self.plateau.update(_monitored(logs, self.monitor)):
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = network.copy_weights()
        return self.plateau.bad_epochs >= self.patience

    def restore(self, network):
        if self.restore_best_weights and self.best_weights is not None:
            network.set_weights(self.best_weights)
