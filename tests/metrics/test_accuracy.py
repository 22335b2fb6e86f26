"""Accuracy variants, Mean and ``get`` against scikit-learn, one batch and many batches."""
import numpy as np
import pytest
from sklearn import metrics as skm

import shenjing as sj
from shenjing import metrics as M

from . import stream

RNG = np.random.default_rng(0)
N, C = 203, 7
SCORES = RNG.standard_normal((N, C)).astype(np.float32)
LABELS = RNG.integers(0, C, N)
ONE_HOT = np.eye(C, dtype=np.float32)[LABELS]


@pytest.mark.parametrize("batch", [N, 17, 1])
def test_sparse_categorical_accuracy(batch):
    expected = skm.accuracy_score(LABELS, SCORES.argmax(1))
    assert stream(M.SparseCategoricalAccuracy(), LABELS, SCORES, batch) == pytest.approx(expected)
    # labels as (N, 1) and as Tensors
    m = M.SparseCategoricalAccuracy()
    m.update_state(sj.tensor(LABELS[:, None]), sj.tensor(SCORES))
    assert m.result() == pytest.approx(expected)


def test_categorical_accuracy():
    expected = skm.accuracy_score(LABELS, SCORES.argmax(1))
    assert stream(M.CategoricalAccuracy(), ONE_HOT, SCORES) == pytest.approx(expected)


def test_accuracy_exact_and_scores():
    pred = LABELS.copy()
    pred[::3] = (pred[::3] + 1) % C
    assert stream(M.Accuracy(), LABELS, pred) == pytest.approx(skm.accuracy_score(LABELS, pred))
    # class scores: argmax first
    assert stream(M.Accuracy(), LABELS, SCORES) == pytest.approx(
        skm.accuracy_score(LABELS, SCORES.argmax(1)))


@pytest.mark.parametrize("threshold", [0.5, 0.0, 0.8])
def test_binary_accuracy(threshold):
    y = RNG.integers(0, 2, N).astype(np.float32)
    p = RNG.random(N).astype(np.float32) * 2 - 0.5
    expected = skm.accuracy_score(y, (p > threshold).astype(np.float32))
    got = stream(M.BinaryAccuracy(threshold=threshold), y[:, None], p[:, None])
    assert got == pytest.approx(expected)
    assert stream(M.BinaryAccuracy(threshold=threshold), y, p) == pytest.approx(expected)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_top_k(k):
    expected = skm.top_k_accuracy_score(LABELS, SCORES, k=k, labels=np.arange(C))
    assert stream(M.SparseTopKCategoricalAccuracy(k=k), LABELS, SCORES) == pytest.approx(expected)
    assert stream(M.TopKCategoricalAccuracy(k=k), ONE_HOT, SCORES) == pytest.approx(expected)


def test_mean_weighted_and_reset():
    m = M.Mean(name="loss")
    m.update_state(2.0, 3)          # a batch of 3 with mean loss 2
    m.update_state(np.array([5.0]))
    assert m.result() == pytest.approx((2 * 3 + 5) / 4)
    m.update_state(np.array([1.0, 3.0]), sample_weight=np.array([1.0, 3.0]))
    assert m.result() == pytest.approx((6 + 5 + 1 + 9) / 8)
    m.reset()
    assert m.result() == 0.0 and m.count == 0
    assert m.name == "loss"


def test_call_updates_and_returns_result():
    m = M.SparseCategoricalAccuracy()
    assert m(np.array([0, 1]), np.array([[1.0, 0.0], [1.0, 0.0]])) == pytest.approx(0.5)
    assert m(np.array([1]), np.array([[0.0, 1.0]])) == pytest.approx(2 / 3)


def test_get():
    assert isinstance(M.get("accuracy"), M.Accuracy)
    assert M.get("acc").name == "acc"
    assert isinstance(M.get("mae"), M.MeanAbsoluteError)
    assert isinstance(M.get("MSE"), M.MeanSquaredError)
    assert isinstance(M.get(M.CategoricalAccuracy), M.CategoricalAccuracy)
    m = M.BinaryAccuracy(threshold=0.0)
    assert M.get(m) is m
    custom = M.get(lambda t, p: np.abs(t - p))
    assert stream(custom, np.zeros(4), np.arange(4.0)) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="unknown metric 'acuracy'.*accuracy"):
        M.get("acuracy")
    with pytest.raises(TypeError):
        M.get(3)


def test_shape_errors_are_clear():
    with pytest.raises(ValueError, match=r"labels of shape \(4,\)"):
        M.SparseCategoricalAccuracy().update_state(np.zeros(5, int), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="same shape"):
        M.MeanSquaredError().update_state(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="positive int k"):
        M.TopKCategoricalAccuracy(k=0)


@pytest.mark.parametrize("name, cls", [
    ("precision", M.Precision), ("recall", M.Recall), ("f1", M.F1Score),
    ("f1_score", M.F1Score), ("auc", M.AUC), ("r2", M.R2Score), ("R2_score", M.R2Score),
    ("confusion_matrix", M.ConfusionMatrix), ("rmse", M.RootMeanSquaredError),
])
def test_get_new_names_keep_their_spelling(name, cls):
    metric = M.get(name)
    assert type(metric) is cls and metric.name == name
    assert metric.scalar_result is (cls is not M.ConfusionMatrix)


def test_every_public_name_is_exported():
    for name in M.__all__:
        assert hasattr(M, name), name
    assert sj.metrics is M and M.get("accuracy").name == "accuracy"


def test_repr_of_scalar_and_array_results():
    assert "result=0.0000" in repr(M.Precision())
    m = M.ConfusionMatrix(num_classes=3)
    assert "array(shape=(3, 3))" in repr(m)
