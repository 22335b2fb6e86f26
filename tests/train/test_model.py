"""Model's API: compile resolution, fit/evaluate/predict contracts, callbacks, weights, output."""
import os

import numpy as np
import pytest

import shenjing as sj
from shenjing.nn import Dense, Dropout

RNG = np.random.default_rng(0)
X = RNG.standard_normal((64, 5)).astype(np.float32)
Y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0)  # 3 classes


pytestmark = pytest.mark.usefixtures("one_blas_thread")  # tests/conftest.py


def mlp(n_out=3, activation=None, dropout=0.0):
    layers = [Dense(16, activation="relu")]
    if dropout:
        layers.append(Dropout(dropout))
    return sj.Sequential(layers + [Dense(n_out, activation=activation)])


def compiled(metrics=("accuracy",), **kw):
    sj.manual_seed(0)
    model = mlp(**kw)
    model.compile("adam", sj.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=list(metrics))
    return model


# ---------------------------------------------------------------- compile
def test_fit_before_compile_is_an_error():
    with pytest.raises(RuntimeError, match=r"call model.compile\(optimizer=..., loss=...\)"):
        mlp().fit(X, Y, verbose=0)
    model = mlp()
    model.compile("adam")
    with pytest.raises(ValueError, match="needs a loss"):
        model.evaluate(X, Y)


def test_compile_resolves_names_and_binds_lazily():
    model = mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["acc"])
    assert isinstance(model.optimizer, sj.optim.Adam)
    assert isinstance(model.loss, sj.losses.SparseCategoricalCrossentropy)
    assert model.optimizer.param_groups == []          # lazy layers: nothing to bind yet
    assert model.metrics_names == ["loss", "acc"]
    model.fit(X, Y, epochs=1, verbose=0)
    assert [id(p) for p in model.optimizer.param_groups[0]["params"]] == \
        [id(p) for p in model.parameters()]
    # growing the model after fit: the new layer's weights join the optimizer
    model.add(sj.nn.Softmax())
    model.add(Dense(3))
    model.fit(X, Y, epochs=1, verbose=0)
    bound = {id(p) for g in model.optimizer.param_groups for p in g["params"]}
    assert bound == {id(p) for p in model.parameters()}


