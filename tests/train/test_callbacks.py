"""Callbacks driven by fit: EarlyStopping, TerminateOnNaN, ModelCheckpoint, CSVLogger,
LearningRateScheduler, ReduceLROnPlateau and their get_state/set_state for resuming."""
import csv
import json
import math

import numpy as np
import pytest
import torch

import shenjing as sj
from shenjing.nn import Dense

RNG = np.random.default_rng(0)
X = RNG.standard_normal((48, 5)).astype(np.float32)
Y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0)  # 3 classes
VAL = [1.0, 0.8, 0.6, 0.65, 0.7, 0.59, 0.62, 0.61, 0.63, 0.64, 0.66, 0.67]


pytestmark = pytest.mark.usefixtures("one_blas_thread")  # tests/conftest.py


def compiled(optimizer="sgd", loss=None):
    sj.manual_seed(0)
    model = sj.Sequential([Dense(8, activation="relu"), Dense(3)])
    model.compile(optimizer, loss or sj.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def scripted(name="val_loss", values=VAL):
    """A callback that writes values[epoch] into the epoch-end logs (put it first)."""
    return sj.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: logs.update({name: values[epoch]}))


class WeightsPerEpoch(sj.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


def same_weights(a, b):
    return all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))


# ---------------------------------------------------------------- EarlyStopping
@pytest.mark.parametrize("min_delta,stopped,best", [(0.0, 8, 5), (0.02, 5, 2)])
def test_early_stopping_stops_at_the_right_epoch_and_restores_best(min_delta, stopped, best):
    model, seen = compiled(), WeightsPerEpoch()
    stop = sj.callbacks.EarlyStopping(patience=3, min_delta=min_delta,
                                      restore_best_weights=True)
    history = model.fit(X, Y, epochs=12, batch_size=16, verbose=0,
                        callbacks=[scripted(), seen, stop])
    assert history.epoch == list(range(stopped + 1))
    assert (stop.stopped_epoch, stop.best_epoch, stop.best) == (stopped, best, VAL[best])
    assert same_weights(model.get_weights(), seen.weights[best])
    assert not same_weights(model.get_weights(), seen.weights[-1])


def test_early_stopping_restores_best_even_without_stopping(capsys):
    model, seen = compiled(), WeightsPerEpoch()
    stop = sj.callbacks.EarlyStopping(patience=5, restore_best_weights=True, verbose=1)
    history = model.fit(X, Y, epochs=5, batch_size=16, verbose=0,
                        callbacks=[scripted(), seen, stop])
    assert len(history.epoch) == 5 and stop.stopped_epoch == 0
    assert same_weights(model.get_weights(), seen.weights[2])
    assert "best epoch: 3" in capsys.readouterr().err


@pytest.mark.parametrize("kw,stopped", [
    (dict(baseline=0.5, patience=2), 3),          # improvements below no baseline: wait grows
    (dict(start_from_epoch=3, patience=2), 7),    # epochs 0-2 ignored
    (dict(patience=0), 3),
])
def test_early_stopping_baseline_and_warmup(kw, stopped):
    history = compiled().fit(X, Y, epochs=12, verbose=0,
                             callbacks=[scripted(), sj.callbacks.EarlyStopping(**kw)])
    assert history.epoch[-1] == stopped


def test_early_stopping_max_mode_on_accuracy_names():
    values = [0.5, 0.6, 0.55, 0.58, 0.7]
    stop = sj.callbacks.EarlyStopping(monitor="val_accuracy", patience=2)
    assert stop.mode == "max"
    h = compiled().fit(X, Y, epochs=5, verbose=0, callbacks=[scripted("val_accuracy", values),
                                                             stop])
    assert h.epoch[-1] == 3 and stop.best == 0.6


