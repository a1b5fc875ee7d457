"""Callbacks: Keras' protocol and History, PyTorch's ReduceLROnPlateau semantics, Keras'
EarlyStopping, Piecewise, BestWeights — each driven through a real ``fit``."""
import itertools
from collections.abc import Mapping

import numpy
import pytest

import scratchnet as sn


class FakeNet:
    """Just enough of a network for a callback: an optimiser, weights and stop_training."""

    def __init__(self, lr=1.0):
        self.optimizer, self.stop_training = sn.SGD(lr=lr), False
        self.weights, self.restored = 0, None

    def copy_weights(self):
        return self.weights

    def set_weights(self, w):
        self.restored = w


def run(callback, metrics, monitor="val_accuracy", lr=1.0):
    """Drive a callback through epochs with the given metric values, as fit does; returns
    the rate each epoch ran at, and the fake network."""
    net = FakeNet(lr)
    callback.set_model(net)
    callback.on_train_begin({})
    rates = []
    for epoch, value in enumerate(metrics):
        net.weights = epoch
        callback.on_epoch_begin(epoch, {})
        rates.append(net.optimizer.lr)
        callback.on_epoch_end(epoch, {monitor: value})
        if net.stop_training:
            break
    callback.on_train_end({})
    return rates, net


def test_halve_after_three_flat_epochs_is_patience_two():
    """The reference: 'learning rate halved after every 3 epochs without improvement'."""
    s = sn.ReduceLROnPlateau("val_accuracy", factor=0.5, patience=2)
    rates, net = run(s, [0.90, 0.91, 0.91, 0.91, 0.91, 0.91, 0.91, 0.91])
    # best at epoch 1; epochs 2, 3, 4 are flat → cut after epoch 4; then 5, 6, 7 → cut again
    assert rates == [1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5] and net.optimizer.lr == 0.25


def test_improvement_resets_the_count():
    _, net = run(sn.ReduceLROnPlateau("val_accuracy", factor=0.5, patience=2),
                 [0.9, 0.9, 0.9, 0.95, 0.95, 0.95])
    assert net.optimizer.lr == 1.0


def test_threshold_is_relative_by_default():
    s = sn.ReduceLROnPlateau("val_accuracy", factor=0.5, patience=0, threshold=0.01)
    _, net = run(s, [0.90, 0.905])           # +0.55% < 1%: not an improvement
    assert net.optimizer.lr == 0.5


def test_cooldown_and_min_lr():
    s = sn.ReduceLROnPlateau("val_accuracy", factor=0.1, patience=0, cooldown=2, min_lr=0.005)
    rates, net = run(s, [0.9] * 9)
    # cut after epoch 1, two cooldown epochs, cut after epoch 4, ..., floor at min_lr
    assert rates == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.005])
    assert net.optimizer.lr == 0.005


def test_defaults_are_the_borrowed_libraries_defaults():
    """PyTorch's ReduceLROnPlateau(mode='min', factor=0.1, patience=10, threshold=1e-4, rel,
    cooldown=0, min_lr=0) on Keras' default monitor val_loss; Keras' EarlyStopping(
    monitor='val_loss', patience=0, min_delta=0, restore_best_weights=False)."""
    r = sn.ReduceLROnPlateau()
    assert (r.monitor, r.plateau.mode, r.factor, r.patience, r.plateau.threshold,
            r.plateau.threshold_mode, r.cooldown, r.min_lr) == \
        ("val_loss", "min", 0.1, 10, 1e-4, "rel", 0, 0.0)
    e = sn.EarlyStopping()
    assert (e.monitor, e.plateau.mode, e.patience, e.plateau.threshold,
            e.restore_best_weights) == ("val_loss", "min", 0, 0.0, False)


def test_auto_mode_is_max_for_accuracies_and_min_otherwise():
    assert sn.EarlyStopping("val_accuracy").plateau.mode == "max"
    assert sn.BestWeights("loss").plateau.mode == "min"


def test_missing_metric_is_named():
    with pytest.raises(KeyError, match="val_loss.*validation_data"):
        run(sn.ReduceLROnPlateau(), [1.0], monitor="loss")


def test_piecewise_phases():
    rates, _ = run(sn.Piecewise({0: 1e-3, 20: 1e-5}), [0.0] * 22)
    assert rates[:20] == [1e-3] * 20 and rates[20:] == [1e-5] * 2


def test_early_stopping_after_patience_flat_epochs_keras_semantics():
    stop = sn.EarlyStopping("val_accuracy", patience=3, restore_best_weights=True)
    rates, net = run(stop, [0.5, 0.7, 0.6, 0.7, 0.65, 0.9])
    assert len(rates) == 5 and stop.stopped_epoch == 4         # best at 1; 2, 3, 4 flat
    assert net.restored == 1 and stop.best_epoch == 1


def test_early_stopping_patience_zero_stops_at_the_first_flat_epoch():
    rates, net = run(sn.EarlyStopping("val_accuracy"), [0.5, 0.7, 0.6, 0.9])
    assert len(rates) == 3 and net.restored is None             # Keras' default: no restore


def test_best_weights_restores_the_best_epoch_without_stopping():
    keep = sn.BestWeights("val_accuracy")
    rates, net = run(keep, [0.5, 0.9, 0.6, 0.7])
    assert len(rates) == 4 and net.restored == 1 and keep.best == 0.9


