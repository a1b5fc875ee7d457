"""Schedules: PyTorch's ReduceLROnPlateau semantics, Keras's EarlyStopping, Piecewise."""
import pytest

import scratchnet as sn


def run(schedule, metrics, lr=1.0):
    opt = sn.SGD(lr=lr)
    rates = []
    for epoch, value in enumerate(metrics):
        schedule.begin_epoch(epoch, opt)
        rates.append(opt.lr)
        schedule.end_epoch(epoch, {"val_accuracy": value}, opt)
    return rates, opt.lr


def test_halve_after_three_flat_epochs_is_patience_two():
    """The reference: 'learning rate halved after every 3 epochs without improvement'."""
    s = sn.ReduceLROnPlateau(factor=0.5, patience=2)
    rates, final = run(s, [0.90, 0.91, 0.91, 0.91, 0.91, 0.91, 0.91, 0.91])
    # best at epoch 1; epochs 2, 3, 4 are flat → cut after epoch 4; then 5, 6, 7 → cut again
    assert rates == [1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5] and final == 0.25


def test_improvement_resets_the_count():
    s = sn.ReduceLROnPlateau(factor=0.5, patience=2)
    _, final = run(s, [0.9, 0.9, 0.9, 0.95, 0.95, 0.95])
    assert final == 1.0


def test_threshold_is_relative_by_default():
    s = sn.ReduceLROnPlateau(factor=0.5, patience=0, threshold=0.01)
    _, final = run(s, [0.90, 0.905])           # +0.55% < 1%: not an improvement
    assert final == 0.5


def test_cooldown_and_min_lr():
    s = sn.ReduceLROnPlateau(factor=0.1, patience=0, cooldown=2, min_lr=0.005)
    rates, final = run(s, [0.9] * 9)
    # cut after epoch 1, two cooldown epochs, cut after epoch 4, ..., floor at min_lr
    assert rates == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.005])
    assert final == 0.005


def test_min_mode_for_losses():
    s = sn.ReduceLROnPlateau(monitor="val_loss", mode="min", factor=0.5, patience=0)
    opt = sn.SGD(lr=1.0)
    for v in (1.0, 0.5, 0.6):
        s.end_epoch(0, {"val_loss": v}, opt)
    assert opt.lr == 0.5


def test_missing_metric_is_named():
    with pytest.raises(KeyError, match="val_accuracy.*validation_data"):
        sn.ReduceLROnPlateau().end_epoch(0, {"loss": 1.0}, sn.SGD(lr=1.0))


def test_piecewise_phases():
    s = sn.Piecewise({0: 1e-3, 20: 1e-5})
    rates, _ = run(s, [0.0] * 22)
    assert rates[:20] == [1e-3] * 20 and rates[20:] == [1e-5] * 2


class FakeNet:
    def __init__(self):
        self.weights, self.restored = 0, None

    def copy_weights(self):
        return self.weights

    def set_weights(self, w):
        self.restored = w


def test_early_stopping_after_patience_flat_epochs_keras_semantics():
    stop, net = sn.EarlyStopping(patience=3), FakeNet()
    decisions = []
    for epoch, value in enumerate([0.5, 0.7, 0.6, 0.7, 0.65, 0.9]):
        net.weights = epoch
        decisions.append(stop.end_epoch(epoch, {"val_accuracy": value}, net))
        if decisions[-1]:
            break
    assert decisions == [False, False, False, False, True]   # best at 1; 2, 3, 4 flat
    stop.restore(net)
    assert net.restored == 1 and stop.best_epoch == 1


@pytest.mark.parametrize("make", [lambda: sn.ReduceLROnPlateau(factor=1.5),
                                  lambda: sn.ReduceLROnPlateau(patience=-1),
                                  lambda: sn.EarlyStopping(patience=0),
                                  lambda: sn.Piecewise({5: 0.1})])
def test_bad_settings_are_refused(make):
    with pytest.raises(ValueError):
        make()