def test_early_stopping_state_resumes_like_one_run():
    def make():
        return sj.callbacks.EarlyStopping(patience=3, min_delta=0.02)

    whole = make()
    compiled().fit(X, Y, epochs=12, verbose=0, callbacks=[scripted(), whole])
    first = make()
    model = compiled()
    model.fit(X, Y, epochs=4, verbose=0, callbacks=[scripted(), first])
    state = json.loads(json.dumps(first.get_state()))
    assert state == {"best": 0.6, "wait": 1, "stopped_epoch": 0, "best_epoch": 2}
    second = make()
    second.set_state(state)
    h = model.fit(X, Y, epochs=12, initial_epoch=4, verbose=0, callbacks=[scripted(), second])
    assert h.epoch[-1] == whole.stopped_epoch == second.stopped_epoch == 5


# ---------------------------------------------------------------- TerminateOnNaN
def nan_loss_at(epoch, batch, calls_per_epoch=3):
    """A loss that is mean squared logits, nan on one scripted call."""
    count = iter(range(10**6))

    def loss(y, y_pred):
        value = (y_pred * y_pred).mean()
        return value * math.nan if next(count) == epoch * calls_per_epoch + batch else value

    return loss


def test_terminate_on_nan_stops_gracefully(capsys):
    model = compiled(loss=nan_loss_at(2, 1))
    snapshots = {}
    keep = sj.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: snapshots.update(
        {b: model.get_weights()}))
    terminate = sj.callbacks.TerminateOnNaN()
    history = model.fit(X, Y, epochs=5, batch_size=16, shuffle=False, verbose=0,
                        callbacks=[keep, terminate])
    assert history.epoch == [0, 1, 2] and terminate.stopped_at == (2, 1)
    assert all(math.isfinite(v) for v in history["loss"][:2]) and math.isnan(history["loss"][2])
    assert same_weights(model.get_weights(), snapshots[0])     # the nan step was not applied
    assert "batch 2: invalid loss nan, terminating training" in capsys.readouterr().err
    assert not hasattr(model, "_on_nonfinite_loss")            # the next fit raises again


def test_without_terminate_on_nan_fit_raises():
    model = compiled(loss=nan_loss_at(0, 1))
    with pytest.raises(sj.train.NonFiniteLossError, match="TerminateOnNaN"):
        model.fit(X, Y, epochs=2, batch_size=16, verbose=0)


# ---------------------------------------------------------------- ModelCheckpoint
def test_checkpoint_weights_every_epoch_with_formatted_names(tmp_path):
    pattern = str(tmp_path / "ckpt" / "w{epoch:02d}-{val_loss:.2f}.weights")
    model, seen = compiled(), WeightsPerEpoch()
    model.fit(X, Y, epochs=3, verbose=0, callbacks=[
        scripted(), seen, sj.callbacks.ModelCheckpoint(pattern, save_weights_only=True)])
    names = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert names == ["w01-1.00.weights", "w02-0.80.weights", "w03-0.60.weights"]
    other = compiled()
    other.predict(X[:1])
    other.load_weights(tmp_path / "ckpt" / "w02-0.80.weights")
    assert same_weights(other.get_weights(), seen.weights[1])


def test_checkpoint_save_best_only(tmp_path, capsys):
    path = tmp_path / "best.weights"
    model, seen = compiled(), WeightsPerEpoch()
    ckpt = sj.callbacks.ModelCheckpoint(path, save_best_only=True, save_weights_only=True,
                                        verbose=1)
    model.fit(X, Y, epochs=8, verbose=0, callbacks=[scripted(), seen, ckpt])
    other = compiled()
    other.predict(X[:1])
    other.load_weights(path)
    assert same_weights(other.get_weights(), seen.weights[5]) and ckpt.best == VAL[5]
    err = capsys.readouterr().err
    assert "Epoch 6: val_loss improved from 0.60000 to 0.59000" in err
    assert "Epoch 8: val_loss did not improve from 0.59000" in err
    assert ckpt.get_state() == {"best": 0.59}


