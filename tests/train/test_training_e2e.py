"""End to end: small fits with fixed seeds must reach accuracy thresholds; failure modes
(NaN loss, bad shapes, bad labels) must stop with messages that say where and why."""
import time

import numpy as np
import pytest

import shenjing as sj
from shenjing.nn import Dense, Dropout

pytestmark = pytest.mark.usefixtures("one_blas_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def iris():
    return sj.data.load_iris()  # seed 002's split: train_test_split(test_size=0.2, random_state=42)


@pytest.fixture(scope="module")
def digits():
    return sj.data.load_digits()


def seed_002_model():
    model = sj.Sequential()
    model.add(Dense(units=64, input_dim=4, activation="relu"))
    model.add(Dense(units=32, activation="relu"))
    model.add(Dense(units=3, activation="softmax"))
    return model


def test_digits_dense_reaches_96_percent(digits):
    (x, y), (x_test, y_test) = digits
    sj.manual_seed(0)
    model = sj.Sequential([Dense(256, activation="relu"), Dropout(0.2),
                           Dense(128, activation="relu"), Dense(10)])
    model.compile(optimizer=sj.optim.Adam(lr=1e-3),
                  loss=sj.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    start = time.perf_counter()
    history = model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=256)
    assert accuracy >= 0.96, f"digits test accuracy {accuracy:.4f} < 0.96"
    assert history.history["loss"][-1] < history.history["loss"][0] / 5
    assert seconds < 60, f"15 epochs on digits took {seconds:.1f} s"


def test_iris_seed_002_reaches_95_percent(iris):
    (x, y), (x_test, y_test) = iris
    sj.manual_seed(0)
    model = seed_002_model()
    model.compile(optimizer=sj.optim.Adam(lr=1e-2), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=50, batch_size=16, validation_split=0.2, verbose=0)
    loss, accuracy = model.evaluate(x_test, y_test)
    assert accuracy >= 0.95, f"iris test accuracy {accuracy:.4f} < 0.95"
    assert history.history["val_accuracy"][-1] >= 0.9


def test_seed_002_program_runs_line_for_line(iris):
    """The seed's own settings: Adam defaults, 10 epochs, batch 32, validation_split 0.2."""
    (X_train, y_train), (X_test, y_test) = iris
    sj.manual_seed(0)
    model = seed_002_model()
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    history = model.fit(X_train, y_train, epochs=10, batch_size=32, validation_split=0.2,
                        verbose=0)
    loss, accuracy = model.evaluate(X_test, y_test)
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert accuracy > 0.6  # 30 Adam steps at lr=1e-3 get most of the way


class TwoLayerNet(sj.Model):
    """A Model subclass with a PyTorch-style forward (a skip connection Sequential can't do)."""

    def __init__(self):
        super().__init__()
        self.hidden = Dense(32, activation="tanh")
        self.extra = Dense(32, activation="tanh")
        self.out = Dense(3)

    def forward(self, x):
        h = self.hidden(x)
        return self.out(h + self.extra(h))


def test_model_subclass_trains_through_fit(iris):
    (x, y), (x_test, y_test) = iris
    sj.manual_seed(1)
    net = TwoLayerNet()
    net.compile(optimizer="adam",
                loss=sj.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"])
    net.optimizer.lr = 1e-2
    history = net.fit(x, y, epochs=40, batch_size=16, verbose=0)
    assert len(list(net.parameters())) == 6
    assert len(net.optimizer.param_groups[0]["params"]) == 6
    assert history.history["accuracy"][-1] > 0.9
    assert net.evaluate(x_test, y_test, return_dict=True)["accuracy"] >= 0.9


def _train_once(x, y, seed):
    sj.manual_seed(seed)
    model = sj.Sequential([Dense(32, activation="relu"), Dropout(0.3), Dense(10)])
    model.compile("adam", sj.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, epochs=2, batch_size=32, shuffle=True, verbose=0)
    return model.get_weights(), history.history["loss"]


def test_same_seed_gives_bit_identical_weights(digits):
    (x, y), _ = digits
    w1, loss1 = _train_once(x[:600], y[:600], seed=7)
    w2, loss2 = _train_once(x[:600], y[:600], seed=7)
    w3, _ = _train_once(x[:600], y[:600], seed=8)
    assert loss1 == loss2
    assert all(np.array_equal(a, b) for a, b in zip(w1, w2))
    assert not all(np.array_equal(a, b) for a, b in zip(w1, w3))


def test_validation_split_uses_last_fraction_and_logs_val_metrics(iris):
    (x, y), _ = iris
    sj.manual_seed(0)
    model = seed_002_model()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0)
    assert history.params["samples"] == 90
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 3 for v in history.history.values())
    val = model.evaluate(x[90:], y[90:], return_dict=True)  # the last 30 rows
    assert val["loss"] == pytest.approx(history.history["val_loss"][-1], rel=1e-6)
    assert val["accuracy"] == pytest.approx(history.history["val_accuracy"][-1])


def test_validation_data_arrays_and_loader(iris):
    (x, y), (x_test, y_test) = iris
    sj.manual_seed(0)
    model = seed_002_model()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    h1 = model.fit(x, y, epochs=2, validation_data=(x_test, y_test), verbose=0)
    loader = sj.data.DataLoader(sj.data.TensorDataset(x_test, y_test), batch_size=7)
    h2 = model.fit(x, y, epochs=1, validation_data=loader, verbose=0)
    assert len(h1.history["val_loss"]) == 2 and len(h2.history["val_accuracy"]) == 1
    assert h2.history["val_loss"][0] == pytest.approx(
        model.evaluate(x_test, y_test, return_dict=True)["loss"], rel=1e-5)