@pytest.mark.parametrize("make", [lambda: sn.ReduceLROnPlateau(factor=1.5),
                                  lambda: sn.ReduceLROnPlateau(patience=-1),
                                  lambda: sn.ReduceLROnPlateau(patience=2.0),
                                  lambda: sn.EarlyStopping(patience=-1),
                                  lambda: sn.EarlyStopping(mode="maximum"),
                                  lambda: sn.Piecewise({5: 0.1}),
                                  lambda: sn.Piecewise({0: float("nan")}),
                                  lambda: sn.LambdaCallback(on_epoch_end="print")])
def test_bad_settings_are_refused(make):
    with pytest.raises(ValueError):
        make()


# ---- History ------------------------------------------------------------------------------

def blobs(n, seed):
    rng = numpy.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    centres = numpy.random.default_rng(99).standard_normal((3, 6)) * 2
    return (centres[labels] + rng.standard_normal((n, 6))).astype(numpy.float32), labels


def small_net(seed=0):
    return sn.Network([sn.Dense(6, 8), sn.Sigmoid(), sn.Dense(8, 3), sn.Softmax()],
                      loss=sn.CategoricalCrossEntropy(), seed=seed)


def fitted(epochs=3, **kwargs):
    return small_net().fit(blobs(100, 0), epochs=epochs, batch_size=10,
                           optimizer=sn.SGD(lr=0.5), validation_data=blobs(50, 1), **kwargs)


def test_history_is_a_mapping_like_keras():
    history = fitted()
    assert isinstance(history, Mapping)
    assert "loss" in history and "lost" not in history           # this hung before
    keys = list(itertools.islice(iter(history), 20))               # so did iterating
    assert sorted(keys) == ["accuracy", "loss", "lr", "time", "val_accuracy", "val_loss"]
    assert history.history["loss"] is history["loss"] and len(history["loss"]) == 3
    assert history.epoch == [0, 1, 2]


def test_history_misspelt_key_is_a_key_error():
    with pytest.raises(KeyError):
        fitted(epochs=1)["val_acc"]                                # was [None]


# ---- the protocol, through fit --------------------------------------------------------------

class Recorder(sn.Callback):
    def __init__(self):
        self.calls = []

    def on_train_begin(self, logs=None):
        self.calls.append(("train_begin", self.params["steps"], self.model.optimizer.lr))

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("epoch_begin", epoch))

    def on_batch_end(self, batch, logs=None):
        self.calls.append(("batch_end", batch, logs["size"]))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch, sorted(logs)))

    def on_train_end(self, logs=None):
        self.calls.append(("train_end",))


def test_fit_calls_every_moment_in_order_with_keras_arguments():
    r = Recorder()
    small_net().fit(blobs(25, 0), epochs=2, batch_size=10, optimizer=sn.SGD(lr=0.3),
                    callbacks=[r])
    keys = ["accuracy", "loss", "lr", "time"]
    assert r.calls == [("train_begin", 3, 0.3),
                       ("epoch_begin", 0), ("batch_end", 0, 10), ("batch_end", 1, 10),
                       ("batch_end", 2, 5), ("epoch_end", 0, keys),
                       ("epoch_begin", 1), ("batch_end", 0, 10), ("batch_end", 1, 10),
                       ("batch_end", 2, 5), ("epoch_end", 1, keys), ("train_end",)]


def test_a_callback_stops_training_with_stop_training():
    class StopAfterTwo(sn.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.model.stop_training = True
    assert fitted(epochs=10, callbacks=[StopAfterTwo()]).epoch == [0, 1]


def test_any_number_of_schedules_and_stoppers_together():
    """A Piecewise schedule, ReduceLROnPlateau and EarlyStopping side by side."""
    history = fitted(epochs=6, callbacks=[
        sn.Piecewise({0: 0.5, 2: 0.05}),
        sn.ReduceLROnPlateau("val_accuracy", factor=0.5, patience=0),
        sn.EarlyStopping("val_loss", patience=50)])
    assert history["lr"][:2] == [0.5, 0.5] and history["lr"][2] <= 0.05


def test_reduce_lr_on_plateau_in_fit_cuts_the_rate_the_next_epoch_runs_at():
    history = fitted(epochs=4, callbacks=[sn.ReduceLROnPlateau("loss", mode="max", factor=0.5,
                                                               patience=0)])
    assert history["lr"] == [0.5, 0.5, 0.25, 0.125]   # the loss falls: in "max" mode, flat


def test_early_stopping_in_fit_restores_the_best_weights():
    net = small_net()
    saved = {}

    class Snapshot(sn.Callback):
        def on_epoch_end(self, epoch, logs=None):
            saved[epoch] = {k: v.copy() for k, v in net.parameters().items()}

    stop = sn.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    history = net.fit(blobs(300, 0), epochs=40, batch_size=10, optimizer=sn.SGD(lr=8.0),
                      validation_data=blobs(300, 1), callbacks=[Snapshot(), stop])
    best = int(numpy.argmin(history["val_loss"]))
    assert stop.best_epoch == best and len(history.epoch) == best + 3
    for k, v in net.parameters().items():
        numpy.testing.assert_array_equal(v, saved[best][k])


def test_lambda_callback_and_plain_functions():
    seen = []
    fitted(epochs=2, callbacks=[sn.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(e))])
    assert seen == [0, 1]
    with pytest.raises(ValueError, match="LambdaCallback"):
        fitted(epochs=1, callbacks=[seen.append])