def test_checkpoint_threshold_max_mode_and_batch_frequency(tmp_path):
    ckpt = sj.callbacks.ModelCheckpoint(tmp_path / "a{epoch}.w", monitor="val_accuracy",
                                        save_best_only=True, save_weights_only=True,
                                        initial_value_threshold=0.55)
    compiled().fit(X, Y, epochs=5, verbose=0, callbacks=[
        scripted("val_accuracy", [0.5, 0.6, 0.55, 0.58, 0.7]), ckpt])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a2.w", "a5.w"]
    per_batch = sj.callbacks.ModelCheckpoint(tmp_path / "b" / "e{epoch}b{batch}.w",
                                             save_weights_only=True, save_freq=2)
    compiled().fit(X, Y, epochs=2, batch_size=16, verbose=0, callbacks=[per_batch])
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["e1b2.w", "e2b1.w",
                                                                  "e2b3.w"]
    with pytest.raises(KeyError, match="no field 'nope'"):
        compiled().fit(X, Y, epochs=1, verbose=0, callbacks=[
            sj.callbacks.ModelCheckpoint(tmp_path / "{nope}.w", save_weights_only=True)])


@pytest.mark.skipif(not hasattr(sj.Model, "save"), reason="Model.save not written yet")
def test_checkpoint_full_model(tmp_path):
    model = compiled()
    model.fit(X, Y, epochs=2, verbose=0, callbacks=[
        sj.callbacks.ModelCheckpoint(tmp_path / "m{epoch}", monitor="loss")])
    saved = sorted(p.name for p in tmp_path.iterdir())
    assert len(saved) == 2 and saved[0].startswith("m1") and saved[1].startswith("m2")


# ---------------------------------------------------------------- CSVLogger
def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_csv_logger_rows_equal_history_and_append(tmp_path):
    path = tmp_path / "log.csv"
    model = compiled()
    h = model.fit(X, Y, epochs=3, verbose=0, validation_split=0.25,
                  callbacks=[sj.callbacks.CSVLogger(path)])
    rows = read_csv(path)
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [float(r[2]) for r in rows[1:]] == h["loss"] and [r[0] for r in rows[1:]] == \
        ["0", "1", "2"]
    model.fit(X, Y, epochs=2, verbose=0, callbacks=[sj.callbacks.CSVLogger(path, append=True,
                                                                           separator=",")])
    rows = read_csv(path)
    assert len(rows) == 6 and rows[4][0] == "0" and rows[4][3] == "NA"   # no validation now


def test_csv_logger_resume_drops_rows_after_the_checkpoint(tmp_path):
    path = tmp_path / "log.csv"
    logger = sj.callbacks.CSVLogger(path, separator=";")
    model = compiled()
    model.fit(X, Y, epochs=3, verbose=0, callbacks=[logger])
    assert logger.get_state() == {"rows": 3}
    resumed = sj.callbacks.CSVLogger(path, separator=";")
    resumed.set_state({"rows": 2})             # the checkpoint was taken after epoch 2
    model.fit(X, Y, epochs=4, initial_epoch=2, verbose=0, callbacks=[resumed])
    with open(path, newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    assert [r[0] for r in rows] == ["epoch", "0", "1", "2", "3"] and resumed.rows == 4


# ---------------------------------------------------------------- learning rate
def test_learning_rate_scheduler_function_both_signatures():
    model = compiled(sj.optim.SGD(lr=0.1))
    h = model.fit(X, Y, epochs=3, verbose=0, callbacks=[
        sj.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch else lr)])
    assert h["learning_rate"] == pytest.approx([0.1, 0.05, 0.025])
    h = model.fit(X, Y, epochs=2, verbose=0, callbacks=[
        sj.callbacks.LearningRateScheduler(lambda epoch: 0.3 / (epoch + 1))])
    assert h["learning_rate"] == pytest.approx([0.3, 0.15])
    with pytest.raises(ValueError, match="must return a number"):
        model.fit(X, Y, verbose=0, callbacks=[sj.callbacks.LearningRateScheduler(
            lambda epoch, lr: "fast")])