def test_early_stopping_stops_and_restores_best_weights(iris):
    (x, y), _ = iris
    fake = [5.0, 3.0, 4.0, 4.5, 1.0, 1.0, 1.0]  # best at epoch 1; patience 2 → stop at 3
    snapshots = []

    def inject(epoch, logs):
        logs["score"] = fake[epoch]

    sj.manual_seed(0)
    model = seed_002_model()
    model.compile("sgd", "sparse_categorical_crossentropy")
    stop = sj.train.EarlyStopping(monitor="score", patience=2, restore_best_weights=True)
    history = model.fit(x, y, epochs=7, verbose=0, callbacks=[
        sj.train.LambdaCallback(on_epoch_end=inject),
        sj.train.LambdaCallback(on_epoch_end=lambda e, logs: snapshots.append(
            model.get_weights())),
        stop])
    assert history.epoch == [0, 1, 2, 3]
    assert stop.stopped_epoch == 3 and stop.best_epoch == 1
    final = model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(final, snapshots[1]))
    assert not all(np.array_equal(a, b) for a, b in zip(final, snapshots[3]))


def test_early_stopping_on_real_val_loss(digits):
    """Labels shuffled in the validation set: val_loss can only get worse as training fits."""
    (x, y), _ = digits
    rng = np.random.default_rng(0)
    sj.manual_seed(0)
    model = sj.Sequential([Dense(64, activation="relu"), Dense(10)])
    model.compile(sj.optim.Adam(lr=3e-3),
                  sj.losses.SparseCategoricalCrossentropy(from_logits=True))
    stop = sj.train.EarlyStopping(patience=1)
    history = model.fit(x[:500], y[:500], epochs=30, verbose=0, callbacks=[stop],
                        validation_data=(x[500:800], rng.permutation(y[500:800])))
    assert len(history.epoch) < 30 and model.stop_training


def test_nan_input_stops_with_epoch_and_batch(iris):
    (x, y), _ = iris
    x = x.copy()
    sj.manual_seed(0)
    model = seed_002_model()
    model.compile("adam", "sparse_categorical_crossentropy")

    def poison(epoch, logs):
        if epoch == 1:
            x[40] = np.nan  # fit holds this float32 array without a copy: batch 3 of epoch 3

    with pytest.raises(FloatingPointError,
                       match=r"loss became nan at epoch 3, batch 3; lower the learning rate"):
        model.fit(x, y, epochs=5, batch_size=16, shuffle=False, verbose=0,
                  callbacks=[sj.train.LambdaCallback(on_epoch_end=poison)])
    assert all(np.isfinite(w).all() for w in model.get_weights())  # no step on a nan loss


def test_exploding_learning_rate_stops_with_message():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 8)).astype(np.float32)
    y = (x @ rng.standard_normal((8, 1))).astype(np.float32)
    sj.manual_seed(0)
    model = sj.Sequential([Dense(32, activation="relu"), Dense(1)])
    model.compile(sj.optim.SGD(lr=1e3), "mse")
    with np.errstate(all="ignore"), pytest.raises(
            sj.train.NonFiniteLossError,
            match=r"loss became (nan|inf) at epoch \d+, batch \d+; .*lr=1000"):
        model.fit(x, y, epochs=20, batch_size=32, verbose=0)


def test_mismatched_lengths_name_both():
    model = sj.Sequential([Dense(3)])
    model.compile("adam", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"same number of samples, got 10 in x .* and 9 in y"):
        model.fit(np.zeros((10, 4)), np.zeros(9, dtype=np.int64), verbose=0)
    with pytest.raises(ValueError, match=r"got 10 in x .* and 9 in y"):
        model.fit(np.zeros((10, 4)), np.zeros(9, dtype=np.int64), validation_split=0.2,
                  verbose=0)
    with pytest.raises(ValueError, match=r"got 5 in x .* and 6 in y"):
        model.evaluate(np.zeros((5, 4)), np.zeros(6, dtype=np.int64))


def test_label_out_of_range_names_label_and_range(iris):
    (x, y), _ = iris
    model = seed_002_model()
    model.compile("adam", "sparse_categorical_crossentropy")
    bad = y.copy()
    bad[3] = 5
    with pytest.raises(ValueError, match=r"label 5 is outside the class range \[0, 2\]"):
        model.fit(x, bad, epochs=1, batch_size=200, verbose=0)
    logits = sj.Sequential([Dense(3, input_dim=4)])
    logits.compile("adam", sj.losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(ValueError, match=r"label -1 is outside the class range \[0, 2\]"):
        logits.fit(x, np.where(y == 0, -1, y), epochs=1, batch_size=200, verbose=0)


def test_fit_with_dataloader(iris):
    (x, y), (x_test, y_test) = iris
    sj.manual_seed(0)
    loader = sj.data.DataLoader(sj.data.TensorDataset(x, y), batch_size=16, shuffle=True,
                                seed=0)
    model = seed_002_model()
    model.compile(sj.optim.Adam(lr=1e-2), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(loader, epochs=30, verbose=0)
    assert history.params["steps"] == len(loader) == 8
    assert history.params["samples"] == 120
    assert model.evaluate(x_test, y_test)[1] >= 0.9
    with pytest.raises(ValueError, match="leave `y` out"):
        model.fit(loader, y, verbose=0)
    with pytest.raises(ValueError, match="validation_split needs arrays"):
        model.fit(loader, validation_split=0.2, verbose=0)
