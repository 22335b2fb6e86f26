"""Metric names in compile: the logs, History and evaluate() agree with sklearn on
model.predict(); array-valued metrics are refused with a hint."""
import numpy as np
import pytest
from sklearn import metrics as skm

import shenjing as sj
from shenjing.nn import Dense

RNG = np.random.default_rng(5)
X = RNG.standard_normal((96, 4)).astype(np.float32)
Y3 = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0.5)
YB = ((X[:, 0] + 0.5 * X[:, 2]) > 0.3).astype(np.float32)[:, None]
NAMES = ["accuracy", "precision", "recall", "f1_score", "auc"]


pytestmark = pytest.mark.usefixtures("one_blas_thread")  # tests/conftest.py


def mlp(n_out, activation=None):
    sj.manual_seed(0)
    return sj.Sequential([Dense(8, activation="relu"), Dense(n_out, activation=activation)])


def sklearn_binary(y, prob, threshold=0.5):
    y, pred = y.ravel(), (prob.ravel() > threshold).astype(int)
    return {"accuracy": skm.accuracy_score(y, pred), "precision": skm.precision_score(y, pred),
            "recall": skm.recall_score(y, pred), "f1_score": skm.f1_score(y, pred),
            "auc": skm.roc_auc_score(y, prob.ravel())}


@pytest.mark.parametrize("from_logits", [False, True])
def test_binary_fit_logs_match_sklearn(from_logits):
    model = mlp(1, None if from_logits else "sigmoid")
    model.compile(sj.optim.Adam(lr=0.02), sj.losses.BinaryCrossentropy(from_logits=from_logits),
                  metrics=NAMES)
    history = model.fit(X, YB, epochs=3, batch_size=16, verbose=0, validation_data=(X, YB))
    assert model.metrics_names == ["loss", *NAMES]
    for name in NAMES:
        assert len(history.history[name]) == 3
        assert all(isinstance(v, float) and 0 <= v <= 1 for v in history.history[name])
    prob = model.predict(X, batch_size=16)
    expected = sklearn_binary(YB, prob, 0.0 if from_logits else 0.5)
    logs = model.evaluate(X, YB, batch_size=16, return_dict=True)
    for name in NAMES:  # val_ logs use the final weights: they equal evaluate and sklearn
        assert logs[name] == pytest.approx(expected[name], abs=1e-12), name
        assert history.history["val_" + name][-1] == pytest.approx(expected[name], abs=1e-12)
    assert expected["f1_score"] > 0.5   # the check is not vacuous: it learned something


def test_multiclass_names_use_macro_averages():
    model = mlp(3, "softmax")
    model.compile("adam", "sparse_categorical_crossentropy",
                  metrics=["accuracy", "precision", "recall", "f1", "auc", "f1_score"])
    model.fit(X, Y3, epochs=2, batch_size=32, verbose=0)
    probs = model.predict(X)
    logs = model.evaluate(X, Y3, return_dict=True)
    pred = probs.argmax(1)
    assert model.compiled_metrics[1].inner.average == "macro"
    assert logs["precision"] == pytest.approx(
        skm.precision_score(Y3, pred, average="macro", zero_division=0))
    assert logs["recall"] == pytest.approx(skm.recall_score(Y3, pred, average="macro"))
    assert logs["f1"] == logs["f1_score"] == pytest.approx(
        skm.f1_score(Y3, pred, average="macro"))
    assert logs["auc"] == pytest.approx(skm.roc_auc_score(Y3, probs / probs.sum(1, keepdims=True),
                                                          multi_class="ovr"), abs=1e-6)


def test_regression_r2_in_compile():
    y = (X @ np.array([1.0, -2.0, 0.5, 0.0], np.float32))[:, None]
    model = mlp(1)
    model.compile(sj.optim.Adam(lr=0.05), "mse", metrics=["r2", "mae"])
    history = model.fit(X, y, epochs=3, verbose=0)
    logs = model.evaluate(X, y, return_dict=True)
    assert logs["r2"] == pytest.approx(skm.r2_score(y, model.predict(X)), rel=1e-5)
    assert len(history.history["r2"]) == 3


@pytest.mark.parametrize("metric", [
    "confusion_matrix", sj.metrics.ConfusionMatrix(), sj.metrics.Precision(average=None),
    sj.metrics.AUC(average=None), sj.metrics.R2Score(multioutput="raw_values"),
])
def test_array_metrics_are_refused_in_compile(metric):
    with pytest.raises(ValueError, match="result is an array.*after fit"):
        mlp(3).compile("adam", "mse", metrics=[metric])


def test_multilabel_outputs_refused_for_class_metrics():
    model = mlp(3, "sigmoid")
    model.compile("adam", "binary_crossentropy", metrics=["precision"])
    with pytest.raises(ValueError, match="multi-label"):
        model.evaluate(X, np.eye(3, dtype=np.float32)[Y3])