def test_learning_rate_scheduler_with_torch_style_scheduler_per_epoch():
    opt = sj.optim.SGD(lr=0.1)                       # unbound: compile binds it
    sched = sj.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    model = compiled(opt)
    cb = sj.callbacks.LearningRateScheduler(sched)
    h = model.fit(X, Y, epochs=5, verbose=0, callbacks=[cb])
    assert h["learning_rate"] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])
    state = json.loads(json.dumps(cb.get_state()))
    opt2 = sj.optim.SGD(lr=0.1)
    cb2 = sj.callbacks.LearningRateScheduler(sj.optim.lr_scheduler.StepLR(opt2, 2, 0.5))
    cb2.set_state(state)
    h = compiled(opt2).fit(X, Y, epochs=7, initial_epoch=5, verbose=0, callbacks=[cb2])
    assert h["learning_rate"] == pytest.approx([0.025, 0.0125])
    opt3 = sj.optim.SGD(lr=0.1)                      # no state: fast-forwarded to the epoch
    cb3 = sj.callbacks.LearningRateScheduler(sj.optim.lr_scheduler.StepLR(opt3, 2, 0.5))
    h = compiled(opt3).fit(X, Y, epochs=7, initial_epoch=5, verbose=0, callbacks=[cb3])
    assert h["learning_rate"] == pytest.approx([0.025, 0.0125])


def test_one_cycle_per_batch_in_fit_matches_torch():
    opt = sj.optim.SGD(lr=0.1, momentum=0.9)
    sched = sj.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.5, epochs=3, steps_per_epoch=3)
    model = compiled(opt)
    used = []
    model.fit(X, Y, epochs=3, batch_size=16, verbose=0, callbacks=[
        sj.callbacks.LearningRateScheduler(sched, update_freq="batch"),
        sj.callbacks.LambdaCallback(on_train_batch_begin=lambda b, logs: used.append(
            model.optimizer.param_groups[0]["lr"]))])
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.5, epochs=3, steps_per_epoch=3)
    expected = []
    for _ in range(9):
        expected.append(topt.param_groups[0]["lr"])
        topt.step()
        tsched.step()
    np.testing.assert_allclose(used, expected, rtol=1e-12)


def test_reduce_lr_on_plateau_callback():
    values = [1.0, 0.9, 0.95, 0.96, 0.97, 0.98, 0.5, 0.6, 0.7, 0.8]
    model = compiled(sj.optim.SGD(lr=0.1))
    cb = sj.callbacks.ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1, min_delta=0.0)
    h = model.fit(X, Y, epochs=10, verbose=0, callbacks=[scripted(values=values), cb])
    assert h["learning_rate"] == pytest.approx([0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025,
                                                0.025, 0.0125])
    assert model.optimizer.lr == pytest.approx(0.0125)
    assert json.loads(json.dumps(cb.get_state())) == {"best": 0.5, "wait": 1,
                                                      "cooldown_counter": 0}
    floor = sj.callbacks.ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1, min_lr=0.03)
    compiled(sj.optim.SGD(lr=0.1)).fit(X, Y, epochs=10, verbose=0,
                                       callbacks=[scripted(values=values), floor])
    assert floor.model.optimizer.lr == pytest.approx(0.03)
    with pytest.raises(ValueError, match="factor"):
        sj.callbacks.ReduceLROnPlateau(factor=1.5)


def test_every_callback_is_reachable_and_states_are_json(tmp_path):
    names = ["Callback", "CallbackList", "EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau",
             "LearningRateScheduler", "CSVLogger", "TerminateOnNaN", "TensorBoard",
             "LambdaCallback", "History", "ProgbarLogger"]
    assert all(hasattr(sj.callbacks, n) for n in names)
    from shenjing.train.callbacks import Callback, CallbackList  # noqa: F401

    assert Callback().get_state() == {} and Callback().set_state({"x": 1}) is None
    cbs = [sj.callbacks.EarlyStopping(), sj.callbacks.ReduceLROnPlateau(),
           sj.callbacks.ModelCheckpoint(tmp_path / "w", save_weights_only=True),
           sj.callbacks.CSVLogger(tmp_path / "log.csv"), sj.callbacks.TerminateOnNaN()]
    compiled().fit(X, Y, epochs=2, verbose=0, validation_split=0.25, callbacks=cbs)
    for cb in cbs:
        state = json.loads(json.dumps(cb.get_state(), allow_nan=False))
        assert isinstance(state, dict)