def test_compile_keeps_an_optimizer_bound_by_the_user():
    sj.manual_seed(0)
    model = sj.Sequential([Dense(8, input_dim=5, activation="relu"), Dense(3)])
    first = list(model.layers[0].parameters())
    opt = sj.optim.SGD(first, lr=0.1)               # fine-tune the first layer only
    model.compile(opt, sj.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.predict(X[:1])                             # build the second (lazy) layer
    last_before = model.layers[1].kernel.numpy().copy()
    first_before = model.layers[0].kernel.numpy().copy()
    model.fit(X, Y, epochs=1, verbose=0)
    assert np.array_equal(model.layers[1].kernel.numpy(), last_before)
    assert not np.array_equal(model.layers[0].kernel.numpy(), first_before)


@pytest.mark.parametrize("loss, y, out, act, expected", [
    ("sparse_categorical_crossentropy", Y, 3, "softmax", sj.metrics.SparseCategoricalAccuracy),
    ("categorical_crossentropy", np.eye(3, dtype=np.float32)[Y], 3, "softmax",
     sj.metrics.CategoricalAccuracy),
    ("binary_crossentropy", (Y > 0).astype(np.float32)[:, None], 1, "sigmoid",
     sj.metrics.BinaryAccuracy),
])
def test_accuracy_follows_the_loss(loss, y, out, act, expected):
    sj.manual_seed(0)
    model = mlp(out, activation=act)
    model.compile("adam", loss, metrics=["accuracy"])
    history = model.fit(X, y, epochs=2, verbose=0)
    metric = model.compiled_metrics[0]
    assert isinstance(metric.inner, expected)
    # the logged value is that metric on the training predictions: recompute it
    pred = model.predict(X)
    check = expected()
    check.update_state(y, pred)
    assert model.evaluate(X, y, return_dict=True)["accuracy"] == pytest.approx(check.result())
    assert 0 <= history.history["accuracy"][-1] <= 1


def test_binary_accuracy_from_logits_thresholds_at_zero():
    sj.manual_seed(0)
    model = mlp(1)
    model.compile("adam", sj.losses.BinaryCrossentropy(from_logits=True), metrics=["accuracy"])
    y = (Y > 0).astype(np.float32)[:, None]
    logs = model.evaluate(X, y, return_dict=True)
    assert model.compiled_metrics[0].inner.fn_kwargs["threshold"] == 0.0
    expected = ((model.predict(X) > 0) == (y > 0.5)).mean()
    assert logs["accuracy"] == pytest.approx(expected)


def test_duplicate_metric_names_rejected():
    with pytest.raises(ValueError, match="distinct names"):
        mlp().compile("adam", "mse", metrics=["mae", "mae"])
    with pytest.raises(ValueError, match="unknown metric"):
        mlp().compile("adam", "mse", metrics=["f2-score"])


# ---------------------------------------------------------------- fit / evaluate / predict
def test_history_contents():
    model = compiled(metrics=["accuracy", "sparse_top_k_categorical_accuracy"])
    history = model.fit(X, Y, epochs=5, initial_epoch=2, batch_size=10, verbose=0)
    assert history is model.history and history.model is model
    assert history.epoch == [2, 3, 4]
    assert history.params == {"verbose": 0, "epochs": 5, "steps": 7, "samples": 64,
                              "batch_size": 10}
    assert set(history.history) == {"loss", "accuracy", "sparse_top_k_categorical_accuracy"}
    assert all(isinstance(v, float) for v in history.history["loss"])
    assert history["loss"] is history.history["loss"]


def test_evaluate_return_types():
    model = compiled()
    loss, acc = model.evaluate(X, Y)
    assert isinstance(loss, float) and 0 <= acc <= 1
    assert model.evaluate(X, Y, return_dict=True) == {"loss": loss, "accuracy": acc}
    plain = compiled(metrics=())
    assert isinstance(plain.evaluate(X, Y), float)


def test_evaluate_loss_is_the_sample_mean_over_uneven_batches():
    model = compiled()
    full = model.evaluate(X, Y, batch_size=64, return_dict=True)
    uneven = model.evaluate(X, Y, batch_size=10, return_dict=True)
    assert uneven["loss"] == pytest.approx(full["loss"], rel=1e-6)
    assert uneven["accuracy"] == pytest.approx(full["accuracy"])


def test_predict_eval_mode_no_graph_and_mode_restored():
    model = compiled(dropout=0.5)
    model.fit(X, Y, epochs=1, verbose=0)
    assert model.training  # fit restores the mode the model was in
    p1, p2 = model.predict(X, batch_size=7), model.predict(X, batch_size=7)
    assert isinstance(p1, np.ndarray) and p1.shape == (64, 3) and p1.dtype == np.float32
    np.testing.assert_array_equal(p1, p2)   # dropout off in predict
    np.testing.assert_allclose(model.predict(X), p1, rtol=1e-5, atol=1e-6)
    assert model.training
    model.eval()
    model.evaluate(X, Y)
    assert not model.training
    np.testing.assert_allclose(model.predict_on_batch(X[:4]), p1[:4], rtol=1e-6)


def test_float64_inputs_become_float32():
    model = compiled()
    model.fit(X.astype(np.float64), Y, epochs=1, verbose=0)
    assert all(p.dtype == np.float32 for p in model.parameters())
    assert model.predict(X.astype(np.float64)).dtype == np.float32


def test_tensors_and_lists_are_accepted():
    model = compiled()
    h = model.fit(sj.tensor(X), sj.tensor(Y), epochs=1, verbose=0)
    assert len(h.history["loss"]) == 1
    assert model.predict(X.tolist()).shape == (64, 3)


def test_train_and_test_on_batch():
    model = compiled()
    model.predict(X[:1])
    before = model.get_weights()
    assert len(before) == 4
    loss, acc = model.train_on_batch(X[:16], Y[:16])
    assert isinstance(loss, float)
    assert not all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    after = model.get_weights()
    logs = model.test_on_batch(X[:16], Y[:16], return_dict=True)
    assert set(logs) == {"loss", "accuracy"}
    assert all(np.array_equal(a, b) for a, b in zip(after, model.get_weights()))


def test_steps_per_epoch_and_shuffle_off():
    model = compiled()
    seen = []
    cb = sj.train.LambdaCallback(on_train_batch_begin=lambda b, logs: seen.append(b))
    model.fit(X, Y, epochs=2, batch_size=8, steps_per_epoch=3, shuffle=False, verbose=0,
              callbacks=[cb])
    assert seen == [0, 1, 2, 0, 1, 2]


def test_bad_arguments_are_explained():
    model = compiled()
    with pytest.raises(ValueError, match="validation_split must be a number in"):
        model.fit(X, Y, validation_split=1.5, verbose=0)
    with pytest.raises(ValueError, match="positive int for `batch_size`"):
        model.fit(X, Y, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="needs targets `y`"):
        model.fit(X, verbose=0)
    with pytest.raises(ValueError, match="initial_epoch=3 is past epochs=2"):
        model.fit(X, Y, epochs=2, initial_epoch=3, verbose=0)
    with pytest.raises(ValueError, match="verbose must be 0"):
        model.fit(X, Y, verbose=3)
    with pytest.raises(ValueError, match=r"validation_data must be a pair"):
        model.fit(X, Y, validation_data=(X, Y, Y), verbose=0)


# ---------------------------------------------------------------- callbacks
class Recorder(sj.train.Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def on_train_begin(self, logs=None): self.events.append("train_begin")
    def on_train_end(self, logs=None): self.events.append("train_end")
    def on_epoch_begin(self, epoch, logs=None): self.events.append(f"epoch_begin {epoch}")
    def on_epoch_end(self, epoch, logs=None):
        self.events.append(f"epoch_end {epoch} {sorted(logs)}")
    def on_batch_end(self, batch, logs=None): self.events.append(f"batch_end {batch}")
    def on_test_begin(self, logs=None): self.events.append("test_begin")


def test_callback_hooks_order_and_batch_alias():
    model = compiled()
    rec = Recorder()
    model.fit(X, Y, epochs=2, batch_size=32, validation_data=(X, Y), verbose=0, callbacks=[rec])
    assert rec.model is model and rec.params["epochs"] == 2
    keys = "['accuracy', 'loss', 'val_accuracy', 'val_loss']"
    assert rec.events == ["train_begin",
                          "epoch_begin 0", "batch_end 0", "batch_end 1", "test_begin",
                          f"epoch_end 0 {keys}",
                          "epoch_begin 1", "batch_end 0", "batch_end 1", "test_begin",
                          f"epoch_end 1 {keys}", "train_end"]


def test_stop_training_from_a_batch_callback():
    model = compiled()

    def stop(batch, logs):
        if batch == 2:
            model.stop_training = True

    history = model.fit(X, Y, epochs=5, batch_size=8, verbose=0,
                        callbacks=[sj.train.LambdaCallback(on_train_batch_end=stop)])
    assert history.epoch == [0]


def test_callbacks_must_be_callbacks():
    with pytest.raises(TypeError, match="LambdaCallback"):
        compiled().fit(X, Y, verbose=0, callbacks=[lambda *a: None])
    with pytest.raises(TypeError, match="unknown hook 'on_epoch_finish'"):
        sj.train.LambdaCallback(on_epoch_finish=print)


def test_early_stopping_mode_auto_and_patience_zero():
    assert sj.train.EarlyStopping(monitor="val_accuracy").mode == "max"
    assert sj.train.EarlyStopping(monitor="val_loss").mode == "min"
    model = compiled()
    values = iter([3.0, 2.0, 2.5, 1.0])
    stop = sj.train.EarlyStopping(monitor="m", patience=0)
    h = model.fit(X, Y, epochs=4, verbose=0, callbacks=[
        sj.train.LambdaCallback(on_epoch_end=lambda e, logs: logs.update(m=next(values))),
        stop])
    assert h.epoch == [0, 1, 2]   # improved at 1, worse at 2 → stop at once
    with pytest.warns(UserWarning, match="'val_loss', which is not in the logs"):
        compiled().fit(X, Y, epochs=1, verbose=0, callbacks=[sj.train.EarlyStopping()])


# ---------------------------------------------------------------- progress output
def test_verbose_levels_write_to_stderr_only(capsys):
    model = compiled()
    model.fit(X, Y, epochs=2, verbose=0)
    out, err = capsys.readouterr()
    assert out == "" and err == ""
    model.fit(X, Y, epochs=2, verbose=2, validation_split=0.25)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert out == "" and len(lines) == 2
    assert lines[1].startswith("Epoch 2/2 - ") and "samples/s" in lines[1]
    assert "loss: " in lines[1] and "val_accuracy: " in lines[1]
    model.fit(X, Y, epochs=1, verbose=1)
    out, err = capsys.readouterr()
    assert out == "" and "Epoch 1/1" in err and "accuracy=" in err and "samples/s" in err


def test_summary_delegates_to_nn():
    lines = []
    model = sj.Sequential([Dense(8, input_dim=5, activation="relu"), Dense(3)])
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Total params: 75" in text


# ---------------------------------------------------------------- weights on disk
def test_save_and_load_weights_round_trip(tmp_path):
    model = compiled()
    model.fit(X, Y, epochs=1, verbose=0)
    path = tmp_path / "sub" / "w.npz"
    assert model.save_weights(path) == str(path)
    assert os.listdir(path.parent) == ["w.npz"]          # no temporary file left behind
    other = compiled()
    other.predict(X[:1])                                  # build the lazy layers
    assert not np.allclose(other.predict(X), model.predict(X))
    other.load_weights(path)
    np.testing.assert_array_equal(other.predict(X), model.predict(X))
    with np.load(path) as data:
        assert sorted(data.files) == sorted(model.state_dict())


def test_set_weights_checks_count():
    model = compiled()
    model.predict(X[:1])
    with pytest.raises(ValueError, match="set_weights got 1 arrays"):
        model.set_weights([np.zeros(3)])


def test_verbose_1_without_tqdm_prints_lines(capsys, monkeypatch):
    from shenjing.train import progress

    monkeypatch.setattr(progress, "_tqdm", lambda: None)
    compiled().fit(X, Y, epochs=2, verbose=1)
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 2 and err.startswith("Epoch 1/2 - ")


def test_regression_with_metric_objects_and_loss_weight():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((128, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32)) + 0.3
    sj.manual_seed(0)
    model = sj.Sequential([Dense(1, input_dim=3)])
    model.compile(sj.optim.SGD(lr=0.1), "mse", metrics=[sj.metrics.MeanAbsoluteError(), "mse"])
    history = model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert set(history.history) == {"loss", "mean_absolute_error", "mse"}
    logs = model.evaluate(x, y, return_dict=True)
    assert logs["loss"] < 1e-3 and logs["mse"] == pytest.approx(logs["loss"], rel=1e-4)
    pred = model.predict(x)
    assert logs["mean_absolute_error"] == pytest.approx(np.abs(pred - y).mean(), rel=1e-4)
    model.compile(sj.optim.SGD(lr=0.1), "mse", loss_weights=2.0)
    assert model.evaluate(x, y) == pytest.approx(2 * logs["loss"], rel=1e-4)
